/**
 * `Counter`: counts by key, like Python's `collections.Counter`; the usual tier-2 merge of a
 * two-tier map-reduce is one `update` call. A large counter crosses threads packed
 * (`counter.pack()`): a few flat pieces that move instead of a `Map` cloned key by key.
 *
 * @packageDocumentation
 */
import { markTransfer } from './transfer.js';

/** The `format` of a {@link PackedCounter}: a plain string, so it survives a structured clone. */
const PACKED_FORMAT = 'millrace.packed-counter';

/**
 * A {@link Counter}'s counts as a few flat pieces, what {@link Counter.pack} returns: the string
 * keys written one after another in one string, the number keys in a `Float64Array`, and the
 * counts in another. It crosses threads as three buffers moved and one string copied, instead of
 * a `Map` cloned entry by entry; {@link Counter.update} (and `new Counter(packed)`) merge it
 * directly, without building a `Map` first.
 *
 * @typeParam K - the key type of the counter it was packed from
 * @example
 * ```ts
 * import { Counter, type PackedCounter } from 'millrace';
 * const packed: PackedCounter<string> = Counter.of(['/', '/faq', '/']).pack();
 * console.log([packed.text, [...packed.ends], [...packed.counts]]); // ['//faq', [1, 5], [2, 1]]
 * ```
 * @category Aggregation
 */
export interface PackedCounter<K extends string | number = string> {
  /** What this object is (`'millrace.packed-counter'`), so `update` can tell it from `[key, count]` pairs. */
  readonly format: 'millrace.packed-counter';
  /** The string keys, one after another. */
  readonly text: string;
  /** Where each string key ends in `text`: key `i` is `text.slice(ends[i - 1] ?? 0, ends[i])`. */
  readonly ends: Uint32Array;
  /** The number keys. */
  readonly numbers: Float64Array;
  /** The counts: first the string keys' (in `ends` order), then the number keys'. */
  readonly counts: Float64Array;
  /** Never set: it carries the key type, so that a packed `Counter<string>` cannot be merged into a `Counter<number>`. */
  readonly keyType?: K;
}

/**
 * A `Map` from keys to counts with the operations of Python's `collections.Counter`: add to a
 * count, merge other counts in (`update`), and list the most common keys.
 *
 * @typeParam K - the key type
 * @remarks
 * A `Counter` returned as it is crosses threads as a plain `Map` (structured clone drops the
 * subclass), cloned key by key. For counters of many keys, return `counter.pack()` from the task
 * (string or number keys): it moves as a few flat buffers, and `update` merges it directly on the
 * main thread. Either way, `update` a `Counter` with the result on the main thread.
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
   * @param counts - `[key, count]` pairs, a `Map`/`Counter`, or a {@link PackedCounter} to start from
   */
  constructor(counts?: Iterable<readonly [K, number]> | PackedCounter<K & (string | number)>) {
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
   * A {@link PackedCounter} (from {@link Counter.pack}, e.g. in a worker) is merged straight from
   * its flat pieces.
   *
   * @param counts - `[key, count]` pairs, a `Map` or another `Counter`, or a `PackedCounter` (e.g. a task's result)
   * @returns this counter, for chaining
   * @throws TypeError when `counts` is a packed counter whose pieces do not fit together
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * const combined = new Counter<string>([['/', 3]]);
   * combined.update(new Map([['/', 1], ['/faq', 2]]));
   * combined.update(Counter.of(['/faq']).pack());
   * console.log([...combined]); // [['/', 4], ['/faq', 3]]
   * ```
   */
  update(counts: Iterable<readonly [K, number]> | PackedCounter<K & (string | number)>): this {
    if (isPackedCounter(counts)) return this.#updatePacked(counts);
    for (const [key, n] of counts) this.set(key, (this.get(key) ?? 0) + n);
    return this;
  }

  /** Merges a packed counter from its pieces: a slice of `text` per string key, no `Map` built. */
  #updatePacked(packed: PackedCounter<K & (string | number)>): this {
    const { text, ends, numbers, counts } = packed;
    if (counts.length !== ends.length + numbers.length || (ends.length > 0 && ends[ends.length - 1]! > text.length)) {
      throw new TypeError(
        `a packed counter's pieces do not fit: ${counts.length} counts for ${ends.length} string keys and ${numbers.length} number keys`,
      );
    }
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!;
      const key = text.slice(start, end) as K;
      start = end;
      this.set(key, (this.get(key) ?? 0) + counts[i]!);
    }
    const offset = ends.length;
    for (let j = 0; j < numbers.length; j++) {
      const key = numbers[j]! as K;
      this.set(key, (this.get(key) ?? 0) + counts[offset + j]!);
    }
    return this;
  }

  /**
   * Packs the counts into a few flat pieces to send to another thread: return it from a task and
   * `update` a `Counter` with it on the main thread. The pieces move instead of being copied when
   * the packed counter is the task's result, or a field of a result passed to `transferResult`;
   * the counter itself is left as it was.
   *
   * Worth it for counters of many keys (thousands and up): a `Map` is cloned entry by entry on
   * both sides, a packed counter is one string and three buffers.
   *
   * @returns the counts, packed (string keys first, in this counter's order, then number keys)
   * @throws TypeError when a key is neither a string nor a number
   * @example
   * ```ts
   * import { Counter } from 'millrace';
   * const perFile = Counter.of(['/', '/faq', '/']);
   * const combined = new Counter<string>().update(perFile.pack()); // in a worker: return perFile.pack()
   * console.log(combined.mostCommon()); // [['/', 2], ['/faq', 1]]
   * ```
   */
  pack(): PackedCounter<K & (string | number)> {
    const size = this.size;
    const strings: string[] = [];
    const ends = new Uint32Array(size);
    const counts = new Float64Array(size);
    let numberKeys: number[] | undefined;
    let numberCounts: number[] | undefined;
    let end = 0;
    for (const [key, n] of this) {
      if (typeof key === 'string') {
        end += key.length;
        ends[strings.length] = end;
        counts[strings.length] = n;
        strings.push(key);
      } else if (typeof key === 'number') {
        (numberKeys ??= []).push(key);
        (numberCounts ??= []).push(n);
      } else {
        throw new TypeError(`Counter.pack() packs string and number keys, not ${typeof key} keys`);
      }
    }
    const stringCount = strings.length;
    const numbers = numberKeys ? Float64Array.from(numberKeys) : new Float64Array(0);
    if (numberCounts) counts.set(numberCounts, stringCount);
    const stringEnds = stringCount === size ? ends : ends.slice(0, stringCount);
    const packed: PackedCounter<K & (string | number)> = {
      format: PACKED_FORMAT,
      text: strings.join(''),
      ends: stringEnds,
      numbers,
      counts,
    };
    // Each piece has a buffer of its own (made here), so moving them takes nothing else along.
    return markTransfer(packed, [stringEnds.buffer, numbers.buffer, counts.buffer]);
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

/** Whether `counts` is a {@link PackedCounter} (a plain object after crossing threads, so told by its `format`). */
function isPackedCounter<K>(
  counts: Iterable<readonly [K, number]> | PackedCounter<K & (string | number)>,
): counts is PackedCounter<K & (string | number)> {
  return (counts as { format?: unknown }).format === PACKED_FORMAT;
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
