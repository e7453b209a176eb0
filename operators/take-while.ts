/**
 * @packageDocumentation
 * `takeWhile`: items while a predicate holds, then stop the source.
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { isPromiseLike } from './map.js';

/**
 * Emits items while `predicate` holds; at the first item for which it does not, ends the flow
 * (that item is not emitted, the source is closed and work in flight is cancelled).
 *
 * @param predicate - called with each item and its 0-based index (may be async); a type guard
 *   narrows the output type
 * @returns an {@link Operator}
 * @example
 * ```ts
 * import { flow, takeWhile } from 'millrace';
 * function* naturals() { for (let n = 0; ; n++) yield n; }
 * console.log(await flow(naturals()).pipe(takeWhile((x) => x < 3)).toArray()); // [0, 1, 2]
 * ```
 * @category Transforms
 * @see {@link dropWhile} for the rest instead
 */
export function takeWhile<In, Out extends In>(predicate: (item: In, index: number) => item is Out): Operator<In, Out>;
export function takeWhile<T>(predicate: (item: T, index: number) => boolean | Promise<boolean>): Operator<T, T>;
export function takeWhile<T>(predicate: (item: T, index: number) => boolean | Promise<boolean>): Operator<T, T> {
  return defineOperator<T, T>('takeWhile', async function* (source) {
    let index = 0;
    for await (const item of source) {
      const holds = predicate(item, index++);
      if (!(isPromiseLike(holds) ? await holds : holds)) return;
      yield item;
    }
  });
}
