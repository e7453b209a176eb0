/**
 * `tee`: several flows that each see every item of one source.
 *
 * @packageDocumentation
 */
import { checkInteger } from '../errors.js';
import { Flow, toAsyncIterable, type FlowSource } from '../flow.js';
import { abortable } from '../operator.js';
import { closable, closeQuietly } from './internal.js';

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
  readonly bufferSize?: number;
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
    (_, index) => new Flow<T>((context) => closable(context.signal, (signal) => readBranch(core, index, signal))),
  ) as TeeFlows<T, N>;
}

async function* readBranch<T>(core: TeeCore<T>, index: number, signal: AbortSignal): AsyncGenerator<T> {
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const result = await core.next(index, signal);
      if (result.done) return;
      yield result.value;
    }
  } finally {
    core.detach(index);
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

  /** Branch `index`'s next item: buffered, or read from the source when the window allows. */
  async next(index: number, signal: AbortSignal): Promise<IteratorResult<T>> {
    for (;;) {
      const position = this.#positions[index]!;
      const end = this.#base + this.#buffer.length - this.#head;
      if (position < end) {
        const value = this.#buffer[this.#head + position - this.#base]!;
        this.#positions[index] = position + 1;
        this.#trim();
        return { done: false, value };
      }
      if (this.#failure) throw this.#failure.error;
      if (this.#ended) return { done: true, value: undefined };
      if (!this.#reading && end - this.#slowest() < this.#bufferSize) this.#read();
      await abortable(this.#whenChanged(), signal);
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

  #read(): void {
    this.#reading = true;
    let read: Promise<IteratorResult<T>>;
    try {
      this.#iterator ??= this.#source[Symbol.asyncIterator]();
      read = this.#iterator.next();
    } catch (error) {
      read = Promise.reject(error);
    }
    read.then(
      (result) => {
        this.#reading = false;
        if (result.done) this.#ended = true;
        else this.#buffer.push(result.value);
        this.#notify();
      },
      (error: unknown) => {
        this.#reading = false;
        this.#failure ??= { error };
        this.#notify();
      },
    );
  }

  /** The position of the slowest branch still reading (the end when none is). */
  #slowest(): number {
    let slowest = Infinity;
    for (const position of this.#positions) if (position !== undefined && position < slowest) slowest = position;
    return slowest === Infinity ? this.#base + this.#buffer.length - this.#head : slowest;
  }

  /** Drops the items every branch has read; compacts the array now and then, not on every item. */
  #trim(): void {
    const slowest = this.#slowest();
    if (slowest <= this.#base) return;
    this.#head += slowest - this.#base;
    this.#base = slowest;
    // The window moved: a branch waiting at its far end may read again.
    this.#notify();
    if (this.#head >= 1024 && this.#head * 2 >= this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
  }

  #whenChanged(): Promise<void> {
    if (!this.#changed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#changed = { promise, resolve };
    }
    return this.#changed.promise;
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = undefined;
    changed?.resolve();
  }
}
