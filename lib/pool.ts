/**
 * Worker pools: {@link Pool}, {@link createPool} and the shared pool. The one place that picks a
 * backend (local threads, child processes, or one given); everything it picks implements the
 * contract in backend.ts.
 *
 * @packageDocumentation
 */
import type { PoolBackend } from './backend.js';
import type { WorkerPoolOptions } from './backends/worker-pool-options.js';
import { ProcessBackend } from './backends/process/process-backend.js';
import { ThreadBackend } from './backends/threads/thread-backend.js';
import { checkInteger, InvalidOptionError } from './errors.js';

/**
 * Options for {@link createPool}: the local pool's ({@link WorkerPoolOptions}), or another backend.
 *
 * @example
 * ```ts
 * import { createPool, type PoolOptions } from 'millrace';
 * const options: PoolOptions = { threads: 4, idleTimeoutMs: 5_000, maxItemsPerWorker: 10_000, maxWorkerMemoryMb: 512 };
 * await using pool = createPool(options);
 * ```
 * @category Pools and tasks
 */
export interface PoolOptions extends WorkerPoolOptions {
  /**
   * Run chunks somewhere else than local threads (e.g. the BullMQ backend). When set, the other
   * options are ignored.
   * @defaultValue local worker threads (tinypool)
   */
  readonly backend?: PoolBackend | undefined;
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
