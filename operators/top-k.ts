/**
 * @packageDocumentation
 * `topK`: the k largest items, in O(k) memory.
 */
import { checkInteger } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';
import { ascending, isComparator, type Compare, type OrderBy } from '../lib/order.js';

/**
 * Emits the `k` largest items, largest first, when the input ends; memory holds `k` items (a
 * heap), however long the input. Items are ordered by themselves (numbers, strings, bigints), by
 * a key function (`(item) => number`, called once per item), or by a two-argument comparator
 * (`Array.prototype.sort`'s kind; told apart from a key function by declaring two parameters).
 * Ties keep the item that came first.
 *
 * @param k - how many items, 0 or more
 * @param by - the key function or comparator; the items themselves when left out
 * @returns an {@link Operator} emitting at most `k` items, largest first
 * @throws {@link InvalidOptionError} when `k` is not a non-negative integer
 * @example
 * ```ts
 * import { flow, topK } from 'millrace';
 * console.log(await flow([5, 1, 9, 3]).pipe(topK(2)).toArray()); // [9, 5]
 * const rows = [{ path: '/a', hits: 3 }, { path: '/b', hits: 7 }];
 * console.log(await flow(rows).pipe(topK(1, (row) => row.hits)).toArray()); // [{ path: '/b', hits: 7 }]
 * ```
 * @category Aggregation
 * @see {@link sortBy} for every item in order
 */
export function topK<T extends number | string | bigint>(k: number, by?: undefined): Operator<T, T>;
export function topK<T>(k: number, by: (a: T, b: T) => number): Operator<T, T>;
export function topK<T>(k: number, by: (item: T) => number | string | bigint): Operator<T, T>;
export function topK<T>(k: number, by?: OrderBy<T>): Operator<T, T> {
  checkInteger('k', k, 0);
  return defineOperator<T, T>('topK', async function* (source) {
    if (k === 0) return;
    const heap = new MinHeap<Entry<T>>(entryOrder(by));
    let seq = 0;
    for await (const item of source) {
      const entry: Entry<T> = { item, key: by && !isComparator(by) ? by(item) : item, seq: seq++ };
      if (heap.size < k) heap.push(entry);
      else if (heap.compare(entry, heap.peek()!) > 0) heap.replaceTop(entry);
    }
    yield* heap
      .drain()
      .sort((a, b) => heap.compare(b, a))
      .map((entry) => entry.item);
  });
}

interface Entry<T> {
  readonly item: T;
  readonly key: unknown;
  readonly seq: number;
}

/** Ascending by key (or comparator); on a tie the later item counts as smaller, so the earlier stays. */
function entryOrder<T>(by: OrderBy<T> | undefined): Compare<Entry<T>> {
  const compare: Compare<Entry<T>> = by && isComparator(by) ? (a, b) => by(a.item, b.item) : (a, b) => ascending(a.key, b.key);
  return (a, b) => compare(a, b) || b.seq - a.seq;
}

/** A binary min-heap. */
class MinHeap<V> {
  readonly #items: V[] = [];
  readonly compare: Compare<V>;

  constructor(compare: Compare<V>) {
    this.compare = compare;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): V | undefined {
    return this.#items[0];
  }

  push(value: V): void {
    const items = this.#items;
    items.push(value);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  /** Replaces the smallest with `value` and restores the order. */
  replaceTop(value: V): void {
    const items = this.#items;
    items[0] = value;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && this.compare(items[left]!, items[smallest]!) < 0) smallest = left;
      if (right < items.length && this.compare(items[right]!, items[smallest]!) < 0) smallest = right;
      if (smallest === i) return;
      [items[i], items[smallest]] = [items[smallest]!, items[i]!];
      i = smallest;
    }
  }

  /** Every value, in no particular order; the heap is empty afterwards. */
  drain(): V[] {
    return this.#items.splice(0);
  }
}
