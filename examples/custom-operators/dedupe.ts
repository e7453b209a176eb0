/**
 * `dedupe`: drop items already seen. An in-thread operator in its simplest form: an async
 * generator over the source, wrapped by `defineOperator`, which handles cancellation and teardown.
 */
import { defineOperator, type Operator } from 'millrace';

/**
 * Emits each item the first time it (or its key) is seen, in input order.
 *
 * @param key - what makes two items the same; the item itself when omitted (`Set` equality)
 */
export function dedupe<T>(key?: (item: T) => unknown): Operator<T, T> {
  return defineOperator<T, T>('dedupe', async function* (source) {
    // Memory grows with the number of distinct keys: fine for ids, not for an endless stream of them.
    const seen = new Set<unknown>();
    for await (const item of source) {
      const k = key ? key(item) : item;
      if (seen.has(k)) continue;
      seen.add(k);
      yield item;
    }
  });
}
