/**
 * @packageDocumentation
 * `tap`: look at each item without changing it.
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { isPromiseLike } from './map.js';

/**
 * Calls `action` on each item (awaiting it if it returns a promise) and passes the item on
 * unchanged; for logging, metrics, progress.
 *
 * @param action - called with each item and its 0-based index
 * @returns an {@link Operator}
 * @example
 * ```ts
 * import { flow, tap } from 'millrace';
 * await flow([1, 2]).pipe(tap((x) => console.log('saw', x))).toArray();
 * ```
 * @category Transforms
 */
export function tap<T>(action: (item: T, index: number) => unknown): Operator<T, T> {
  return defineOperator<T, T>('tap', async function* (source) {
    let index = 0;
    for await (const item of source) {
      const result = action(item, index++);
      if (isPromiseLike(result)) await result;
      yield item;
    }
  });
}
