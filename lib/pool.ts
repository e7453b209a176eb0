/**
 * Worker pools. This is the only module that imports tinypool: everything above it talks to the
 * small {@link PoolBackend} interface (run a chunk, capacity, close), which another backend (a
 * queue on Redis, say) can implement.
 *
 * @packageDocumentation
 */
import type { Transferable } from 'node:worker_threads';
import { ProcessBackend } from './backends/process/process-backend.js';
import { ThreadBackend } from './backends/threads/thread-backend.js';
import { checkInteger, InvalidOptionError, MillraceError, type SerializedError, type WorkerCrashReason } from './errors.js';

/**
 * One task reference as the worker sees it: plain data (a {@link TaskRef} is one).
 *
 * @example
 * ```ts
 * import type { TaskSpec } from 'millrace';
 * const square: TaskSpec = { moduleUrl: 'file:///app/math.tasks.js', exportName: 'square', boundArgs: [], setupArgs: [] };
 * ```
 * @category Authoring
 */
export interface TaskSpec {
  /** The task module's URL. */
  readonly moduleUrl: string;
  /** The exported function to call. */
  readonly exportName: string;
  /** Leading arguments passed before each item (see {@link bind}). */
  readonly boundArgs: readonly unknown[];
  /** Arguments for the module's `setup` export, run once per worker. */
  readonly setupArgs: readonly unknown[];
}

/**
 * A chunk of work for a worker: call a task on each item, or fold the items by key.
 *
 * @example
 * ```ts
 * import type { ChunkRequest } from 'millrace';
 * const request: ChunkRequest = {
 *   mode: 'call',
 *   task: { moduleUrl: 'file:///app/math.tasks.js', exportName: 'square', boundArgs: [], setupArgs: [] },
 *   items: [1, 2, 3],
 * };
 * ```
 * @category Authoring
 */
export type ChunkRequest =
  | {
      /** Call `task` on each item; one result per item. */
      readonly mode: 'call';
      /** The task to call. */
      readonly task: TaskSpec;
      /** The chunk's items. */
      readonly items: readonly unknown[];
      /** Spread each item (a tuple) into the task's arguments. */
      readonly spread?: boolean;
      /** How many of the chunk's items the worker runs at once (async tasks); 1 when absent. */
      readonly concurrency?: number;
      /** Keep going after a failing item (its result slot is `undefined`). */
      readonly continueOnError?: boolean;
      /** Clone-check each result and report the first that fails (the diagnosis path). */
      readonly checkClone?: boolean;
    }
  | {
      /** Fold the items by key inside the worker; one `[key, partial]` pair per key. */
      readonly mode: 'fold';
      /** Gives each item's key. */
      readonly keyTask: TaskSpec;
      /** `(accumulator, item) => accumulator`. */
      readonly foldTask: TaskSpec;
      /** Each key's first accumulator (structured-cloned per key). */
      readonly initial: unknown;
      /** The chunk's items. */
      readonly items: readonly unknown[];
      /** Keep going after a failing item. */
      readonly continueOnError?: boolean;
      /** Clone-check each partial and report the first that fails (the diagnosis path). */
      readonly checkClone?: boolean;
    };

/**
 * What a worker sends back for a chunk. Task failures are data here, not rejections.
 *
 * @example
 * ```ts
 * import type { ChunkResponse } from 'millrace';
 * const ok = (response: ChunkResponse) => response.failures.length === 0 && !response.loadError;
 * ```
 * @category Authoring
 */
export interface ChunkResponse {
  /** One result per item ('call'), or `[key, partial]` pairs ('fold'). */
  results: unknown[];
  /** Items that threw, by index within the chunk. */
  failures: {
    /** The item's index within the chunk. */
    index: number;
    /** What the task threw, as plain data. */
    error: SerializedError;
  }[];
  /** Time the worker spent on the chunk, for adaptive chunk sizing. */
  elapsedMs: number;
  /** Which worker ran it (a thread id), for per-worker statistics. */
  workerId?: number | string;
  /** Set on a new worker's first answer: how long it took to start (from the backend asking for it to its being ready). */
  startupMs?: number;
  /** Set when the chunk loaded its task module first (import and `setup`), and how long that took. */
  loadMs?: number;
  /** The task returned a promise for some item (the worker may have waited, idle, on it). */
  awaited?: boolean;
  /** The task module or export could not be loaded. */
  loadError?: {
    /** What went wrong. */
    message: string;
    /** The functions the module does export. */
    available: string[];
    /** The import's error, when the module itself failed to load. */
    cause?: SerializedError;
  };
  /** Set on the diagnosis path: the first result that could not be cloned. */
  cloneFailure?: {
    /** The item's index within the chunk. */
    index: number;
    /** The clone error's message. */
    message: string;
  };
}

/**
 * Options for one {@link PoolBackend.run} call.
 *
 * @example
 * ```ts
 * import type { RunChunkOptions } from 'millrace';
 * const options: RunChunkOptions = { signal: AbortSignal.timeout(1000) };
 * ```
 * @category Authoring
 */
export interface RunChunkOptions {
  /**
   * Aborting it drops the chunk if queued, or ends the worker running it.
   * @defaultValue none
   */
  readonly signal?: AbortSignal;
  /**
   * Buffers to move to the worker instead of copying.
   * @defaultValue nothing is transferred
   */
  readonly transferList?: readonly Transferable[];
  /**
   * Where a backend that sets {@link PoolBackend.reportsStart} records when a worker starts the
   * chunk (after loading its task module), so a timeout does not count queueing time.
   * @defaultValue none: timeouts count from submission
   */
  readonly startClock?: StartClock;
  /**
   * Which chunk this is: the flow's run id, the chunk's sequence number within the run, and the
   * attempt (1, then 2, ... on retries); a backend that needs ids (a job queue) derives them from it.
   * @defaultValue none
   */
  readonly chunk?: ChunkIdentity;
  /**
   * Receives what the chunk's tasks report with {@link reportProgress} while it runs, added up (the
   * thread and process backends send at most every 100 ms, and the rest just before the chunk
   * settles); not called once the chunk is cancelled. A backend that cannot carry reports (BullMQ,
   * for now) ignores it, and tasks' reports are then dropped.
   * @defaultValue none: the worker does not send reports
   */
  readonly onTaskProgress?: (amount: number) => void;
}

/**
 * Which chunk a {@link PoolBackend.run} call carries, for backends that need stable ids.
 *
 * @example
 * ```ts
 * import type { ChunkIdentity } from 'millrace';
 * const jobId = (chunk: ChunkIdentity) => `${chunk.runId}-${chunk.seq}${chunk.attempt > 1 ? `-r${chunk.attempt}` : ''}`;
 * ```
 * @category Authoring
 */
export interface ChunkIdentity {
  /** Unique per consumption of a worker-backed step (letters and digits only). */
  readonly runId: string;
  /** The chunk's 0-based sequence number within the run (input order). */
  readonly seq: number;
  /**
   * 1 for the first run of the chunk, then 2, 3, ... for each later send: retries, re-runs of a chunk
   * that never started, and the one-item pieces of a chunk run item by item (which share its `seq`),
   * so `(runId, seq, attempt)` names one send.
   */
  readonly attempt: number;
}

/**
 * Shared memory a worker writes as it takes up a chunk: `cell[0]` when it takes the chunk up,
 * `cell[1]` when the task module is loaded and the chunk starts running, `cell[2]` when its items
 * are done; each as milliseconds since `origin` (a `Date.now()` value) plus one, 0 meaning not yet.
 * A backend may pass a clock with only the first two cells.
 *
 * @example
 * ```ts
 * import type { StartClock } from 'millrace';
 * const started = (clock: StartClock) => Atomics.load(clock.cell, 0) !== 0;
 * ```
 * @category Authoring
 */
export interface StartClock {
  /** A `Date.now()` value the stamp counts from. */
  readonly origin: number;
  /** Three 32-bit cells over a `SharedArrayBuffer`: taken up, started, finished. */
  readonly cell: Int32Array;
}

/**
 * What the dispatch engine needs from a place that runs chunks: local threads, or remote workers.
 *
 * @example
 * ```ts
 * import { createPool, type PoolBackend } from 'millrace';
 * const local = createPool({ threads: 2 });
 * const backend: PoolBackend = local.backend;
 * console.log(backend.capacity); // 2
 * ```
 * @category Pools and tasks
 */
export interface PoolBackend {
  /** How many chunks can run at once. */
  readonly capacity: number;
  /**
   * Whether {@link PoolBackend.run} fills in {@link RunChunkOptions.startClock}; when not, a
   * chunk's timeout counts from submission.
   */
  readonly reportsStart?: boolean;
  /**
   * Whether {@link RunChunkOptions.transferList} buffers are copied rather than moved (child
   * processes: nothing moves between processes), so a chunk with `transfer` can be sent again: it
   * keeps its retries, and a crashed one is isolated item by item under `onError`.
   * @defaultValue `false`: transferred buffers leave this thread, and such a chunk is never sent twice
   */
  readonly copiesTransfers?: boolean;
  /** Worker threads (or processes) alive right now, when the backend knows. */
  readonly liveThreads?: number;
  /**
   * Runs one chunk. Rejects only for infrastructure failures (a dead worker: {@link WorkerExitError};
   * an abort: the signal's reason; a clone failure); task failures come back in the response.
   */
  run(request: ChunkRequest, options?: RunChunkOptions): Promise<ChunkResponse>;
  /** Ends the workers; pending chunks are rejected. */
  close(): Promise<void>;
}

/**
 * A worker thread exited while it held a chunk (the backend-level fact; the dispatch engine turns
 * it into a {@link WorkerCrashedError} that names the items, or runs a chunk that never started
 * again).
 *
 * @example
 * ```ts
 * import { WorkerExitError } from 'millrace';
 * const crashed = (error: unknown) => error instanceof WorkerExitError && error.started;
 * ```
 * @category Errors
 */
export class WorkerExitError extends MillraceError {
  override name = 'WorkerExitError';
  /** The thread's exit code, when known. */
  readonly exitCode: number | undefined;
  /** Whether the worker had taken the chunk up; a chunk that never started is safe to run again. */
  readonly started: boolean;
  /** Whether the worker died while starting up (before it could take any chunk). */
  readonly startup: boolean;
  /** Why it died, when the backend can tell (see {@link WorkerCrashReason}). */
  readonly reason: WorkerCrashReason;
  /** The signal that ended it, when `reason` is `'signal'`. */
  readonly signal: string | undefined;
  constructor(
    exitCode: number | undefined,
    cause?: unknown,
    facts: {
      readonly started?: boolean;
      readonly startup?: boolean;
      readonly reason?: WorkerCrashReason | undefined;
      readonly signal?: string | undefined;
    } = {},
  ) {
    const code = exitCode === undefined ? '' : ` with code ${exitCode}`;
    const why = facts.reason === undefined || facts.reason === 'unknown' || facts.reason === 'exit' ? '' : ` (${facts.reason})`;
    const what = facts.startup === true ? `worker could not start${why}` : `worker exited unexpectedly${code}${why}`;
    super(cause === undefined ? what : `${what}: ${describeCause(cause)}`, cause === undefined ? undefined : { cause });
    this.exitCode = exitCode;
    this.started = facts.started ?? true;
    this.startup = facts.startup ?? false;
    this.reason = facts.reason ?? 'unknown';
    this.signal = facts.signal;
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * A chunk could not be sent to a worker: something in it is not structured-cloneable (an item, a
 * bound argument, `setupArgs`) or its transfer list is invalid. The engine finds which and throws
 * a {@link CloneError}.
 *
 * @example
 * ```ts
 * import { ChunkSendError } from 'millrace';
 * const unsendable = (error: unknown) => error instanceof ChunkSendError;
 * ```
 * @category Errors
 */
export class ChunkSendError extends MillraceError {
  override name = 'ChunkSendError';
  constructor(cause: unknown) {
    super(`the chunk could not be sent to a worker: ${describeCause(cause)}`, { cause });
  }
}

/**
 * Options for {@link createPool}.
 *
 * @example
 * ```ts
 * import { createPool, type PoolOptions } from 'millrace';
 * const options: PoolOptions = { threads: 4, idleTimeoutMs: 5_000, maxItemsPerWorker: 10_000, maxWorkerMemoryMb: 512 };
 * await using pool = createPool(options);
 * ```
 * @category Pools and tasks
 */
export interface PoolOptions {
  /**
   * Workers at most: worker threads, or child processes with `isolation: 'process'`.
   * @defaultValue `os.availableParallelism()`
   */
  readonly threads?: number;
  /**
   * Where tasks run: `'thread'`, worker threads of this process; or `'process'`, child processes,
   * one chunk at a time each, so that a task that crashes its process (a native addon's segfault,
   * `process.abort()`, out of memory, `process.exit()`) fails its items with a
   * {@link WorkerCrashedError} naming why (`reason: 'signal'` and `signal: 'SIGSEGV'`, say) while
   * the main process and the pool go on. Every other option and guarantee holds for both (ordering,
   * timeouts, retries, cancellation, `onError`, `taskSignal()`, `setup`/`teardown`, recycling,
   * `resourceLimits` as V8 flags), except that `transfer` copies: nothing moves between processes.
   * Items and results cross with V8's serializer, as between threads. A child costs more to start
   * (tens of milliseconds) and each chunk a round trip through a pipe, so use it for tasks that may
   * crash, not for speed.
   * @defaultValue `'thread'`
   */
  readonly isolation?: 'thread' | 'process';
  /**
   * Milliseconds an idle thread lives before it exits (idle threads never keep the process alive);
   * `Infinity` keeps idle threads (any value over about 24.8 days counts as that).
   * @defaultValue `10_000`
   */
  readonly idleTimeoutMs?: number;
  /**
   * V8 heap limits per worker; a worker that exceeds them dies with a {@link WorkerCrashedError}.
   * @defaultValue no limits
   */
  readonly resourceLimits?: {
    /** The main heap's limit, in megabytes. */
    readonly maxOldGenerationSizeMb?: number;
    /** The young generation's limit, in megabytes. */
    readonly maxYoungGenerationSizeMb?: number;
    /** The thread's stack size, in megabytes. */
    readonly stackSizeMb?: number;
  };
  /**
   * How long, in milliseconds, each task module's `teardown()` export may take when a worker leaves
   * (the pool is closed, the worker is recycled or idles out); one that throws, rejects or overruns
   * is reported on stderr, naming the module, and the worker leaves anyway.
   * @defaultValue `5_000`
   */
  readonly teardownTimeoutMs?: number;
  /**
   * Recycle a worker after it has been sent this many items (Python's `maxtasksperchild`): it
   * finishes the chunks it holds, runs its teardowns and leaves, and a replacement starts at once.
   * The standard defence against a task (or a native library) that leaks. A worker may run up to
   * one chunk's worth of items more than this when a chunk crosses the bound.
   * @defaultValue workers are never recycled by count
   */
  readonly maxItemsPerWorker?: number;
  /**
   * Recycle a worker whose V8 heap (`used_heap_size`) is over this many megabytes after a chunk,
   * as {@link PoolOptions.maxItemsPerWorker} does. Measured between chunks: to stop a single chunk
   * that allocates without bound, use `resourceLimits`.
   * @defaultValue workers are never recycled by memory
   */
  readonly maxWorkerMemoryMb?: number;
  /**
   * Run chunks somewhere else than local threads (e.g. the BullMQ backend). When set, the other
   * options are ignored.
   * @defaultValue local worker threads (tinypool)
   */
  readonly backend?: PoolBackend;
}

/**
 * A set of workers that operators send chunks to. One pool serves any number of task modules and
 * flows at once; each flow keeps its own in-flight bound, so none starves another.
 *
 * @example
 * ```ts
 * import { createPool, flow, parallelMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * await using pool = createPool({ threads: 2 });
 * console.log(await flow([1, 2]).pipe(parallelMap(math.square, { pool })).toArray());
 * ```
 * @category Pools and tasks
 */
export class Pool implements AsyncDisposable {
  /** Where chunks run. */
  readonly backend: PoolBackend;
  #closed = false;

  /** Prefer {@link createPool}. */
  constructor(backend: PoolBackend) {
    this.backend = backend;
  }

  /** How many chunks run at once. */
  get threads(): number {
    return this.backend.capacity;
  }

  /**
   * Worker threads alive right now (idle ones exit after `idleTimeoutMs`), for leak checks;
   * `undefined` for a backend that does not say.
   */
  get liveThreads(): number | undefined {
    return this.backend.liveThreads;
  }

  /** Whether {@link Pool.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Ends the workers; flows still using the pool fail. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.backend.close();
  }

  /** `await using pool = createPool()` closes the pool at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Creates a pool of worker threads or child processes (or wraps another backend).
 *
 * @param options - see {@link PoolOptions}
 * @returns a {@link Pool} to pass to operators as `{ pool }`
 * @throws {@link InvalidOptionError} for a thread count below 1, or an `isolation` other than
 *   `'thread'` and `'process'`
 * @example
 * ```ts
 * import { createPool, flow, unorderedMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const pool = createPool({ threads: 2 });
 * try {
 *   console.log(await flow([1, 2, 3]).pipe(unorderedMap(math.square, { pool })).toArray());
 * } finally {
 *   await pool.close();
 * }
 * ```
 * @category Pools and tasks
 */
export function createPool(options: PoolOptions = {}): Pool {
  if (options.backend) return new Pool(options.backend);
  const isolation: unknown = options.isolation;
  if (isolation !== undefined && isolation !== 'thread' && isolation !== 'process') {
    throw new InvalidOptionError('isolation', isolation, "'thread' or 'process'");
  }
  checkInteger('threads', options.threads, 1, 1024);
  if (options.idleTimeoutMs !== Infinity) checkInteger('idleTimeoutMs', options.idleTimeoutMs, 0);
  checkInteger('teardownTimeoutMs', options.teardownTimeoutMs, 0);
  checkInteger('maxItemsPerWorker', options.maxItemsPerWorker, 1);
  checkInteger('maxWorkerMemoryMb', options.maxWorkerMemoryMb, 1);
  if (isolation === 'process') return new Pool(new ProcessBackend(options, sourceAliases()));
  return new Pool(new ThreadBackend(options, sourceAliases()));
}

let shared: Pool | undefined;

/**
 * The process-wide pool operators use when given none: sized to `os.availableParallelism()`,
 * created on first use, and never keeping the process alive once flows are done.
 *
 * @returns the shared {@link Pool}
 * @example
 * ```ts
 * import { sharedPool } from 'millrace';
 * console.log(`running on ${sharedPool().threads} threads`);
 * ```
 * @category Pools and tasks
 */
export function sharedPool(): Pool {
  if (!shared || shared.closed) shared = createPool();
  return shared;
}

/** When millrace runs unbuilt (from .ts), task modules that import 'millrace' need its source. */
function sourceAliases(): Record<string, string> | undefined {
  if (!import.meta.url.endsWith('.ts')) return undefined;
  return {
    millrace: new URL('./index.ts', import.meta.url).href,
    'millrace/testing': new URL('./testing/index.ts', import.meta.url).href,
  };
}
