/**
 * A backend in the same thread whose chunks a test settles by hand: it decides when each chunk
 * starts, what it answers, whether it fails, crashes or hangs. The dispatch engine's decisions
 * (retries, isolation, the reorder window, cancellation, deadlines, statistics) can then be tested
 * in milliseconds and without races, through `createPool({ backend: scriptedBackend() })`.
 *
 * @packageDocumentation
 */
import {
  CLOCK_FINISHED,
  CLOCK_STARTED,
  CLOCK_TAKEN_UP,
  stampClock,
  WorkerExitError,
  type ChunkIdentity,
  type ChunkRequest,
  type ChunkResponse,
  type PoolBackend,
  type RunChunkOptions,
} from '../backend.js';
import { serializeError } from '../backends/worker-side/serialize-error.js';
import { MillraceError, type WorkerCrashReason } from '../errors.js';

/**
 * Options for {@link scriptedBackend}.
 *
 * @example
 * ```ts
 * import { scriptedBackend, type ScriptedBackendOptions } from 'millrace/testing';
 * const options: ScriptedBackendOptions = { capacity: 4, reportsStart: true };
 * console.log(scriptedBackend(options).capacity); // 4
 * ```
 * @category Testing
 */
export interface ScriptedBackendOptions {
  /**
   * The capacity the backend reports (the engine keeps twice as many chunks in flight by
   * default); {@link ScriptedChunk.start} refuses to run more chunks than this at once.
   * @defaultValue `2`
   */
  readonly capacity?: number | undefined;
  /**
   * Whether the backend says it fills in the start clock ({@link PoolBackend.reportsStart}):
   * then the engine counts a chunk's `timeoutMs` from {@link ScriptedChunk.start}, else from
   * submission.
   * @defaultValue `false`
   */
  readonly reportsStart?: boolean | undefined;
  /**
   * Whether the backend says it copies transferred buffers ({@link PoolBackend.copiesTransfers}).
   * @defaultValue `false`
   */
  readonly copiesTransfers?: boolean | undefined;
}

/**
 * Where a {@link ScriptedChunk} is in its life: `'queued'` (submitted, not started), `'started'`,
 * `'hanging'` (the test said it never answers), then settled: `'answered'`, `'rejected'` (crashed
 * or rejected by the test), `'aborted'` (its signal aborted first), `'closed'` (the backend was
 * closed first).
 *
 * @example
 * ```ts
 * import type { ScriptedChunkState } from 'millrace/testing';
 * const settled = (state: ScriptedChunkState) => state !== 'queued' && state !== 'started' && state !== 'hanging';
 * ```
 * @category Testing
 */
export type ScriptedChunkState = 'queued' | 'started' | 'hanging' | 'answered' | 'rejected' | 'aborted' | 'closed';

/**
 * An answer for a chunk: its results, or a function of its items that gives them.
 *
 * @example
 * ```ts
 * import type { ScriptedResults } from 'millrace/testing';
 * const doubled: ScriptedResults = (items) => items.map((x) => Number(x) * 2);
 * ```
 * @category Testing
 */
export type ScriptedResults = readonly unknown[] | ((items: readonly unknown[]) => readonly unknown[]);

/**
 * One {@link PoolBackend.run} call on a {@link ScriptedBackend}: what the engine sent, and the
 * means to settle it. Settling a chunk that has settled already (the engine aborted it, say) does
 * nothing and returns `false`, as a real backend drops a late answer.
 *
 * @example
 * ```ts
 * import { createPool, flow, parallelMap, tasks } from 'millrace';
 * import { scriptedBackend } from 'millrace/testing';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const backend = scriptedBackend();
 * await using pool = createPool({ backend });
 * const squares = flow([3, 4]).pipe(parallelMap(math.square, { pool, chunkSize: 2 })).toArray();
 * const chunk = await backend.next();
 * console.log(chunk.items); // [3, 4]
 * chunk.start().answer([9, 16]);
 * console.log(await squares); // [9, 16]
 * ```
 * @category Testing
 */
export interface ScriptedChunk {
  /** The request the engine sent. */
  readonly request: ChunkRequest;
  /** The request's items. */
  readonly items: readonly unknown[];
  /** The run options the engine passed (signal, start clock, chunk identity, ...). */
  readonly options: RunChunkOptions;
  /** Which chunk and which send this is, when the engine said ({@link RunChunkOptions.chunk}). */
  readonly identity: ChunkIdentity | undefined;
  /** The run's signal, when it has one. */
  readonly signal: AbortSignal | undefined;
  /** Whether its signal has aborted (it may have settled before that). */
  readonly aborted: boolean;
  /** Whether {@link ScriptedChunk.start} was called. */
  readonly started: boolean;
  /** Where it is in its life. */
  readonly state: ScriptedChunkState;
  /** Whether its run has settled (answered, rejected, aborted or closed). */
  readonly settled: boolean;
  /** Resolves with the signal's reason when the chunk is aborted while its run is pending. */
  readonly whenAborted: Promise<unknown>;
  /**
   * A worker takes the chunk up and starts its first item: stamps the start clock (when the
   * backend reports starts), so a `timeoutMs` counts from now.
   * @returns the chunk, to settle next
   * @throws `Error` when that would run more chunks at once than the backend's capacity
   */
  start(): ScriptedChunk;
  /**
   * Answers the chunk: one result per item (or `[key, partial]` pairs for a fold), no failures.
   * @param results - the results, or a function of the items that gives them
   * @returns whether this settled the run
   */
  answer(results: ScriptedResults): boolean;
  /**
   * Answers the chunk with a whole response (per-item failures, a load error, worker facts).
   * @param response - the response; `failures` defaults to none and `elapsedMs` to 1
   * @returns whether this settled the run
   */
  answerWith(response: Partial<ChunkResponse> & Pick<ChunkResponse, 'results'>): boolean;
  /**
   * Answers with a task failure of item `index`, as a worker does when a task throws.
   * @param index - the failing item's index within the chunk
   * @param error - what the task threw
   * @param results - the other items' results: under `onError` the engine expects one per item
   *   (the failing item's slot is dropped)
   * @returns whether this settled the run
   */
  fail(index: number, error: unknown, results?: readonly unknown[]): boolean;
  /**
   * Its worker dies: the run rejects with a {@link WorkerExitError}.
   * @param facts - whether the worker had taken the chunk up (default: whether it was started; a
   *   chunk that never started is run again by the engine at no cost to its retries), why it died
   *   (default `'exit'`), its exit code (default `1`)
   * @returns whether this settled the run
   */
  crash(facts?: { readonly started?: boolean; readonly reason?: WorkerCrashReason; readonly exitCode?: number }): boolean;
  /**
   * Rejects the run with any error (an infrastructure failure of the test's choosing).
   * @param error - the rejection
   * @returns whether this settled the run
   */
  reject(error: unknown): boolean;
  /**
   * Says the chunk never answers: it stays pending until its signal aborts or the backend closes.
   * @returns the chunk
   */
  hang(): ScriptedChunk;
}

/**
 * A {@link PoolBackend} in the same thread whose chunks the test settles; see {@link scriptedBackend}.
 *
 * @example
 * ```ts
 * import { createPool, flow, parallelMap, tasks } from 'millrace';
 * import { scriptedBackend, type ScriptedBackend } from 'millrace/testing';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const backend: ScriptedBackend = scriptedBackend().compute((x) => Number(x) ** 2);
 * await using pool = createPool({ backend });
 * console.log(await flow([1, 2, 3]).pipe(parallelMap(math.square, { pool })).toArray()); // [1, 4, 9]
 * console.log(backend.chunks.length > 0); // true
 * ```
 * @category Testing
 */
export interface ScriptedBackend extends PoolBackend {
  readonly capacity: number;
  readonly reportsStart: boolean;
  readonly copiesTransfers: boolean;
  /** Every chunk submitted so far, in submission order. */
  readonly chunks: readonly ScriptedChunk[];
  /** Chunks whose run is still pending. */
  readonly pending: readonly ScriptedChunk[];
  /** Chunks started and still pending (what occupies the capacity). */
  readonly running: number;
  /** Whether {@link PoolBackend.close} was called. */
  readonly closed: boolean;
  /**
   * The next submitted chunk not handed out by an earlier `next()` call, in submission order;
   * waits for it to be submitted.
   * @returns the chunk
   */
  next(): Promise<ScriptedChunk>;
  /**
   * Answers every pending and future `'call'` chunk at once by calling `fn` on each item, as a
   * worker would: a throwing item becomes a task failure (the rest of the chunk is skipped unless
   * the request says `continueOnError`). `fn` may be `undefined` to settle chunks by hand again.
   * A `'fold'` chunk's run rejects with a `TypeError` meanwhile: answer those by hand.
   * @param fn - gives an item's result (the chunk is passed for identity or bound arguments)
   * @returns the backend
   */
  compute(fn: ((item: unknown, chunk: ScriptedChunk) => unknown) | undefined): ScriptedBackend;
}

/**
 * Creates a backend that runs nothing by itself: every {@link PoolBackend.run} call becomes a
 * {@link ScriptedChunk} the test settles by hand (or with {@link ScriptedBackend.compute}). It keeps
 * the contract a real backend keeps: an aborted signal rejects the run with its reason, `close()`
 * rejects pending runs, a late answer is dropped. Use it to test engine behaviour (retries, order,
 * cancellation, timeouts) or a custom operator without worker threads.
 *
 * @param options - capacity and the backend facts to report; see {@link ScriptedBackendOptions}
 * @returns a {@link ScriptedBackend}; pass it to `createPool({ backend })`
 * @example
 * ```ts
 * import { createPool, flow, parallelMap, tasks } from 'millrace';
 * import { scriptedBackend } from 'millrace/testing';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const backend = scriptedBackend();
 * await using pool = createPool({ backend });
 * // A failed chunk is run again (retries: 1) after its backoff.
 * const squares = flow([5]).pipe(parallelMap(math.square, { pool, retries: 1, retryDelayMs: 0 })).toArray();
 * (await backend.next()).start().fail(0, new Error('flaky'));
 * const again = await backend.next();
 * console.log(again.identity?.attempt); // 2
 * again.start().answer([25]);
 * console.log(await squares); // [25]
 * ```
 * @category Testing
 */
export function scriptedBackend(options: ScriptedBackendOptions = {}): ScriptedBackend {
  return new Scripted(options);
}

class Scripted implements ScriptedBackend {
  readonly capacity: number;
  readonly reportsStart: boolean;
  readonly copiesTransfers: boolean;
  readonly #chunks: Run[] = [];
  #handedOut = 0;
  #waiters: ((chunk: ScriptedChunk) => void)[] = [];
  #compute: ((item: unknown, chunk: ScriptedChunk) => unknown) | undefined;
  #closed = false;

  constructor(options: ScriptedBackendOptions) {
    const capacity = options.capacity ?? 2;
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`scriptedBackend: capacity must be a positive integer, not ${capacity}`);
    this.capacity = capacity;
    this.reportsStart = options.reportsStart ?? false;
    this.copiesTransfers = options.copiesTransfers ?? false;
  }

  get chunks(): readonly ScriptedChunk[] {
    return [...this.#chunks];
  }

  get pending(): readonly ScriptedChunk[] {
    return this.#chunks.filter((chunk) => !chunk.settled);
  }

  get running(): number {
    return this.#chunks.filter((chunk) => chunk.started && !chunk.settled).length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    if (this.#closed) return Promise.reject(new MillraceError('The scripted backend is closed'));
    const chunk = new Run(this, request, options);
    this.#chunks.push(chunk);
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#handedOut++;
      waiter(chunk);
    }
    if (this.#compute !== undefined && !chunk.settled) computeChunk(chunk, this.#compute);
    return chunk.promise;
  }

  next(): Promise<ScriptedChunk> {
    const chunk = this.#chunks[this.#handedOut];
    if (chunk !== undefined) {
      this.#handedOut++;
      return Promise.resolve(chunk);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  compute(fn: ((item: unknown, chunk: ScriptedChunk) => unknown) | undefined): ScriptedBackend {
    this.#compute = fn;
    if (fn !== undefined) for (const chunk of this.#chunks) if (!chunk.settled && chunk.state !== 'hanging') computeChunk(chunk, fn);
    return this;
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const chunk of this.#chunks) chunk.close();
    return Promise.resolve();
  }
}

/** Answers a chunk as a worker would, calling `fn` on each item. */
function computeChunk(chunk: Run, fn: (item: unknown, chunk: ScriptedChunk) => unknown): void {
  const request = chunk.request;
  if (request.mode !== 'call') {
    chunk.reject(new TypeError("scriptedBackend().compute answers 'call' chunks only: answer a 'fold' chunk by hand"));
    return;
  }
  if (!chunk.started) chunk.start();
  const results: unknown[] = [];
  const failures: ChunkResponse['failures'] = [];
  for (let i = 0; i < request.items.length; i++) {
    try {
      results.push(fn(request.items[i], chunk));
    } catch (error) {
      failures.push({ index: i, error: serializeError(error) });
      if (request.continueOnError !== true) break;
      results.push(undefined);
    }
  }
  chunk.answerWith({ results, failures });
}

class Run implements ScriptedChunk {
  readonly request: ChunkRequest;
  readonly options: RunChunkOptions;
  readonly promise: Promise<ChunkResponse>;
  readonly whenAborted: Promise<unknown>;
  readonly #backend: Scripted;
  #state: ScriptedChunkState = 'queued';
  #started = false;
  #resolve!: (response: ChunkResponse) => void;
  #reject!: (error: unknown) => void;
  #aborted!: (reason: unknown) => void;
  readonly #onAbort = (): void => {
    if (this.settled) return;
    this.#aborted(this.signal?.reason);
    this.#settle('aborted', { error: this.signal?.reason });
  };

  constructor(backend: Scripted, request: ChunkRequest, options: RunChunkOptions) {
    this.#backend = backend;
    this.request = request;
    this.options = options;
    this.promise = new Promise<ChunkResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.whenAborted = new Promise<unknown>((resolve) => {
      this.#aborted = resolve;
    });
    const signal = options.signal;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get items(): readonly unknown[] {
    return this.request.items;
  }

  get identity(): ChunkIdentity | undefined {
    return this.options.chunk;
  }

  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  get aborted(): boolean {
    return this.options.signal?.aborted ?? false;
  }

  get started(): boolean {
    return this.#started;
  }

  get state(): ScriptedChunkState {
    return this.#state;
  }

  get settled(): boolean {
    const state = this.#state;
    return state !== 'queued' && state !== 'started' && state !== 'hanging';
  }

  start(): ScriptedChunk {
    if (this.settled || this.#started) return this;
    if (this.#backend.running >= this.#backend.capacity) {
      throw new Error(`scriptedBackend: starting this chunk would run more than the capacity (${this.#backend.capacity}) at once`);
    }
    this.#started = true;
    this.#state = 'started';
    if (this.#backend.reportsStart) {
      stampClock(this.options.startClock, CLOCK_TAKEN_UP);
      stampClock(this.options.startClock, CLOCK_STARTED);
    }
    return this;
  }

  answer(results: ScriptedResults): boolean {
    if (this.settled) return false;
    const values = typeof results === 'function' ? results(this.items) : results;
    return this.answerWith({ results: [...values] });
  }

  answerWith(response: Partial<ChunkResponse> & Pick<ChunkResponse, 'results'>): boolean {
    if (this.settled) return false;
    if (this.#backend.reportsStart) stampClock(this.options.startClock, CLOCK_FINISHED);
    return this.#settle('answered', { response: { failures: [], elapsedMs: 1, ...response } });
  }

  fail(index: number, error: unknown, results: readonly unknown[] = []): boolean {
    return this.answerWith({ results: [...results], failures: [{ index, error: serializeError(error) }] });
  }

  crash(facts: { readonly started?: boolean; readonly reason?: WorkerCrashReason; readonly exitCode?: number } = {}): boolean {
    const error = new WorkerExitError(facts.exitCode ?? 1, undefined, {
      started: facts.started ?? this.#started,
      reason: facts.reason ?? 'exit',
    });
    return this.#settle('rejected', { error });
  }

  reject(error: unknown): boolean {
    return this.#settle('rejected', { error });
  }

  hang(): ScriptedChunk {
    if (!this.settled) this.#state = 'hanging';
    return this;
  }

  /** The backend closed: a pending run rejects. */
  close(): void {
    this.#settle('closed', { error: new MillraceError('The scripted backend was closed while this chunk was pending') });
  }

  #settle(state: ScriptedChunkState, outcome: { response: ChunkResponse } | { error: unknown }): boolean {
    if (this.settled) return false;
    this.#state = state;
    this.options.signal?.removeEventListener('abort', this.#onAbort);
    if ('response' in outcome) this.#resolve(outcome.response);
    else this.#reject(outcome.error);
    return true;
  }
}
