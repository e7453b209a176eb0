/**
 * @packageDocumentation
 * `batch`: group items into arrays.
 */
import { checkInteger } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Groups items into arrays of `size` (the last one may be shorter).
 *
 * @param size - items per batch, at least 1
 * @returns an {@link Operator} emitting arrays
 * @throws {@link InvalidOptionError} when `size` is not a positive integer
 * @example
 * ```ts
 * import { batch, flow } from 'millrace';
 * console.log(await flow([1, 2, 3]).pipe(batch(2)).toArray()); // [[1, 2], [3]]
 * ```
 * @category Transforms
 */
export function batch<T>(size: number): Operator<T, T[]> {
  checkInteger('size', size, 1);
  return defineOperator<T, T[]>('batch', async function* (source) {
    let current: T[] = [];
    for await (const item of source) {
      current.push(item);
      if (current.length >= size) {
        yield current;
        current = [];
      }
    }
    if (current.length > 0) yield current;
  });
}
