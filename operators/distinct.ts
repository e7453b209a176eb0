/**
 * @packageDocumentation
 * `distinct`: the first occurrence of each item (or key).
 */
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Emits each item whose key was not seen before, in order: the first occurrence per key. Keys
 * are compared as `Set` does (SameValueZero: `'1'` and `1` differ, objects by identity).
 * Memory grows with the number of distinct keys: every key seen is kept until the flow ends.
 *
 * @param key - the key of an item; the item itself when left out
 * @returns an {@link Operator}
 * @example
 * ```ts
 * import { distinct, flow } from 'millrace';
 * console.log(await flow([1, 2, 1, 3, 2]).pipe(distinct()).toArray()); // [1, 2, 3]
 * const users = [{ id: 1, v: 'a' }, { id: 1, v: 'b' }, { id: 2, v: 'c' }];
 * console.log(await flow(users).pipe(distinct((u) => u.id)).toArray()); // ids 1 ('a') and 2
 * ```
 * @category Transforms
 */
export function distinct<T>(key?: (item: T) => unknown): Operator<T, T> {
  return defineOperator<T, T>('distinct', async function* (source) {
    const seen = new Set<unknown>();
    for await (const item of source) {
      const k = key ? key(item) : item;
      if (seen.has(k)) continue;
      seen.add(k);
      yield item;
    }
  });
}
