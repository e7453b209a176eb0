/**
 * @packageDocumentation
 * `reduce`: fold everything into one value, emitted at the end.
 */
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Folds all items into one accumulator and emits it when the input ends; the reducer's argument
 * order is `Array.prototype.reduce`'s: `(accumulator, item)`.
 *
 * @param reducer - combines the accumulator with the next item (may be async)
 * @param initial - the starting accumulator
 * @returns an {@link Operator} emitting exactly one value
 * @example
 * ```ts
 * import { flow, reduce } from 'millrace';
 * console.log(await flow([1, 2, 3]).pipe(reduce((sum, x: number) => sum + x, 0)).toArray()); // [6]
 * ```
 * @category Aggregation
 * @see {@link reduceBy} to fold by key
 */
export function reduce<T, A>(reducer: (accumulator: A, item: T, index: number) => A | Promise<A>, initial: A): Operator<T, A> {
  return defineOperator<T, A>('reduce', async function* (source) {
    let accumulator = initial;
    let index = 0;
    for await (const item of source) accumulator = await reducer(accumulator, item, index++);
    yield accumulator;
  });
}
