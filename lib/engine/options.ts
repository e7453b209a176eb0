/**
 * What a worker-backed operator tells the engine: its options ({@link ParallelOptions}, shared by
 * every such operator), what to do with a failing item ({@link ErrorPolicy}) and how to build a
 * request and read a response ({@link DispatchSpec}); checked once, when the operator is built.
 *
 * @packageDocumentation
 */
import type { Transferable } from 'node:worker_threads';
import type { ChunkRequest, ChunkResponse } from '../backend.js';
import { checkInteger, InvalidOptionError, type TaskError, type WorkerCrashedError } from '../errors.js';
import type { Pool } from '../pool.js';
import { checkItemPolicy } from './retry-policy.js';
import type { StageStats } from './stage-stats.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';

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
 * const failures: (TaskError<string> | WorkerCrashedError)[] = [];
 * const collect: ErrorPolicy<string> = (error) => {
 *   failures.push(error);
 *   if (error instanceof WorkerCrashedError) console.error(`item #${error.firstIndex} kills workers (${error.reason})`);
 * };
 * ```
 * @category Parallel
 */
export type ErrorPolicy<In = unknown> = 'fail' | ((error: TaskError<In> | WorkerCrashedError) => unknown);

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
export interface ParallelOptions<In = unknown> {
  /**
   * Items per chunk (one chunk is one message to a worker).
   * @defaultValue adaptive: aims each chunk at about 16 ms of worker time, from 1 item up to 8192
   */
  readonly chunkSize?: number | undefined;
  /**
   * Chunks sent to workers or waiting for the consumer at once; bounds the work in flight and memory.
   * @defaultValue twice the pool's thread count
   */
  readonly maxInFlight?: number | undefined;
  /**
   * Chunks that may hold their place in the output without a worker, on top of `maxInFlight`: in
   * order, finished chunks waiting behind an earlier, slower one (the reorder buffer); and chunks
   * waiting out a retry's backoff. So one slow or retrying item holds its place in the output, not
   * the workers: they go on with later chunks until this many wait.
   * @defaultValue `16 × maxInFlight`
   */
  readonly maxBuffered?: number | undefined;
  /**
   * The pool to run on.
   * @defaultValue the shared pool ({@link sharedPool})
   */
  readonly pool?: Pool | undefined;
  /**
   * What an item that failed its last attempt does to the flow; see {@link ErrorPolicy}. The
   * function receives each failure once, typed with the flow's item type.
   * @defaultValue `'fail'`
   */
  readonly onError?: ErrorPolicy<In> | undefined;
  /**
   * How many times a failed item (its task threw) runs again before the failure counts. Only the
   * items that failed run again, a chunk's successes are kept and never run twice; a chunk that
   * failed whole (a dead worker, a timeout) runs again with its items still without a value.
   * @defaultValue `0`
   */
  readonly retries?: number | undefined;
  /**
   * Backoff before a retry, in milliseconds: the n-th retry waits about `retryDelayMs × 2^(n-1)`,
   * at most 30 s, with equal jitter (see {@link retryDelayMs}), so a failing dependency is not
   * hammered and failures do not come back all at once. A chunk waiting out its backoff holds its
   * place in the output, not a worker.
   * @defaultValue `100`
   */
  readonly retryDelayMs?: number | undefined;
  /**
   * Time budget per item in milliseconds, enforced per chunk (items × timeout); a chunk over
   * budget is cancelled (its task's `taskSignal()` aborts; a worker that does not let go is ended)
   * and fails with a {@link TaskTimeoutError}.
   * @defaultValue no timeout
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Picks the buffers of an item to move to the worker instead of copying (zero-copy); the
   * main thread must not touch them afterwards. (An item marked with `transferResult` moves its
   * buffers without this option.) Moved buffers cannot be sent twice, so `retries` must be 0 with
   * it, unless the pool copies them (`isolation: 'process'`).
   * @defaultValue nothing is transferred
   */
  // Typed through a method's type on purpose: a method's parameter is bivariant, so options written
  // for any item (ParallelOptions<unknown>) still accept a `transfer` that names the item's own type.
  readonly transfer?: { pick(item: In): readonly Transferable[] }['pick'] | undefined;
  /**
   * How many items of this flow one worker runs at once, for async tasks that wait (on I/O, a
   * timer): a worker starts the next item while earlier ones await. Order, bounds, retries,
   * timeouts and errors are as at 1. Leave it at 1 for CPU-bound tasks (a thread computes one
   * thing at a time anyway). Automatic chunks then hold a multiple of this many items.
   * @defaultValue `1`
   */
  readonly concurrency?: number | undefined;
  /**
   * Called once when the stage ends (its input ran out, it failed, or its consumer stopped) with
   * its {@link StageStats}: items in, out and failed, chunk sizes, worker busy time, queue and
   * reorder-window waits, runs again. {@link formatStageStats} prints them.
   * @defaultValue none: statistics are still counted (a few additions per chunk), never reported
   */
  readonly stats?: ((stats: StageStats) => void) | undefined;
  /**
   * Also call `stats` every this many milliseconds while the stage runs (`state: 'running'`).
   * @defaultValue only at the end
   */
  readonly statsIntervalMs?: number | undefined;
  /**
   * Record each input's result in this {@link Checkpoint} as it arrives, and take the results
   * recorded there (by an interrupted or finished earlier run) instead of sending their inputs to
   * the workers: a rerun does only what is missing, new or changed. Honoured by {@link parallelMap},
   * {@link unorderedMap}, {@link starMap} and the two-tier {@link reduceBy}; {@link dispatch} refuses
   * it (a custom operator's outputs need not be one per item). See the guide "Long jobs".
   * @defaultValue none: nothing is recorded
   */
  readonly checkpoint?: Checkpoint<In> | undefined;
}

/**
 * What a worker-backed operator tells the engine: how to build a request from a chunk of items,
 * and how to turn the response into outputs. `Result` is what the request's task gives per item
 * (by default the output type): `outputs` sees the response's `results` typed so, and a request
 * whose task gives something else does not compile.
 *
 * @example
 * ```ts
 * import { dispatch, defineOperator, tasks, type DispatchSpec } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const spec: DispatchSpec<number, number> = {
 *   name: 'square',
 *   ordered: true,
 *   request: (items) => ({ mode: 'call', task: math.square, items }),
 *   outputs: (response) => response.results,
 * };
 * const squares = defineOperator<number, number>('squares', (source, context) => dispatch(source, context, spec));
 * ```
 * @category Authoring
 */
export interface DispatchSpec<In, Out, Result = Out> extends ParallelOptions<In> {
  /** The task's name, for errors (`module#export`). */
  readonly name: string;
  /** Emit in input order (a bounded reorder window), or as chunks finish. */
  readonly ordered: boolean;
  /** The request for one chunk: a task that takes the items (a task of other items does not compile). */
  readonly request: (items: In[]) => ChunkRequest<In, Result>;
  /** The outputs of one successful chunk (items that failed under an `onError` function are already removed from `results` and `items`, so the two stay aligned). */
  readonly outputs: (response: ChunkResponse<Result>, items: readonly In[]) => readonly Out[];
  /**
   * Told which items each settled chunk's outputs belong to, as the chunk settles (in settle order,
   * before its outputs wait in the reorder window): what a checkpoint records. Whatever it throws
   * fails the flow.
   * @defaultValue none
   * @internal
   */
  readonly onSettled?: (chunk: SettledChunk<In, Out>) => void;
}

/**
 * A chunk whose every item has its outcome, as {@link DispatchSpec.onSettled} receives it.
 * @internal
 */
export interface SettledChunk<In, Out> {
  /** The index (among the items the engine was given) of the chunk's first item. */
  readonly firstIndex: number;
  /** All the chunk's items, in order: `items[i]` has index `firstIndex + i`. */
  readonly items: readonly In[];
  /**
   * The items that have outputs, in order (a subsequence of `items`: those that failed under an
   * `onError` function, or were reported as crashing their worker, are left out).
   */
  readonly kept: readonly In[];
  /** What the spec's `outputs` made of the kept items' results. */
  readonly outputs: readonly Out[];
}

/** Checks the options shared by worker-backed operators, when the operator is built. */
export function checkParallelOptions<In>(options: ParallelOptions<In>): void {
  checkInteger('chunkSize', options.chunkSize, 1);
  checkInteger('maxInFlight', options.maxInFlight, 1);
  checkInteger('maxBuffered', options.maxBuffered, 0);
  // The options a main-thread map shares with worker steps are checked by the same code.
  checkItemPolicy(options);
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
}
