/**
 * A chunk's time budget that counts only while a worker runs it: not while the chunk waits in the
 * pool's queue behind other chunks (of this flow or another), nor while a fresh worker loads the
 * task module. Synchronous JavaScript cannot be interrupted, so the budget is enforced from the
 * main thread: when it runs out, the signal aborts and the backend ends the worker.
 *
 * @packageDocumentation
 */
import type { StartClock } from './pool.js';

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
  const startClock: StartClock | undefined = fromStart ? { origin: created, cell: new Int32Array(new SharedArrayBuffer(12)) } : undefined;
  const at = (stamp: number): number => created + stamp - 1;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    let deadline: number | undefined;
    // The worker is done with its items and the response is on its way: nothing runs to end, and
    // a main thread or a worker slow to deliver it (a loaded machine) is no timeout.
    if (startClock && Atomics.load(startClock.cell, 2) !== 0) {
      timer = undefined;
      return;
    }
    if (!startClock) {
      deadline = created + budgetMs;
    } else {
      const received = Atomics.load(startClock.cell, 0);
      const started = Atomics.load(startClock.cell, 1);
      if (started !== 0) deadline = at(started) + budgetMs;
      else if (received !== 0) deadline = at(received) + loadAllowanceMs(budgetMs);
      // else: still queued; no budget runs yet.
    }
    const now = Date.now();
    if (deadline !== undefined && now >= deadline) {
      timer = undefined;
      controller.abort(new DOMException(`the chunk ran longer than its ${budgetMs} ms budget`, 'TimeoutError'));
      return;
    }
    // Re-check at the deadline, and meanwhile often enough to see the chunk start.
    const started = startClock !== undefined && Atomics.load(startClock.cell, 1) !== 0;
    // Polling no slower than the budget itself, so even a tiny budget is seen to run out.
    const poll = Math.min(POLL_MS, budgetMs);
    const wait = deadline === undefined ? poll : started || !startClock ? deadline - now : Math.min(deadline - now, poll);
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
