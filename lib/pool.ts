/**
 * Worker pools. This is the only module that imports tinypool: everything above it talks to the
 * small {@link PoolBackend} interface (run a chunk, capacity, close), which another backend (a
 * queue on Redis, say) can implement.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import type { TransferListItem } from 'node:worker_threads';
import { Tinypool } from 'tinypool';
import { checkInteger, MillraceError, type SerializedError } from './errors.js';

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
  readonly transferList?: readonly TransferListItem[];
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
  /** 1 for the first run of the chunk, then 2, 3, ... for its retries. */
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
 * it into a {@link WorkerCrashedError} that names the items).
 *
 * @example
 * ```ts
 * import { WorkerExitError } from 'millrace';
 * const crashed = (error: unknown) => error instanceof WorkerExitError;
 * ```
 * @category Errors
 */
export class WorkerExitError extends MillraceError {
  override name = 'WorkerExitError';
  /** The thread's exit code. */
  readonly exitCode: number | undefined;
  constructor(exitCode: number | undefined, cause?: unknown) {
    super(`worker exited unexpectedly${exitCode === undefined ? '' : ` with code ${exitCode}`}`, cause === undefined ? undefined : { cause });
    this.exitCode = exitCode;
  }
}

/**
 * Options for {@link createPool}.
 *
 * @example
 * ```ts
 * import { createPool, type PoolOptions } from 'millrace';
 * const options: PoolOptions = { threads: 4, idleTimeoutMs: 5_000 };
 * await using pool = createPool(options);
 * ```
 * @category Pools and tasks
 */
export interface PoolOptions {
  /**
   * Worker threads at most.
   * @defaultValue `os.availableParallelism()`
   */
  readonly threads?: number;
  /**
   * Milliseconds an idle thread lives before it exits (idle threads never keep the process alive).
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
 * Creates a pool of worker threads (or wraps another backend).
 *
 * @param options - see {@link PoolOptions}
 * @returns a {@link Pool} to pass to operators as `{ pool }`
 * @throws {@link InvalidOptionError} for a thread count below 1
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
  checkInteger('threads', options.threads, 1, 1024);
  checkInteger('idleTimeoutMs', options.idleTimeoutMs, 0);
  return new Pool(new ThreadBackend(options));
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

interface WatchedWorker {
  threadId: number;
  on(event: 'exit', listener: (code: number) => void): void;
  on(event: 'error', listener: (error: unknown) => void): void;
  on(event: 'message', listener: (message: unknown) => void): void;
  emit(event: 'error', error: unknown): boolean;
  terminate(): Promise<unknown>;
}

/** Chunks a worker holds at most: the one it runs and one queued behind it (worker.mjs runs them in turn). */
const PER_WORKER = 2;
/**
 * A worker gets its next chunk while the current one runs only while chunks are short and
 * synchronous (the last one ran for less than this, in worker time, and awaited nothing): then a
 * round trip per chunk is a real share of the time, while a chunk queued behind a long or waiting
 * one would stay there as another worker sits idle.
 */
const PREFETCH_BELOW_MS = 2;
/**
 * How often a chunk that never started is handed over again after its worker died: each time
 * needs another worker to die holding it (a chunk of another flow crashed, timed out or was
 * cancelled ahead of it), so a busy pool shared with failing flows can need many; the bound is
 * only a guard against a loop nobody foresaw.
 */
const MAX_RESUBMITS = 100;

/** A chunk handed to tinypool, until it settles for the caller and tinypool is done with it. */
interface HandedOver {
  readonly slot: number;
  readonly ticket: number;
  /** Rejects the caller's promise (first settlement wins). */
  readonly fail: (error: unknown) => void;
  /** The caller's promise has settled (a response, a failure, a cancellation). */
  settled: boolean;
  /** Its slot and its place in the hand-over limit are given back. */
  released: boolean;
}

/** Local worker threads through tinypool, with the crash detection tinypool lacks. */
class ThreadBackend implements PoolBackend {
  readonly capacity: number;
  readonly reportsStart = true;
  readonly #pool: Tinypool;
  readonly #watched = new WeakSet<object>();
  #closing = false;
  readonly #slotCount: number;
  /**
   * Per task (module and export), whether its last chunk was short and synchronous (see
   * {@link PREFETCH_BELOW_MS}); a task not seen yet gets no prefetch.
   */
  readonly #shortTasks = new Map<string, boolean>();
  /**
   * One cell per chunk handed over, shared with the workers: the chunk's ticket while it waits,
   * `-threadId` once a worker has taken it up, 0 once cancelled. A worker takes a chunk up with a
   * compare-and-swap on its ticket, so a chunk the main thread cancelled (or a stale message whose
   * slot was reused) never runs, and a chunk whose cell still holds its ticket never ran.
   */
  readonly #cells: Int32Array;
  readonly #freeSlots: number[];
  #nextTicket = 0;

  constructor(options: PoolOptions) {
    this.capacity = options.threads ?? availableParallelism();
    const slots = (this.#slotCount = this.capacity * PER_WORKER);
    this.#cells = new Int32Array(new SharedArrayBuffer(4 * slots));
    this.#freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
    const aliases = sourceAliases();
    this.#pool = new Tinypool({
      filename: new URL('./worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.capacity,
      // A second chunk waits in the worker while the first runs, so no item waits for a round
      // trip; worker.mjs runs them one after the other, never interleaved.
      concurrentTasksPerWorker: PER_WORKER,
      idleTimeout: options.idleTimeoutMs ?? 10_000,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
      workerData: { millraceCells: this.#cells, ...(aliases ? { millraceAliases: aliases } : {}) },
    });
    // tinypool re-emits the error of a worker that dies holding no chunk (terminated while idle)
    // on the pool itself; unheard, that 'error' event would throw in the main thread and kill the
    // process. Nothing was lost (the worker is replaced on demand), so there is nothing to report.
    this.#pool.on('error', () => {});
  }

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    if (this.#closing) return Promise.reject(new MillraceError('The pool is closed'));
    const transferList = options.transferList ? [...options.transferList] : undefined;
    return this.#admit(request, options.startClock, transferList, options.signal);
  }

  /** Chunks handed to tinypool and not yet released: never more than {@link ThreadBackend.#limit}. */
  #active = 0;
  /** The chunks handed to tinypool and not yet released. */
  readonly #handedOver = new Set<HandedOver>();
  /** Chunks waiting for a thread, first come first served. */
  readonly #waiting: { readonly limit: number; start: () => void; fail: (error: unknown) => void }[] = [];

  /**
   * tinypool queues tasks beyond its threads, but when a worker dies (a crash, a timeout, a chunk
   * of another flow being cancelled) with `minThreads: 0` it starts no worker for that queue: the
   * queued chunks of every other flow on the pool would wait forever. So the queue lives here:
   * tinypool only ever holds two chunks a thread, and each hand-over starts a worker when one is
   * missing. A waiting chunk that is cancelled just leaves the queue.
   */
  #admit(
    request: ChunkRequest,
    startClock: StartClock | undefined,
    transferList: TransferListItem[] | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ChunkResponse> {
    const task = request.mode === 'call' ? request.task : request.foldTask;
    const key = task.exportName + '#' + task.moduleUrl;
    // One running and, for short chunks, one queued per thread.
    const limit = this.#shortTasks.get(key) === true ? this.#slotCount : this.capacity;
    if (this.#active < limit && this.#waiting.length === 0) return this.#handOver(request, key, startClock, transferList, signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<ChunkResponse>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(entry);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal?.reason);
      };
      const entry = {
        limit,
        start: (): void => {
          signal?.removeEventListener('abort', onAbort);
          this.#handOver(request, key, startClock, transferList, signal).then(resolve, reject);
        },
        fail: (error: unknown): void => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  /**
   * Gives one chunk to tinypool. Cancellation is ours, not tinypool's (tinypool never queues a
   * task with a signal behind another on a worker): a chunk not yet taken up is marked cancelled
   * in its cell and skipped by the worker; a running one has its worker ended.
   */
  #handOver(
    request: ChunkRequest,
    key: string,
    startClock: StartClock | undefined,
    transferList: TransferListItem[] | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ChunkResponse> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#active++;
    const slot = this.#freeSlots.pop()!;
    const ticket = (this.#nextTicket = (this.#nextTicket % 0x7fff_fffe) + 1);
    Atomics.store(this.#cells, slot, ticket);
    // The worker stamps the clock (shared memory) when it starts the chunk; see worker.mjs.
    const message: ChunkRequest & { readonly slot: number; readonly ticket: number; readonly startClock?: StartClock } = startClock
      ? { ...request, slot, ticket, startClock }
      : { ...request, slot, ticket };
    const runOptions = transferList ? { transferList } : undefined;
    return new Promise<ChunkResponse>((resolve, reject) => {
      const chunk: HandedOver = { slot, ticket, fail: reject, settled: false, released: false };
      const onAbort = (): void => this.#cancel(chunk, signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#handedOver.add(chunk);
      const release = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.#release(chunk);
      };
      const submit = (resubmits: number): void => {
        let running: Promise<ChunkResponse>;
        try {
          running = this.#pool.run(message, runOptions) as Promise<ChunkResponse>;
        } catch (error) {
          running = Promise.reject(error);
        }
        this.#watchNewWorkers();
        running.then(
          (response) => {
            if (this.#shortTasks.size > 1024) this.#shortTasks.clear();
            this.#shortTasks.set(key, response.awaited !== true && response.elapsedMs < PREFETCH_BELOW_MS);
            release();
            if (chunk.settled) return;
            chunk.settled = true;
            resolve(response);
          },
          (error: unknown) => {
            // Its worker died (or was ended) while the chunk waited behind another: it never ran,
            // so it is handed over again rather than failed (not a retry; buffers it moved are
            // gone with the worker, so such a chunk fails instead).
            const neverStarted = Atomics.load(this.#cells, slot) === ticket;
            if (!chunk.settled && !this.#closing && neverStarted && transferList === undefined && resubmits < MAX_RESUBMITS) {
              submit(resubmits + 1);
              return;
            }
            release();
            if (chunk.settled) return;
            chunk.settled = true;
            // Not a crash: say so, or the engine reports "a worker died" for a deliberate close().
            reject(this.#closing ? new MillraceError('The pool was closed while this chunk was queued or running', { cause: error }) : error);
          },
        );
      };
      submit(0);
    });
  }

  /** Gives a chunk's slot and its place back, once (a cancelled chunk may settle again later). */
  #release(chunk: HandedOver): void {
    if (chunk.released) return;
    chunk.released = true;
    this.#handedOver.delete(chunk);
    this.#freeSlots.push(chunk.slot);
    this.#active--;
    // Within the next chunk's own limit: a long task's chunk must not queue behind a busy worker
    // just because a short task's chunk left a prefetch place.
    const next = this.#waiting[0];
    if (next && !this.#closing && this.#active < next.limit) {
      this.#waiting.shift();
      next.start();
    }
  }

  /** Fails a chunk with `reason` now; a worker running it is ended, one holding it skips it. */
  #cancel(chunk: HandedOver, reason: unknown): void {
    if (chunk.settled) return;
    chunk.settled = true;
    chunk.fail(reason);
    // Not taken up: the worker will skip it. Its place is given back only when tinypool settles
    // it (the skip, or its worker's exit), so tinypool never holds more than the limit: chunks it
    // queued itself could wait for a worker it never starts.
    const cell = Atomics.compareExchange(this.#cells, chunk.slot, chunk.ticket, 0);
    // Running: synchronous JavaScript cannot be interrupted, so its worker is ended (the chunk
    // queued behind it, if any, never started and is handed over again).
    if (cell < 0) {
      const worker = (this.#pool.threads as unknown as WatchedWorker[]).find((thread) => thread.threadId === -cell);
      void worker?.terminate();
    }
  }

  /**
   * A worker that dies before it is ready (resourceLimits too small to boot, say) leaves the chunks
   * tinypool queued for it waiting for a worker that never comes: tinypool starts none after a
   * bootstrap failure. With no worker left, every chunk handed over is such a queued one (it never
   * started): withdraw them with the start-up error.
   */
  #withdrawQueued(cause: unknown): void {
    if (this.#pool.threads.length > 0) return;
    for (const chunk of [...this.#handedOver]) {
      this.#cancel(chunk, new WorkerExitError(undefined, cause));
      // They wait in tinypool's own queue, which only a later hand-over gives a worker again (one
      // that skips them): their places go to the next chunks now.
      this.#release(chunk);
    }
  }

  /**
   * tinypool does not notice a worker that exits without an error (`process.exit()` in a task,
   * `worker.terminate()`): its task would never settle. Turn such an exit into the 'error' event
   * tinypool does handle, which fails the worker's tasks and replaces the worker.
   */
  #watchNewWorkers(): void {
    for (const worker of this.#pool.threads as unknown as WatchedWorker[]) {
      if (this.#watched.has(worker)) continue;
      this.#watched.add(worker);
      let errored = false;
      let ready = false;
      worker.on('message', (message) => {
        if ((message as { ready?: unknown } | null)?.ready === true) ready = true;
      });
      worker.on('error', (error) => {
        errored = true;
        if (!ready && !this.#closing) this.#withdrawQueued(error);
      });
      worker.on('exit', (code) => {
        if (errored || this.#closing) return;
        // Still listed by tinypool means tinypool did not end it itself (idle timeout, destroy).
        if ((this.#pool.threads as unknown as WatchedWorker[]).includes(worker)) {
          worker.emit('error', new WorkerExitError(code));
        }
      });
    }
  }

  get liveThreads(): number {
    return this.#pool.threads.length;
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const waiting of this.#waiting.splice(0)) waiting.fail(new MillraceError('The pool is closed'));
    await this.#pool.destroy();
  }
}
