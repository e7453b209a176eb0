/**
 * @packageDocumentation
 * `drop`: skip the first n items.
 */
import { checkInteger } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Skips the first `count` items and emits the rest.
 *
 * @param count - how many items to skip, 0 or more
 * @returns an {@link Operator}
 * @throws {@link InvalidOptionError} when `count` is not a non-negative integer
 * @example
 * ```ts
 * import { drop, flow } from 'millrace';
 * console.log(await flow(['header', 'a', 'b']).pipe(drop(1)).toArray()); // ['a', 'b']
 * ```
 * @category Transforms
 * @see {@link take} for the first items instead
 */
export function drop<T>(count: number): Operator<T, T> {
  checkInteger('count', count, 0);
  return defineOperator<T, T>('drop', async function* (source) {
    let skipped = 0;
    for await (const item of source) {
      if (skipped < count) skipped++;
      else yield item;
    }
  });
}
