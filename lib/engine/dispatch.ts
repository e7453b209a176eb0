/**
 * The dispatch engine: the one place that cuts input into chunks, sends them to a pool, bounds the
 * work in flight, restores order, retries, and cancels. Every worker-backed operator is a thin
 * description handed to {@link dispatch}.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Transferable } from 'node:worker_threads';
import { createChunkSizer, type ChunkSizer } from './chunking.js';
import {
  CloneError,
  InvalidOptionError,
  MillraceError,
  reviveError,
  TaskError,
  TaskLoadError,
  TaskTimeoutError,
  WorkerCrashedError,
  checkInteger,
} from '../errors.js';
import { MAX_TIMER_MS } from '../timers.js';
import { transferListOf } from '../transfer.js';
import { chunkDeadline, type ChunkDeadline } from './chunk-deadline.js';
import { engineLifecycle, type EnginePhase, type Lifecycle, type RunAgainReason } from '../chunk-lifecycle.js';
import { type OperatorContext } from '../operator.js';
import {
  batchReady,
  DONE,
  isBatch,
  nextOfBatches,
  pullBatch,
  pullFrom,
  type Batch,
  type BatchIterator,
  type BatchPull,
} from '../batch-pull.js';
import { resolveTaskModule } from '../tasks.js';
import { StatsCollector, type StageStats } from './stage-stats.js';
import { takeTaskProgressListeners } from '../task-progress.js';
import { ChunkSendError, WorkerExitError, type ChunkRequest, type ChunkResponse } from '../backend.js';
import { sharedPool, type Pool } from '../pool.js';

/**
 * What happens when a task throws: `'fail'` ends the flow with a {@link TaskError} (fail fast), a
 * function receives each failure and the flow goes on without that item's result.
 *
 * A function also receives a {@link WorkerCrashedError} for each item that kills its worker: a chunk
 * whose worker crashed is run again item by item (once; see docs/reliability.md) to find them, and
 * every other item of it is emitted as usual.
 *
 * @example
 * ```ts
 * import { WorkerCrashedError, type ErrorPolicy, type TaskError } from 'millrace';
 * const failures: (TaskError | WorkerCrashedError)[] = [];
 * const collect: ErrorPolicy = (error) => {
 *   failures.push(error);
 *   if (error instanceof WorkerCrashedError) console.error(`item #${error.firstIndex} kills workers (${error.reason})`);
 * };
 * ```
 * @category Parallel
 */
export type ErrorPolicy = 'fail' | ((error: TaskError | WorkerCrashedError) => void);

/**
 * The options every worker-backed operator accepts.
 *
 * @example
 * ```ts
 * import { parallelMap, tasks, type ParallelOptions } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const options: ParallelOptions = { chunkSize: 100, maxInFlight: 4, retries: 1 };
 * const squares = parallelMap(math.square, options);
 * ```
 * @category Parallel
 */
export interface ParallelOptions {
  /**
   * Items per chunk (one chunk is one message to a worker).
   * @defaultValue adaptive: aims each chunk at about 16 ms of worker time, from 1 item up to 8192
   */
  readonly chunkSize?: number;
  /**
   * Chunks submitted or waiting to be emitted at once; bounds memory and the reorder window.
   * @defaultValue twice the pool's thread count
   */
  readonly maxInFlight?: number;
  /**
   * The pool to run on.
   * @defaultValue the shared pool ({@link sharedPool})
   */
  readonly pool?: Pool;
  /**
   * What a throwing task does to the flow; see {@link ErrorPolicy}.
   * @defaultValue `'fail'`
   */
  readonly onError?: ErrorPolicy;
  /**
   * How many times a failed chunk (a task error, a dead worker, a timeout) is run again before the
   * failure counts. A retried chunk re-runs all its items: items run at least once, and are
   * emitted exactly once.
   * @defaultValue `0`
   */
  readonly retries?: number;
  /**
   * Backoff before a retry, in milliseconds: the n-th retry of a chunk waits
   * `retryDelayMs × 2^(n-1)`, at most 30 s, so a failing dependency is not hammered.
   * @defaultValue `100`
   */
  readonly retryDelayMs?: number;
  /**
   * Time budget per item in milliseconds, enforced per chunk (items × timeout); a chunk over
   * budget is cancelled (its task's `taskSignal()` aborts; a worker that does not let go is ended)
   * and fails with a {@link TaskTimeoutError}.
   * @defaultValue no timeout
   */
  readonly timeoutMs?: number;
  /**
   * Picks the buffers of an item to move to the worker instead of copying (zero-copy); the
   * main thread must not touch them afterwards. (An item marked with `transferResult` moves its
   * buffers without this option.) Moved buffers cannot be sent twice, so `retries` must be 0 with
   * it, unless the pool copies them (`isolation: 'process'`).
   * @defaultValue nothing is transferred
   */
  readonly transfer?: (item: never) => readonly Transferable[];
  /**
   * How many items of this flow one worker runs at once, for async tasks that wait (on I/O, a
   * timer): a worker starts the next item while earlier ones await. Order, bounds, retries,
   * timeouts and errors are as at 1. Leave it at 1 for CPU-bound tasks (a thread computes one
   * thing at a time anyway). Automatic chunks then hold a multiple of this many items.
   * @defaultValue `1`
   */
  readonly concurrency?: number;
  /**
   * Called once when the stage ends (its input ran out, it failed, or its consumer stopped) with
   * its {@link StageStats}: items in, out and failed, chunk sizes, worker busy time, queue and
   * reorder-window waits, runs again. {@link formatStageStats} prints them.
   * @defaultValue none: statistics are still counted (a few additions per chunk), never reported
   */
  readonly stats?: (stats: StageStats) => void;
  /**
   * Also call `stats` every this many milliseconds while the stage runs (`state: 'running'`).
   * @defaultValue only at the end
   */
  readonly statsIntervalMs?: number;
}

/**
 * What a worker-backed operator tells the engine: how to build a request from a chunk of items,
 * and how to turn the response into outputs.
 *
 * @example
 * ```ts
 * import { dispatch, defineOperator, tasks, type DispatchSpec } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const spec: DispatchSpec<number, number> = {
 *   name: 'square',
 *   ordered: true,
 *   request: (items) => ({ mode: 'call', task: math.square, items }),
 *   outputs: (response) => response.results as number[],
 * };
 * const squares = defineOperator<number, number>('squares', (source, context) => dispatch(source, context, spec));
 * ```
 * @category Authoring
 */
export interface DispatchSpec<In, Out> extends ParallelOptions {
  /** The task's name, for errors (`module#export`). */
  readonly name: string;
  /** Emit in input order (a bounded reorder window), or as chunks finish. */
  readonly ordered: boolean;
  /** The request for one chunk. */
  readonly request: (items: In[]) => ChunkRequest;
  /** The outputs of one successful chunk (items that failed under an `onError` function are already removed from `results` and `items`, so the two stay aligned). */
  readonly outputs: (response: ChunkResponse, items: readonly In[]) => readonly Out[];
}

/** Checks the options shared by worker-backed operators, when the operator is built. */
export function checkParallelOptions(options: ParallelOptions): void {
  checkInteger('chunkSize', options.chunkSize, 1);
  checkInteger('maxInFlight', options.maxInFlight, 1);
  checkInteger('retries', options.retries, 0);
  checkInteger('retryDelayMs', options.retryDelayMs, 0);
  checkInteger('concurrency', options.concurrency, 1, 10_000);
  checkInteger('statsIntervalMs', options.statsIntervalMs, 1);
  if (options.transfer !== undefined && (options.retries ?? 0) > 0 && options.pool?.backend.copiesTransfers !== true) {
    // A retry would send the chunk again, but its transferred buffers now belong to the dead worker.
    throw new InvalidOptionError(
      'retries',
      options.retries,
      "0 when `transfer` is set (moved buffers cannot be sent again), unless the pool copies them (isolation: 'process')",
    );
  }
  if (options.timeoutMs !== undefined && !(typeof options.timeoutMs === 'number' && options.timeoutMs > 0)) {
    throw new InvalidOptionError('timeoutMs', options.timeoutMs, 'a positive number of milliseconds (Infinity: none)');
  }
  if (options.onError !== undefined && options.onError !== 'fail' && typeof options.onError !== 'function') {
    throw new InvalidOptionError('onError', options.onError, "'fail' or a function");
  }
}

/**
 * Runs `source` through workers, chunk by chunk, with bounded work in flight; the engine behind
 * every worker-backed operator, public so custom operators get the same behaviour.
 *
 * @param source - the items (inside {@link defineOperator}, the operator's guarded source)
 * @param context - the operator context (its signal cancels everything)
 * @param spec - what to send and how to read results; see {@link DispatchSpec}
 * @returns the outputs, in input order when `spec.ordered`
 * @throws {@link InvalidOptionError} at once for out-of-range options; then, while consumed,
 *   {@link TaskError} when a task fails (policy `'fail'`), {@link WorkerCrashedError},
 *   {@link TaskTimeoutError}, {@link CloneError}, {@link TaskLoadError}
 * @example
 * ```ts
 * import { defineOperator, dispatch, tasks } from 'millrace';
 * const checks = tasks<typeof import('./checks.tasks.js')>(new URL('./checks.tasks.js', import.meta.url));
 * // A worker-backed filter: the task returns a boolean per item.
 * const parallelFilter = defineOperator<string, string>('parallelFilter', (source, context) =>
 *   dispatch(source, context, {
 *     name: 'isValid',
 *     ordered: true,
 *     request: (items) => ({ mode: 'call', task: checks.isValid, items }),
 *     outputs: (response, items) => items.filter((_, i) => response.results[i] === true),
 *   }),
 * );
 * ```
 * @category Authoring
 */
export function dispatch<In, Out>(source: AsyncIterable<In>, context: OperatorContext, spec: DispatchSpec<In, Out>): AsyncIterable<Out> {
  // Built-ins check when they are built; a custom operator's options are checked here, since a
  // chunk size of 0 would otherwise spin forever.
  checkParallelOptions(spec);
  return { [Symbol.asyncIterator]: () => new DispatchIterator(source, context, spec) };
}

interface Chunk<In> {
  readonly seq: number;
  readonly items: In[];
  readonly firstIndex: number;
  /** 1, then 2, 3, ... after each retry (task failure, crash, timeout). */
  attempt: number;
  /** Every time the chunk was sent (retries and never-started re-runs alike; for a chunk run item by item, its pieces' sends too). */
  runs: number;
  /** Times it ran again because its worker died before taking it up. */
  neverStarted: number;
  readonly life: Lifecycle<EnginePhase>;
  /** Cancels this run of the chunk (one listener per chunk: no shared signal collects them). */
  controller: AbortController | undefined;
  deadline: ChunkDeadline | undefined;
  timedOut: boolean;
  /** Buffers were moved with it: it cannot be sent again. */
  moved: boolean;
  /** When this run was sent (for the queue-wait statistic). */
  sentAt?: number;
  /** When it settled (for the reorder-wait statistic). */
  settledAt?: number;
  /** A one-item chunk split off this chunk to find an item that crashes its worker. */
  readonly parent?: Chunk<In>;
  /** This chunk's place within its parent. */
  readonly pieceIndex?: number;
  /** While its items run as one-item chunks: their outputs, by item, and how many are still out. */
  pieces?: { readonly outputs: (readonly unknown[])[]; left: number } | undefined;
}

/** A chunk that has not run yet; `parent` and `pieceIndex` make it one item of a chunk run item by item. */
function newChunk<In>(
  fields: Pick<Chunk<In>, 'seq' | 'items' | 'firstIndex' | 'attempt'> & Partial<Pick<Chunk<In>, 'parent' | 'pieceIndex'>>,
): Chunk<In> {
  return {
    ...fields,
    runs: 0,
    neverStarted: 0,
    life: engineLifecycle(),
    controller: undefined,
    deadline: undefined,
    timedOut: false,
    moved: false,
  };
}

/**
 * How often a chunk that never started is run again: each time needs another worker to die
 * holding it (a chunk of another flow crashed, timed out or was cancelled ahead of it), so a busy
 * pool shared with failing flows can need many; the bound only guards against a loop nobody foresaw.
 */
const MAX_NEVER_STARTED = 100;

const NOTHING = Symbol('nothing');
const FLUSH = Symbol('flush');
const NO_ITEMS: readonly never[] = Object.freeze([]);

/** How long a partly filled chunk waits for a slow source while workers sit idle. */
const FLUSH_AFTER_MS = 2;

class DispatchIterator<In, Out> implements BatchIterator<Out> {
  readonly #sourceIterable: AsyncIterable<In>;
  #source: AsyncIterator<In> | undefined;
  readonly #signal: AbortSignal;
  readonly #spec: DispatchSpec<In, Out>;
  readonly #pool: Pool;
  readonly #sizer: ChunkSizer;
  readonly #maxInFlight: number;
  readonly #retries: number;
  /** Chunks sent and not yet settled, or waiting out a backoff: what teardown cancels. */
  readonly #live = new Set<Chunk<In>>();
  /** Chunks settled and waiting to be emitted, in emit order (aligned with #ready). */
  readonly #readyChunks: Chunk<In>[] = [];
  /** Names this flow's chunks for backends that need ids (a job id on Redis). */
  readonly #runId = randomUUID().replaceAll('-', '');
  readonly #retryDelayMs: number;
  /** Retries waiting out their backoff; cleared on teardown. */
  readonly #retryTimers = new Set<NodeJS.Timeout>();

  #started = false;
  /** The source has ended and every item it gave is in a submitted chunk. */
  #sourceDone = false;
  /** The source has ended (items may still wait in #carry). */
  #sourceEnded = false;
  #stopped = false;
  #failure: { error: unknown } | undefined;
  /** Chunks submitted and not yet fully emitted: the in-flight bound applies to this. */
  #outstanding = 0;
  /** Chunks submitted and not yet settled. */
  #running = 0;
  #nextSeq = 0;
  #emitSeq = 0;
  #pulled = 0;
  readonly #completed = new Map<number, { readonly chunk: Chunk<In>; readonly outputs: readonly Out[] }>();
  readonly #ready: (readonly Out[])[] = [];
  #readyPosition = 0;
  /** Consumers waiting for results, woken on every change. */
  #sleepers: (() => void)[] = [];
  /** Pulls that are waiting, in call order: concurrent next() calls are served in that order. */
  readonly #waiting: object[] = [];
  #wakePump: (() => void) | undefined;
  #pendingRead: Promise<Batch<In>> | undefined;
  /** Items read from the source but not yet put in a chunk (a read that outlived its chunk's flush). */
  #carry: readonly In[] = NO_ITEMS;
  #carryPosition = 0;
  readonly #stats: StatsCollector;
  #statsTimer: NodeJS.Timeout | undefined;
  /** The `progress({ count: 'reported' })` after this stage, if any: it takes what the tasks report (task-progress.ts). */
  readonly #taskProgress = takeTaskProgressListeners();

  constructor(source: AsyncIterable<In>, context: OperatorContext, spec: DispatchSpec<In, Out>) {
    this.#sourceIterable = source;
    this.#signal = context.signal;
    this.#spec = spec;
    this.#pool = spec.pool ?? sharedPool();
    this.#sizer = createChunkSizer(spec.chunkSize, spec.concurrency ?? 1);
    this.#maxInFlight = spec.maxInFlight ?? Math.max(2, 2 * this.#pool.threads);
    this.#retries = spec.retries ?? 0;
    this.#retryDelayMs = spec.retryDelayMs ?? 100;
    this.#stats = new StatsCollector(spec.name);
  }

  next(): Promise<IteratorResult<Out>> {
    return nextOfBatches(this);
  }

  /** A batch is a finished chunk's results: taking many starts no work. */
  readonly [batchReady] = true;

  /** Up to `max` results at once: the rest of the chunk at the head of the emit queue, or a slice. */
  [pullBatch](max: number): BatchPull<Out> {
    if (!this.#started) this.#start();
    if (this.#waiting.length > 0) return this.#waitBatch(max); // earlier pulls first
    return this.#takeBatch(max) ?? this.#waitBatch(max);
  }

  /** A batch at hand, or undefined when the consumer must wait; throws the flow's failure. */
  #takeBatch(max: number): Batch<Out> | undefined {
    if (this.#failure) {
      this.#teardown();
      throw this.#failure.error;
    }
    const items = this.#take(max);
    if (items !== NOTHING) return { items, done: false };
    if (this.#stopped || (this.#sourceDone && this.#running === 0 && this.#completed.size === 0)) {
      this.#teardown();
      return DONE;
    }
    return undefined;
  }

  async #waitBatch(max: number): Promise<Batch<Out>> {
    const turn = {};
    this.#waiting.push(turn);
    try {
      for (;;) {
        await new Promise<void>((resolve) => {
          this.#sleepers.push(resolve);
        });
        if (this.#waiting[0] !== turn) continue;
        const batch = this.#takeBatch(max);
        if (batch) return batch;
      }
    } finally {
      // Only the first in line leaves (with a batch or the flow's failure); the next one may go on.
      this.#waiting.shift();
      if (this.#waiting.length > 0) this.#wake();
    }
  }

  async return(): Promise<IteratorResult<Out>> {
    this.#teardown();
    return { done: true, value: undefined };
  }

  #start(): void {
    this.#started = true;
    this.#stats.begin();
    const { stats, statsIntervalMs } = this.#spec;
    if (stats !== undefined && statsIntervalMs !== undefined) {
      this.#statsTimer = setInterval(() => this.#reportStats('running'), Math.min(statsIntervalMs, MAX_TIMER_MS));
      // Statistics never keep the process alive.
      this.#statsTimer.unref();
    }
    if (this.#signal.aborted) {
      this.#fail(this.#signal.reason);
      return;
    }
    this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    this.#source = this.#sourceIterable[Symbol.asyncIterator]();
    void this.#pump();
  }

  readonly #onAbort = (): void => this.#fail(this.#signal.reason);

  /**
   * Up to `max` values ready to emit, or NOTHING. A chunk counts as outstanding until the consumer
   * comes back after its last value, exactly as when values were taken one at a time.
   */
  #take(max: number): readonly Out[] | typeof NOTHING {
    while (this.#ready.length > 0) {
      const head = this.#ready[0]!;
      const at = this.#readyPosition;
      if (at < head.length) {
        const count = Math.min(max, head.length - at);
        this.#readyPosition = at + count;
        // The whole chunk goes out as is (receivers never change a batch); else a copy of a part.
        if (count === head.length) return head;
        return count === 1 ? [head[at]!] : head.slice(at, at + count);
      }
      this.#ready.shift();
      this.#readyChunks.shift()?.life.move('emitted');
      this.#readyPosition = 0;
      this.#outstanding--;
      this.#wakePump?.();
    }
    return NOTHING;
  }

  /** Pulls the source into chunks and submits them while the in-flight bound allows. */
  async #pump(): Promise<void> {
    const source = this.#source!;
    try {
      while (!this.#stopped && !this.#sourceDone) {
        if (this.#outstanding >= this.#maxInFlight) {
          await new Promise<void>((resolve) => {
            this.#wakePump = resolve;
          });
          this.#wakePump = undefined;
          continue;
        }
        const size = this.#sizer.next();
        let items: In[] = [];
        let flush: Promise<typeof FLUSH> | undefined;
        let flushTimer: NodeJS.Timeout | undefined;
        try {
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- teardown (an abort, a failed chunk) sets #stopped while this loop awaits
          while (items.length < size && !this.#stopped) {
            if (this.#carryPosition < this.#carry.length) {
              const end = Math.min(this.#carry.length, this.#carryPosition + size - items.length);
              // A whole chunk's worth at once is one copy (batches may be their producer's buffer).
              if (items.length === 0) items = this.#carry.slice(this.#carryPosition, end);
              else for (let i = this.#carryPosition; i < end; i++) items.push(this.#carry[i]!);
              if (end === this.#carry.length) {
                this.#carry = NO_ITEMS; // let the batch go
                this.#carryPosition = 0;
              } else {
                this.#carryPosition = end;
              }
              continue;
            }
            if (this.#sourceEnded) break;
            // Many items per read when the source has them at hand (a sync iterable, a finished
            // chunk upstream), never more than this chunk still needs.
            const read: BatchPull<In> = this.#pendingRead ?? pullFrom(source, size - items.length);
            let batch: Batch<In> | typeof FLUSH;
            if (isBatch(read)) {
              batch = read;
            } else {
              this.#pendingRead = read;
              if (items.length > 0 && this.#running < this.#pool.threads) {
                // Workers are idle: do not hold a partial chunk back for long on a slow source.
                flush ??= new Promise((resolve) => {
                  flushTimer = setTimeout(() => resolve(FLUSH), FLUSH_AFTER_MS);
                });
                batch = await Promise.race([read, flush]);
              } else {
                batch = await read;
              }
              if (batch === FLUSH) break;
              this.#pendingRead = undefined;
            }
            this.#carry = batch.items;
            this.#carryPosition = 0;
            if (batch.done) this.#sourceEnded = true;
          }
        } finally {
          if (flushTimer) clearTimeout(flushTimer);
        }
        if (this.#sourceEnded && this.#carryPosition === this.#carry.length) this.#sourceDone = true;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- teardown (an abort, a failed chunk) sets #stopped while this loop awaits
        if (items.length > 0 && !this.#stopped) this.#submit(items);
      }
    } catch (error) {
      // The source failed (or was aborted, which #fail already recorded): pass it through as is.
      this.#fail(error);
    } finally {
      this.#wake();
    }
  }

  #submit(items: In[]): void {
    const chunk = newChunk<In>({ seq: this.#nextSeq++, items, firstIndex: this.#pulled, attempt: 1 });
    this.#pulled += items.length;
    this.#stats.chunk(items.length);
    this.#outstanding++;
    this.#running++;
    this.#run(chunk);
  }

  /** The request for a chunk, as the spec builds it plus the engine's options. */
  #request(chunk: Chunk<In>): ChunkRequest {
    let request: ChunkRequest = withResolvedModules(this.#spec.request(chunk.items));
    if (this.#spec.onError !== undefined && this.#spec.onError !== 'fail') request = { ...request, continueOnError: true };
    const concurrency = this.#spec.concurrency ?? 1;
    if (concurrency > 1 && request.mode === 'call') request = { ...request, concurrency };
    return request;
  }

  /**
   * What to move rather than copy: the `transfer` option's picks and buffers marked on the items.
   * Marks are looked for only in chunks whose first item is an object (a chunk of numbers or
   * strings, the common case of tiny items, pays nothing per item); an unseen mark only means a
   * copy instead of a move.
   */
  #transferList(items: readonly In[]): Transferable[] | undefined {
    const transfer = this.#spec.transfer as ((item: In) => readonly Transferable[]) | undefined;
    let list: Transferable[] | undefined;
    if (transfer) for (const item of items) for (const buffer of transfer(item)) (list ??= []).push(buffer);
    const first = items[0];
    if (first === null || typeof first !== 'object') return list;
    for (const item of items) {
      const marked = transferListOf(item);
      if (marked) for (const buffer of marked) (list ??= []).push(buffer);
    }
    return list;
  }

  /** Sends the chunk to the pool (again, when it runs again). */
  #run(chunk: Chunk<In>): void {
    chunk.runs++;
    // A backend that names jobs by (run, seq, attempt) needs each send unique: a one-item piece of a
    // chunk shares its seq, so sends are numbered on the parent (which counts its pieces' sends too).
    const owner = chunk.parent ?? chunk;
    if (owner !== chunk) owner.runs++;
    chunk.sentAt = performance.now();
    chunk.timedOut = false;
    const controller = (chunk.controller = new AbortController());
    this.#live.add(chunk);
    let running: Promise<ChunkResponse>;
    try {
      const request = this.#request(chunk);
      const transferList = this.#transferList(chunk.items);
      chunk.moved = transferList !== undefined && this.#pool.backend.copiesTransfers !== true;
      const timeoutMs = this.#spec.timeoutMs;
      // Counted from when a worker starts the chunk (where the backend can tell), not from queueing.
      chunk.deadline =
        timeoutMs === undefined
          ? undefined
          : chunkDeadline(timeoutMs * chunk.items.length, this.#pool.backend.reportsStart === true, (reason) => {
              chunk.timedOut = true;
              controller.abort(reason);
            });
      const onTaskProgress = this.#taskProgress;
      running = this.#pool.backend.run(request, {
        signal: controller.signal,
        chunk: { runId: this.#runId, seq: chunk.seq, attempt: owner.runs },
        // Only this run's reports, while the flow wants them (a cancelled or settled run's are dropped).
        ...(onTaskProgress && {
          onTaskProgress: (amount: number): void => {
            if (chunk.controller === controller && !this.#stopped) onTaskProgress(amount);
          },
        }),
        ...(transferList ? { transferList } : {}),
        ...(chunk.deadline?.startClock ? { startClock: chunk.deadline.startClock } : {}),
      });
    } catch (error) {
      running = Promise.reject(error);
    }
    // User code runs in the handlers (onError, a spec's outputs): whatever it throws ends the flow,
    // rather than becoming an unhandled rejection and a flow that never settles.
    running.then(
      (response) => this.#settled(chunk, controller, () => this.#onResponse(chunk, response)),
      (error: unknown) => this.#settled(chunk, controller, () => this.#onRejected(chunk, error)),
    );
  }

  #settled(chunk: Chunk<In>, controller: AbortController, handle: () => void): void {
    chunk.deadline?.clear();
    chunk.deadline = undefined;
    // A run the flow has since cancelled (teardown) settles too: nothing to do with it.
    if (chunk.controller !== controller || this.#stopped) return;
    chunk.controller = undefined;
    this.#live.delete(chunk);
    try {
      handle();
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * The one path that runs a chunk again, and why: a retry (after its backoff), or a chunk whose
   * worker died before taking it up (at once, at no cost to its retries).
   */
  #runAgain(chunk: Chunk<In>, reason: RunAgainReason): void {
    chunk.life.move('backoff', reason);
    this.#stats.runAgain(reason);
    let delay = 0;
    if (reason === 'retry') {
      delay = Math.min(30_000, this.#retryDelayMs * 2 ** (chunk.attempt - 1));
      chunk.attempt++;
    } else if (reason !== 'isolate') {
      chunk.neverStarted++;
    }
    const again = (): void => {
      if (this.#stopped) return;
      chunk.life.move('submitted', reason);
      if (reason === 'isolate') this.#isolate(chunk);
      else this.#run(chunk);
    };
    if (delay === 0) {
      again();
      return;
    }
    this.#live.add(chunk);
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.#live.delete(chunk);
      again();
    }, delay);
    this.#retryTimers.add(timer);
  }

  #onResponse(chunk: Chunk<In>, response: ChunkResponse): void {
    const spec = this.#spec;
    this.#stats.ran(response, performance.now() - chunk.sentAt!);
    let items: readonly In[] = chunk.items;
    if (response.loadError) {
      const { message, available, cause } = response.loadError;
      const task = spec.request(chunk.items);
      const names = task.mode === 'call' ? task.task : task.keyTask;
      this.#failChunk(
        chunk,
        new TaskLoadError({
          moduleUrl: names.moduleUrl,
          exportName: names.exportName,
          available,
          message,
          ...(cause ? { cause: reviveError(cause) } : {}),
        }),
      );
      return;
    }
    if (response.cloneFailure) {
      // Never retried: the same result would fail the same way.
      const { index, message } = response.cloneFailure;
      const inChunk = index >= 0 && spec.request(chunk.items).mode === 'call';
      this.#failChunk(
        chunk,
        new CloneError({
          direction: 'result',
          task: spec.name,
          ...(inChunk ? { index: chunk.firstIndex + index, item: chunk.items[index] } : {}),
          cause: new Error(message),
        }),
      );
      return;
    }
    if (response.failures.length > 0) {
      if (chunk.attempt <= this.#retries && !chunk.moved) {
        this.#runAgain(chunk, 'retry');
        return;
      }
      const errors = response.failures.map(
        (failure) =>
          new TaskError({
            task: spec.name,
            item: chunk.items[failure.index],
            index: chunk.firstIndex + failure.index,
            cause: reviveError(failure.error),
            attempts: chunk.attempt,
          }),
      );
      if (spec.onError === undefined || spec.onError === 'fail') {
        this.#failChunk(chunk, errors[0]);
        return;
      }
      for (const error of errors) this.#report(spec.onError, error);
      const failed = new Set(response.failures.map((failure) => failure.index));
      if (spec.request(chunk.items).mode === 'call') {
        response.results = response.results.filter((_, i) => !failed.has(i));
        // Keep items aligned with results, so `outputs` can pair them (a custom filter does).
        items = chunk.items.filter((_, i) => !failed.has(i));
      }
    }
    // One-item re-runs say little about the flow's chunk size.
    if (chunk.parent === undefined) this.#sizer.record(chunk.items.length, response.elapsedMs);
    this.#deliver(chunk, spec.outputs(response, items));
  }

  #onRejected(chunk: Chunk<In>, error: unknown): void {
    const spec = this.#spec;
    if (!chunk.timedOut && isSendFailure(error)) {
      // Something in the chunk cannot be sent: find what, say so. Never retried.
      this.#failChunk(chunk, this.#sendFailure(chunk, error));
      return;
    }
    const neverStarted = !chunk.timedOut && error instanceof WorkerExitError && !error.started && !error.startup;
    if (neverStarted && !chunk.moved && chunk.neverStarted < MAX_NEVER_STARTED) {
      this.#runAgain(chunk, 'never-started');
      return;
    }
    if (chunk.attempt <= this.#retries && !chunk.moved) {
      this.#runAgain(chunk, 'retry');
      return;
    }
    if (!chunk.timedOut && error instanceof WorkerExitError && !error.startup && typeof spec.onError === 'function') {
      // Skip and report: find the item(s) that crash by running the chunk's items one by one (once:
      // a one-item chunk is reported as is). A chunk that moved buffers cannot be sent again.
      if (chunk.items.length > 1 && chunk.parent === undefined && !chunk.moved) {
        this.#runAgain(chunk, 'isolate');
        return;
      }
      this.#report(spec.onError, this.#crashError(chunk, error));
      this.#deliver(chunk, []);
      return;
    }
    if (chunk.timedOut) {
      this.#failChunk(
        chunk,
        new TaskTimeoutError({
          task: spec.name,
          firstIndex: chunk.firstIndex,
          itemCount: chunk.items.length,
          timeoutMs: spec.timeoutMs! * chunk.items.length,
          // What the backend did about it: a thread backend ends the worker (its abort reason is the
          // timeout itself); a remote one says whether the job was removed, cancelled or abandoned.
          cause: error,
        }),
      );
    } else if (error instanceof MillraceError && !(error instanceof WorkerExitError)) {
      this.#failChunk(chunk, error);
    } else {
      this.#failChunk(chunk, this.#crashError(chunk, error));
    }
  }

  #crashError(chunk: Chunk<In>, error: unknown): WorkerCrashedError {
    return new WorkerCrashedError({
      task: this.#spec.name,
      firstIndex: chunk.firstIndex,
      items: chunk.items,
      exitCode: error instanceof WorkerExitError ? error.exitCode : undefined,
      reason: error instanceof WorkerExitError ? error.reason : 'unknown',
      signal: error instanceof WorkerExitError ? error.signal : undefined,
      cause: error,
    });
  }

  /** Hands one failure to an `onError` function; an async one that rejects fails the flow, never the process. */
  #report(onError: (error: TaskError | WorkerCrashedError) => void, error: TaskError | WorkerCrashedError): void {
    this.#stats.failed(error instanceof WorkerCrashedError ? error.items.length : 1);
    // An ErrorPolicy is typed to return nothing, but an async function is one too: look at what came back.
    const policy: (error: TaskError | WorkerCrashedError) => unknown = onError;
    const returned = policy(error);
    if (returned !== null && typeof returned === 'object' && typeof (returned as PromiseLike<unknown>).then === 'function') {
      (returned as PromiseLike<unknown>).then(undefined, (failure: unknown) => this.#fail(failure));
    }
  }

  /**
   * Runs a crashed chunk's items as one-item chunks (reason `isolate`). Each has the chunk's
   * attempt count (so no retries are left) and its own life; it settles into its parent, which is
   * delivered, in item order, when all have.
   */
  #isolate(chunk: Chunk<In>): void {
    chunk.pieces = { outputs: new Array<readonly unknown[]>(chunk.items.length), left: chunk.items.length };
    // Stays live while its pieces run, so the flow's end moves it to `cancelled` too.
    this.#live.add(chunk);
    chunk.items.forEach((item, i) => {
      this.#run(
        newChunk({ seq: chunk.seq, items: [item], firstIndex: chunk.firstIndex + i, attempt: chunk.attempt, parent: chunk, pieceIndex: i }),
      );
    });
  }

  /** Finds what in a chunk could not be sent: an item, a bound argument, `setupArgs`, the transfer list. */
  #sendFailure(chunk: Chunk<In>, error: unknown): CloneError {
    const spec = this.#spec;
    const cause = error instanceof ChunkSendError ? error.cause : error;
    const culprit = chunk.items.findIndex((item) => !isCloneable(item));
    if (culprit >= 0) {
      return new CloneError({ direction: 'item', task: spec.name, index: chunk.firstIndex + culprit, item: chunk.items[culprit], cause });
    }
    const request = spec.request(chunk.items);
    const taskSpecs = request.mode === 'call' ? [request.task] : [request.keyTask, request.foldTask];
    for (const task of taskSpecs) {
      if (!isCloneable(task.boundArgs)) return new CloneError({ direction: 'bound-arguments', task: spec.name, cause });
      if (!isCloneable(task.setupArgs)) return new CloneError({ direction: 'setup-arguments', task: spec.name, cause });
    }
    if (request.mode === 'fold' && !isCloneable(request.initial)) return new CloneError({ direction: 'initial', task: spec.name, cause });
    return new CloneError({ direction: 'transfer-list', task: spec.name, index: chunk.firstIndex, item: chunk.items[0], cause });
  }

  /** A chunk's failure ends the flow. */
  #failChunk(chunk: Chunk<In>, error: unknown): void {
    chunk.life.move('failed');
    this.#fail(error);
  }

  #deliver(chunk: Chunk<In>, outputs: readonly Out[]): void {
    const parent = chunk.parent;
    if (parent !== undefined) {
      // A one-item piece of a crashed chunk: its outputs wait in the parent, which goes on when all are in.
      chunk.life.move('reordering');
      chunk.life.move('ready');
      chunk.life.move('emitted');
      const pieces = parent.pieces!;
      pieces.outputs[chunk.pieceIndex!] = outputs;
      if (--pieces.left > 0) return;
      parent.pieces = undefined;
      this.#live.delete(parent);
      this.#deliver(parent, (pieces.outputs as (readonly Out[])[]).flat());
      return;
    }
    this.#running--;
    chunk.life.move('reordering');
    this.#stats.delivered(outputs.length);
    if (this.#spec.ordered) {
      chunk.settledAt = performance.now();
      this.#completed.set(chunk.seq, { chunk, outputs });
      for (let next = this.#completed.get(this.#emitSeq); next !== undefined; next = this.#completed.get(this.#emitSeq)) {
        this.#completed.delete(this.#emitSeq++);
        if (next.chunk !== chunk) this.#stats.reorderWait(chunk.settledAt - next.chunk.settledAt!);
        next.chunk.life.move('ready');
        this.#ready.push(next.outputs);
        this.#readyChunks.push(next.chunk);
      }
    } else {
      chunk.life.move('ready');
      this.#ready.push(outputs);
      this.#readyChunks.push(chunk);
    }
    this.#wake();
  }

  #fail(error: unknown): void {
    if (this.#failure || this.#stopped) return;
    this.#failure = { error };
    this.#teardown();
    this.#wake();
  }

  #wake(): void {
    if (this.#sleepers.length === 0) return;
    const sleepers = this.#sleepers;
    this.#sleepers = [];
    for (const wake of sleepers) wake();
  }

  /** Hands the stage's statistics to the `stats` option, once, as the stage ends. */
  #reportStats(running?: 'running'): void {
    const report = this.#spec.stats;
    if (report === undefined) return;
    const done = this.#sourceDone && this.#running === 0 && this.#completed.size === 0 && this.#failure === undefined;
    const state = running ?? (this.#failure !== undefined ? 'failed' : done ? 'done' : 'stopped');
    try {
      report(this.#stats.snapshot(state));
    } catch (error) {
      // The stage is over: there is no flow left to fail. Say so rather than lose it.
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`millrace: the stats callback of ${this.#spec.name} threw: ${message}\n`);
    }
  }

  /** Stops everything this iterator started: the source, queued and running chunks. */
  #teardown(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#statsTimer);
    this.#reportStats();
    this.#signal.removeEventListener('abort', this.#onAbort);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    const reason = new MillraceError('the flow ended; chunk cancelled');
    for (const chunk of this.#live) {
      const controller = chunk.controller;
      chunk.controller = undefined;
      chunk.deadline?.clear();
      if (chunk.life.can('cancelled')) chunk.life.move('cancelled');
      controller?.abort(reason);
    }
    this.#live.clear();
    this.#wakePump?.();
    for (const chunk of this.#readyChunks) if (chunk.life.can('cancelled')) chunk.life.move('cancelled');
    for (const { chunk } of this.#completed.values()) if (chunk.life.can('cancelled')) chunk.life.move('cancelled');
    this.#ready.length = 0;
    this.#readyChunks.length = 0;
    this.#completed.clear();
    const source = this.#source;
    if (source?.return && !this.#sourceEnded) {
      void Promise.resolve()
        .then(() => source.return!())
        .catch(() => undefined);
    }
    this.#wake();
  }
}

/**
 * A custom operator may put a task reference straight into its request: resolve its module URL
 * (`./x.js` to `./x.ts` when only the source exists) as the built-ins' `taskSpec` does. Cached,
 * and the request is returned as is when nothing changes.
 */
function withResolvedModules(request: ChunkRequest): ChunkRequest {
  if (request.mode === 'call') {
    const moduleUrl = resolveTaskModule(request.task.moduleUrl);
    return moduleUrl === request.task.moduleUrl ? request : { ...request, task: { ...request.task, moduleUrl } };
  }
  const keyUrl = resolveTaskModule(request.keyTask.moduleUrl);
  const foldUrl = resolveTaskModule(request.foldTask.moduleUrl);
  if (keyUrl === request.keyTask.moduleUrl && foldUrl === request.foldTask.moduleUrl) return request;
  return { ...request, keyTask: { ...request.keyTask, moduleUrl: keyUrl }, foldTask: { ...request.foldTask, moduleUrl: foldUrl } };
}

/** A backend could not send the chunk: ours says so with a class; others (BullMQ) let the DataCloneError through. */
function isSendFailure(error: unknown): boolean {
  return error instanceof ChunkSendError || (error instanceof Error && error.name === 'DataCloneError');
}

function isCloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
