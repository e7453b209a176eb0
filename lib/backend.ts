/**
 * The backend contract: what the dispatch engine needs from a place that runs chunks, and nothing
 * else. The request and response of one chunk, the options of one run, the start clock a worker
 * stamps, and the backend-level errors. Backends (threads, processes, BullMQ, a user's own) import
 * this file; the engine imports this file; neither imports the other (pool.ts, above both, picks one).
 *
 * @packageDocumentation
 */
import type { Transferable } from 'node:worker_threads';
import { MillraceError, type SerializedError, type WorkerCrashReason } from './errors.js';

/**
 * @internal The type-only key under which a task reference carries the arguments it takes per call
 * (after its bound arguments); never present at run time.
 */
export declare const taskSignature: unique symbol;

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
export interface TaskSpec<Args extends unknown[] = never, Result = unknown> {
  /** The task module's URL. */
  readonly moduleUrl: string;
  /** The exported function to call. */
  readonly exportName: string;
  /** Leading arguments passed before each item (see {@link bind}). */
  readonly boundArgs: readonly unknown[];
  /** Arguments for the module's `setup` export, run once per worker. */
  readonly setupArgs: readonly unknown[];
  /**
   * @internal Type-only: the arguments the task takes per call and what it gives, as a task
   * reference carries them, so a request whose items the task does not take, or whose results are
   * not what the task gives, fails to compile; `never` (the default) takes any task. Never present
   * at run time.
   */
  readonly [taskSignature]?: (...args: Args) => Result;
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
export type ChunkRequest<In = unknown, Result = unknown> =
  | {
      /** Call `task` on each item; one result per item. */
      readonly mode: 'call';
      /**
       * The task to call: one that takes an item (or, with `spread`, an item's elements) and gives
       * a `Result`, checked when the item type is known; a request for `unknown` items takes any task.
       */
      readonly task: unknown extends In ? TaskSpec : TaskSpec<[In], Result> | (In extends unknown[] ? TaskSpec<In, Result> : never);
      /** The chunk's items. */
      readonly items: readonly In[];
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
      readonly keyTask: unknown extends In ? TaskSpec : TaskSpec<[In]>;
      /** `(accumulator, item) => accumulator`. */
      readonly foldTask: unknown extends In ? TaskSpec : TaskSpec<[never, In]>;
      /** Each key's first accumulator (structured-cloned per key). */
      readonly initial: unknown;
      /** The chunk's items. */
      readonly items: readonly In[];
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
export interface ChunkResponse<Result = unknown> {
  /**
   * One result per item ('call'), or `[key, partial]` pairs ('fold'). A backend answers with
   * `unknown` results (they come from a worker); the engine hands a {@link DispatchSpec}'s
   * `outputs` the response typed by the spec's `Result`, what its request's task gives.
   */
  results: Result[];
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
  readonly signal?: AbortSignal | undefined;
  /**
   * Buffers to move to the worker instead of copying.
   * @defaultValue nothing is transferred
   */
  readonly transferList?: readonly Transferable[] | undefined;
  /**
   * Where a backend that sets {@link PoolBackend.reportsStart} records when a worker starts the
   * chunk (after loading its task module), so a timeout does not count queueing time.
   * @defaultValue none: timeouts count from submission
   */
  readonly startClock?: StartClock | undefined;
  /**
   * Which chunk this is: the flow's run id, the chunk's sequence number within the run, and the
   * attempt (1, then 2, ... on retries); a backend that needs ids (a job queue) derives them from it.
   * @defaultValue none
   */
  readonly chunk?: ChunkIdentity | undefined;
  /**
   * Receives what the chunk's tasks report with {@link reportProgress} while it runs, added up (the
   * thread and process backends send at most every 100 ms, and the rest just before the chunk
   * settles); not called once the chunk is cancelled. A backend that cannot carry reports (BullMQ,
   * for now) ignores it, and tasks' reports are then dropped.
   * @defaultValue none: the worker does not send reports
   */
  readonly onTaskProgress?: ((amount: number) => void) | undefined;
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
  /**
   * Whether the backend lets go of a run's {@link RunChunkOptions.signal} once the run settles (it
   * removes its abort listeners and keeps no reference), so that the engine may pass a signal
   * that never aborted to a later run rather than make one per run (an `AbortController` costs
   * more than a trivial one-item chunk's task).
   * @defaultValue `false`: each run gets a signal of its own
   */
  readonly releasesSignals?: boolean;
  /** Worker threads (or processes) alive right now, when the backend knows. */
  readonly liveThreads?: number;
  /**
   * Whether chunks run on other machines (BullMQ workers): steps that need their workers on this
   * machine (`aggregateByKey`, whose partition owners are local threads) refuse such a pool.
   * @defaultValue `false`: the workers are this machine's
   */
  readonly remote?: boolean;
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
  /** What the chunk's items had finished before the worker died, when the worker could say (see {@link FinishedItems}). */
  readonly finished: FinishedItems | undefined;
  constructor(
    exitCode: number | undefined,
    cause?: unknown,
    facts: {
      readonly started?: boolean;
      readonly startup?: boolean;
      readonly reason?: WorkerCrashReason | undefined;
      readonly signal?: string | undefined;
      readonly finished?: FinishedItems | undefined;
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
    this.finished = facts.finished;
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * What a chunk's items had finished, with a value, when its worker died: the worker says so as it
 * goes (an uncaught error, `process.exit()` in a task) where it can, so that the engine keeps those
 * values and runs again only the items without one. Positions are within the run's items.
 *
 * @example
 * ```ts
 * import type { FinishedItems } from 'millrace';
 * const finished: FinishedItems = { positions: [0, 2], results: ['a', 'c'] }; // items 0 and 2 had finished
 * console.log(finished.positions.length); // 2
 * ```
 * @category Authoring
 */
export interface FinishedItems {
  /** Positions (within the run's items) that finished with a value, in ascending order. */
  readonly positions: readonly number[];
  /** Their values, in the same order. */
  readonly results: readonly unknown[];
}

/**
 * The backend lost a chunk: it can no longer tell what became of it (a job that vanished from
 * Redis before its result came back), so it may or may not have run. A backend rejects the run
 * with this error rather than send the chunk again itself: the engine runs it again, through its
 * one run-again path, and counts it (`runsAgain.lost` in {@link StageStats}).
 *
 * @example
 * ```ts
 * import { ChunkLostError } from 'millrace';
 * const lost = new ChunkLostError('job run1-0 is gone from Redis');
 * console.log(lost.name, lost.message.startsWith('the chunk was lost')); // ChunkLostError true
 * ```
 * @category Errors
 */
export class ChunkLostError extends MillraceError {
  override name = 'ChunkLostError';
  constructor(why: string, cause?: unknown) {
    super(`the chunk was lost: ${why}`, cause === undefined ? undefined : { cause });
  }
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

// The start clock's fields, named once for the engine (chunk-deadline.ts) and the workers alike:
// shared memory in which a worker stamps the life of one chunk, so the engine can count a chunk's
// time budget from when a worker really starts it (not from when it was queued).

/** The worker has taken the chunk up (claimed it); its task module may still be loading. */
export const CLOCK_TAKEN_UP = 0;
/** The task module is loaded and the chunk's first item starts. */
export const CLOCK_STARTED = 1;
/** The worker has finished the chunk's items; only the response is on its way. */
export const CLOCK_FINISHED = 2;
/** How many 32-bit fields a clock has. */
export const CLOCK_FIELDS = 3;

/** A fresh clock counting from now. */
export function createStartClock(): StartClock {
  return { origin: Date.now(), cell: new Int32Array(new SharedArrayBuffer(CLOCK_FIELDS * Int32Array.BYTES_PER_ELEMENT)) };
}

/**
 * Stamps `field` with the time since the clock's origin (plus one: 0 means "not yet"). A clock that
 * crossed a process boundary is a copy, not shared memory: stamping it is harmless.
 */
export function stampClock(clock: StartClock | undefined, field: number): void {
  if (clock && clock.cell instanceof Int32Array && field < clock.cell.length) {
    Atomics.store(clock.cell, field, Math.max(1, Date.now() - clock.origin + 1));
  }
}

/** When `field` was stamped, as a `Date.now()` value, or undefined while it is not. */
export function readClock(clock: StartClock, field: number): number | undefined {
  if (field >= clock.cell.length) return undefined;
  const stamp = Atomics.load(clock.cell, field);
  return stamp === 0 ? undefined : clock.origin + stamp - 1;
}
