/**
 * What a worker sends the main side, whatever the worker is (a thread of this process or a child
 * process): one message type, so both backends read answers the same way.
 *
 * @packageDocumentation
 */
import type { SerializedError } from '../../errors.js';
import type { ChunkResponse, FinishedItems } from '../../backend.js';

/** Worker → main side. */
export type FromWorker =
  /** The channel is up; `firstAttach` on a new thread's first channel (it paid the start-up). */
  | { readonly type: 'ready'; readonly threadId: number; readonly firstAttach: boolean }
  /** A chunk's response (task failures are data inside it), with the task progress reported since the last 'progress'. */
  | { readonly type: 'done'; readonly id: number; readonly response: ChunkResponse; readonly heapUsed?: number; readonly progress?: number }
  /** What a running chunk's tasks reported (`reportProgress`), added up: sent at most every 100 ms. */
  | { readonly type: 'progress'; readonly id: number; readonly amount: number }
  /** The chunk had been withdrawn before this worker could take it up: it never ran. */
  | { readonly type: 'skipped'; readonly id: number }
  /** A task left a rejected promise nobody handled; it is reported, not allowed to end the worker. */
  | { readonly type: 'stray-rejection'; readonly message: string }
  /** The worker is about to die of an uncaught error (sent from `uncaughtExceptionMonitor`). */
  | { readonly type: 'crashing'; readonly error: SerializedError }
  /**
   * Sent after 'crashing' or 'exiting' (a message of its own, so that a big one cannot keep the
   * reason from going out): what the running chunk's items had finished.
   */
  | { readonly type: 'finished-so-far'; readonly id: number; readonly finished: FinishedItems }
  /** The worker thread is exiting (`process.exit(code)` in a task, say). */
  | { readonly type: 'exiting'; readonly code: number };
