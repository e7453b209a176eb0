/**
 * @packageDocumentation
 * `batch`: group items into arrays, by count and optionally by time.
 */
import { checkInteger } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Options for {@link batch}.
 *
 * @example
 * ```ts
 * import { batch, flow, type BatchOptions } from 'millrace';
 * const options: BatchOptions = { maxWaitMs: 100 };
 * await flow([1, 2, 3]).pipe(batch(500, options)).toArray(); // [[1, 2, 3]]
 * ```
 * @category Transforms
 */
export interface BatchOptions {
  /**
   * Emit a batch once this many milliseconds have passed since its first item, even if it is not
   * full (highland's `batchWithTimeOrCount`, RxJS's `bufferTime` with a count).
   * @defaultValue none: a batch waits until it is full or the input ends
   */
  readonly maxWaitMs?: number | undefined;
}

/**
 * Groups items into arrays of `size` (the last one may be shorter); with `maxWaitMs`, a batch is
 * also emitted when that long has passed since its first item, so a slow source still delivers.
 *
 * @param size - items per batch, at least 1
 * @param options - see {@link BatchOptions}
 * @returns an {@link Operator} emitting arrays (never empty ones)
 * @throws {@link InvalidOptionError} when `size` or `maxWaitMs` is not a positive integer
 * @example
 * ```ts
 * import { batch, flow } from 'millrace';
 * console.log(await flow([1, 2, 3]).pipe(batch(2)).toArray()); // [[1, 2], [3]]
 * // Up to 100 events per write, and none waits longer than a second:
 * const writes = flow([{ id: 1 }]).pipe(batch(100, { maxWaitMs: 1_000 }));
 * ```
 * @category Transforms
 */
export function batch<T>(size: number, options: BatchOptions = {}): Operator<T, T[]> {
  checkInteger('size', size, 1);
  checkInteger('maxWaitMs', options.maxWaitMs, 1);
  const { maxWaitMs } = options;
  if (maxWaitMs !== undefined) return timedBatch(size, maxWaitMs);
  return defineOperator<T, T[]>('batch', async function* (source) {
    let current: T[] = [];
    for await (const item of source) {
      current.push(item);
      if (current.length >= size) {
        yield current;
        current = [];
      }
    }
    if (current.length > 0) yield current;
  });
}

/** Marks a batch's deadline having passed while a read was pending. */
const EXPIRED = Symbol('expired');

function timedBatch<T>(size: number, maxWaitMs: number): Operator<T, T[]> {
  return defineOperator<T, T[]>('batch', async function* (source) {
    const iterator = source[Symbol.asyncIterator]();
    let current: T[] = [];
    // A read survives a deadline: the item it brings starts the next batch.
    let read: Promise<IteratorResult<T>> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let deadline: Promise<typeof EXPIRED> | undefined;
    const emit = (): T[] => {
      clearTimeout(timer);
      deadline = undefined;
      const full = current;
      current = [];
      return full;
    };
    try {
      for (;;) {
        read ??= iterator.next();
        const result = deadline ? await Promise.race([read, deadline]) : await read;
        if (result === EXPIRED) {
          yield emit();
          continue;
        }
        read = undefined;
        if (result.done) break;
        if (current.length === 0) {
          deadline = new Promise((resolve) => {
            timer = setTimeout(resolve, maxWaitMs, EXPIRED);
          });
        }
        current.push(result.value);
        if (current.length >= size) yield emit();
      }
      if (current.length > 0) yield emit();
    } finally {
      clearTimeout(timer);
    }
  });
}
