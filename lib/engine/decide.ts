/**
 * What the engine does with a chunk once one of its runs settles: every decision of the dispatch
 * engine about retries, isolation, reporting and failing, as one pure function of plain values.
 * The engine (dispatch.ts) gathers the facts, asks {@link decide}, and applies the answer; the
 * tests ask it directly, with no worker and no timer.
 *
 * @packageDocumentation
 */
import type { RunAgainReason } from '../chunk-lifecycle.js';

/**
 * How often a chunk that never started is run again: each time needs another worker to die
 * holding it (a chunk of another flow crashed, timed out or was cancelled ahead of it), so a busy
 * pool shared with failing flows can need many; the bound only guards against a loop nobody foresaw.
 */
export const MAX_NEVER_STARTED = 100;

/** What is known of the chunk whose run settled. */
export interface ChunkFacts {
  /** Attempts so far: 1 on the first run, one more after each retry. */
  readonly attempt: number;
  /** Times it already ran again because its worker died before taking it up. */
  readonly neverStarted: number;
  /** Its buffers were moved to a worker: it cannot be sent again. */
  readonly moved: boolean;
  /** Items the settled run carried. */
  readonly itemCount: number;
  /** It is a one-item piece of a chunk run item by item (never split again). */
  readonly isPiece: boolean;
}

/** The flow's policy for failures. */
export interface FailurePolicy {
  /** Attempts allowed after the first (the `retries` option). */
  readonly retries: number;
  /** An `onError` function takes failures, and the flow goes on (skip and report). */
  readonly skipAndReport: boolean;
}

/** How a run settled, classified. */
export type RunOutcome =
  /** The worker answered; `failed` of the run's items threw (their outcomes are in the response). */
  | { readonly kind: 'answered'; readonly failed: number }
  /** The task module or export could not be loaded. */
  | { readonly kind: 'load-error' }
  /** A result could not be sent back. */
  | { readonly kind: 'clone-failure' }
  /** Something in the chunk could not be sent to a worker. */
  | { readonly kind: 'send-failure' }
  /** Its worker died; `started` says whether it had taken the chunk up, `startup` whether it died starting. */
  | { readonly kind: 'worker-exit'; readonly started: boolean; readonly startup: boolean }
  /** The chunk ran out of time (and was cancelled). */
  | { readonly kind: 'timeout' }
  /** The backend lost it (a job gone from Redis): it may or may not have run. */
  | { readonly kind: 'lost' }
  /** The backend refused it with an error of its own (a Redis outage, a version mismatch). */
  | { readonly kind: 'backend-error' }
  /** Anything else that rejected the run. */
  | { readonly kind: 'unknown-error' };

/** What to do next. */
export type Decision =
  /** Every item of the chunk has its outcome: emit the successes (and report the failures, under skip and report). */
  | { readonly action: 'settle' }
  /** Send the run's items again (only those still without a value), and why. */
  | { readonly action: 'run-again'; readonly reason: Exclude<RunAgainReason, 'isolate'> }
  /** Run the items one by one, to find which kill their worker. */
  | { readonly action: 'isolate' }
  /** Report the run's items as crashed (one {@link WorkerCrashedError}) and settle the rest. */
  | { readonly action: 'report-crash' }
  /** End the flow; `because` names the kind of error to raise. */
  | { readonly action: 'fail'; readonly because: 'task' | 'load' | 'clone' | 'send' | 'timeout' | 'backend' | 'crash' };

/**
 * The engine's one decision table. Failed items are run again only while `retries` allow; a
 * success is never run again (the engine keeps it, and a run again carries only the items still
 * without a value). A chunk that never started runs again at no cost to its retries, unless its
 * buffers moved.
 */
export function decide(chunk: ChunkFacts, outcome: RunOutcome, policy: FailurePolicy): Decision {
  const canRetry = chunk.attempt <= policy.retries && !chunk.moved;
  switch (outcome.kind) {
    case 'answered':
      if (outcome.failed === 0) return { action: 'settle' };
      if (canRetry) return { action: 'run-again', reason: 'retry' };
      return policy.skipAndReport ? { action: 'settle' } : { action: 'fail', because: 'task' };
    case 'load-error':
      // Never retried: the same module fails the same way.
      return { action: 'fail', because: 'load' };
    case 'clone-failure':
      return { action: 'fail', because: 'clone' };
    case 'send-failure':
      return { action: 'fail', because: 'send' };
    case 'worker-exit': {
      if (!outcome.started && !outcome.startup && !chunk.moved && chunk.neverStarted < MAX_NEVER_STARTED) {
        return { action: 'run-again', reason: 'never-started' };
      }
      if (canRetry) return { action: 'run-again', reason: 'retry' };
      if (!outcome.startup && policy.skipAndReport) {
        return chunk.itemCount > 1 && !chunk.isPiece && !chunk.moved ? { action: 'isolate' } : { action: 'report-crash' };
      }
      return { action: 'fail', because: 'crash' };
    }
    case 'lost':
      // Counted with the never-started runs (one bound for runs again that cost no retry).
      if (!chunk.moved && chunk.neverStarted < MAX_NEVER_STARTED) return { action: 'run-again', reason: 'lost' };
      return { action: 'fail', because: 'backend' };
    case 'timeout':
      return canRetry ? { action: 'run-again', reason: 'retry' } : { action: 'fail', because: 'timeout' };
    case 'backend-error':
      return canRetry ? { action: 'run-again', reason: 'retry' } : { action: 'fail', because: 'backend' };
    case 'unknown-error':
      return canRetry ? { action: 'run-again', reason: 'retry' } : { action: 'fail', because: 'crash' };
  }
}
