/**
 * Local worker threads. tinypool starts, limits and ends the threads (its public API only: `run`
 * with a `signal`, `destroy`); the channel a chunk travels on is ours. Why own it: through
 * tinypool's task queue we cannot choose which worker gets a chunk (so a chunk could wait behind
 * another flow's long chunk while a thread sat idle), cannot take back a chunk a worker has not
 * started, and do not hear of a worker that exits without an error (its tasks never settle). So a
 * worker is *attached*: one long tinypool task hands it a `MessagePort` of ours, chunks go over
 * that port to the worker we pick, each with a claim cell in shared memory (claims.ts) that tells
 * whether it ever started, and the port's `close` tells us the worker is gone. Aborting the attach
 * task's signal is how a worker is ended (tinypool terminates it). A worker with nothing to do is
 * detached after a short linger, which gives it back to tinypool as idle (its idle timeout then
 * applies, and it no longer keeps the process alive).
 *
 * A worker that leaves on purpose (the pool is closed, the worker is recycled or idles out) runs
 * its task modules' `teardown()` exports first: tinypool's `teardown` option runs the worker
 * entry's `teardown` export as a task before it terminates a worker. tinypool waits for that task
 * without a bound, so a worker this backend *ends* (a chunk past its cancel grace period, possibly
 * stuck in synchronous code) is terminated directly, and {@link ThreadBackend.close} bounds its wait.
 *
 * Recycling (`maxItemsPerWorker`, `maxWorkerMemoryMb`): a worker that has been sent that many items,
 * or whose heap after a chunk passes that size, is *retiring*: it gets no new chunk, a replacement
 * is attached at once (tinypool may run up to twice `threads` while old workers finish), and once
 * its last chunk is answered its attach task is aborted, so tinypool runs its teardown and ends it.
 * Halfway to `maxItemsPerWorker` a spare thread is started (attached as a *standby* and detached as
 * soon as it is ready, so it waits idle in tinypool): the replacement then skips the thread start.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Transferable } from 'node:worker_threads';
import { Tinypool, type TinypoolWorker } from 'tinypool';
import { reviveError, type WorkerCrashReason } from '../../errors.js';
import {
  WorkerExitError,
  type ChunkRequest,
  type ChunkResponse,
  type FinishedItems,
  type PoolBackend,
  type RunChunkOptions,
} from '../../backend.js';
import type { WorkerPoolOptions } from '../worker-pool-options.js';
import { deliverTaskProgress } from '../../task-progress.js';
import { MAX_TIMER_MS } from '../../timers.js';
import { finishedBy, newSlot, WorkerSlots, type ItemCount, type Slot, type SlotJob, type WorkerKind } from '../worker-slots.js';
import { ClaimCells, unclaimed, withdraw } from './claims.js';
import type { AttachTask, FromWorker, RunMessage, ToWorker } from './protocol.js';

/**
 * Chunks a worker holds at most: the one it runs and, for short tasks, some waiting behind it.
 * Each chunk handed to a worker that sleeps between chunks costs a wake-up (a system call and a
 * context switch on each side, ~10 µs of a 2-core machine's time); chunks that wait in the
 * worker's inbox, sent several to a message (see `#flush`), share one.
 */
const MAX_HELD = 16;
/**
 * A worker gets its next chunk while the current one runs only while that chunk's task is short
 * and synchronous (its last chunk ran for less than this, in worker time, and awaited nothing):
 * then a round trip per chunk is a real share of the time. Beyond one chunk waiting, more wait only
 * while the chunks a worker holds add up to less than this, by their tasks' last chunks: a chunk
 * never waits long behind others. A chunk waiting behind a running one is taken back as soon as
 * another worker is free.
 */
const PREFETCH_BELOW_MS = 2;
/**
 * A chunk whose task's last chunk ran for less than this in its worker waits in an outbox to be
 * posted with the others handed to the same worker in the same tick (see `#flush`): waking a
 * sleeping worker (~10 µs on each side) is then a fifth or more of the chunk's time. Any other
 * chunk goes at once, so its worker starts it without waiting for the rest of the tick (the
 * consumer's work on the results just delivered, say).
 */
const BATCH_BELOW_MS = 0.05;
/** How long an idle worker stays attached, so a flow's next chunk does not pay a re-attach. */
const LINGER_MS = 20;
/** How long a closed channel waits for its worker's exit event to say why it died (see #start). */
const CLOSE_GRACE_MS = 1_000;

/** A chunk in this backend, from `run()` to its settlement. */
interface Job extends SlotJob<Channel> {
  /** The task's identity, for the prefetch rule. */
  readonly key: string;
  readonly transferList: Transferable[] | undefined;
  slot?: number;
  ticket?: number;
}

/** One attached worker: its slot in the scheduler's table, and our channel to it. */
interface Channel extends Slot<Job> {
  readonly port: MessagePort;
  /** Aborting it ends the worker (tinypool terminates a task's worker on abort). */
  readonly controller: AbortController;
  lingerTimer: NodeJS.Timeout | undefined;
  /** The worker's thread id, once it is ready. */
  threadId: number | undefined;
  /** What the worker said before it went (its uncaught error, its exit code). */
  crash: unknown;
  /** The uncaught error the worker reported itself ('crashing'), as opposed to one Node gave. */
  uncaught: boolean;
  exitCode: number | undefined;
  /** Its port has closed (its 'close' event came): nothing more is read from it. */
  portClosed: boolean;
  /** When this channel asked for a worker (main thread's clock). */
  readonly attachedAt: number;
  /** A new thread's start-up (asked for to ready), until the channel's first answer carries it. */
  startupMs: number | undefined;
  /** What its running chunk's items had finished, as the worker said going ('finished-so-far'). */
  finished: { readonly id: number; readonly finished: FinishedItems } | undefined;
  /** Chunks handed to it and not posted yet (see `#flush`), with their jobs. */
  outbox: RunMessage[];
  outboxJobs: Job[];
}

/** Local worker threads through tinypool, with our own channel per worker, scheduled by {@link WorkerSlots}. */
export class ThreadBackend implements PoolBackend {
  readonly capacity: number;
  readonly reportsStart = true;
  // A job removes its abort listener as it settles, whichever way (job.ts), and keeps no signal.
  readonly releasesSignals = true;
  readonly #pool: Tinypool;
  readonly #claims: ClaimCells;
  readonly #slots: WorkerSlots<Job, Channel>;
  /** Channels whose attach task tinypool has not settled yet (a forgotten channel can be one). */
  readonly #attachTasks = new Set<Channel>();
  /** Threads that have started and served a channel, until they exit. */
  readonly #readyThreads = new Set<number>();
  readonly #aliases: Readonly<Record<string, string>> | undefined;
  /**
   * Per task, how long its last chunk ran in its worker when that chunk was short and synchronous,
   * else Infinity (see {@link PREFETCH_BELOW_MS}).
   */
  readonly #taskMs = new Map<string, number>();
  /** tinypool's workers we listen to for an exit tinypool did not cause. */
  readonly #watched = new WeakSet<object>();
  /** tinypool's live workers by thread id, to terminate one directly (see the module comment). */
  readonly #threads = new Map<number, TinypoolWorker>();
  readonly #teardownTimeoutMs: number;
  /** Items sent to each worker thread over its life (across re-attaches), for `maxItemsPerWorker`. */
  readonly #itemsSent = new Map<number, ItemCount>();
  readonly #maxHeapBytes: number | undefined;

  constructor(options: WorkerPoolOptions, aliases: Readonly<Record<string, string>> | undefined) {
    this.capacity = options.threads ?? availableParallelism();
    this.#claims = new ClaimCells(this.capacity * (MAX_HELD + 1));
    this.#aliases = aliases;
    this.#teardownTimeoutMs = Math.min(options.teardownTimeoutMs ?? 5_000, MAX_TIMER_MS);
    this.#maxHeapBytes = options.maxWorkerMemoryMb === undefined ? undefined : options.maxWorkerMemoryMb * 1024 * 1024;
    this.#slots = new WorkerSlots(this.#kind, this.capacity, options.maxItemsPerWorker);
    const recycling = options.maxItemsPerWorker !== undefined || this.#maxHeapBytes !== undefined;
    this.#pool = new Tinypool({
      filename: new URL('./worker-entry.mjs', import.meta.url).href,
      minThreads: 0,
      // Room for a replacement to start while the worker it replaces finishes its chunks.
      maxThreads: recycling ? 2 * this.capacity : this.capacity,
      concurrentTasksPerWorker: 1,
      teardown: 'teardown',
      idleTimeout: Math.min(options.idleTimeoutMs ?? 10_000, MAX_TIMER_MS),
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // tinypool re-emits the error of a worker that dies holding no task on the pool itself
    // (unheard, that 'error' event would kill the process). A worker that dies while booting
    // (resourceLimits too small) is one: its attach task still waits in tinypool's queue, for a
    // worker tinypool will not start. Once no worker is left (none booting either: ending the pool
    // while one boots trips a tinypool bug), such attach tasks are withdrawn as start-up deaths.
    this.#pool.on('error', (error: unknown) => {
      if (this.#pool.threads.length > 0) return;
      for (const channel of [...this.#slots.slots]) if (channel.life.phase === 'starting') this.#onGone(channel, error);
    });
  }

  get liveThreads(): number {
    return this.#pool.threads.length;
  }

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    const task = request.mode === 'call' ? request.task : request.foldTask;
    const key = this.#taskKey(task.moduleUrl, task.exportName);
    return this.#slots.submit(
      request,
      options,
      // Written out rather than `{ ...common, ... }`: the spread copy cost ~1.6 µs a chunk in the
      // chunk-size-1 profile (the same pattern cost the engine's chunk ~5 µs).
      (common) => ({
        request: common.request,
        clock: common.clock,
        life: common.life,
        resolve: common.resolve,
        reject: common.reject,
        detach: common.detach,
        onTaskProgress: common.onTaskProgress,
        key,
        transferList: options.transferList ? [...options.transferList] : undefined,
      }),
    );
  }

  /** Task keys by module and export, so a chunk does not build (and hash) a new key string. */
  readonly #taskKeys = new Map<string, Map<string, string>>();

  #taskKey(moduleUrl: string, exportName: string): string {
    let byExport = this.#taskKeys.get(moduleUrl);
    if (byExport === undefined) {
      // Bounded like #taskMs: a process that makes tasks without end does not grow this.
      if (this.#taskKeys.size > 1024) this.#taskKeys.clear();
      this.#taskKeys.set(moduleUrl, (byExport = new Map<string, string>()));
    }
    let key = byExport.get(exportName);
    if (key === undefined) byExport.set(exportName, (key = `${exportName}#${moduleUrl}`));
    return key;
  }

  async close(): Promise<void> {
    this.#slots.close(
      // A worker in the middle of a task is ended at once, without its teardown: the task may still
      // use what the teardown would release, and it may be stuck in synchronous code.
      (channel) => {
        for (const job of channel.jobs.values()) {
          if (job.life.phase !== 'handed-over' || !unclaimed(this.#claims.cells, job.slot!, job.ticket!)) return true;
        }
        return false;
      },
      (channel, busy) => {
        this.#forget(channel);
        if (busy) this.#end(channel);
      },
    );
    // Each worker runs its modules' teardowns (each bounded in the worker) before tinypool ends it;
    // a teardown stuck in synchronous code cannot see its bound, so the wait is bounded here too.
    const threads = [...this.#pool.threads];
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#teardownTimeoutMs + CLOSE_GRACE_MS);
    });
    await Promise.race([this.#pool.destroy(), overrun]);
    clearTimeout(timer);
    await Promise.all(threads.map((thread) => thread.terminate()));
  }

  /** What the scheduler asks of worker threads (see {@link WorkerKind}). */
  readonly #kind: WorkerKind<Job, Channel> = {
    startsStandby: true,
    start: (standby) => this.#start(standby),
    reachable: () => true,
    canWaitBehind: (job, channel) => this.#canWaitBehind(job, channel),
    post: (job, channel, id) => this.#post(job, channel, id),
    sent: () => undefined,
    withdraw: (job, _channel, toResend) => {
      if (toResend && job.transferList !== undefined) return false;
      if (withdraw(this.#claims.cells, job.slot!, job.ticket!) === 'withdrawn') return true;
      job.life.move('running');
      return false;
    },
    released: (job) => {
      if (job.slot !== undefined) this.#claims.give(job.slot);
    },
    tellCancel: (job, channel, why) => {
      try {
        channel.port.postMessage({ type: 'cancel', id: job.id!, reason: why } satisfies ToWorker);
      } catch {
        // the port is closing: the worker is going anyway
      }
    },
    end: (channel) => this.#end(channel),
    letGo: (channel) => this.#letGo(channel),
    rest: (channel) => this.#linger(channel),
    work: (channel) => {
      if (channel.lingerTimer) clearTimeout(channel.lingerTimer);
      channel.lingerTimer = undefined;
    },
  };

  /**
   * Prefetch: only short synchronous chunks wait behind short synchronous chunks, never moved
   * buffers; one always may, more while what the worker holds adds up to a short time.
   */
  #canWaitBehind(job: Job, channel: Channel): boolean {
    if (channel.jobs.size >= MAX_HELD || job.transferList !== undefined) return false;
    let total = this.#taskMs.get(job.key) ?? Infinity;
    if (total >= PREFETCH_BELOW_MS) return false;
    for (const ahead of channel.jobs.values()) {
      const ms = this.#taskMs.get(ahead.key) ?? Infinity;
      if (ahead.life.phase === 'cancelling' || ms >= PREFETCH_BELOW_MS) return false;
      total += ms;
    }
    return channel.jobs.size < 2 || total < PREFETCH_BELOW_MS;
  }

  /** Asks tinypool for a worker: one long attach task hands it our port (see the module comment). */
  #start(standby: boolean): Channel {
    const { port1, port2 } = new MessageChannel();
    const channel: Channel = {
      ...newSlot<Job>(standby),
      port: port1,
      controller: new AbortController(),
      lingerTimer: undefined,
      threadId: undefined,
      crash: undefined,
      uncaught: false,
      exitCode: undefined,
      portClosed: false,
      attachedAt: performance.now(),
      startupMs: undefined,
      finished: undefined,
      outbox: [],
      outboxJobs: [],
    };
    port1.on('message', (message: FromWorker) => {
      this.#onMessage(channel, message);
      // The answers that came in meanwhile are read now, not one event each: the chunks they free
      // places for then go out together, in one message (see `#flush`).
      for (let more = receiveMessageOnPort(port1); more !== undefined; more = receiveMessageOnPort(port1)) {
        this.#onMessage(channel, more.message as FromWorker);
      }
    });
    // The port must not keep the process alive: tinypool holds it while the attach task runs.
    port1.unref();
    port1.on('close', () => {
      // Its messages came first (a port's close follows what was sent before it); reading a closed
      // port whose worker thread is gone can crash Node 20 (SIGSEGV), so it is never read again.
      channel.portClosed = true;
      // The worker says why it goes ('crashing') before its port closes; when it could not (out of
      // memory, terminated, or an uncaught error it had no time to announce), its thread's error and
      // exit events (see #watchWorkers) or tinypool's rejection of the attach task say why, just
      // after. An exit code alone ('exiting') is not enough: an uncaught error exits with code 1
      // too, and Node's error event for it may still be on its way. The timer is only a backstop.
      if (channel.crash !== undefined) this.#onGone(channel, undefined);
      else setTimeout(() => this.#onGone(channel, undefined), CLOSE_GRACE_MS).unref();
    });
    const task: AttachTask = {
      port: port2,
      cells: this.#claims.cells,
      teardownTimeoutMs: this.#teardownTimeoutMs,
      ...(this.#maxHeapBytes !== undefined ? { reportHeap: true } : {}),
      ...(this.#aliases ? { aliases: this.#aliases } : {}),
    };
    this.#attachTasks.add(channel);
    this.#pool.run(task, { transferList: [port2], signal: channel.controller.signal }).then(
      () => {
        this.#attachTasks.delete(channel);
        this.#onGone(channel, undefined);
      },
      (error: unknown) => {
        this.#attachTasks.delete(channel);
        this.#onGone(channel, error);
      },
    );
    this.#watchWorkers();
    return channel;
  }

  /**
   * Listens to each of tinypool's workers (its public `threads`) for its error and exit: the exit
   * of a worker one of our channels is on says how it died (its exit code, the error Node gave,
   * such as out of memory). A worker that exits while idle in tinypool (ended from outside, say) is
   * not noticed by tinypool, which would hand it the next attach task, never to be answered: such
   * an exit makes tinypool drop its idle workers (`recycleWorkers`, public API); new ones start on
   * demand.
   */
  #watchWorkers(): void {
    for (const worker of this.#pool.threads) {
      if (this.#watched.has(worker)) continue;
      this.#watched.add(worker);
      const threadId = worker.threadId;
      this.#threads.set(threadId, worker);
      let error: unknown;
      worker.on('error', (cause: unknown) => {
        error = cause;
        // Node's 'error' (an uncaught error, or out of memory) comes on the thread's own channel,
        // before its exit and before tinypool rejects the attach task; the worker's 'crashing'
        // message comes on ours, and a busy main thread may see the thread end before it.
        for (const channel of this.#slots.slots) {
          if (channel.threadId !== threadId) continue;
          channel.crash ??= cause;
          if (codeOf(cause) !== 'ERR_WORKER_OUT_OF_MEMORY') channel.uncaught = true;
        }
      });
      worker.on('exit', (code: number) => {
        const served = this.#readyThreads.delete(threadId);
        this.#threads.delete(threadId);
        this.#itemsSent.delete(threadId);
        if (this.#slots.closing) return;
        for (const channel of this.#slots.slots) {
          if (channel.threadId !== threadId) continue;
          channel.exitCode ??= code;
          channel.crash ??= error;
          this.#onGone(channel, error);
          return;
        }
        // A channel let go of, or being detached, whose attach task had not ended: tinypool counts
        // that task as running on the dead thread for ever (it does not notice an exit without an
        // error), and would queue every later attach behind it. Aborting the task makes it drop the thread.
        for (const channel of this.#attachTasks) if (channel.threadId === threadId) channel.controller.abort();
        if (this.#pool.threads.includes(worker)) {
          // tinypool's recycling rejects with the dead thread's error: that error is already ours.
          const pump = (): void => this.#slots.pump();
          void this.#pool.recycleWorkers().then(pump, pump);
        }
        // Not after a thread that never started (it cannot boot): submitting again would start
        // another such thread, for ever; tinypool's pool error ends those attaches instead.
        else if (served) this.#resubmitQueuedAttaches();
      });
    }
  }

  /**
   * tinypool starts a thread for a queued task only when a task is submitted, never when a worker
   * leaves (it refills only to `minThreads`, 0 here). Recycling can fill every thread tinypool may
   * have (workers still finishing and their replacements, retiring in turn) so that the next
   * replacement's attach task waits in tinypool's queue; once those workers leave, it would wait
   * forever, and with it the flow. So when a thread has left and attach tasks still wait, they are
   * withdrawn and submitted again, which makes tinypool start threads for them.
   */
  #resubmitQueuedAttaches(): void {
    const queued = this.#pool.queueSize;
    if (this.#slots.closing || queued === 0) return;
    const attaching = [...this.#slots.slots].filter((channel) => channel.life.phase === 'starting');
    // tinypool's queue is first in, first out, and only our attach tasks go on it: the queued ones
    // are the latest to attach.
    for (const channel of attaching.slice(-queued)) {
      this.#forget(channel);
      channel.controller.abort();
      channel.port.close();
      this.#slots.restart(channel.standby);
    }
  }

  #onMessage(channel: Channel, message: FromWorker): void {
    switch (message.type) {
      case 'ready': {
        if (channel.life.phase !== 'starting') return;
        channel.life.move('ready');
        const threadId = message.threadId;
        channel.threadId = threadId;
        this.#readyThreads.add(threadId);
        // Items count per thread, across its attaches (a detached worker attached again keeps its count).
        let items = this.#itemsSent.get(threadId);
        if (items === undefined) this.#itemsSent.set(threadId, (items = { sent: 0 }));
        channel.items = items;
        if (message.firstAttach) channel.startupMs = performance.now() - channel.attachedAt;
        if (channel.standby) {
          // Its thread is up: give it back to tinypool, idle, for the replacement to attach to.
          this.#detach(channel);
          return;
        }
        this.#slots.pump();
        return;
      }
      case 'progress': {
        const job = channel.jobs.get(message.id);
        if (job !== undefined) deliverTaskProgress(job, message.amount);
        return;
      }
      case 'done': {
        const job = channel.jobs.get(message.id);
        if (job === undefined) return;
        if (message.progress !== undefined) deliverTaskProgress(job, message.progress);
        const { response } = message;
        if (channel.startupMs !== undefined) {
          response.startupMs = channel.startupMs;
          channel.startupMs = undefined;
        }
        if (this.#taskMs.size > 1024) this.#taskMs.clear();
        const short = response.awaited !== true && response.elapsedMs < PREFETCH_BELOW_MS && !response.loadError;
        this.#taskMs.set(job.key, short ? response.elapsedMs : Infinity);
        this.#slots.answered(channel, message.id, job, response, message.heapUsed, this.#maxHeapBytes);
        return;
      }
      case 'skipped':
        // Withdrawn earlier (its job was moved or cancelled then); nothing waits for this.
        return;
      case 'stray-rejection':
        process.stderr.write(`millrace: a task left a rejected promise unhandled in a worker (ignored): ${message.message}\n`);
        return;
      case 'exiting':
        channel.exitCode = message.code;
        return;
      case 'crashing':
        channel.crash = reviveError(message.error);
        channel.uncaught = true;
        return;
      case 'finished-so-far':
        channel.finished = { id: message.id, finished: message.finished };
        return;
    }
  }

  /**
   * A retired worker's chunks are answered: let it go. Aborting its attach task makes tinypool run
   * its teardown and end it; the channel is forgotten first, so that is not taken for a death.
   */
  #letGo(channel: Channel): void {
    this.#forget(channel);
    channel.controller.abort();
  }

  /**
   * Hands a chunk to the channel's worker, with a claim cell its worker takes it up by. A chunk of
   * a very short task goes into the channel's outbox, posted at the end of this tick with whatever
   * else the worker is handed meanwhile (see `#flush` and {@link BATCH_BELOW_MS}); any other chunk,
   * and one with buffers to move, goes at once, after the outbox (so a clone failure is its own).
   */
  #post(job: Job, channel: Channel, id: number): boolean {
    const cell = this.#claims.take();
    // Cannot happen while each worker holds at most MAX_HELD chunks; never lose the chunk.
    if (cell === undefined) return false;
    // Optional fields set one by one, not spread in (two spreads per chunk were two copies).
    const message: { -readonly [K in keyof RunMessage]: RunMessage[K] } = {
      type: 'run',
      id,
      slot: cell.slot,
      ticket: cell.ticket,
      request: job.request,
    };
    if (job.clock) message.clock = job.clock;
    if (job.onTaskProgress) message.progress = true;
    if (job.transferList !== undefined || !((this.#taskMs.get(job.key) ?? Infinity) < BATCH_BELOW_MS)) {
      this.#flush(channel);
      try {
        channel.port.postMessage(message, job.transferList);
      } catch (error) {
        this.#claims.give(cell.slot);
        throw error;
      }
    } else {
      channel.outbox.push(message);
      channel.outboxJobs.push(job);
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        process.nextTick(this.#flushAll);
      }
    }
    job.slot = cell.slot;
    job.ticket = cell.ticket;
    return true;
  }

  /** A flush of every outbox is queued for the end of this tick. */
  #flushQueued = false;

  /**
   * Posts every outbox. It runs as a `process.nextTick`, which, queued from a promise reaction,
   * runs once all promise reactions have: so the chunks the engine submits as a worker's answers
   * are settled (each settlement a reaction, and the next submission reactions after it) go out
   * together.
   */
  readonly #flushAll = (): void => {
    this.#flushQueued = false;
    for (const channel of this.#slots.slots) if (channel.outbox.length > 0) this.#flush(channel);
  };

  /**
   * Posts the channel's outbox: the chunks its worker still holds (a chunk taken back for an idle
   * worker, or cancelled, since it was handed over is left out), in one message when there are
   * several. A message that cannot be cloned is posted again chunk by chunk, and only the chunks
   * that cannot be sent fail (as a `ChunkSendError`, as when each went alone).
   */
  #flush(channel: Channel): void {
    const messages = channel.outbox;
    const jobs = channel.outboxJobs;
    if (messages.length === 0) return;
    // A fresh outbox before anything is posted: cloning may run code (a getter) that hands this
    // worker another chunk, and a chunk that fails below makes way for another.
    channel.outbox = [];
    channel.outboxJobs = [];
    let runs = messages;
    for (let i = 0; i < messages.length; i++) {
      const job = jobs[i]!;
      if (channel.jobs.get(messages[i]!.id) === job && job.life.phase === 'handed-over') continue;
      // Rare: copy out the ones still held.
      runs = messages.filter((message, at) => channel.jobs.get(message.id) === jobs[at] && jobs[at]!.life.phase === 'handed-over');
      break;
    }
    try {
      if (runs.length === 1) channel.port.postMessage(runs[0]! satisfies ToWorker);
      else if (runs.length > 1) channel.port.postMessage({ type: 'runs', runs } satisfies ToWorker);
      return;
    } catch {
      // Something in one of them cannot be cloned (nothing was sent): find which, one by one.
    }
    for (const message of runs) {
      try {
        channel.port.postMessage(message satisfies ToWorker);
      } catch (error) {
        this.#slots.unsent(channel, message.id, jobs[messages.indexOf(message)]!, error);
      }
    }
  }

  /**
   * Ends a channel's worker now: terminated directly (tinypool would first wait, without a bound,
   * for its teardown task, which a worker stuck in synchronous code never runs), and its attach
   * task aborted so tinypool lets go of it.
   */
  #end(channel: Channel): void {
    const thread = channel.threadId === undefined ? undefined : this.#threads.get(channel.threadId);
    if (thread !== undefined) void thread.terminate();
    channel.controller.abort();
  }

  /** A worker that has had nothing to do for a moment is detached (and may then idle out). */
  #linger(channel: Channel): void {
    if (channel.lingerTimer) return;
    channel.lingerTimer = setTimeout(() => {
      channel.lingerTimer = undefined;
      if (channel.life.phase !== 'ready' || channel.jobs.size > 0) return;
      this.#detach(channel);
    }, LINGER_MS);
    channel.lingerTimer.unref();
  }

  /** Gives an idle worker back to tinypool (its attach task resolves); its idle timeout then applies. */
  #detach(channel: Channel): void {
    this.#forget(channel);
    try {
      channel.port.postMessage({ type: 'detach' } satisfies ToWorker);
    } catch {
      // already closing
    }
  }

  /** Stops using a channel. */
  #forget(channel: Channel): void {
    this.#slots.forget(channel);
    if (channel.lingerTimer) clearTimeout(channel.lingerTimer);
    channel.lingerTimer = undefined;
  }

  /**
   * The worker is gone (its attach task settled, or its port closed). A detached worker went on
   * purpose. Otherwise it died: the chunks it had taken up failed with it; the ones it never took
   * up fail as "never started", which the engine runs again at no cost to their retries.
   */
  /**
   * Handles the messages still queued on a channel's port, read synchronously. Never once the port
   * has closed: on Node 20, reading a closed port whose worker thread is gone can crash the whole
   * process (SIGSEGV), and its messages were delivered before its 'close' event.
   */
  #drain(channel: Channel): void {
    if (channel.portClosed) return;
    for (let left = receiveMessageOnPort(channel.port); left !== undefined; left = receiveMessageOnPort(channel.port)) {
      this.#onMessage(channel, left.message as FromWorker);
    }
  }

  #onGone(channel: Channel, error: unknown): void {
    const wasStarting = channel.life.phase === 'starting';
    if (channel.life.phase === 'gone' && channel.jobs.size === 0) return;
    this.#forget(channel);
    // What the worker said before it went is already in the port's queue, but a busy main thread
    // may handle the thread's exit first: read it now, so an answer sent just before a death keeps
    // its chunk's results (and a 'crashing' message names the reason). The channel is forgotten
    // first, so nothing new is handed to it meanwhile.
    this.#drain(channel);
    // Make sure tinypool lets go of the thread too: it does not notice an exit without an error.
    // A thread that died of an error (uncaught, out of memory) is tinypool's to clean up: it rejects
    // the attach task; aborting that task as well makes tinypool reject a promise of its own that
    // nobody holds (the dead worker's destroy(), with the thread's error: an unhandled rejection).
    // So then only a backstop, should tinypool not have let go of it by the grace period's end.
    if (channel.crash === undefined && error === undefined) channel.controller.abort();
    else {
      setTimeout(() => {
        if (this.#attachTasks.has(channel)) channel.controller.abort();
      }, CLOSE_GRACE_MS).unref();
    }
    const cause = channel.crash ?? error;
    const reason = crashReason(channel, error);
    this.#slots.died(
      channel,
      wasStarting,
      (job, started) =>
        new WorkerExitError(channel.exitCode, cause, {
          started,
          reason,
          finished: started ? finishedBy(channel.finished, job.id) : undefined,
        }),
      (job) => job.life.phase === 'handed-over' && unclaimed(this.#claims.cells, job.slot!, job.ticket!),
      () => new WorkerExitError(channel.exitCode, cause, { started: false, startup: true, reason }),
    );
  }
}

/**
 * Why a channel's worker died. What this backend did itself comes first (it ended the worker for a
 * timeout or a cancel); then what Node said (out of memory), what the worker said before it went
 * (an uncaught error, an exit code), and last the exit code of its thread's exit event.
 */
function crashReason(channel: Channel, error: unknown): WorkerCrashReason {
  if (channel.endedFor !== undefined) return channel.endedFor;
  if (codeOf(channel.crash) === 'ERR_WORKER_OUT_OF_MEMORY' || codeOf(error) === 'ERR_WORKER_OUT_OF_MEMORY') return 'out-of-memory';
  if (channel.uncaught) return 'uncaught-error';
  if (channel.exitCode !== undefined) return 'exit';
  return 'unknown';
}

/** The `code` of an error Node gave (`ERR_WORKER_OUT_OF_MEMORY`, say), if it has one. */
function codeOf(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? (value as { code?: unknown }).code : undefined;
}
