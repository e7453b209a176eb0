/**
 * The options of the two local backends (threads and child processes), apart from the pool that
 * picks between them, so the backends never import pool.ts.
 *
 * @packageDocumentation
 */

/**
 * Options of the local pools (worker threads or child processes): every {@link PoolOptions} field but `backend`.
 *
 * @example
 * ```ts
 * import { createPool, type WorkerPoolOptions } from 'millrace';
 * const options: WorkerPoolOptions = { threads: 4, idleTimeoutMs: 5_000, maxItemsPerWorker: 10_000, maxWorkerMemoryMb: 512 };
 * await using pool = createPool(options);
 * ```
 * @category Pools and tasks
 */
export interface WorkerPoolOptions {
  /**
   * Workers at most: worker threads, or child processes with `isolation: 'process'`.
   * @defaultValue `os.availableParallelism()`
   */
  readonly threads?: number | undefined;
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
  readonly isolation?: 'thread' | 'process' | undefined;
  /**
   * Milliseconds an idle thread lives before it exits (idle threads never keep the process alive);
   * `Infinity` keeps idle threads (any value over about 24.8 days counts as that).
   * @defaultValue `10_000`
   */
  readonly idleTimeoutMs?: number | undefined;
  /**
   * V8 heap limits per worker; a worker that exceeds them dies with a {@link WorkerCrashedError}.
   * @defaultValue no limits
   */
  readonly resourceLimits?: {
    /** The main heap's limit, in megabytes. */
    readonly maxOldGenerationSizeMb?: number | undefined;
    /** The young generation's limit, in megabytes. */
    readonly maxYoungGenerationSizeMb?: number | undefined;
    /** The thread's stack size, in megabytes. */
    readonly stackSizeMb?: number | undefined;
  };
  /**
   * How long, in milliseconds, each task module's `teardown()` export may take when a worker leaves
   * (the pool is closed, the worker is recycled or idles out); one that throws, rejects or overruns
   * is reported on stderr, naming the module, and the worker leaves anyway.
   * @defaultValue `5_000`
   */
  readonly teardownTimeoutMs?: number | undefined;
  /**
   * Recycle a worker after it has been sent this many items (Python's `maxtasksperchild`): it
   * finishes the chunks it holds, runs its teardowns and leaves, and a replacement starts at once.
   * The standard defence against a task (or a native library) that leaks. A worker may run up to
   * one chunk's worth of items more than this when a chunk crosses the bound.
   * @defaultValue workers are never recycled by count
   */
  readonly maxItemsPerWorker?: number | undefined;
  /**
   * Recycle a worker whose V8 heap (`used_heap_size`) is over this many megabytes after a chunk,
   * as {@link WorkerPoolOptions.maxItemsPerWorker} does. Measured between chunks: to stop a single chunk
   * that allocates without bound, use `resourceLimits`.
   * @defaultValue workers are never recycled by memory
   */
  readonly maxWorkerMemoryMb?: number | undefined;
}
