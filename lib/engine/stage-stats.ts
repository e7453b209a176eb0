/**
 * Per-stage statistics of a worker-backed step: what went in and out, how the chunks were cut, where
 * the time went (workers busy, chunks waiting for a worker, results waiting in the reorder window),
 * and how often chunks ran again. The dispatch engine fills a {@link StatsCollector} as it goes and
 * hands a {@link StageStats} snapshot to the `stats` option when the stage ends.
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import type { RunAgainReason } from '../chunk-lifecycle.js';
import type { ChunkResponse } from '../backend.js';

/**
 * What one worker-backed stage did, for tuning and diagnosis. Times are milliseconds.
 *
 * Identities that hold: `itemsIn = itemsOut + itemsFailed` for a map-like stage that ran to its end
 * (`parallelMap`, `unorderedMap`, `starMap`; `reduceBy` emits partials, not items); the sum of
 * `busyMsByWorker` is at most `wallMs × workers`.
 *
 * @example
 * ```ts
 * import { flow, parallelMap, tasks, type StageStats } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * let seen: StageStats | undefined;
 * await flow([1, 2, 3]).pipe(parallelMap(math.square, { stats: (stats) => (seen = stats) })).toArray();
 * console.log(seen?.itemsIn, seen?.chunks.count);
 * ```
 * @category Parallel
 */
export interface StageStats {
  /** The task, as `module#export`. */
  readonly task: string;
  /**
   * How the stage ended: its input ran out, it failed, or its consumer stopped early (break, abort,
   * take); `'running'` for a snapshot taken while it runs (`statsIntervalMs`).
   */
  readonly state: 'done' | 'failed' | 'stopped' | 'running';
  /** Items read from the source and put into chunks. */
  readonly itemsIn: number;
  /** Outputs delivered (one per item for map-like stages). */
  readonly itemsOut: number;
  /** Items reported to `onError` (task failures and items that killed their worker). */
  readonly itemsFailed: number;
  /** The chunks as the (adaptive) chunker cut them: how many, and their sizes in items. */
  readonly chunks: {
    /** How many chunks were cut. */
    readonly count: number;
    /** The smallest chunk, in items. */
    readonly minSize: number;
    /** The median chunk, in items. */
    readonly medianSize: number;
    /** The largest chunk, in items. */
    readonly maxSize: number;
  };
  /** From the first pull to the end of the stage. */
  readonly wallMs: number;
  /** Time each worker spent running this stage's items (its task calls), by worker id (thread id). */
  readonly busyMsByWorker: Readonly<Record<string, number>>;
  /** The sum of `busyMsByWorker`. */
  readonly busyMs: number;
  /**
   * Time chunks spent sent but not running nor loading their module: waiting for a free worker (or
   * for one to start), travelling there and back, summed over chunks.
   */
  readonly queueWaitMs: number;
  /** Workers whose first chunk was this stage's, and their start-up time (from asking for a worker to its being ready), summed. */
  readonly workerStarts: {
    /** How many workers started. */
    readonly count: number;
    /** Their start-up time, summed, in milliseconds. */
    readonly ms: number;
  };
  /** Task-module loads (import and `setup`) this stage's chunks paid for, and their time, summed. */
  readonly moduleLoads: {
    /** How many loads. */
    readonly count: number;
    /** Their time, summed, in milliseconds. */
    readonly ms: number;
  };
  /** Time finished chunks waited in the reorder window for earlier chunks (ordered stages), summed. */
  readonly reorderWaitMs: number;
  /** Chunks run again, by reason: `retry` (counted in `retries` too), `never-started`, `lost`, `isolate`. */
  readonly runsAgain: Readonly<Record<RunAgainReason, number>>;
  /** Retries (a failed chunk run again under the `retries` option). */
  readonly retries: number;
  /** `itemsOut` per second of `wallMs`. */
  readonly itemsPerSecond: number;
}

/** Accumulates a stage's statistics; the engine calls it as chunks move. */
export class StatsCollector {
  readonly #task: string;
  #started = performance.now();
  readonly #sizes: number[] = [];
  readonly #busy = new Map<string, number>();
  #itemsIn = 0;
  #itemsOut = 0;
  #itemsFailed = 0;
  #queueWait = 0;
  readonly #starts = { count: 0, ms: 0 };
  readonly #loads = { count: 0, ms: 0 };
  #reorderWait = 0;
  readonly #runsAgain: Record<RunAgainReason, number> = { retry: 0, 'never-started': 0, lost: 0, isolate: 0 };

  constructor(task: string) {
    this.#task = task;
  }

  /** The stage starts (its first pull): wall time counts from here. */
  begin(): void {
    this.#started = performance.now();
  }

  /** A chunk of `size` items was cut from the source. */
  chunk(size: number): void {
    this.#itemsIn += size;
    this.#sizes.push(size);
  }

  /**
   * A run of a chunk came back after `roundTripMs`, of which the worker ran items for `elapsedMs`
   * (after loading the task module for `loadMs`, the first time; a new worker says how long it took
   * to start with its first answer).
   */
  ran(response: Pick<ChunkResponse, 'workerId' | 'elapsedMs' | 'loadMs' | 'startupMs'>, roundTripMs: number): void {
    const key = String(response.workerId ?? 'unknown');
    this.#busy.set(key, (this.#busy.get(key) ?? 0) + response.elapsedMs);
    const loadMs = response.loadMs ?? 0;
    this.#queueWait += Math.max(0, roundTripMs - response.elapsedMs - loadMs);
    if (response.loadMs !== undefined) {
      this.#loads.count++;
      this.#loads.ms += loadMs;
    }
    if (response.startupMs !== undefined) {
      this.#starts.count++;
      this.#starts.ms += response.startupMs;
    }
  }

  runAgain(reason: RunAgainReason): void {
    this.#runsAgain[reason]++;
  }

  failed(items: number): void {
    this.#itemsFailed += items;
  }

  delivered(outputs: number): void {
    this.#itemsOut += outputs;
  }

  reorderWait(ms: number): void {
    this.#reorderWait += ms;
  }

  snapshot(state: StageStats['state']): StageStats {
    const wallMs = performance.now() - this.#started;
    const sizes = [...this.#sizes].sort((a, b) => a - b);
    const busyMsByWorker = Object.fromEntries(this.#busy);
    let busyMs = 0;
    for (const ms of this.#busy.values()) busyMs += ms;
    return {
      task: this.#task,
      state,
      itemsIn: this.#itemsIn,
      itemsOut: this.#itemsOut,
      itemsFailed: this.#itemsFailed,
      chunks: {
        count: sizes.length,
        minSize: sizes[0] ?? 0,
        medianSize: sizes.length === 0 ? 0 : sizes[Math.floor((sizes.length - 1) / 2)]!,
        maxSize: sizes.at(-1) ?? 0,
      },
      wallMs,
      busyMsByWorker,
      busyMs,
      queueWaitMs: this.#queueWait,
      workerStarts: { ...this.#starts },
      moduleLoads: { ...this.#loads },
      reorderWaitMs: this.#reorderWait,
      runsAgain: { ...this.#runsAgain },
      retries: this.#runsAgain.retry,
      itemsPerSecond: wallMs > 0 ? (this.#itemsOut / wallMs) * 1000 : 0,
    };
  }
}

/**
 * A stage's statistics as a few human-readable lines (for a `--stats` flag, a log).
 *
 * @param stats - what the `stats` option received
 * @returns the summary, lines separated by `\n`, no trailing newline
 * @example
 * ```ts
 * import { flow, formatStageStats, parallelMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * await flow([1, 2, 3]).pipe(parallelMap(math.square, { stats: (stats) => console.error(formatStageStats(stats)) })).toArray();
 * ```
 * @category Parallel
 */
export function formatStageStats(stats: StageStats): string {
  const ms = (value: number): string => `${Math.round(value).toLocaleString('en-US')} ms`;
  const workers = Object.entries(stats.busyMsByWorker);
  const share = (busy: number): string => `${Math.round((busy / stats.wallMs) * 100)}%`;
  const lines = [
    `stage ${stats.task} (${stats.state}): ${stats.itemsIn} in, ${stats.itemsOut} out, ${stats.itemsFailed} failed; ` +
      `${ms(stats.wallMs)} wall, ${Math.round(stats.itemsPerSecond).toLocaleString('en-US')} items/s`,
    `  chunks: ${stats.chunks.count} (size min ${stats.chunks.minSize} / median ${stats.chunks.medianSize} / max ${stats.chunks.maxSize})`,
    `  workers busy: ${ms(stats.busyMs)} over ${workers.length} worker(s)` +
      (workers.length > 0 ? ` (${workers.map(([id, busy]) => `#${id} ${ms(busy)}, ${share(busy)}`).join('; ')})` : ''),
    `  start-up: ${stats.workerStarts.count} worker(s) started (${ms(stats.workerStarts.ms)}), ` +
      `${stats.moduleLoads.count} task-module load(s) (${ms(stats.moduleLoads.ms)})`,
    `  waiting: ${ms(stats.queueWaitMs)} for a worker (queue, transfer, worker start), ${ms(stats.reorderWaitMs)} in the reorder window`,
    `  run again: ${stats.runsAgain.retry} retries, ${stats.runsAgain['never-started']} never started, ` +
      `${stats.runsAgain.lost} lost, ${stats.runsAgain.isolate} isolated`,
  ];
  return lines.join('\n');
}
