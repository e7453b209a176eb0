/**
 * @packageDocumentation
 * `scan`: the running accumulation, emitted after each item.
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { isPromiseLike } from './map.js';

/**
 * Folds each item into an accumulator and emits the accumulator after every item (a running
 * `reduce`); the seed itself is not emitted, as in RxJS.
 *
 * @param reducer - combines the accumulator with the next item and its 0-based index (may be async)
 * @param initial - the accumulator before the first item
 * @returns an {@link Operator} emitting one accumulation per item
 * @example
 * ```ts
 * import { flow, scan } from 'millrace';
 * console.log(await flow([1, 2, 3]).pipe(scan((total, x: number) => total + x, 0)).toArray()); // [1, 3, 6]
 * ```
 * @category Transforms
 * @see {@link reduce} for the final accumulation only
 */
export function scan<T, A>(reducer: (accumulator: A, item: T, index: number) => A | Promise<A>, initial: A): Operator<T, A> {
  return defineOperator<T, A>('scan', async function* (source) {
    let accumulator = initial;
    let index = 0;
    for await (const item of source) {
      const next = reducer(accumulator, item, index++);
      accumulator = isPromiseLike(next) ? await next : next;
      yield accumulator;
    }
  });
}
