/**
 * `merge`: items from several sources as they arrive.
 *
 * @packageDocumentation
 */
import { DONE, isBatch, nextOfBatches, pullBatch, pullFrom, type Batch, type BatchIterator, type BatchPull } from '../batch-pull.js';
import { Flow, toAsyncIterable, type FlowSource } from '../flow.js';
import { abortable } from '../operator.js';
import { closeQuietly } from './internal.js';

/**
 * Reads several sources at once and emits their items as they arrive (each source's own order is
 * kept; the interleaving is not promised). Each source has at most one read in flight or one
 * batch waiting, of at most as many items as the consumer asks for at once (one, for a consumer
 * with a per-item callback), so a fast source is read no faster than the consumer takes items. The flow ends
 * when every source has ended; an error from any source ends it with that error, and an error,
 * an abort or an early stop closes every source still open.
 *
 * @param sources - anything {@link flow} accepts (arrays, iterables, async iterables, `Readable`s,
 *   highland streams, other flows); opened when the merged flow is first read
 * @returns a {@link Flow} of the items of all sources; wrap it as `flow(merge(...), { signal })` to
 *   give it an abort signal
 * @throws `TypeError` when a source is none of the accepted kinds
 * @example
 * ```ts
 * import { flow, merge } from 'millrace';
 * const all = await merge(flow([1, 2]), ['a', 'b']).toArray(); // (number | string)[], e.g. [1, 'a', 2, 'b']
 * ```
 * @category Sources
 * @see {@link concat} for one source after another
 */
export function merge<T extends readonly unknown[]>(...sources: { [K in keyof T]: FlowSource<T[K]> }): Flow<T[number]> {
  const iterables = sources.map((source) => toAsyncIterable(source as FlowSource<T[number]>));
  return new Flow<T[number]>((context) => ({ [Symbol.asyncIterator]: () => new MergeIterator(iterables, context.signal) }));
}

/** A batch from one source, handed over from `offset` on. */
interface Arrival<T> {
  readonly index: number;
  readonly items: readonly T[];
  offset: number;
}

/**
 * The merged iterator. It speaks the batch protocol, so sources that hand over batches at once
 * (arrays, finished chunks) are merged without a promise per item; and it is a plain object,
 * so `return()` closes every source at once, even while it waits.
 */
class MergeIterator<T> implements BatchIterator<T> {
  readonly #iterables: readonly AsyncIterable<T>[];
  readonly #signal: AbortSignal;
  #iterators: AsyncIterator<T>[] | undefined;
  /** Per source: 'idle' (may be read), 'busy' (a read in flight or a batch waiting), 'done'. */
  #states: ('idle' | 'busy' | 'done')[] = [];
  readonly #arrivals: Arrival<T>[] = [];
  #failure: { error: unknown } | undefined;
  #closed = false;
  #changed: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(iterables: readonly AsyncIterable<T>[], signal: AbortSignal) {
    this.#iterables = iterables;
    this.#signal = signal;
  }

  [pullBatch](max: number): BatchPull<T> {
    if (this.#closed) return DONE;
    try {
      if (this.#signal.aborted) throw this.#signal.reason;
      if (!this.#iterators) {
        this.#iterators = [];
        for (const iterable of this.#iterables) {
          this.#iterators.push(iterable[Symbol.asyncIterator]());
          this.#states.push('idle');
        }
      }
      for (;;) {
        if (this.#failure) throw this.#failure.error;
        const batch = this.#handOver(max);
        if (batch) return batch;
        if (this.#states.every((state) => state === 'done')) {
          this.#closed = true;
          return DONE;
        }
        // Nothing at hand: wait, unless the reads just started found every source ended.
        if (!this.#startReads(max) && this.#states.some((state) => state !== 'done')) break;
      }
    } catch (error) {
      this.#close();
      throw error;
    }
    return abortable(this.#whenChanged(), this.#signal).then(
      () => this[pullBatch](max),
      (error: unknown) => {
        this.#close();
        throw error;
      },
    );
  }

  next(): Promise<IteratorResult<T>> {
    return nextOfBatches(this);
  }

  return(): Promise<IteratorResult<T>> {
    this.#close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Up to `max` waiting items, oldest batch first; a source whose batch is used up may be read again. */
  #handOver(max: number): Batch<T> | undefined {
    const items: T[] = [];
    while (items.length < max && this.#arrivals.length > 0) {
      const arrival = this.#arrivals[0]!;
      const count = Math.min(max - items.length, arrival.items.length - arrival.offset);
      for (let i = 0; i < count; i++) items.push(arrival.items[arrival.offset + i]!);
      arrival.offset += count;
      if (arrival.offset === arrival.items.length) {
        this.#arrivals.shift();
        if (this.#states[arrival.index] === 'busy') this.#states[arrival.index] = 'idle';
      }
    }
    return items.length > 0 ? { items, done: false } : undefined;
  }

  /** Starts a read of every idle source; true when one of them handed items over at once. */
  #startReads(max: number): boolean {
    let arrived = false;
    for (const [index, iterator] of this.#iterators!.entries()) {
      if (this.#states[index] !== 'idle') continue;
      this.#states[index] = 'busy';
      const pull = pullFrom(iterator, max);
      if (isBatch(pull)) {
        arrived = this.#arrived(index, pull) || arrived;
        continue;
      }
      pull.then(
        (batch) => {
          this.#arrived(index, batch);
          this.#notify();
        },
        (error: unknown) => {
          this.#states[index] = 'done'; // a failed source has finished itself
          this.#failure ??= { error };
          this.#notify();
        },
      );
    }
    return arrived;
  }

  /** Queues a batch; true when it holds items. */
  #arrived(index: number, batch: Batch<T>): boolean {
    if (batch.done) this.#states[index] = 'done';
    if (batch.items.length === 0) {
      if (!batch.done) this.#states[index] = 'idle';
      return false;
    }
    this.#arrivals.push({ index, items: batch.items, offset: 0 });
    return true;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [index, iterator] of (this.#iterators ?? []).entries()) {
      if (this.#states[index] !== 'done') void closeQuietly(iterator);
      this.#states[index] = 'done';
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
