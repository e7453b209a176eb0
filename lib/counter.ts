/**
 * `Counter`: counts by key, like Python's `collections.Counter`; the usual tier-2 merge of a
 * two-tier map-reduce is one `update` call.
 *
 * @packageDocumentation
 */

/**
 * A `Map` from keys to counts with the operations of Python's `collections.Counter`: add to a
 * count, merge other counts in (`update`), and list the most common keys.
 *
 * @typeParam K - the key type
 * @remarks
 * A `Counter` crosses threads as a plain `Map` (structured clone drops the subclass): return a
 * `Map` or `[key, count]` pairs from a task and `update` a `Counter` with it on the main thread.
 * @example
 * ```ts
 * import { Counter, flow, unorderedMap, tasks } from 'millrace';
 * const logs = tasks<typeof import('./analysis.js')>(new URL('./analysis.js', import.meta.url));
 * const combined = new Counter<string>();
 * for await (const result of flow(['a.log.gz', 'b.log.gz']).pipe(unorderedMap(logs.analysis))) {
 *   combined.update(result.counts); // Python: combined.update(result)
 * }
 * console.log(combined.mostCommon(10));
 * ```
 * @category Aggregation
 */
export class Counter<K> extends Map<K, number> {
  /**
   * Creates a counter, optionally counting `counts` in (repeated keys add up, unlike `new Map`).
   *
   * @param counts - `[key, count]` pairs or a `Map`/`Counter` to start from
   */
  constructor(counts?: Iterable<readonly [K, number]>) {
    super();
    if (counts) this.update(counts);
  }

  /**
   * Counts keys from an iterable of keys, one each (like `Counter(iterable)` in Python).
   *
   * @param keys - the keys to count
   * @returns a new counter
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * console.log(Counter.of('abracadabra').mostCommon(2)); // [['a', 5], ['b', 2]]
   * ```
   */
  static of<K>(keys: Iterable<K>): Counter<K> {
    const counter = new Counter<K>();
    for (const key of keys) counter.add(key);
    return counter;
  }

  /**
   * Adds `n` to the count of `key` (a missing key counts 0).
   *
   * @param key - the key
   * @param n - how much to add; may be negative
   * @returns the key's new count
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * const hits = new Counter<string>();
   * hits.add('/'); hits.add('/about', 2);
   * console.log(hits.count('/about')); // 2
   * ```
   */
  add(key: K, n = 1): number {
    const total = (this.get(key) ?? 0) + n;
    this.set(key, total);
    return total;
  }

  /**
   * The count of `key`, 0 when it was never counted.
   *
   * @param key - the key
   * @returns its count
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * console.log(new Counter([['a', 2]]).count('b')); // 0
   * ```
   */
  count(key: K): number {
    return this.get(key) ?? 0;
  }

  /**
   * Adds other counts into this counter, key by key (Python's `Counter.update`).
   *
   * @param counts - `[key, count]` pairs, a `Map` or another `Counter` (e.g. a task's result)
   * @returns this counter, for chaining
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * const combined = new Counter<string>([['/', 3]]);
   * combined.update(new Map([['/', 1], ['/faq', 2]]));
   * console.log([...combined]); // [['/', 4], ['/faq', 2]]
   * ```
   */
  update(counts: Iterable<readonly [K, number]>): this {
    for (const [key, n] of counts) this.set(key, (this.get(key) ?? 0) + n);
    return this;
  }

  /**
   * The sum of all counts.
   *
   * @returns the total
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * console.log(Counter.of('aab').total()); // 3
   * ```
   */
  total(): number {
    let sum = 0;
    for (const n of this.values()) sum += n;
    return sum;
  }

  /**
   * The `n` keys with the highest counts, highest first; equal counts are ordered by key
   * (ascending: code-unit order for strings, numeric for numbers), so the result is the same
   * whatever order the counts were merged in.
   *
   * @param n - how many to return; all keys when omitted
   * @returns `[key, count]` pairs
   * @throws RangeError when `n` is negative or not an integer
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * const counts = new Counter([['b', 2], ['a', 2], ['c', 5]]);
   * console.log(counts.mostCommon(2)); // [['c', 5], ['a', 2]]
   * ```
   */
  mostCommon(n?: number): [K, number][] {
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) {
      throw new RangeError(`mostCommon(n): n must be a non-negative integer, not ${String(n)}`);
    }
    const entries = [...this];
    const byCountThenKey = (a: [K, number], b: [K, number]): number => b[1] - a[1] || compareKeys(a[0], b[0]);
    if (n === undefined || n >= entries.length) return entries.sort(byCountThenKey);
    return topN(entries, n, byCountThenKey);
  }
}

/** A total order on keys: numbers and bigints numerically, everything else by its string form. */
function compareKeys(a: unknown, b: unknown): number {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const x = typeof a === 'string' ? a : String(a);
  const y = typeof b === 'string' ? b : String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The first `n` of `entries` in `compare` order without sorting them all: a bounded selection,
 * O(entries × log n) instead of O(entries × log entries) when n is small.
 */
function topN<T>(entries: T[], n: number, compare: (a: T, b: T) => number): T[] {
  if (n === 0) return [];
  // A max-heap (by `compare`) of the best n so far: its root is the worst of them.
  const heap: T[] = [];
  const worse = (i: number, j: number): boolean => compare(heap[i]!, heap[j]!) > 0;
  const swap = (i: number, j: number): void => {
    const t = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = t;
  };
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(l, m)) m = l;
      if (r < heap.length && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (const entry of entries) {
    if (heap.length < n) {
      heap.push(entry);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(i, parent)) break;
        swap(i, parent);
        i = parent;
      }
    } else if (compare(entry, heap[0]!) < 0) {
      heap[0] = entry;
      siftDown(0);
    }
  }
  return heap.sort(compare);
}
