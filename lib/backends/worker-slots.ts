/**
 * The one scheduler of the local backends: which worker gets which chunk, when workers start,
 * when they are recycled, how a chunk is cancelled, and what a worker's death means for the chunks
 * it held. Worker threads and child processes differ in how a worker is asked for, spoken to and
 * ended; those differences are a {@link WorkerKind} (threads/thread-backend.ts,
 * process/process-backend.ts), and everything else is here, once.
 *
 * The rules, for every kind:
 *
 * - **First come, first served.** Queued chunks go to an idle ready worker first; failing that, a
 *   kind may let a chunk wait behind the chunks a worker holds (threads: short synchronous tasks
 *   only); a worker left idle takes back a chunk that waits, unstarted, behind another's.
 * - **Workers start on demand**, one per queued chunk not yet covered by a starting worker, up to
 *   `capacity` serving workers (starting or ready; standbys and retiring workers do not count).
 * - **Recycling** (`maxItemsPerWorker`, a heap past `maxWorkerMemoryMb` after a chunk): the worker
 *   is *retiring*, gets nothing new, leaves once its chunks are answered, and its replacement
 *   starts at once. A kind that can start a worker ahead (threads) starts a standby halfway there.
 * - **Cancel**: a queued chunk leaves the queue; one handed over but not taken up is withdrawn
 *   where the kind can; a running one is rejected now, its task told, and its worker ended if it
 *   still holds the chunk after {@link CANCEL_GRACE_MS}.
 * - **A worker's death** fails the chunks it held with a `WorkerExitError` (a chunk it never took
 *   up as not started, which the engine runs again for free); a worker that dies before it was ever
 *   ready, with no other ready, fails the queued chunks as a start-up failure instead of leaving
 *   them to wait forever.
 *
 * @packageDocumentation
 */
import { ChunkSendError, type ChunkRequest, type ChunkResponse, type FinishedItems, type RunChunkOptions } from '../backend.js';
import { workerLifecycle, type Lifecycle, type WorkerPhase } from '../chunk-lifecycle.js';
import { MillraceError } from '../errors.js';
import { ArrayAdmissionQueue, type AdmissionQueue } from './admission-queue.js';
import { CANCEL_GRACE_MS } from './cancel-grace.js';
import { settleJob, submitJob, type LocalJob } from './job.js';

/** A chunk as the scheduler keeps it: the worker that holds it, once handed over. */
export interface SlotJob<S> extends LocalJob {
  holder?: S;
}

/** Items sent to a worker over its life, for `maxItemsPerWorker` (shared by a thread's re-attaches). */
export interface ItemCount {
  sent: number;
}

/** One local worker as the scheduler sees it; a kind adds its own fields. */
export interface Slot<J> {
  readonly life: Lifecycle<WorkerPhase>;
  /** Chunks handed to it and not yet answered for, by id. */
  readonly jobs: Map<number, J>;
  /** Started ahead of a recycling, only to have a worker ready: never counted, never given chunks. */
  readonly standby: boolean;
  /** Set when the scheduler ended the worker for a chunk past its cancel grace, and for what. */
  endedFor: 'timeout' | 'cancel' | undefined;
  items: ItemCount;
  nextId: number;
}

/** A new slot's scheduler fields (the kind spreads them into its own record). */
export function newSlot<J>(standby: boolean): Slot<J> {
  return { life: workerLifecycle(), jobs: new Map(), standby, endedFor: undefined, items: { sent: 0 }, nextId: 0 };
}

/** What differs between worker threads and child processes. */
export interface WorkerKind<J extends SlotJob<S>, S extends Slot<J>> {
  /** Starts a worker; its slot (in `starting`) is returned and joins the table. */
  start(standby: boolean): S;
  /** Whether a ready worker can be sent a chunk now (a child whose channel has closed cannot). */
  reachable(slot: S): boolean;
  /** Whether `job` may wait behind the chunks `slot` holds (prefetch); never for a kind without an inbox. */
  canWaitBehind(job: J, slot: S): boolean;
  /**
   * Sends a chunk under `id`: true once it is on its way, false when it cannot go now (it goes
   * back to the head of the queue); throws when it can never go (it cannot be cloned). A kind may
   * post it a little later (threads: at the end of the tick, several chunks to a message); a chunk
   * that then cannot be cloned is handed back with {@link WorkerSlots.unsent}.
   */
  post(job: J, slot: S, id: number): boolean;
  /** After a send: the kind's own bookkeeping (a child takes a chunk up at once). */
  sent(job: J, slot: S): void;
  /**
   * Takes back a chunk its worker has not taken up: true if it was withdrawn. `toResend`: it is
   * to go to another worker (so not a chunk whose buffers moved), rather than cancelled.
   */
  withdraw(job: J, slot: S, toResend: boolean): boolean;
  /** A chunk's worker is done with it (answered, withdrawn, or died): free what the kind holds for it. */
  released(job: J): void;
  /** Tells a worker that its running chunk is cancelled (the task's signal aborts). */
  tellCancel(job: J, slot: S, why: 'timeout' | 'abort'): void;
  /** Ends a worker now (a chunk past its cancel grace, the pool closing with the worker busy). */
  end(slot: S): void;
  /** Lets a worker go on purpose: it runs its teardowns and leaves. */
  letGo(slot: S): void;
  /** A ready worker has nothing to do (linger, stop keeping the process alive, idle out). */
  rest(slot: S): void;
  /** A worker is given work again (undo {@link WorkerKind.rest}). */
  work(slot: S): void;
  /** Whether the kind starts a spare worker halfway to `maxItemsPerWorker`. */
  readonly startsStandby: boolean;
}

/**
 * What a dead worker said the chunk `id` had finished ('finished-so-far', sent as it went), if it
 * spoke of that chunk: the engine keeps those items' values and runs only the rest again.
 */
export function finishedBy(
  said: { readonly id: number; readonly finished: FinishedItems } | undefined,
  id: number | undefined,
): FinishedItems | undefined {
  return said !== undefined && said.id === id ? said.finished : undefined;
}

/** The closing error of chunks still queued or running when the pool closes. */
function closedError(): MillraceError {
  return new MillraceError('The pool was closed while this chunk was queued or running');
}

/** The worker-slots scheduler (see the module comment). */
export class WorkerSlots<J extends SlotJob<S>, S extends Slot<J>> {
  readonly capacity: number;
  /** The workers in use (not gone, not forgotten), in the order they started. */
  readonly slots = new Set<S>();
  readonly #queue: AdmissionQueue<J> = new ArrayAdmissionQueue();
  readonly #kind: WorkerKind<J, S>;
  readonly #maxItemsPerWorker: number | undefined;
  #closing = false;

  constructor(kind: WorkerKind<J, S>, capacity: number, maxItemsPerWorker: number | undefined) {
    this.#kind = kind;
    this.capacity = capacity;
    this.#maxItemsPerWorker = maxItemsPerWorker;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Chunks waiting for a worker. */
  get queued(): number {
    return this.#queue.size;
  }

  /** A run as a job (`make` adds the kind's fields), queued and pumped; its signal's abort cancels it. */
  submit(request: ChunkRequest, options: RunChunkOptions, make: (common: LocalJob) => J): Promise<ChunkResponse> {
    if (this.#closing) return Promise.reject(new MillraceError('The pool is closed'));
    return submitJob<J>(request, options, make, this.#accept, this.#cancelJob);
  }

  // Made once, not per chunk: every run's job shares these two closures.
  readonly #accept = (job: J): void => {
    this.#queue.push(job);
    this.pump();
  };
  readonly #cancelJob = (job: J, reason: unknown): void => this.#cancel(job, reason);

  /** Settles a job for its caller once; later outcomes are dropped. */
  settle(job: J, outcome: { response: ChunkResponse } | { error: unknown }): void {
    settleJob(job, outcome);
  }

  /** Starts a worker and enters it in the table. */
  #start(standby = false): S {
    const slot = this.#kind.start(standby);
    this.slots.add(slot);
    return slot;
  }

  /** Starts a replacement worker the way a kind does for its own reasons (threads: an attach task resubmitted). */
  restart(standby: boolean): void {
    this.#start(standby);
  }

  /** Hands queued chunks to workers, starts workers for the rest, lets idle ones rest. */
  pump(): void {
    if (this.#closing) return;
    // Looked at before it leaves the queue: a chunk no worker can take stays at the head as it is.
    for (let job = this.#queue.peek(); job; job = this.#queue.peek()) {
      const slot = this.#pick(job);
      if (slot === undefined) break;
      this.#queue.shift();
      // A chunk that cannot go now is back at the head: wait for the next pump.
      if (!this.#send(job, slot)) break;
    }
    this.#startIfNeeded();
    // A worker left idle takes over a chunk that waits behind another worker's running chunk.
    for (const idle of this.slots) {
      if (idle.life.phase !== 'ready' || idle.jobs.size > 0) continue;
      const stolen = this.#takeBackWaiting();
      if (stolen === undefined || !this.#send(stolen, idle)) break;
    }
    for (const slot of this.slots) if (slot.life.phase === 'ready' && slot.jobs.size === 0) this.#kind.rest(slot);
  }

  /** An idle ready worker, else (where the kind allows) the one holding the fewest chunks that a chunk may wait behind. */
  #pick(job: J): S | undefined {
    let behind: S | undefined;
    for (const slot of this.slots) {
      if (slot.life.phase !== 'ready' || !this.#kind.reachable(slot)) continue;
      if (slot.jobs.size === 0) return slot;
      if ((behind === undefined || slot.jobs.size < behind.jobs.size) && this.#kind.canWaitBehind(job, slot)) behind = slot;
    }
    return behind;
  }

  /** Starts workers for queued chunks, up to the pool's size. */
  #startIfNeeded(): void {
    let starting = 0;
    let serving = 0;
    for (const slot of this.slots) {
      if (slot.standby) continue;
      if (slot.life.phase === 'starting') starting++;
      if (slot.life.phase === 'starting' || slot.life.phase === 'ready') serving++;
    }
    for (; this.#queue.size > starting && serving < this.capacity; starting++, serving++) this.#start();
  }

  /** Sends a chunk to a worker; false when it could not go now (it is back at the head of the queue). */
  #send(job: J, slot: S): boolean {
    const id = slot.nextId++;
    let posted: boolean;
    try {
      posted = this.#kind.post(job, slot, id);
    } catch (error) {
      // The chunk cannot be cloned (an item, a bound argument, a transfer list): it never left.
      this.settle(job, { error: new ChunkSendError(error) });
      return true;
    }
    if (!posted) {
      // Never lose the chunk: it keeps its turn.
      this.#queue.unshift(job);
      return false;
    }
    this.#kind.work(slot);
    job.holder = slot;
    job.id = id;
    job.life.move('handed-over');
    slot.jobs.set(id, job);
    this.#kind.sent(job, slot);
    const max = this.#maxItemsPerWorker;
    if (max === undefined) return true;
    const before = slot.items.sent;
    const sent = (slot.items.sent = before + job.request.items.length);
    if (sent >= max) this.retire(slot);
    else if (this.#kind.startsStandby && 2 * sent >= max && 2 * before < max) this.#start(true);
    return true;
  }

  /**
   * A chunk handed to a worker could not be sent after all (a kind that posts later, see
   * {@link WorkerKind.post}): it never left, and fails as one that cannot be cloned.
   */
  unsent(slot: S, id: number, job: J, error: unknown): void {
    this.release(slot, id, job);
    if (this.#maxItemsPerWorker !== undefined) slot.items.sent -= job.request.items.length;
    this.settle(job, { error: new ChunkSendError(error) });
    this.pump();
  }

  /** Takes back a chunk that waits, not taken up, behind another worker's running chunk. */
  #takeBackWaiting(): J | undefined {
    for (const slot of this.slots) {
      if (slot.jobs.size < 2) continue;
      for (const [id, job] of slot.jobs) {
        if (job.life.phase !== 'handed-over') continue;
        if (!this.#kind.withdraw(job, slot, true)) continue;
        this.release(slot, id, job);
        if (this.#maxItemsPerWorker !== undefined && slot.life.phase === 'ready') slot.items.sent -= job.request.items.length;
        job.life.move('queued', 'taken back for an idle worker');
        return job;
      }
    }
    return undefined;
  }

  /** A worker answered a chunk: it is released, the worker retires if its heap says so, the caller hears. */
  answered(slot: S, id: number, job: J, response: ChunkResponse, heapUsed: number | undefined, maxHeapBytes: number | undefined): void {
    this.release(slot, id, job);
    if (maxHeapBytes !== undefined && (heapUsed ?? 0) > maxHeapBytes) this.retire(slot);
    this.settle(job, { response });
    this.pump();
  }

  /** A chunk's worker is done with it: its place on the worker is free (a retiring worker with none left goes). */
  release(slot: S, id: number, job: J): void {
    slot.jobs.delete(id);
    this.#kind.released(job);
    if (job.graceTimer) clearTimeout(job.graceTimer);
    if (slot.life.phase === 'retiring' && slot.jobs.size === 0) this.#kind.letGo(slot);
  }

  /** Recycles a worker: no more chunks for it, a replacement now, and it leaves when its chunks are done. */
  retire(slot: S): void {
    if (slot.life.phase !== 'ready' || this.#closing) return;
    slot.life.move('retiring');
    if (slot.jobs.size === 0) this.#kind.letGo(slot);
    // The replacement starts before the old worker leaves, so throughput does not dip to wait for it.
    let serving = 0;
    for (const other of this.slots) if ((other.life.phase === 'starting' || other.life.phase === 'ready') && !other.standby) serving++;
    if (serving < this.capacity) this.#start();
  }

  /** Stops using a worker (it has gone, or is let go): it leaves the table. */
  forget(slot: S): void {
    slot.life.enter('gone');
    this.slots.delete(slot);
  }

  #cancel(job: J, reason: unknown): void {
    const { phase } = job.life;
    if (phase === 'settled' || phase === 'cancelling') return;
    if (phase === 'queued') {
      this.#queue.remove(job);
      this.settle(job, { error: reason });
      return;
    }
    const slot = job.holder!;
    if (phase === 'handed-over' && this.#kind.withdraw(job, slot, false)) {
      // Not taken up: its worker will skip it.
      this.release(slot, job.id!, job);
      this.settle(job, { error: reason });
      this.pump();
      return;
    }
    // Running: the caller hears now; the task sees its signal abort; a worker that has not let the
    // chunk go after the grace period is ended (synchronous JavaScript cannot be interrupted).
    if (job.life.phase === 'handed-over') job.life.move('running');
    job.life.move('cancelling');
    job.detach();
    job.reject(reason);
    const why = reason instanceof DOMException && reason.name === 'TimeoutError' ? 'timeout' : 'abort';
    this.#kind.tellCancel(job, slot, why);
    job.graceTimer = setTimeout(() => {
      if (slot.jobs.get(job.id!) !== job) return;
      slot.endedFor = why === 'timeout' ? 'timeout' : 'cancel';
      this.#kind.end(slot);
    }, CANCEL_GRACE_MS);
    job.graceTimer.unref();
  }

  /**
   * A worker died (it was not let go). The chunks it held fail with it (`failure(job, started)`
   * makes the error; a chunk it never took up is not started, by `neverStarted`); if it was still
   * starting (`wasStarting`: the kind reads its phase before it forgets it) and no other worker is
   * ready, the queued chunks fail as a start-up failure (`startupFailure`).
   */
  died(
    slot: S,
    wasStarting: boolean,
    failure: (job: J, started: boolean) => unknown,
    neverStarted: (job: J) => boolean,
    startupFailure: () => unknown,
  ): void {
    this.forget(slot);
    for (const [id, job] of [...slot.jobs]) {
      const started = !neverStarted(job);
      this.release(slot, id, job);
      if (this.#closing) continue;
      this.settle(job, { error: failure(job, started) });
    }
    if (this.#closing) return;
    if (wasStarting && ![...this.slots].some((other) => other.life.phase === 'ready')) {
      // A worker that could not even start (resourceLimits too small to boot, a broken install):
      // with no worker running, the queued chunks would wait for one forever.
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) this.settle(job, { error: startupFailure() });
      return;
    }
    this.pump();
  }

  /**
   * Closes the scheduler: queued chunks and the chunks workers hold fail as closed, and each worker
   * is handed to `closeWorker` with whether it was busy (running a chunk, not only holding one).
   */
  close(busy: (slot: S) => boolean, closeWorker: (slot: S, busy: boolean) => void): void {
    this.#closing = true;
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) this.settle(job, { error: closedError() });
    for (const slot of [...this.slots]) {
      const wasBusy = busy(slot);
      for (const job of slot.jobs.values()) this.settle(job, { error: closedError() });
      slot.jobs.clear();
      closeWorker(slot, wasBusy);
    }
  }
}
