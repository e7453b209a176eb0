/**
 * `Flow<T>`: a lazy, single-use, typed pipeline over a source. Nothing is read and no worker
 * starts until the flow is consumed.
 *
 * @packageDocumentation
 */
import { Readable } from 'node:stream';
import { FlowConsumedError, MillraceError } from './errors.js';
import { fromHighland, isHighlandStream, toHighlandStream, type HighlandStream } from './highland.js';
import { abortable, composeOperators, type Operator, type OperatorContext } from './operator.js';
import { FileSink, type WriteLinesOptions } from './sinks/write-lines.js';
import {
  batchReady,
  canPullBatch,
  DONE,
  isBatch,
  isBatchReady,
  pullBatch,
  pullFrom,
  type Batch,
  type BatchIterator,
  type BatchPull,
} from './batch-pull.js';

/**
 * What {@link flow} accepts: an array or any iterable, an async iterable, a Node `Readable`
 * (object mode or bytes), or a highland stream.
 *
 * @example
 * ```ts
 * import type { FlowSource } from 'millrace';
 * const numbers: FlowSource<number> = [1, 2, 3];
 * ```
 * @category Flows
 */
export type FlowSource<T> = Iterable<T> | AsyncIterable<T> | Readable | HighlandStream<T>;

/**
 * Options for {@link flow}.
 *
 * @example
 * ```ts
 * import { flow, type FlowOptions } from 'millrace';
 * const options: FlowOptions = { signal: AbortSignal.timeout(60_000) };
 * await flow([1, 2, 3], options).toArray();
 * ```
 * @category Flows
 */
export interface FlowOptions {
  /**
   * Aborting it ends the flow promptly: the source is closed, queued chunks are dropped, running
   * chunks' workers are ended, and consumption rejects with the signal's reason.
   * @defaultValue none
   */
  readonly signal?: AbortSignal | undefined;
}

/** Why a flow's internal signal fired when its consumer simply stopped early. */
export class FlowClosedReason extends MillraceError {
  override name = 'FlowClosed';
  constructor() {
    super('the flow was closed by its consumer');
  }
}

type Build<T> = (context: OperatorContext) => AsyncIterable<T>;

/**
 * A lazy, typed pipeline. Build one with {@link flow}, add steps with {@link Flow.pipe}, and consume
 * it once: `for await`, {@link Flow.toArray}, {@link Flow.reduce}, {@link Flow.forEach},
 * {@link Flow.toNodeStream} or {@link Flow.toHighland}.
 *
 * A flow runs only when it is consumed. `flow(files).pipe(parallelMap(task))` by itself reads no
 * input and sends nothing to a worker; left without a sink it does nothing, and says nothing. The
 * sinks that return a promise run the flow as that promise settles: `await` it, or the program
 * goes on (or ends) before the work is done and a failure goes unhandled. typescript-eslint's
 * `no-floating-promises` rule flags a sink's promise that is neither awaited nor handled.
 *
 * @example
 * ```ts
 * import { flow, map, filter } from 'millrace';
 * const evens = flow([1, 2, 3, 4]).pipe(filter((x) => x % 2 === 0), map((x) => x * 10));
 * for await (const x of evens) console.log(x); // 20, 40
 * ```
 * @category Flows
 */
export class Flow<T> implements AsyncIterable<T> {
  readonly #build: Build<T>;
  readonly #signal: AbortSignal | undefined;
  #used = false;

  /** Prefer {@link flow}. */
  constructor(build: Build<T>, signal?: AbortSignal) {
    this.#build = build;
    this.#signal = signal;
  }

  /**
   * Adds steps to the pipeline; the output type flows through each.
   *
   * @param op1 - the first step, taking this flow's items; each further step (`op2` to `op9`) takes
   *   what the one before emits
   * @returns a new flow; this one must not be used again
   * @throws {@link FlowConsumedError} if this flow was already consumed or piped
   */
  pipe<A>(op1: Operator<T, A>): Flow<A>;
  pipe<A, B>(op1: Operator<T, A>, op2: Operator<A, B>): Flow<B>;
  pipe<A, B, C>(op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>): Flow<C>;
  pipe<A, B, C, D>(op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>): Flow<D>;
  pipe<A, B, C, D, E>(op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>, op5: Operator<D, E>): Flow<E>;
  pipe<A, B, C, D, E, F>(
    op1: Operator<T, A>,
    op2: Operator<A, B>,
    op3: Operator<B, C>,
    op4: Operator<C, D>,
    op5: Operator<D, E>,
    op6: Operator<E, F>,
  ): Flow<F>;
  pipe<A, B, C, D, E, F, G>(
    op1: Operator<T, A>,
    op2: Operator<A, B>,
    op3: Operator<B, C>,
    op4: Operator<C, D>,
    op5: Operator<D, E>,
    op6: Operator<E, F>,
    op7: Operator<F, G>,
  ): Flow<G>;
  pipe<A, B, C, D, E, F, G, H>(
    op1: Operator<T, A>,
    op2: Operator<A, B>,
    op3: Operator<B, C>,
    op4: Operator<C, D>,
    op5: Operator<D, E>,
    op6: Operator<E, F>,
    op7: Operator<F, G>,
    op8: Operator<G, H>,
  ): Flow<H>;
  pipe<A, B, C, D, E, F, G, H, I>(
    op1: Operator<T, A>,
    op2: Operator<A, B>,
    op3: Operator<B, C>,
    op4: Operator<C, D>,
    op5: Operator<D, E>,
    op6: Operator<E, F>,
    op7: Operator<F, G>,
    op8: Operator<G, H>,
    op9: Operator<H, I>,
  ): Flow<I>;
  pipe(...operators: Operator<never, unknown>[]): Flow<unknown> {
    this.#claim();
    const build = this.#build as Build<unknown>;
    return new Flow<unknown>((context) => composeOperators(build(context), operators, context), this.#signal);
  }

  /**
   * Iterates the flow's values. Leaving the loop early (`break`, `return`, a throw) closes the
   * source and cancels outstanding work.
   *
   * @returns the iterator (`for await` calls this)
   * @throws {@link FlowConsumedError} on a second consumption
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    this.#claim();
    return new FlowIterator(this.#build, this.#signal);
  }

  /**
   * Collects every value into an array.
   *
   * @returns the values, in emission order
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * console.log(await flow(new Set([1, 2])).toArray()); // [1, 2]
   * ```
   */
  async toArray(): Promise<T[]> {
    const values: T[] = [];
    await this.#drain(true, (value) => {
      values.push(value);
    });
    return values;
  }

  /**
   * Folds every value into one, in the order of `Array.prototype.reduce`: `(accumulator, item)`.
   *
   * @param reducer - combines the accumulator with the next value
   * @param initial - the starting accumulator
   * @returns the final accumulator
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * console.log(await flow([1, 2, 3]).reduce((sum, x) => sum + x, 0)); // 6
   * ```
   */
  async reduce<A>(reducer: (accumulator: A, value: T) => A | Promise<A>, initial: A): Promise<A> {
    let accumulator = initial;
    await this.#drain(false, (value) => {
      const next = reducer(accumulator, value);
      if (!isThenable(next)) {
        accumulator = next;
        return undefined;
      }
      return next.then((awaited) => {
        accumulator = awaited;
      });
    });
    return accumulator;
  }

  /**
   * Calls `action` on each value in turn, awaiting it before the next is pulled.
   *
   * @param action - called with each value and its 0-based index
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * await flow(['a', 'b']).forEach((x, i) => console.log(i, x));
   * ```
   */
  async forEach(action: (value: T, index: number) => void | Promise<void>): Promise<void> {
    let index = 0;
    await this.#drain(false, (value) => action(value, index++));
  }

  /**
   * Counts the values.
   *
   * @returns how many values the flow produced
   * @example
   * ```ts
   * import { filter, flow } from 'millrace';
   * console.log(await flow([1, 2, 3]).pipe(filter((x) => x > 1)).count()); // 2
   * ```
   */
  async count(): Promise<number> {
    let count = 0;
    await this.#drain(true, () => {
      count++;
    });
    return count;
  }

  /**
   * Whether any value satisfies `predicate`; stops the flow (closing the source) at the first that does.
   *
   * @param predicate - called with each value and its 0-based index; may return a promise
   * @returns `true` at the first match, `false` when the flow ends without one
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * function* naturals() { for (let n = 0; ; n++) yield n; }
   * console.log(await flow(naturals()).some((x) => x > 10)); // true: the endless source is closed
   * ```
   */
  async some(predicate: (value: T, index: number) => boolean | Promise<boolean>): Promise<boolean> {
    return (await this.#search(predicate)) !== undefined;
  }

  /**
   * Whether every value satisfies `predicate`; stops the flow (closing the source) at the first that does not.
   *
   * @param predicate - called with each value and its 0-based index; may return a promise
   * @returns `false` at the first value that fails, `true` when the flow ends (also when it is empty)
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * // 5 fails, so 6 is never read:
   * console.log(await flow([2, 4, 5, 6]).every((x) => x % 2 === 0)); // false
   * ```
   */
  async every(predicate: (value: T, index: number) => boolean | Promise<boolean>): Promise<boolean> {
    const failed = await this.#search(async (value, index) => !(await predicate(value, index)));
    return failed === undefined;
  }

  /**
   * The first value that satisfies `predicate`; stops the flow (closing the source) there.
   *
   * @param predicate - called with each value and its 0-based index; may return a promise; a type
   *   guard narrows the result
   * @returns the value, or `undefined` when the flow ends without a match
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * console.log(await flow(['a', 'bb', 'ccc']).find((s) => s.length > 1)); // bb
   * ```
   */
  async find<S extends T>(predicate: (value: T, index: number) => value is S): Promise<S | undefined>;
  async find(predicate: (value: T, index: number) => boolean | Promise<boolean>): Promise<T | undefined>;
  async find(predicate: (value: T, index: number) => boolean | Promise<boolean>): Promise<T | undefined> {
    return (await this.#search(predicate))?.value;
  }

  /**
   * Writes each value to a file followed by a separator (a newline unless told otherwise): strings
   * as UTF-8, `Uint8Array`s as they are. The file is written under a temporary name in the same
   * directory and renamed onto `path` only when the flow succeeds, so a failed or aborted flow
   * leaves no half-written file (and an existing file untouched); so does a process ended
   * meanwhile by Ctrl-C, SIGTERM or SIGHUP (that nothing else handles) or by `process.exit`. The
   * folder must exist (it is not made). The flow is read only as fast as the file takes the bytes.
   *
   * @param this - a flow of strings or bytes (map other items to strings first)
   * @param path - the file to write (replaced if it exists)
   * @param options - gzip and separator; see {@link WriteLinesOptions}
   * @returns resolves once the file is complete under its name
   * @throws the flow's error, or an {@link OutputFileError} naming `path` (a missing folder, no
   *   permission, a full disk), after removing the temporary file
   * @example
   * ```ts
   * import { flow, map } from 'millrace';
   * await flow([1, 2, 3]).pipe(map((x) => `line ${x}`)).writeLines('out.txt');
   * await flow(['compressed']).writeLines('out.txt.gz'); // gzip because of the name
   * ```
   */
  async writeLines<V extends string | Uint8Array>(this: Flow<V>, path: string, options: WriteLinesOptions = {}): Promise<void> {
    const sink = new FileSink(path, options);
    try {
      await this.#drain(true, (value) => sink.push(value));
      await sink.commit();
    } catch (error) {
      await sink.discard();
      throw error;
    }
  }

  /**
   * The first value (and its index) for which `predicate` holds, closing the flow there as `break`
   * does; read through {@link Flow.#drain}, so a flow of finished chunks is searched a batch at a time.
   */
  async #search(predicate: (value: T, index: number) => boolean | Promise<boolean>): Promise<{ value: T } | undefined> {
    // Thrown out of the drain to stop it: #drain closes the flow on a throw, exactly what is wanted.
    const stop = new Error('found');
    let found: { value: T } | undefined;
    const check = (matched: boolean, value: T): void => {
      if (!matched) return;
      found = { value };
      throw stop;
    };
    let index = 0;
    try {
      await this.#drain(false, (value) => {
        const matched = predicate(value, index++);
        if (isThenable(matched))
          return matched.then((awaited) => {
            check(awaited, value);
          });
        check(matched, value);
        return undefined;
      });
    } catch (error) {
      if (error !== stop) throw error;
    }
    return found;
  }

  /**
   * A Node `Readable` in object mode over the flow; destroying it closes the flow.
   *
   * @returns the readable
   * @example
   * ```ts
   * import { pipeline } from 'node:stream/promises';
   * import { Writable } from 'node:stream';
   * import { flow } from 'millrace';
   * const sink = new Writable({ objectMode: true, write: (x, _encoding, done) => { console.log(x); done(); } });
   * await pipeline(flow([1, 2]).toNodeStream(), sink);
   * ```
   */
  toNodeStream(): Readable {
    return Readable.from(this, { objectMode: true });
  }

  /**
   * A highland stream over the flow; destroying it closes the flow.
   *
   * @returns the highland stream
   * @example
   * ```ts
   * import { flow } from 'millrace';
   * flow([1, 2, 3]).toHighland().map((x) => x * 2).toArray((xs) => console.log(xs)); // [2, 4, 6]
   * ```
   */
  toHighland(): HighlandStream<T> {
    return toHighlandStream(this);
  }

  #claim(): void {
    if (this.#used) throw new FlowConsumedError();
    this.#used = true;
  }

  /**
   * `for await` without a promise per value: takes the values a batch at a time where the flow
   * has them ready (a finished chunk's results), else one at a time, so a lazy source is not read
   * ahead of `each` (`eager` when there is no user callback to be ahead of).
   */
  async #drain(eager: boolean, each: (value: T) => unknown): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- a Flow's iterator is always its FlowIterator
    const iterator = this[Symbol.asyncIterator]() as FlowIterator<T>;
    const max = eager || iterator[batchReady] ? SINK_BATCH : 1;
    try {
      if (!iterator.batches) {
        // A source that hands over one value at a time (a stream): its own `next()` is cheapest.
        for (let result = await iterator.next(); !result.done; result = await iterator.next()) {
          const step = each(result.value);
          if (isThenable(step)) await step;
        }
        return;
      }
      const signal = this.#signal;
      for (;;) {
        const pull = iterator[pullBatch](max);
        const batch = isBatch(pull) ? pull : await pull;
        for (const value of batch.items) {
          const step = each(value);
          if (isThenable(step)) await step;
          // The user's abort (from the callback, say) stops the callbacks at once, not at the batch's end.
          if (signal?.aborted) throw signal.reason;
        }
        if (batch.done) return;
      }
    } catch (error) {
      // As `for await` does when its body throws: close the flow, and keep the first error.
      await iterator.return().catch(() => undefined);
      throw error;
    }
  }
}

/** The most values a sink takes in one batch. */
const SINK_BATCH = 16_384;

function isThenable<V>(value: V | PromiseLike<V>): value is PromiseLike<V> {
  return (
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The consumer-side iterator: owns the flow's internal abort controller, which fires when the
 * user's signal does, and when the consumer stops early or the flow fails, so every step (and the
 * workers it started) tears down.
 */
class FlowIterator<T> implements BatchIterator<T> {
  readonly #controller = new AbortController();
  readonly #userSignal: AbortSignal | undefined;
  readonly #onUserAbort = (): void => this.#controller.abort(this.#userSignal?.reason);
  readonly #iterator: AsyncIterator<T>;
  #done = false;

  constructor(build: Build<T>, userSignal: AbortSignal | undefined) {
    this.#userSignal = userSignal;
    if (userSignal?.aborted) this.#controller.abort(userSignal.reason);
    else userSignal?.addEventListener('abort', this.#onUserAbort, { once: true });
    this.#iterator = build({ signal: this.#controller.signal })[Symbol.asyncIterator]();
    this.#controller.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  next(): Promise<IteratorResult<T>> {
    return canPullBatch(this.#iterator) ? this.#nextOfBatch() : this.#nextOne();
  }

  /** One value through the batch path: no promise per step when the value is at hand. */
  async #nextOfBatch(): Promise<IteratorResult<T>> {
    const pull = this[pullBatch](1);
    const batch = isBatch(pull) ? pull : await pull;
    return batch.items.length > 0 ? { done: false, value: batch.items[0]! } : { done: true, value: undefined };
  }

  /**
   * `next()` of an inner iterator that does not speak the batch protocol (a stream, a generator).
   * Called once per value, so it is written without `async` frames: one promise per read, which
   * an abort rejects through {@link FlowIterator.#failRead} (the read itself may never settle).
   */
  #nextOne(): Promise<IteratorResult<T>> {
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    if (this.#controller.signal.aborted) {
      const reason: unknown = this.#controller.signal.reason;
      return this.#closeSteps()
        .then(() => this.#close())
        .then(() => Promise.reject(reason));
    }
    let read: Promise<IteratorResult<T>>;
    try {
      read = this.#iterator.next();
    } catch (error) {
      return this.#fail(error);
    }
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      const fail = (error: unknown): void => {
        if (this.#failRead !== fail) return; // settled already
        this.#failRead = undefined;
        this.#fail(error).then(resolve, reject);
      };
      this.#failRead = fail;
      read.then((result) => {
        if (this.#failRead !== fail) return; // an abort got there first
        this.#failRead = undefined;
        if (result.done) this.#close().then(() => resolve(result), reject);
        else resolve(result);
      }, fail);
    });
  }

  /** Rejects the read in flight (through {@link FlowIterator.#fail}); set while one is. */
  #failRead: ((error: unknown) => void) | undefined;

  /** An abort must be felt by a read in flight even with no steps to notice it. */
  readonly #onAbort = (): void => this.#failRead?.(this.#controller.signal.reason);

  get [batchReady](): boolean {
    return isBatchReady(this.#iterator);
  }

  /** Whether the steps (or the source) hand over batches; else every pull is one `next()`. */
  get batches(): boolean {
    return canPullBatch(this.#iterator);
  }

  [pullBatch](max: number): BatchPull<T> {
    if (this.#done) return DONE;
    if (this.#controller.signal.aborted) {
      const reason: unknown = this.#controller.signal.reason;
      // Steps paused at a yield have no read pending on the signal, so they would not notice the
      // abort: close them, which closes the source.
      return this.#closeSteps()
        .then(() => this.#close())
        .then(() => Promise.reject(reason));
    }
    let pull: BatchPull<T>;
    try {
      pull = pullFrom(this.#iterator, max);
    } catch (error) {
      return this.#fail(error);
    }
    if (isBatch(pull)) return pull.done ? this.#close().then(() => pull) : pull;
    // Raced against the signal: with no steps, nothing else would notice an abort during a read.
    return abortable(pull, this.#controller.signal).then(
      async (batch) => {
        if (batch.done) await this.#close();
        return batch;
      },
      (error: unknown) => this.#fail(error),
    );
  }

  /** Closes the steps, and so the source; a failure while closing is not the flow's result. */
  #closeSteps(): Promise<unknown> {
    return Promise.resolve(this.#iterator.return?.()).catch(() => undefined);
  }

  async #fail(error: unknown): Promise<never> {
    // An abort rejected a pending read: close the steps and the source without waiting on that read.
    if (this.#controller.signal.aborted) void this.#closeSteps();
    await this.#close();
    // An abort surfaces as the user's reason, whichever step noticed it first.
    throw this.#userSignal?.aborted ? this.#userSignal.reason : error;
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.#done) {
      try {
        await this.#iterator.return?.();
      } finally {
        await this.#close();
      }
    }
    return { done: true, value: undefined };
  }

  async #close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#userSignal?.removeEventListener('abort', this.#onUserAbort);
    if (!this.#controller.signal.aborted) this.#controller.abort(new FlowClosedReason());
  }
}

/**
 * Starts a lazy flow over a source.
 *
 * @param source - an array or iterable, an async iterable, a Node `Readable` (object mode or
 *   bytes), or a highland stream
 * @param options - see {@link FlowOptions}
 * @returns a {@link Flow} that reads `source` only when consumed
 * @throws `TypeError` when `source` is none of the accepted kinds
 * @example
 * ```ts
 * import { flow, parallelMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const squares = await flow([1, 2, 3], { signal: AbortSignal.timeout(10_000) })
 *   .pipe(parallelMap(math.square))
 *   .toArray(); // [1, 4, 9]
 * ```
 * @category Flows
 */
export function flow<T>(source: FlowSource<T>, options: FlowOptions = {}): Flow<T> {
  // Checked here, so a wrong source fails where it is passed; nothing is read until consumption.
  const iterable = toAsyncIterable(source);
  return new Flow<T>(() => iterable, options.signal);
}

/** Any accepted source as an async iterable whose `return()` stops it. */
export function toAsyncIterable<T>(source: FlowSource<T>): AsyncIterable<T> {
  if (isHighlandStream(source)) return fromHighland(source as HighlandStream<T>);
  if (source instanceof Readable) return fromReadable<T>(source);
  if (typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') return source as AsyncIterable<T>;
  if (typeof (source as Iterable<T>)[Symbol.iterator] === 'function') return fromIterable(source as Iterable<T>);
  throw new TypeError(`flow() needs an iterable, an async iterable, a Readable or a highland stream, not ${typeof source}`);
}

/**
 * A Readable as an async iterable whose `return()` destroys it at once: the Readable's own iterator
 * queues `return()` behind a pending read, so a stream with no data yet would never be closed.
 */
function fromReadable<T>(readable: Readable): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const iterator = readable[Symbol.asyncIterator]() as AsyncIterator<T>;
      return {
        next: () => iterator.next(),
        return: () => {
          readable.destroy();
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
}

/**
 * A sync iterable as an async one, without an async generator's per-item overhead; it hands over
 * batches synchronously, pulling exactly as many items as asked for.
 */
function fromIterable<T>(iterable: Iterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): BatchIterator<T> {
      const iterator = iterable[Symbol.iterator]();
      // A plain array (its own iterator not replaced) is read by index, by `next()` and batches alike.
      const array =
        Array.isArray(iterable) && iterable[Symbol.iterator] === Array.prototype[Symbol.iterator] ? (iterable as readonly T[]) : undefined;
      let position = 0;
      // The source threw after some items of a batch: they go out first, the error on the next pull.
      let failure: { error: unknown } | undefined;
      const rethrow = (): void => {
        if (!failure) return;
        const { error } = failure;
        failure = undefined;
        throw error;
      };
      return {
        next: () => {
          try {
            rethrow();
            if (array) {
              return Promise.resolve<IteratorResult<T>>(
                position < array.length ? { done: false, value: array[position++]! } : { done: true, value: undefined },
              );
            }
            return Promise.resolve(iterator.next());
          } catch (error) {
            return Promise.reject(error);
          }
        },
        [pullBatch]: (max: number): Batch<T> => {
          rethrow();
          if (array) {
            // An array walked by index: what its iterator does, without a result object per item.
            const end = Math.min(array.length, position + max);
            const items: T[] = [];
            while (position < end) items.push(array[position++]!);
            // Done only on a pull that finds nothing, as the iterator (which sees later pushes) would.
            return { items, done: items.length === 0 };
          }
          const items: T[] = [];
          while (items.length < max) {
            let result: IteratorResult<T>;
            try {
              result = iterator.next();
            } catch (error) {
              if (items.length === 0) throw error;
              failure = { error };
              break;
            }
            if (result.done) return { items, done: true };
            items.push(result.value);
          }
          return { items, done: false };
        },
        return: () => {
          iterator.return?.();
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
}
