/**
 * The internal batch-pull protocol: an iterator that can hand over many items in one call, so the
 * engine fills chunks from a sync source, and sinks drain a finished chunk's results, without a
 * promise (and an abort race) per item. Every participant still is a plain `AsyncIterator`; the
 * protocol is an optional extra method, so user iterators and operators need not know of it.
 *
 * @packageDocumentation
 */

/** The optional method of an iterator that hands over up to `max` items at once. */
export const pullBatch: unique symbol = Symbol('millrace.pullBatch');

/**
 * Present (and true) on an iterator whose {@link pullBatch} hands over only items that already
 * exist (a finished chunk's results), so asking for many starts no work upstream. A sink with a
 * per-item callback asks such an iterator for many items, any other for one at a time, so a
 * lazy source is never read ahead of the callback.
 */
export const batchReady: unique symbol = Symbol('millrace.batchReady');

/**
 * One batch: `items` (never more than asked for; possibly empty only when `done`), and whether
 * the iterator has finished. The receiver owns neither the array nor may it change it: a producer
 * can hand over its own buffer.
 */
export interface Batch<T> {
  readonly items: readonly T[];
  readonly done: boolean;
}

/** A batch, synchronously when the items are at hand, else a promise of one. */
export type BatchPull<T> = Batch<T> | Promise<Batch<T>>;

/** An async iterator that also speaks the protocol. */
export interface BatchIterator<T> extends AsyncIterator<T> {
  /** Hands over 1 to `max` items, or none with `done`. May throw or reject as `next()` does. */
  [pullBatch](max: number): BatchPull<T>;
  readonly [batchReady]?: boolean;
}

/** The batch every finished iterator answers. */
export const DONE: Batch<never> = Object.freeze({ items: Object.freeze([]), done: true });

/** Whether `iterator` speaks the protocol. */
export function canPullBatch<T>(iterator: AsyncIterator<T>): iterator is BatchIterator<T> {
  return typeof (iterator as Partial<BatchIterator<T>>)[pullBatch] === 'function';
}

/** Whether `iterator` hands over only existing items (see {@link batchReady}). */
export function isBatchReady<T>(iterator: AsyncIterator<T>): boolean {
  return (iterator as Partial<BatchIterator<T>>)[batchReady] === true;
}

/** Whether a pull answered synchronously. */
export function isBatch<T>(pull: BatchPull<T>): pull is Batch<T> {
  return !(pull instanceof Promise);
}

/** Up to `max` items from any iterator: a batch from one that speaks the protocol, else one `next()`. */
export function pullFrom<T>(iterator: AsyncIterator<T>, max: number): BatchPull<T> {
  if (canPullBatch(iterator)) return iterator[pullBatch](max);
  return iterator.next().then(toBatch);
}

/** One `next()` result as a batch. */
export function toBatch<T>(result: IteratorResult<T>): Batch<T> {
  return result.done ? DONE : { items: [result.value], done: false };
}

/** `next()` of an iterator that speaks the batch protocol: its next value is a batch of at most one. */
export async function nextOfBatches<T>(iterator: BatchIterator<T>): Promise<IteratorResult<T>> {
  const pull = iterator[pullBatch](1);
  const batch = isBatch(pull) ? pull : await pull;
  return batch.items.length > 0 ? { done: false, value: batch.items[0]! } : { done: true, value: undefined };
}
