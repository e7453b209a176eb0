/**
 * A chunk's time budget that counts only while a worker runs it: not while the chunk waits in the
 * pool's queue behind other chunks (of this flow or another), nor while a fresh worker loads the
 * task module. Synchronous JavaScript cannot be interrupted, so the budget is enforced from the
 * main thread: when it runs out, the engine cancels the chunk and the backend ends the worker.
 *
 * @packageDocumentation
 */
import type { StartClock } from '../backend.js';
import { MAX_TIMER_MS } from '../timers.js';
import { CLOCK_FINISHED, CLOCK_STARTED, CLOCK_TAKEN_UP, createStartClock, readClock } from '../backend.js';

/** How often a chunk not yet started is checked at most (a cheap read of shared memory). */
const POLL_MS = 25;

/**
 * How long loading the task module (and its `setup`) may take before the chunk counts as timed
 * out: generous, since a cold start (tsx, imports) can take seconds on a loaded machine, but
 * finite, so a module whose top level never returns cannot hang the flow.
 *
 * @param budgetMs - the chunk's running budget, in milliseconds
 * @returns the loading allowance, in milliseconds
 */
export function loadAllowanceMs(budgetMs: number): number {
  return Math.max(10 * budgetMs, 5_000);
}

/** A running budget for one chunk; {@link ChunkDeadline.clear} it when the chunk settles. */
export interface ChunkDeadline {
  /** For backends that report when a worker starts the chunk; undefined means "from now". */
  readonly startClock: StartClock | undefined;
  /** Stops the timer. */
  clear(): void;
}

/**
 * Starts a deadline of `budgetMs` for one chunk. No `AbortSignal` per chunk: the engine cancels
 * the chunk itself when `onExpire` is called (a signal combined per chunk with the flow's signal
 * was memory that grew with every chunk).
 *
 * @param budgetMs - how long the chunk may run, in milliseconds (any positive number, `Infinity` too)
 * @param fromStart - count from when the worker starts the chunk (the backend fills in
 *   {@link ChunkDeadline.startClock}); otherwise count from now
 * @param onExpire - called once, with a `TimeoutError`, when the budget has run out
 * @returns the deadline
 */
export function chunkDeadline(budgetMs: number, fromStart: boolean, onExpire: (reason: DOMException) => void): ChunkDeadline {
  const created = Date.now();
  const startClock: StartClock | undefined = fromStart ? createStartClock() : undefined;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    timer = undefined;
    let deadline: number | undefined;
    // The worker is done with its items and the response is on its way: nothing runs to end, and
    // a main thread or a worker slow to deliver it (a loaded machine) is no timeout.
    if (startClock && readClock(startClock, CLOCK_FINISHED) !== undefined) return;
    if (!startClock) {
      deadline = created + budgetMs;
    } else {
      const received = readClock(startClock, CLOCK_TAKEN_UP);
      const started = readClock(startClock, CLOCK_STARTED);
      if (started !== undefined) deadline = started + budgetMs;
      else if (received !== undefined) deadline = received + loadAllowanceMs(budgetMs);
      // else: still queued; no budget runs yet.
    }
    const now = Date.now();
    if (deadline !== undefined && now >= deadline) {
      onExpire(new DOMException(`the chunk ran longer than its ${budgetMs} ms budget`, 'TimeoutError'));
      return;
    }
    // Re-check at the deadline, and meanwhile often enough to see the chunk start.
    const started = startClock !== undefined && readClock(startClock, CLOCK_STARTED) !== undefined;
    // Polling no slower than the budget itself, so even a tiny budget is seen to run out.
    const poll = Math.min(POLL_MS, budgetMs);
    const wait = deadline === undefined ? poll : started || !startClock ? deadline - now : Math.min(deadline - now, poll);
    timer = setTimeout(check, Math.min(MAX_TIMER_MS, Math.max(1, wait)));
    // The worker running the chunk keeps the process alive, not this timer.
    timer.unref();
  };
  check();
  return {
    startClock,
    clear: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
