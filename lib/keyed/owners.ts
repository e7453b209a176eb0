/**
 * The main thread's side of the partition owners: starts one thread per partition
 * (owner-entry.mjs), forwards each packed batch to its owner with its buffers moved or, in a
 * worker's slab, shared (it never reads a key), bounds the batches waiting in each owner, pulls the
 * results back batch by batch (decoding a key table's keys), and ends the threads and removes the
 * spill directory on every way out (done, error, abort, `break`). An owner that fails or dies fails
 * the flow with a {@link PartitionOwnerError}.
 *
 * @packageDocumentation
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TaskSpec } from '../backend.js';
import type { WorkerPoolOptions } from '../backends/worker-pool-options.js';
import { PartitionOwnerError, reviveError } from '../errors.js';
import type { FromOwner, OwnerData, ToOwner } from './owner-protocol.js';
import { batchBuffers, ownedBatch, unpackResults, type PackedBatch } from './packed-batch.js';
import type { PartitionKey } from './partitioning.js';

/** What {@link PartitionOwners.start} needs. */
export interface OwnersOptions {
  readonly partitions: number;
  readonly fold: TaskSpec;
  readonly combine: TaskSpec | undefined;
  readonly initial: unknown;
  readonly budgetBytes: number;
  readonly tempDir: string;
  readonly resourceLimits: WorkerPoolOptions['resourceLimits'] | undefined;
  readonly signal: AbortSignal;
  /** Tells what a failure is about: the flow's task names. */
  readonly name: string;
}

/** Owner threads started and not yet gone, in this process (for leak checks in tests). */
const live = new Set<Worker>();

/** Runs whose {@link PartitionOwners.close} has not finished (threads ended, spill directory removed). */
const open = new Set<PartitionOwners>();
let settled: { promise: Promise<void>; resolve: () => void } | undefined;

/**
 * A flow abandoned mid-way (pulled, then neither finished nor closed) never reaches `close()`: its
 * spill directory is removed as the process exits (synchronously: nothing else runs then).
 */
let exitCleanup = false;
function removeSpillDirsAtExit(): void {
  if (exitCleanup) return;
  exitCleanup = true;
  process.once('exit', () => {
    for (const run of open) {
      try {
        rmSync(run.spillDir, { recursive: true, force: true });
      } catch {
        // the process is going: a directory that cannot be removed is left, not a crash at exit
      }
    }
  });
}

/** How many partition owner threads are alive in this process (tests check that none is left behind). */
export function liveOwnerThreads(): number {
  return live.size;
}

/**
 * Resolves once every run of owners in this process has closed: its threads ended and its spill
 * directory removed. (A flow left with `break` or aborted closes its owners as it unwinds, which
 * can finish after the consumer has moved on; tests wait on this, not on time.)
 */
export function ownersSettled(): Promise<void> {
  if (open.size === 0) return Promise.resolve();
  if (settled === undefined) {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => (resolve = done));
    settled = { promise, resolve };
  }
  return settled.promise;
}

/**
 * Pairs an owner sends back per message. Small enough that the main thread's young generation does
 * not grow to hold them (8192 a message grew the main heap by ~28 MB over 1M keys; 1024, by few).
 */
const RESULTS_BATCH = 1024;

interface Waiter {
  readonly ready: () => boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Owner {
  readonly partition: number;
  readonly worker: Worker;
  /** `batches` messages sent and not yet acknowledged. */
  queued: number;
  ready: boolean;
  readonly inbox: Extract<FromOwner, { type: 'results' }>[];
  exited: boolean;
}

/** The owner threads of one run of a keyed aggregation. */
export class PartitionOwners {
  readonly #owners: Owner[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #signal: AbortSignal;
  readonly #spillDir: string;
  readonly #name: string;
  #failure: PartitionOwnerError | undefined;
  #closing = false;

  private constructor(spillDir: string, options: OwnersOptions) {
    this.#spillDir = spillDir;
    this.#signal = options.signal;
    this.#name = options.name;
    for (let partition = 0; partition < options.partitions; partition++) {
      const data: OwnerData = {
        partition,
        fold: options.fold,
        combine: options.combine,
        initial: options.initial,
        budgetBytes: options.budgetBytes,
        spillDir,
        aliases: sourceAliases(),
        batchSize: RESULTS_BATCH,
      };
      const worker = new Worker(new URL('./owner-entry.mjs', import.meta.url), {
        workerData: data,
        ...(options.resourceLimits ? { resourceLimits: { ...options.resourceLimits } } : {}),
      });
      // Held only while the main thread waits on the owners (see #until): a flow abandoned
      // mid-way, or a consumer busy with a batch, does not keep the process alive through them.
      worker.unref();
      live.add(worker);
      const owner: Owner = { partition, worker, queued: 0, ready: false, inbox: [], exited: false };
      worker.on('message', (message: FromOwner) => this.#receive(owner, message));
      worker.on('error', (error) => this.#fail(owner, 'crashed', `the owner of partition ${partition} crashed`, { cause: error }));
      worker.on('exit', (exitCode) => {
        owner.exited = true;
        live.delete(worker);
        if (!this.#closing) this.#fail(owner, 'crashed', `the owner of partition ${partition} exited (code ${exitCode})`, { exitCode });
      });
      this.#owners.push(owner);
    }
    this.#signal.addEventListener('abort', this.#onAbort);
    open.add(this);
    removeSpillDirsAtExit();
  }

  /** Starts one owner thread per partition, with a fresh spill directory under `tempDir`. */
  static async start(options: OwnersOptions): Promise<PartitionOwners> {
    const spillDir = await mkdtemp(join(options.tempDir, 'millrace-keyed-'));
    return new PartitionOwners(spillDir, options);
  }

  /** The directory spilled runs go to (removed by {@link close}). */
  get spillDir(): string {
    return this.#spillDir;
  }

  /** Throws the failure that ended an owner, if any. */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Forwards batches to their owner, their buffers moved or shared (the caller must not touch them again). */
  send(partition: number, batches: readonly PackedBatch[]): void {
    this.check();
    const owner = this.#owners[partition]!;
    owner.queued++;
    const own = batches.map(ownedBatch);
    owner.worker.postMessage({ type: 'batches', batches: own } satisfies ToOwner, [...new Set(own.flatMap(batchBuffers))]);
  }

  /** Waits until no owner has more than `limit` messages of batches waiting. */
  async drained(limit: number): Promise<void> {
    await this.#until(() => this.#owners.every((owner) => owner.queued <= limit));
  }

  /** Tells every owner the input has ended and waits until all have folded everything in. */
  async end(): Promise<void> {
    this.check();
    for (const owner of this.#owners) owner.worker.postMessage({ type: 'end' } satisfies ToOwner);
    await this.#until(() => this.#owners.every((owner) => owner.ready));
  }

  /** Each owner's results in turn, a batch at a time (the next batch is asked for while one is used). */
  async *results(): AsyncGenerator<[PartitionKey[], ArrayLike<unknown>]> {
    for (const owner of this.#owners) {
      owner.worker.postMessage({ type: 'pull' } satisfies ToOwner);
      for (;;) {
        await this.#until(() => owner.inbox.length > 0);
        const batch = owner.inbox.shift()!;
        if (!batch.done) owner.worker.postMessage({ type: 'pull' } satisfies ToOwner);
        yield batch.packed === undefined ? [batch.keys, batch.accumulators] : [unpackResults(batch.packed), batch.packed.accumulators];
        if (batch.done) break;
      }
    }
  }

  /** Ends every owner thread and removes the spill directory. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#signal.removeEventListener('abort', this.#onAbort);
      await Promise.all(
        this.#owners.map(async (owner) => {
          if (!owner.exited) await owner.worker.terminate();
          live.delete(owner.worker);
        }),
      );
    }
    try {
      await rm(this.#spillDir, { recursive: true, force: true });
    } finally {
      open.delete(this);
      if (open.size === 0 && settled !== undefined) {
        settled.resolve();
        settled = undefined;
      }
    }
  }

  #receive(owner: Owner, message: FromOwner): void {
    switch (message.type) {
      case 'ack':
        owner.queued--;
        break;
      case 'ready':
        owner.ready = true;
        break;
      case 'results':
        owner.inbox.push(message);
        break;
      case 'failed': {
        const cause = message.error === undefined ? undefined : reviveError(message.error);
        this.#fail(owner, message.problem, message.message, {
          ...(message.key === undefined ? {} : { key: message.key }),
          ...(cause === undefined ? {} : { cause }),
        });
        return;
      }
    }
    this.#wake();
  }

  #fail(
    owner: Owner,
    problem: PartitionOwnerError['problem'],
    message: string,
    extra: { key?: PartitionKey; exitCode?: number; cause?: unknown },
  ): void {
    if (this.#closing || this.#failure !== undefined) return;
    this.#failure = new PartitionOwnerError({
      task: this.#name,
      partition: owner.partition,
      partitions: this.#owners.length,
      problem,
      detail: message,
      ...extra,
    });
    this.#wake();
  }

  readonly #onAbort = (): void => {
    this.#wake();
  };

  #wake(): void {
    for (const waiter of this.#waiters) {
      if (this.#failure !== undefined) waiter.reject(this.#failure);
      else if (this.#signal.aborted) waiter.reject(this.#signal.reason);
      else if (waiter.ready()) waiter.resolve();
      else continue;
      this.#waiters.delete(waiter);
    }
    if (this.#waiters.size === 0) for (const owner of this.#owners) owner.worker.unref();
  }

  #until(ready: () => boolean): Promise<void> {
    this.check();
    this.#signal.throwIfAborted();
    if (ready()) return Promise.resolve();
    for (const owner of this.#owners) owner.worker.ref();
    return new Promise<void>((resolve, reject) => {
      this.#waiters.add({ ready, resolve, reject });
    });
  }
}

/** When millrace runs unbuilt (from .ts), task modules that import 'millrace' need its source (as in pool.ts). */
function sourceAliases(): Record<string, string> | undefined {
  if (!import.meta.url.endsWith('.ts')) return undefined;
  return {
    millrace: new URL('../index.ts', import.meta.url).href,
    'millrace/testing': new URL('../testing/index.ts', import.meta.url).href,
  };
}
