/**
 * An operator's output made of arrays of items (an owner's results message at a time) handed on
 * through the batch-pull protocol: a sink takes a whole array in one call, not one promise per
 * item (an async generator yielding a million pairs one by one cost the main thread about 0.8 s).
 *
 * @packageDocumentation
 */
import { batchReady, DONE, nextOfBatches, pullBatch, type Batch, type BatchIterator, type BatchPull } from '../batch-pull.js';

/**
 * The items of `batches`, flattened: `next()` one at a time, {@link pullBatch} up to `max` at once.
 * `return()` is the generator's (its `finally` runs as with `for await`).
 */
export function batchedOutput<T>(batches: AsyncGenerator<readonly T[], void, undefined>): AsyncIterable<T> {
  const iterator = new BatchedOutput(batches);
  return { [Symbol.asyncIterator]: () => iterator };
}

class BatchedOutput<T> implements BatchIterator<T> {
  readonly #batches: AsyncGenerator<readonly T[], void, undefined>;
  #current: readonly T[] = [];
  #at = 0;
  #done = false;

  constructor(batches: AsyncGenerator<readonly T[], void, undefined>) {
    this.#batches = batches;
  }

  /** Asking for many starts no more work than asking for one: every item exists once the input has ended. */
  readonly [batchReady] = true;

  next(): Promise<IteratorResult<T>> {
    return nextOfBatches(this);
  }

  [pullBatch](max: number): BatchPull<T> {
    return this.#take(max) ?? this.#refill(max);
  }

  async return(): Promise<IteratorResult<T>> {
    this.#done = true;
    this.#current = [];
    await this.#batches.return();
    return { done: true, value: undefined };
  }

  #take(max: number): Batch<T> | undefined {
    const current = this.#current;
    if (this.#at < current.length) {
      const from = this.#at;
      // The whole array when it fits: the receiver may not change it, and neither do we.
      const items = from === 0 && current.length <= max ? current : current.slice(from, from + max);
      this.#at = from + items.length;
      return { items, done: false };
    }
    return this.#done ? DONE : undefined;
  }

  async #refill(max: number): Promise<Batch<T>> {
    for (;;) {
      const next = await this.#batches.next();
      if (next.done === true) {
        this.#done = true;
        return DONE;
      }
      this.#current = next.value;
      this.#at = 0;
      const batch = this.#take(max);
      if (batch !== undefined && batch.items.length > 0) return batch;
    }
  }
}
