/**
 * @packageDocumentation
 * `sortBy`: every item, sorted (in memory).
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { ascending, isComparator, type OrderBy } from '../lib/order.js';

/**
 * Reads the whole input into memory, sorts it and emits it, ascending and stable (equal items
 * keep their input order). Orders by a key function (`(item) => number | string | bigint`, called
 * once per item) or by a two-argument comparator (`Array.prototype.sort`'s kind, told apart by
 * declaring two parameters). Memory grows with the input: for the largest few, use {@link topK}.
 *
 * @param by - the key function or comparator
 * @returns an {@link Operator} emitting every item in order once the input ends
 * @example
 * ```ts
 * import { flow, sortBy } from 'millrace';
 * console.log(await flow(['ccc', 'a', 'bb']).pipe(sortBy((s) => s.length)).toArray()); // ['a', 'bb', 'ccc']
 * console.log(await flow([1, 3, 2]).pipe(sortBy((a: number, b: number) => b - a)).toArray()); // [3, 2, 1]
 * ```
 * @category Aggregation
 */
export function sortBy<T>(by: (a: T, b: T) => number): Operator<T, T>;
export function sortBy<T>(by: (item: T) => number | string | bigint): Operator<T, T>;
export function sortBy<T>(by: OrderBy<T>): Operator<T, T> {
  return defineOperator<T, T>('sortBy', async function* (source) {
    if (isComparator(by)) {
      const items: T[] = [];
      for await (const item of source) items.push(item);
      yield* items.sort(by);
      return;
    }
    const keyed: { item: T; key: unknown }[] = [];
    for await (const item of source) keyed.push({ item, key: by(item) });
    keyed.sort((a, b) => ascending(a.key, b.key));
    for (const { item } of keyed) yield item;
  });
}
