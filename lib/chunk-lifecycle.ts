/**
 * The life of a chunk, written down once. Every module that moves a chunk along asks this table,
 * so an impossible move (a chunk emitted twice, a settled chunk settling again) is a loud bug, not
 * a silent hang, and a chunk's history says what happened to it.
 *
 * In the engine (dispatch.ts):
 *
 * ```text
 *   submitted ──settle: value──────────────▶ reordering ──▶ ready ──▶ emitted
 *       │  ▲                                     (ordered flows wait here for earlier chunks)
 *       │  └──run again (why: retry | never-started | lost | isolate)── backoff ◀─┐
 *       ├──settle: task failure / crash / timeout, retries left ────────┘
 *       ├──settle: failure, no retries left ──▶ failed
 *       └──the flow ends (abort, break, another chunk failed) ──▶ cancelled
 * ```
 *
 * `isolate` (a crash under `onError`): the chunk goes back to `submitted` and its items run as
 * one-item chunks of their own (each with this same life; a crash of one is reported, not split
 * again); when all have settled, the chunk moves on to `reordering` with their outputs, in order.
 *
 * In the local backends' scheduler (backends/worker-slots.ts), between `submitted` and the settlement
 * (a child process takes a chunk up as it is sent: it has no inbox to withdraw from):
 *
 * ```text
 *   queued ──▶ handed-over ──claimed by its worker──▶ running ──▶ settled
 *     ▲            │                                    │
 *     └─withdrawn──┘ (to an idle worker)                └─cancel──▶ cancelling ──▶ settled
 *   handed-over ──its worker died first──▶ settled (never started: the engine runs it again)
 * ```
 *
 * @packageDocumentation
 */
import { MillraceError } from './errors.js';

/** A chunk's phase in the dispatch engine. */
export type EnginePhase = 'submitted' | 'backoff' | 'reordering' | 'ready' | 'emitted' | 'failed' | 'cancelled';

/**
 * A local worker's phases (a worker thread or a child process), in the thread and process
 * backends alike: `starting` (asked for, not yet ready), `ready` (serving), `retiring` (recycled:
 * it finishes what it holds and gets nothing new), `leaving` (told to leave, or killed: its exit
 * is expected), `gone` (exited, or no longer used).
 */
export type WorkerPhase = 'starting' | 'ready' | 'retiring' | 'leaving' | 'gone';

/** A chunk's phase in a backend that queues chunks for its own workers (backends/worker-slots.ts). */
export type BackendPhase = 'queued' | 'handed-over' | 'running' | 'cancelling' | 'settled';

/**
 * Why a chunk runs again: the one path that re-runs a chunk records one of these (and the stage
 * statistics count them, in `StageStats.runsAgain`).
 *
 * @example
 * ```ts
 * import type { RunAgainReason } from 'millrace';
 * const counted: RunAgainReason[] = ['retry', 'never-started', 'lost', 'isolate'];
 * console.log(counted.length); // 4
 * ```
 * @category Parallel
 */
export type RunAgainReason =
  /** A task failed, a worker crashed or the chunk timed out, and `retries` allow another attempt. */
  | 'retry'
  /** Its worker died (or was ended for another chunk) before taking it up: it never ran. */
  | 'never-started'
  /** The backend lost it (a job gone from Redis): it may or may not have run. */
  | 'lost'
  /**
   * Its worker crashed and the flow skips and reports failures (`onError`): it runs again as
   * one-item chunks, to find the item(s) that crash. Those one-item chunks are never split again.
   */
  | 'isolate';

const ENGINE: Readonly<Record<EnginePhase, readonly EnginePhase[]>> = {
  submitted: ['backoff', 'reordering', 'failed', 'cancelled'],
  backoff: ['submitted', 'cancelled'],
  reordering: ['ready', 'cancelled'],
  ready: ['emitted', 'cancelled'],
  emitted: [],
  failed: [],
  cancelled: [],
};

const BACKEND: Readonly<Record<BackendPhase, readonly BackendPhase[]>> = {
  queued: ['handed-over', 'settled'],
  'handed-over': ['running', 'queued', 'cancelling', 'settled'],
  running: ['cancelling', 'settled'],
  cancelling: ['settled'],
  settled: [],
};

const WORKER: Readonly<Record<WorkerPhase, readonly WorkerPhase[]>> = {
  starting: ['ready', 'leaving', 'gone'],
  ready: ['retiring', 'leaving', 'gone'],
  retiring: ['leaving', 'gone'],
  leaving: ['gone'],
  gone: [],
};

/** One chunk's phase and history, moved only along the table's transitions. */
export class Lifecycle<Phase extends string> {
  #phase: Phase;
  /** Each phase entered, with the reason when one was given ("backoff: retry"). */
  readonly history: string[];
  readonly #table: Readonly<Record<Phase, readonly Phase[]>>;

  constructor(table: Readonly<Record<Phase, readonly Phase[]>>, start: Phase) {
    this.#table = table;
    this.#phase = start;
    this.history = [start];
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** Whether `to` is a legal next phase. */
  can(to: Phase): boolean {
    return this.#table[this.#phase].includes(to);
  }

  /** Moves to `to` unless already there (a worker told to leave twice, forgotten twice). */
  enter(to: Phase): void {
    if (this.#phase !== to) this.move(to);
  }

  /** Moves to `to`; an illegal move is a bug in millrace and throws. */
  move(to: Phase, why?: string): void {
    if (!this.can(to)) {
      throw new MillraceError(`internal error: a chunk cannot go from ${this.#phase} to ${to} (history: ${this.history.join(' → ')})`);
    }
    this.#phase = to;
    // The history is for diagnosis; a chunk retried forever must not grow it without bound.
    if (this.history.length < 64) this.history.push(why === undefined ? to : `${to}: ${why}`);
  }
}

/** A new chunk in the engine. */
export function engineLifecycle(): Lifecycle<EnginePhase> {
  return new Lifecycle(ENGINE, 'submitted');
}

/** A new chunk in a backend's queue. */
export function backendLifecycle(): Lifecycle<BackendPhase> {
  return new Lifecycle(BACKEND, 'queued');
}

/** A new local worker (a thread being attached, a child being forked). */
export function workerLifecycle(): Lifecycle<WorkerPhase> {
  return new Lifecycle(WORKER, 'starting');
}
