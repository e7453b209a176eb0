/**
 * `tee`: several flows that each see every item of one source.
 *
 * @packageDocumentation
 */
import { DONE, isBatch, nextOfBatches, pullBatch, pullFrom, type Batch, type BatchIterator, type BatchPull } from '../batch-pull.js';
import { checkInteger } from '../errors.js';
import { Flow, toAsyncIterable, type FlowSource } from '../flow.js';
import { abortable } from '../operator.js';
import { closeQuietly } from './internal.js';

/**
 * Options for {@link tee}.
 *
 * @example
 * ```ts
 * import { tee, type TeeOptions } from 'millrace';
 * const options: TeeOptions = { bufferSize: 64 };
 * const [a, b] = tee([1, 2, 3], 2, options);
 * ```
 * @category Sources
 */
export interface TeeOptions {
  /**
   * How many items the fastest branch may be ahead of the slowest one still reading; beyond it
   * the fastest waits. The items between them are all that is kept in memory.
   * @defaultValue `1024`
   */
  readonly bufferSize?: number | undefined;
}

/**
 * What {@link tee} returns: `N` flows of `T`, as a tuple when `N` is a literal, else an array.
 *
 * @example
 * ```ts
 * import { tee, type TeeFlows } from 'millrace';
 * const branches: TeeFlows<number, 3> = tee([1, 2], 3); // [Flow<number>, Flow<number>, Flow<number>]
 * ```
 * @category Sources
 */
export type TeeFlows<T, N extends number, Built extends Flow<T>[] = []> = number extends N
  ? Flow<T>[]
  : Built['length'] extends N
    ? Built
    : TeeFlows<T, N, [...Built, Flow<T>]>;

/**
 * Splits one source into `n` flows that each see every item, for consumers that go at their own
 * pace (each branch is consumed once, like any flow). Memory is bounded by `bufferSize`: the
 * fastest branch waits when it is that far ahead of the slowest. A branch whose consumer stops
 * early (`break`, `take`, its own abort) detaches without stopping the others; the source is
 * opened when a branch is first read and closed once every branch has stopped. A source error
 * reaches every branch after the items read before it. Every branch must be consumed or
 * stopped: one never read holds the others back once they are `bufferSize` ahead.
 *
 * @param source - anything {@link flow} accepts
 * @param n - how many branches, at least 1
 * @param options - see {@link TeeOptions}
 * @returns `n` flows (a tuple when `n` is a literal)
 * @throws {@link InvalidOptionError} when `n` or `bufferSize` is not a positive integer; `TypeError`
 *   when `source` is none of the accepted kinds
 * @example
 * ```ts
 * import { map, tee } from 'millrace';
 * const [forSum, forCount] = tee([1, 2, 3]);
 * const [sum, count] = await Promise.all([forSum.reduce((a, x) => a + x, 0), forCount.pipe(map((x) => x)).count()]);
 * console.log(sum, count); // 6 3
 * ```
 * @category Sources
 */
export function tee<T, N extends number = 2>(source: FlowSource<T>, n?: N, options: TeeOptions = {}): TeeFlows<T, N> {
  const branches = n ?? 2;
  checkInteger('n', branches, 1);
  checkInteger('bufferSize', options.bufferSize, 1);
  const core = new TeeCore(toAsyncIterable(source), branches, options.bufferSize ?? 1024);
  return Array.from(
    { length: branches },
    (_, index) => new Flow<T>((context) => ({ [Symbol.asyncIterator]: () => new TeeBranch(core, index, context.signal) })),
  ) as TeeFlows<T, N>;
}

/**
 * One branch's iterator. It speaks the batch protocol, so a sink takes buffered items without a
 * promise each; and it is a plain object, not a generator, so `return()` detaches it at once,
 * even while it waits (a generator would queue the `return()` behind that wait).
 */
class TeeBranch<T> implements BatchIterator<T> {
  readonly #core: TeeCore<T>;
  readonly #index: number;
  readonly #signal: AbortSignal;
  #done = false;

  constructor(core: TeeCore<T>, index: number, signal: AbortSignal) {
    this.#core = core;
    this.#index = index;
    this.#signal = signal;
  }

  [pullBatch](max: number): BatchPull<T> {
    if (this.#done) return DONE;
    let batch: Batch<T> | undefined;
    try {
      if (this.#signal.aborted) throw this.#signal.reason;
      batch = this.#core.take(this.#index, max);
    } catch (error) {
      this.#finish();
      throw error;
    }
    if (batch) {
      if (batch.done) this.#finish();
      return batch;
    }
    // Nothing to hand over yet: wait for the source or for the slowest branch, then try again.
    return abortable(this.#core.whenChanged(), this.#signal).then(
      () => this[pullBatch](max),
      (error: unknown) => {
        this.#finish();
        throw error;
      },
    );
  }

  next(): Promise<IteratorResult<T>> {
    return nextOfBatches(this);
  }

  return(): Promise<IteratorResult<T>> {
    this.#finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#core.detach(this.#index);
  }
}

/** The shared source and the window of items between the slowest and the fastest branch. */
class TeeCore<T> {
  readonly #source: AsyncIterable<T>;
  readonly #bufferSize: number;
  #iterator: AsyncIterator<T> | undefined;
  /** Items from absolute position `#base` on; `#buffer[#head]` is the item at `#base`. */
  #buffer: T[] = [];
  #head = 0;
  #base = 0;
  /** Each branch's next position; `undefined` once it has stopped. */
  readonly #positions: (number | undefined)[];
  #reading = false;
  #ended = false;
  #failure: { error: unknown } | undefined;
  #changed: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(source: AsyncIterable<T>, branches: number, bufferSize: number) {
    this.#source = source;
    this.#bufferSize = bufferSize;
    this.#positions = new Array<number | undefined>(branches).fill(0);
  }

  /**
   * Up to `max` items for branch `index`: buffered ones, or read from the source (as many as the
   * branch asks for, within the window) when it hands them over at once. `undefined` when the
   * branch must wait: a read is pending, or it is `bufferSize` ahead of the slowest branch.
   */
  take(index: number, max: number): Batch<T> | undefined {
    for (;;) {
      const position = this.#positions[index]!;
      const end = this.#end();
      if (position < end) {
        const from = this.#head + position - this.#base;
        const count = Math.min(max, end - position);
        const items = count === 1 ? [this.#buffer[from]!] : this.#buffer.slice(from, from + count);
        this.#positions[index] = position + count;
        this.#trim();
        return { items, done: false };
      }
      if (this.#failure) throw this.#failure.error;
      if (this.#ended) return DONE;
      const room = this.#bufferSize - (end - this.#slowest());
      if (this.#reading || room <= 0) return undefined;
      if (!this.#read(Math.min(max, room))) return undefined;
    }
  }

  /** Branch `index` stopped: it no longer holds the others back; the last one closes the source. */
  detach(index: number): void {
    if (this.#positions[index] === undefined) return;
    this.#positions[index] = undefined;
    this.#trim();
    if (this.#positions.every((position) => position === undefined) && !this.#ended) {
      this.#ended = true;
      void closeQuietly(this.#iterator);
    }
    this.#notify();
  }

  /** Resolves at the next change: items read, the source ended or failed, the window moved. */
  whenChanged(): Promise<void> {
    if (!this.#changed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#changed = { promise, resolve };
    }
    return this.#changed.promise;
  }

  /** Reads up to `count` items; true when the read settled at once (the source handed a batch over). */
  #read(count: number): boolean {
    let pull: BatchPull<T>;
    try {
      this.#iterator ??= this.#source[Symbol.asyncIterator]();
      pull = pullFrom(this.#iterator, count);
    } catch (error) {
      this.#failure ??= { error };
      return true;
    }
    if (isBatch(pull)) {
      this.#arrived(pull);
      return true;
    }
    this.#reading = true;
    pull.then(
      (batch) => {
        this.#reading = false;
        this.#arrived(batch);
        this.#notify();
      },
      (error: unknown) => {
        this.#reading = false;
        this.#failure ??= { error };
        this.#notify();
      },
    );
    return false;
  }

  #arrived(batch: Batch<T>): void {
    for (const item of batch.items) this.#buffer.push(item);
    if (batch.done) this.#ended = true;
  }

  #end(): number {
    return this.#base + this.#buffer.length - this.#head;
  }

  /** The position of the slowest branch still reading (the end when none is). */
  #slowest(): number {
    let slowest = Infinity;
    for (const position of this.#positions) if (position !== undefined && position < slowest) slowest = position;
    return slowest === Infinity ? this.#end() : slowest;
  }

  /** Drops the items every branch has read; compacts the array now and then, not on every item. */
  #trim(): void {
    const slowest = this.#slowest();
    if (slowest <= this.#base) return;
    this.#head += slowest - this.#base;
    this.#base = slowest;
    if (this.#head >= 1024 && this.#head * 2 >= this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    // The window moved: a branch waiting at its far end may read again.
    this.#notify();
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = undefined;
    changed?.resolve();
  }
}
