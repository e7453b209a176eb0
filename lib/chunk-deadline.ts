/**
 * A chunk's time budget that counts only while a worker runs it: not while the chunk waits in the
 * pool's queue behind other chunks (of this flow or another), nor while a fresh worker loads the
 * task module. Synchronous JavaScript cannot be interrupted, so the budget is enforced from the
 * main thread: when it runs out, the signal aborts and the backend ends the worker.
 *
 * @packageDocumentation
 */
import type { StartClock } from './pool.js';

/** How often a queued chunk is checked for having started (a cheap read of shared memory). */
const QUEUED_POLL_MS = 25;

/** A running budget for one chunk; {@link ChunkDeadline.clear} it when the chunk settles. */
export interface ChunkDeadline {
  /** Aborts (with a `TimeoutError`) once the chunk has run for longer than its budget. */
  readonly signal: AbortSignal;
  /** For backends that report when a worker starts the chunk; undefined means "from now". */
  readonly startClock: StartClock | undefined;
  /** Stops the timer. */
  clear(): void;
}

/**
 * Starts a deadline of `budgetMs` for one chunk.
 *
 * @param budgetMs - how long the chunk may run, in milliseconds
 * @param fromStart - count from when the worker starts the chunk (the backend fills in
 *   {@link ChunkDeadline.startClock}); otherwise count from now
 * @returns the deadline
 */
export function chunkDeadline(budgetMs: number, fromStart: boolean): ChunkDeadline {
  const controller = new AbortController();
  const created = Date.now();
  const startClock: StartClock | undefined = fromStart ? { origin: created, cell: new Int32Array(new SharedArrayBuffer(4)) } : undefined;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    const stamp = startClock ? Atomics.load(startClock.cell, 0) : 1;
    let wait: number;
    if (stamp === 0) {
      wait = Math.min(budgetMs, QUEUED_POLL_MS); // still queued, or its worker is loading the task
    } else {
      const startedAt = startClock ? startClock.origin + stamp - 1 : created;
      wait = startedAt + budgetMs - Date.now();
    }
    if (wait <= 0 && stamp !== 0) {
      timer = undefined;
      controller.abort(new DOMException(`the chunk ran longer than its ${budgetMs} ms budget`, 'TimeoutError'));
      return;
    }
    timer = setTimeout(check, Math.max(1, wait));
    // The worker running the chunk keeps the process alive, not this timer.
    timer.unref();
  };
  check();
  return {
    signal: controller.signal,
    startClock,
    clear: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
