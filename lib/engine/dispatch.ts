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
import { StatsCollector } from './stage-stats.js';
import { decide, type Decision, type RunOutcome } from './decide.js';
import { ItemOutcomes } from './item-outcomes.js';
import { checkParallelOptions, type DispatchSpec } from './options.js';
import { retryDelayMs } from './retry-policy.js';
import { takeTaskProgressListeners } from '../task-progress.js';
import { ChunkLostError, ChunkSendError, WorkerExitError, type ChunkRequest, type ChunkResponse, type FinishedItems } from '../backend.js';
import { sharedPool, type Pool } from '../pool.js';

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
export function dispatch<In, Out, Result = Out>(
  source: AsyncIterable<In>,
  context: OperatorContext,
  // `[In][In extends unknown ? 0 : never]` is `In`, written so that the item type is inferred from
  // the source alone: options spread in for a wider item type (ParallelOptions<unknown>) fit.
  spec: DispatchSpec<[In][In extends unknown ? 0 : never], Out, Result>,
): AsyncIterable<Out> {
  // Built-ins check when they are built; a custom operator's options are checked here, since a
  // chunk size of 0 would otherwise spin forever.
  checkParallelOptions(spec);
  // The built-ins apply it around the engine (lib/checkpoint/layer.ts); silently ignored, it would
  // promise records that never get written.
  if (spec.checkpoint !== undefined) throw new InvalidOptionError('checkpoint', spec.checkpoint, 'none: dispatch does not record results');
  return { [Symbol.asyncIterator]: () => new DispatchIterator<In, Out, Result>(source, context, spec) };
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
  /**
   * Cancels this run of the chunk (one signal per running chunk: no shared signal collects their
   * listeners, and teardown aborts the newest first).
   */
  controller: AbortController | undefined;
  deadline: ChunkDeadline | undefined;
  timedOut: boolean;
  /** Buffers were moved with it: it cannot be sent again. */
  moved: boolean;
  /**
   * Which of its items the current run carries (indices into `items`): undefined for all of them
   * (a first run), else only the items still without a value (a run again never repeats a success).
   */
  ran: readonly number[] | undefined;
  /** Each item's outcome, once a run has not answered for all items at once (made lazily: the common chunk never needs it). */
  outcomes: ItemOutcomes | undefined;
  /** The last answer, whose timings and ids go with the settled response. */
  lastResponse: ChunkResponse | undefined;
  /** When this run was sent (for the queue-wait statistic; only read when the `stats` option is set). */
  sentAt: number | undefined;
  /** When it settled (for the reorder-wait statistic; only read when the `stats` option is set). */
  settledAt: number | undefined;
  /** A one-item chunk split off this chunk to find an item that crashes its worker. */
  readonly parent?: Chunk<In> | undefined;
  /** This chunk's place within its parent. */
  readonly pieceIndex?: number | undefined;
  /** While its items run as one-item chunks: how many are still out. */
  piecesLeft?: number | undefined;
}

/** A chunk that has not run yet; `parent` and `pieceIndex` make it one item of a chunk run item by item. */
function newChunk<In>(
  fields: Pick<Chunk<In>, 'seq' | 'items' | 'firstIndex' | 'attempt'> & Partial<Pick<Chunk<In>, 'parent' | 'pieceIndex'>>,
): Chunk<In> {
  // Every field written out, in one order, rather than spread: one object shape for every chunk
  // (the engine's hot functions stay monomorphic) and no copy of `fields` per chunk.
  return {
    seq: fields.seq,
    items: fields.items,
    firstIndex: fields.firstIndex,
    attempt: fields.attempt,
    parent: fields.parent,
    pieceIndex: fields.pieceIndex,
    piecesLeft: undefined,
    runs: 0,
    neverStarted: 0,
    life: engineLifecycle(),
    controller: undefined,
    deadline: undefined,
    timedOut: false,
    moved: false,
    ran: undefined,
    outcomes: undefined,
    lastResponse: undefined,
    sentAt: undefined,
    settledAt: undefined,
  };
}

const NOTHING = Symbol('nothing');
const FLUSH = Symbol('flush');
const NO_ITEMS: readonly never[] = Object.freeze([]);

/** How long a partly filled chunk waits for a slow source while workers sit idle. */
const FLUSH_AFTER_MS = 2;

class DispatchIterator<In, Out, Result> implements BatchIterator<Out> {
  readonly #sourceIterable: AsyncIterable<In>;
  #source: AsyncIterator<In> | undefined;
  readonly #signal: AbortSignal;
  readonly #spec: DispatchSpec<In, Out, Result>;
  readonly #pool: Pool;
  readonly #sizer: ChunkSizer;
  readonly #maxInFlight: number;
  readonly #retries: number;
  /** An `onError` function takes failures (the flow goes on). */
  readonly #skipAndReport: boolean;
  readonly #policy: { readonly retries: number; readonly skipAndReport: boolean };
  /** Chunks that may hold their place in the output without a worker: finished behind an earlier one, or waiting out a backoff. */
  readonly #maxBuffered: number;
  /** The request mode ('call' or 'fold'), known from the first request built. */
  #mode: ChunkRequest['mode'] = 'call';
  /** Chunks sent and not yet settled, or waiting out a backoff: what teardown cancels. */
  readonly #live = new Set<Chunk<In>>();
  /** Chunks settled and waiting to be emitted, in emit order (aligned with #ready). */
  readonly #readyChunks: Chunk<In>[] = [];
  /** Names this flow's chunks for backends that need ids (a job id on Redis). */
  readonly #runId = randomUUID().replaceAll('-', '');
  readonly #retryDelayMs: number;
  /** Retries waiting out their backoff; cleared on teardown. */
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  /**
   * Controllers of runs that settled without aborting, when the backend lets go of a run's signal
   * as the run settles (`PoolBackend.releasesSignals`): later runs take them rather than make new
   * ones, which at one item a chunk cost ~1.5 µs of the main thread each.
   */
  readonly #spareControllers: AbortController[] = [];
  readonly #reuseControllers: boolean;

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
  /** Runs handed to the backend and not yet settled (a chunk run item by item counts each piece). */
  #busy = 0;
  /** Chunks waiting out a retry's backoff. */
  #backingOff = 0;
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
  /**
   * Only when the `stats` option asks: nothing else reads them, and at one item a chunk the
   * per-chunk bookkeeping (two clock reads, a size, a worker's busy time by name) is a real share of
   * the engine's work.
   */
  readonly #stats: StatsCollector | undefined;
  #statsTimer: NodeJS.Timeout | undefined;
  /** The `progress({ count: 'reported' })` after this stage, if any: it takes what the tasks report (task-progress.ts). */
  readonly #taskProgress = takeTaskProgressListeners();

  constructor(source: AsyncIterable<In>, context: OperatorContext, spec: DispatchSpec<In, Out, Result>) {
    this.#sourceIterable = source;
    this.#signal = context.signal;
    this.#spec = spec;
    this.#pool = spec.pool ?? sharedPool();
    const concurrency = spec.concurrency ?? 1;
    // `concurrency` items run at once in a worker whatever `chunkSize`: a smaller chunk goes with
    // enough others in one message (a whole number of chunks) to keep that many items running.
    const chunkSize = spec.chunkSize === undefined ? undefined : spec.chunkSize * Math.ceil(concurrency / spec.chunkSize);
    this.#sizer = createChunkSizer(chunkSize, concurrency);
    this.#maxInFlight = spec.maxInFlight ?? Math.max(2, 2 * this.#pool.threads);
    this.#maxBuffered = spec.maxBuffered ?? 16 * this.#maxInFlight;
    this.#retries = spec.retries ?? 0;
    this.#skipAndReport = typeof spec.onError === 'function';
    this.#policy = { retries: this.#retries, skipAndReport: this.#skipAndReport };
    this.#retryDelayMs = spec.retryDelayMs ?? 100;
    this.#stats = spec.stats === undefined ? undefined : new StatsCollector(spec.name);
    this.#reuseControllers = this.#pool.backend.releasesSignals === true;
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
    this.#stats?.begin();
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
        // Chunks in workers and results waiting for the consumer are bounded by maxInFlight; chunks
        // that only hold their place (finished behind a slow one, or waiting out a retry's backoff)
        // do not, up to maxBuffered (beyond it, they count against maxInFlight again): so one slow or
        // retrying item holds its place in the output, not the workers. (beyond it, they count against maxInFlight again).
        const parked = Math.min(this.#maxBuffered, this.#completed.size + this.#backingOff);
        if (this.#outstanding - parked >= this.#maxInFlight) {
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
              if (items.length > 0 && this.#busy < this.#pool.threads) {
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
    this.#stats?.chunk(items.length);
    this.#outstanding++;
    this.#running++;
    this.#run(chunk);
  }

  /** The items a run of the chunk carries: all of them, or those still without a value. */
  #runItems(chunk: Chunk<In>): In[] {
    const ran = chunk.ran;
    return ran === undefined ? chunk.items : ran.map((index) => chunk.items[index]!);
  }

  /** The request for a run of a chunk, as the spec builds it plus the engine's options. */
  #request(items: In[]): ChunkRequest {
    let request: ChunkRequest = withResolvedModules(this.#spec.request(items));
    this.#mode = request.mode;
    // Every item's outcome is wanted when failures are reported or retried item by item; only a
    // fail-fast flow with no retries lets the worker stop at the first failure.
    if (this.#skipAndReport || this.#retries > 0) request = { ...request, continueOnError: true };
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
    const spec = this.#spec;
    let list: Transferable[] | undefined;
    if (spec.transfer) for (const item of items) for (const buffer of spec.transfer(item)) (list ??= []).push(buffer);
    const first = items[0];
    if (first === null || typeof first !== 'object') return list;
    for (const item of items) {
      const marked = transferListOf(item);
      if (marked) for (const buffer of marked) (list ??= []).push(buffer);
    }
    return list;
  }

  /** Sends the chunk's items (or, when it runs again, those still without a value) to the pool. */
  #run(chunk: Chunk<In>): void {
    chunk.runs++;
    // A backend that names jobs by (run, seq, attempt) needs each send unique: a one-item piece of a
    // chunk shares its seq, so sends are numbered on the parent (which counts its pieces' sends too).
    const owner = chunk.parent ?? chunk;
    if (owner !== chunk) owner.runs++;
    if (this.#stats !== undefined) chunk.sentAt = performance.now();
    chunk.timedOut = false;
    const controller = (chunk.controller = this.#spareControllers.pop() ?? new AbortController());
    const run = chunk.runs;
    this.#live.add(chunk);
    this.#busy++;
    let running: Promise<ChunkResponse>;
    try {
      const items = this.#runItems(chunk);
      const request = this.#request(items);
      const transferList = this.#transferList(items);
      chunk.moved = transferList !== undefined && this.#pool.backend.copiesTransfers !== true;
      const timeoutMs = this.#spec.timeoutMs;
      // Counted from when a worker starts the chunk (where the backend can tell), not from queueing.
      chunk.deadline =
        timeoutMs === undefined
          ? undefined
          : chunkDeadline(timeoutMs * items.length, this.#pool.backend.reportsStart === true, (reason) => {
              chunk.timedOut = true;
              controller.abort(reason);
            });
      const onTaskProgress = this.#taskProgress;
      // Optional fields set one by one, not spread in: three spreads per chunk were three copies.
      const options: MutableRunOptions = {
        signal: controller.signal,
        chunk: { runId: this.#runId, seq: chunk.seq, attempt: owner.runs },
      };
      if (onTaskProgress) {
        // Only this run's reports, while the flow wants them (a cancelled or settled run's are dropped).
        options.onTaskProgress = (amount: number): void => {
          if (chunk.controller === controller && chunk.runs === run && !this.#stopped) onTaskProgress(amount);
        };
      }
      if (transferList) options.transferList = transferList;
      const startClock = chunk.deadline?.startClock;
      if (startClock) options.startClock = startClock;
      running = this.#pool.backend.run(request, options);
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
    // Never one that aborted (a timeout), and no more than the runs in flight need.
    if (this.#reuseControllers && !controller.signal.aborted && this.#spareControllers.length < this.#maxInFlight) {
      this.#spareControllers.push(controller);
    }
    this.#live.delete(chunk);
    this.#busy--;
    try {
      handle();
    } catch (error) {
      this.#fail(error);
    }
    // A slot is free: the pump may send the next chunk.
    this.#wakePump?.();
  }

  /**
   * The one path that runs a chunk again, and why: a retry (after its backoff), a chunk whose
   * worker died before taking it up (at once, at no cost to its retries), or its items one by one.
   * A run again carries only the items still without a value.
   */
  #runAgain(chunk: Chunk<In>, reason: RunAgainReason): void {
    chunk.life.move('backoff', reason);
    this.#stats?.runAgain(reason);
    let delay = 0;
    if (reason === 'retry') {
      delay = retryDelayMs(chunk.attempt, this.#retryDelayMs);
      chunk.attempt++;
    } else if (reason !== 'isolate') {
      chunk.neverStarted++;
    }
    if (chunk.outcomes !== undefined) chunk.ran = chunk.outcomes.pending();
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
    // Waiting out a backoff holds the chunk's place in the output, not a worker slot.
    this.#live.add(chunk);
    this.#backingOff++;
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.#live.delete(chunk);
      this.#backingOff--;
      again();
    }, delay);
    this.#retryTimers.add(timer);
  }

  #onResponse(chunk: Chunk<In>, response: ChunkResponse): void {
    if (this.#stats !== undefined) this.#stats.ran(response, performance.now() - chunk.sentAt!);
    chunk.lastResponse = response;
    let outcome: RunOutcome;
    if (response.loadError) outcome = { kind: 'load-error' };
    else if (response.cloneFailure) outcome = { kind: 'clone-failure' };
    else if (response.failures.length === 0 && chunk.outcomes === undefined && chunk.parent === undefined)
      outcome = { kind: 'answered', failed: 0 };
    else {
      // Some item failed, or earlier runs left outcomes: keep each item's, so a retry runs only the failures.
      const owner = chunk.parent ?? chunk;
      owner.outcomes ??= new ItemOutcomes(this.#mode, owner.items.length);
      const ran = chunk.parent !== undefined ? [chunk.pieceIndex!] : (chunk.ran ?? ItemOutcomes.all(chunk.items.length));
      outcome = { kind: 'answered', failed: owner.outcomes.record(ran, response) };
    }
    // One-item re-runs and retries of a few items say little about the flow's chunk size.
    if (outcome.kind === 'answered' && chunk.parent === undefined && chunk.ran === undefined) {
      this.#sizer.record(chunk.items.length, response.elapsedMs);
    }
    this.#apply(chunk, decide(this.#facts(chunk), outcome, this.#policy), response);
  }

  #onRejected(chunk: Chunk<In>, error: unknown): void {
    // A worker that died mid-chunk may have said which items it had finished: those keep their
    // values (a success never runs again), and when none is left the chunk settles as answered.
    if (error instanceof WorkerExitError && error.finished !== undefined && !chunk.timedOut && this.#keepFinished(chunk, error.finished)) {
      this.#apply(chunk, { action: 'settle' }, error);
      return;
    }
    this.#apply(chunk, decide(this.#facts(chunk), this.#classify(chunk, error), this.#policy), error);
  }

  /** Keeps the values a dead worker's run had finished; true when the run has no item left without an outcome. */
  #keepFinished(chunk: Chunk<In>, finished: FinishedItems): boolean {
    if (this.#mode !== 'call' || !(this.#skipAndReport || this.#retries > 0)) return false;
    const owner = chunk.parent ?? chunk;
    owner.outcomes ??= new ItemOutcomes(this.#mode, owner.items.length);
    const ran = chunk.parent !== undefined ? [chunk.pieceIndex!] : (chunk.ran ?? ItemOutcomes.all(chunk.items.length));
    return owner.outcomes.recordFinished(ran, finished) === 0;
  }

  /** The facts {@link decide} needs about a chunk whose run settled. */
  #facts(chunk: Chunk<In>): Parameters<typeof decide>[0] {
    return {
      attempt: chunk.attempt,
      neverStarted: chunk.neverStarted,
      moved: chunk.moved,
      itemCount: chunk.ran?.length ?? chunk.items.length,
      isPiece: chunk.parent !== undefined,
    };
  }

  /** What a rejected run means, as {@link decide} reads it. */
  #classify(chunk: Chunk<In>, error: unknown): RunOutcome {
    if (chunk.timedOut) return { kind: 'timeout' };
    if (isSendFailure(error)) return { kind: 'send-failure' };
    if (error instanceof ChunkLostError) return { kind: 'lost' };
    if (error instanceof WorkerExitError) return { kind: 'worker-exit', started: error.started, startup: error.startup };
    if (error instanceof MillraceError) return { kind: 'backend-error' };
    return { kind: 'unknown-error' };
  }

  /** Carries out a decision; `settlement` is the run's response, or what rejected it. */
  #apply(chunk: Chunk<In>, decision: Decision, settlement: unknown): void {
    switch (decision.action) {
      case 'settle':
        this.#settleChunk(chunk);
        return;
      case 'run-again':
        this.#runAgain(chunk, decision.reason);
        return;
      case 'isolate':
        this.#runAgain(chunk, 'isolate');
        return;
      case 'report-crash': {
        const crash = this.#crashError(chunk, settlement);
        const owner = chunk.parent ?? chunk;
        owner.outcomes ??= new ItemOutcomes(this.#mode, owner.items.length);
        owner.outcomes.drop(chunk.parent !== undefined ? [chunk.pieceIndex!] : (chunk.ran ?? ItemOutcomes.all(chunk.items.length)));
        this.#report(crash);
        this.#settleChunk(chunk);
        return;
      }
      case 'fail':
        chunk.life.move('failed');
        this.#fail(this.#errorFor(chunk, decision.because, settlement));
        return;
    }
  }

  /** The error a failing chunk ends the flow with. */
  #errorFor(chunk: Chunk<In>, because: Extract<Decision, { action: 'fail' }>['because'], settlement: unknown): unknown {
    const spec = this.#spec;
    switch (because) {
      case 'task': {
        const owner = chunk.parent ?? chunk;
        const first = owner.outcomes?.failures()[0] ?? this.#firstFailure(chunk, settlement as ChunkResponse);
        return this.#taskError(owner, first.index, first.error);
      }
      case 'load': {
        const { message, available, cause } = (settlement as ChunkResponse).loadError!;
        const task = spec.request(chunk.items);
        const names = task.mode === 'call' ? task.task : task.keyTask;
        return new TaskLoadError({
          moduleUrl: names.moduleUrl,
          exportName: names.exportName,
          available,
          message,
          ...(cause ? { cause: reviveError(cause) } : {}),
        });
      }
      case 'clone': {
        // Never retried: the same result would fail the same way.
        const { index, message } = (settlement as ChunkResponse).cloneFailure!;
        const position = index >= 0 && spec.request(chunk.items).mode === 'call' ? this.#itemIndex(chunk, index) : undefined;
        return new CloneError({
          direction: 'result',
          task: spec.name,
          ...(position !== undefined ? { index: chunk.firstIndex + position, item: chunk.items[position] } : {}),
          cause: new Error(message),
        });
      }
      case 'send':
        // Something in the chunk cannot be sent: find what, say so. Never retried.
        return this.#sendFailure(chunk, settlement);
      case 'timeout': {
        const count = chunk.ran?.length ?? chunk.items.length;
        return new TaskTimeoutError({
          task: spec.name,
          firstIndex: chunk.firstIndex + (chunk.ran?.[0] ?? 0),
          itemCount: count,
          timeoutMs: spec.timeoutMs! * count,
          // What the backend did about it: a thread backend ends the worker (its abort reason is the
          // timeout itself); a remote one says whether the job was removed, cancelled or abandoned.
          cause: settlement,
        });
      }
      case 'backend':
        return settlement;
      case 'crash':
        return this.#crashError(chunk, settlement);
    }
  }

  /** A chunk with no outcome record failed fast: its response's first failure, at its index in the chunk. */
  #firstFailure(chunk: Chunk<In>, response: ChunkResponse): { index: number; error: ChunkResponse['failures'][number]['error'] } {
    const failure = response.failures.reduce((first, next) => (next.index < first.index ? next : first));
    return { index: this.#itemIndex(chunk, failure.index), error: failure.error };
  }

  /** The index within the chunk of position `position` of the chunk's current run. */
  #itemIndex(chunk: Chunk<In>, position: number): number {
    if (chunk.parent !== undefined) return 0;
    return chunk.ran?.[position] ?? position;
  }

  #taskError(chunk: Chunk<In>, index: number, error: ChunkResponse['failures'][number]['error']): TaskError<In> {
    return new TaskError<In>({
      task: this.#spec.name,
      item: chunk.items[index]!,
      index: chunk.firstIndex + index,
      cause: reviveError(error),
      attempts: chunk.attempt,
      record: error.record,
    });
  }

  #crashError(chunk: Chunk<In>, error: unknown): WorkerCrashedError {
    const ran = chunk.ran;
    return new WorkerCrashedError({
      task: this.#spec.name,
      firstIndex: chunk.firstIndex + (ran?.[0] ?? 0),
      items: ran === undefined ? chunk.items : ran.map((index) => chunk.items[index]),
      exitCode: error instanceof WorkerExitError ? error.exitCode : undefined,
      reason: error instanceof WorkerExitError ? error.reason : 'unknown',
      signal: error instanceof WorkerExitError ? error.signal : undefined,
      cause: error,
    });
  }

  /** Hands one failure to the `onError` function; an async one that rejects fails the flow, never the process. */
  #report(error: TaskError<In> | WorkerCrashedError): void {
    const onError = this.#spec.onError;
    if (typeof onError !== 'function') return;
    this.#stats?.failed(error instanceof WorkerCrashedError ? error.items.length : 1);
    // An ErrorPolicy is typed to return nothing, but an async function is one too: look at what came back.
    const policy: (error: TaskError<In> | WorkerCrashedError) => unknown = onError;
    const returned = policy(error);
    if (returned !== null && typeof returned === 'object' && typeof (returned as PromiseLike<unknown>).then === 'function') {
      (returned as PromiseLike<unknown>).then(undefined, (failure: unknown) => this.#fail(failure));
    }
  }

  /**
   * Runs a crashed chunk's items (those still without a value) as one-item chunks (reason
   * `isolate`). Each has the chunk's attempt count (so no retries are left) and its own life; its
   * outcome goes into its parent, which settles when all have.
   */
  #isolate(chunk: Chunk<In>): void {
    const pending = chunk.ran ?? ItemOutcomes.all(chunk.items.length);
    chunk.outcomes ??= new ItemOutcomes(this.#mode, chunk.items.length);
    chunk.piecesLeft = pending.length;
    // Stays live while its pieces run, so the flow's end moves it to `cancelled` too.
    this.#live.add(chunk);
    for (const i of pending) {
      this.#run(
        newChunk({
          seq: chunk.seq,
          items: [chunk.items[i]!],
          firstIndex: chunk.firstIndex + i,
          attempt: chunk.attempt,
          parent: chunk,
          pieceIndex: i,
        }),
      );
    }
  }

  /** Finds what in a chunk could not be sent: an item, a bound argument, `setupArgs`, the transfer list. */
  #sendFailure(chunk: Chunk<In>, error: unknown): CloneError {
    const spec = this.#spec;
    const cause = error instanceof ChunkSendError ? error.cause : error;
    const items = this.#runItems(chunk);
    const culprit = items.findIndex((item) => !isCloneable(item));
    if (culprit >= 0) {
      const index = this.#itemIndex(chunk, culprit);
      return new CloneError({ direction: 'item', task: spec.name, index: chunk.firstIndex + index, item: chunk.items[index], cause });
    }
    const request = spec.request(items);
    const taskSpecs = request.mode === 'call' ? [request.task] : [request.keyTask, request.foldTask];
    for (const task of taskSpecs) {
      if (!isCloneable(task.boundArgs)) return new CloneError({ direction: 'bound-arguments', task: spec.name, cause });
      if (!isCloneable(task.setupArgs)) return new CloneError({ direction: 'setup-arguments', task: spec.name, cause });
    }
    if (request.mode === 'fold' && !isCloneable(request.initial)) return new CloneError({ direction: 'initial', task: spec.name, cause });
    return new CloneError({ direction: 'transfer-list', task: spec.name, index: chunk.firstIndex, item: chunk.items[0], cause });
  }

  /**
   * Every item of the chunk has its outcome: report the failures (skip and report) and deliver the
   * successes. A one-item piece settles into its parent, which settles when its last piece has.
   */
  #settleChunk(chunk: Chunk<In>): void {
    const parent = chunk.parent;
    if (parent !== undefined) {
      chunk.life.move('reordering');
      chunk.life.move('ready');
      chunk.life.move('emitted');
      if (--parent.piecesLeft! > 0) return;
      parent.piecesLeft = undefined;
      this.#live.delete(parent);
      this.#settleChunk(parent);
      return;
    }
    const outcomes = chunk.outcomes;
    if (outcomes === undefined) {
      this.#deliver(chunk, chunk.items, this.#spec.outputs(typedBy<Result>(chunk.lastResponse!), chunk.items));
      return;
    }
    for (const failure of outcomes.failures()) this.#report(this.#taskError(chunk, failure.index, failure.error));
    const settled = outcomes.settled(chunk.items, chunk.lastResponse ?? { results: [], failures: [], elapsedMs: 0 });
    this.#deliver(chunk, settled.items, this.#spec.outputs(typedBy<Result>(settled.response), settled.items));
  }

  /** `kept`: the chunk's items that have outputs (all of them, or those left after failures were reported). */
  #deliver(chunk: Chunk<In>, kept: readonly In[], outputs: readonly Out[]): void {
    // Before the chunk counts as delivered: a hook that throws fails the flow (see #settled).
    this.#spec.onSettled?.({ firstIndex: chunk.firstIndex, items: chunk.items, kept, outputs });
    this.#running--;
    chunk.life.move('reordering');
    this.#stats?.delivered(outputs.length);
    if (this.#spec.ordered) {
      const stats = this.#stats;
      if (stats !== undefined) chunk.settledAt = performance.now();
      this.#completed.set(chunk.seq, { chunk, outputs });
      for (let next = this.#completed.get(this.#emitSeq); next !== undefined; next = this.#completed.get(this.#emitSeq)) {
        this.#completed.delete(this.#emitSeq++);
        if (stats !== undefined && next.chunk !== chunk) stats.reorderWait(chunk.settledAt! - next.chunk.settledAt!);
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
    if (report === undefined || this.#stats === undefined) return;
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
    // Newest first: withdrawing a chunk frees its worker, which could otherwise take up a later
    // chunk of this same flow before the loop reached it (it would start after the abort).
    for (const chunk of [...this.#live].reverse()) {
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
 * A backend's response typed by what the spec's task gives: the one place the engine trusts a
 * worker's results to be the task's (they are, unless the task module lies about its types).
 */
function typedBy<Result>(response: ChunkResponse): ChunkResponse<Result> {
  return response as ChunkResponse<Result>;
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

/** The backend's run options, written field by field in `#run` (no spread copies per chunk). */
type MutableRunOptions = { -readonly [K in keyof RunOptions]: RunOptions[K] };
type RunOptions = NonNullable<Parameters<Pool['backend']['run']>[1]>;
