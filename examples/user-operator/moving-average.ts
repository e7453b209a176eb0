/**
 * A user-defined operator, published from this example the way a library would publish one:
 * written with `defineOperator`, exactly like millrace's built-ins, so it gets cancellation,
 * error propagation and source teardown for free and fits in `.pipe()` with full types.
 *
 * @packageDocumentation
 */
import { defineOperator, type Operator } from 'millrace';

/**
 * The mean of the last `window` numbers, emitted for each number once `window` have been seen.
 *
 * @param window - how many numbers to average
 * @returns an operator from numbers to their moving averages
 * @throws RangeError when `window` is not a positive integer
 * @example
 * ```ts
 * import { flow } from 'millrace';
 * console.log(await flow([1, 2, 3, 4]).pipe(movingAverage(2)).toArray()); // [1.5, 2.5, 3.5]
 * ```
 */
export function movingAverage(window: number): Operator<number, number> {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`window must be a positive integer, not ${window}`);
  return defineOperator<number, number>('movingAverage', async function* (source) {
    const recent: number[] = [];
    let sum = 0;
    for await (const x of source) {
      recent.push(x);
      sum += x;
      if (recent.length > window) sum -= recent.shift() ?? 0;
      if (recent.length === window) yield sum / window;
    }
  });
}
