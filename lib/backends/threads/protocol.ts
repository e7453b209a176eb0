/**
 * The messages between the thread backend (main thread) and its workers, one type per direction,
 * shared by both sides so neither can send what the other does not read.
 *
 * A worker is attached through one long-running tinypool task that hands it a `MessagePort` of
 * ours ({@link AttachTask}); chunks then travel on that port, not as tinypool tasks. See
 * thread-backend.ts for why the channel is ours.
 *
 * @packageDocumentation
 */
import type { MessagePort } from 'node:worker_threads';
import type { ChunkRequest, StartClock } from '../../backend.js';
import type { FromWorker } from '../worker-side/messages.js';

export type { FromWorker };

/** The tinypool task that attaches a worker: it resolves when the worker is detached. */
export interface AttachTask {
  /** The worker's end of the channel. */
  readonly port: MessagePort;
  /** The pool's claim cells (see claims.ts). */
  readonly cells: Int32Array;
  /** When millrace runs from source: `millrace` → `lib/index.ts`, for task modules that import it. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** How long each task module's `teardown()` may take when the worker leaves. */
  readonly teardownTimeoutMs?: number;
  /** Report the worker's heap after each chunk (`maxWorkerMemoryMb` is set). */
  readonly reportHeap?: boolean;
}

/** A chunk to run. */
export interface RunMessage {
  readonly type: 'run';
  /** The chunk's id on this channel. */
  readonly id: number;
  /** Its claim cell and ticket (claims.ts). */
  readonly slot: number;
  readonly ticket: number;
  readonly request: ChunkRequest;
  /** Where the worker stamps when it takes the chunk up, starts it and finishes it. */
  readonly clock?: StartClock;
  /** Someone displays the chunk's task progress: send what its tasks report (`reportProgress`). */
  readonly progress?: boolean;
}

/** Main thread → worker. */
export type ToWorker =
  | RunMessage
  /** Several chunks for the same worker at once, in the order they are to run (one message: one wake-up). */
  | { readonly type: 'runs'; readonly runs: readonly RunMessage[] }
  /** The chunk's flow no longer wants it: abort its task signal and start no more of its items. */
  | { readonly type: 'cancel'; readonly id: number; readonly reason: 'abort' | 'timeout' }
  /** No more chunks for now: resolve the attach task (the worker goes back to tinypool, idle). */
  | { readonly type: 'detach' };
