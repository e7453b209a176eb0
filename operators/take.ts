/**
 * @packageDocumentation
 * `take`: the first n items, then stop the source.
 */
import { checkInteger } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Emits the first `count` items, then ends the flow: the source is closed and work in flight is
 * cancelled, so `take` over an endless source finishes.
 *
 * @param count - how many items, 0 or more
 * @returns an {@link Operator}
 * @throws {@link InvalidOptionError} when `count` is not a non-negative integer
 * @example
 * ```ts
 * import { flow, take } from 'millrace';
 * function* naturals() { for (let n = 0; ; n++) yield n; }
 * console.log(await flow(naturals()).pipe(take(3)).toArray()); // [0, 1, 2]
 * ```
 * @category Transforms
 */
export function take<T>(count: number): Operator<T, T> {
  checkInteger('count', count, 0);
  return defineOperator<T, T>('take', async function* (source) {
    if (count === 0) return;
    let taken = 0;
    for await (const item of source) {
      yield item;
      if (++taken >= count) return;
    }
  });
}
