/**
 * @packageDocumentation
 * `dropWhile`: skip items while a predicate holds, then emit the rest.
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { isPromiseLike } from './map.js';

/**
 * Skips items while `predicate` holds; from the first item for which it does not, emits that item
 * and every one after it (the predicate is not called again).
 *
 * @param predicate - called with each skipped candidate and its 0-based index (may be async)
 * @returns an {@link Operator}
 * @example
 * ```ts
 * import { dropWhile, flow } from 'millrace';
 * console.log(await flow(['# a', '# b', 'x', '# c']).pipe(dropWhile((line) => line.startsWith('#'))).toArray()); // ['x', '# c']
 * ```
 * @category Transforms
 * @see {@link takeWhile} for the leading items instead
 */
export function dropWhile<T>(predicate: (item: T, index: number) => boolean | Promise<boolean>): Operator<T, T> {
  return defineOperator<T, T>('dropWhile', async function* (source) {
    let dropping = true;
    let index = 0;
    for await (const item of source) {
      if (dropping) {
        const holds = predicate(item, index++);
        if (isPromiseLike(holds) ? await holds : holds) continue;
        dropping = false;
      }
      yield item;
    }
  });
}
