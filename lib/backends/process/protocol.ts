/**
 * The messages between the process backend (main process) and its child processes, one type per
 * direction, shared by both sides. They travel over the child's IPC channel with Node's
 * `'advanced'` serialization (V8's serializer, the structured clone of threads), so items and
 * results keep Maps, Sets, Dates, typed arrays and BigInts. The answers a child gives that a worker
 * thread gives too ('done', 'stray-rejection', 'crashing') are the thread protocol's own messages.
 *
 * @packageDocumentation
 */
import type { ChunkRequest } from '../../backend.js';
import type { FromWorker } from '../worker-side/messages.js';

/** What a child is started with (its one command-line argument, as JSON). */
export interface ChildConfig {
  /** When millrace runs from source: `millrace` → `lib/index.ts`, for task modules that import it. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** How long each task module's `teardown()` may take when the child leaves. */
  readonly teardownTimeoutMs: number;
  /** Report the child's heap after each chunk (`maxWorkerMemoryMb` is set). */
  readonly reportHeap?: boolean;
}

/** The file, in the child's report directory, where its Node.js writes its report on a fatal error. */
export const FATAL_REPORT = 'fatal-error.json';

/** Main process → child. */
export type ToChild =
  /**
   * A chunk to run now: a child is sent a chunk only when it holds none, so every chunk a child
   * holds has started (there is no inbox to take one back from). `timed`: the chunk has a time
   * budget, so say when its items start and end ('started', 'finished').
   */
  | {
      readonly type: 'run';
      readonly id: number;
      readonly request: ChunkRequest;
      readonly timed: boolean;
      /** Someone displays the chunk's task progress: send what its tasks report (`reportProgress`). */
      readonly progress?: boolean;
    }
  /** The chunk's flow no longer wants it: abort its task signal and start no more of its items. */
  | { readonly type: 'cancel'; readonly id: number; readonly reason: 'abort' | 'timeout' }
  /** Leave: run the task modules' teardowns, then exit (pool closed, idle timeout, recycling). */
  | { readonly type: 'leave' };

/** Child → main process. */
export type FromChild =
  /**
   * The child is up and listening; `reportDirectory` is its own directory for the report Node
   * writes on a fatal error (see child.ts), to read and remove if it dies.
   */
  | { readonly type: 'ready'; readonly pid: number; readonly reportDirectory: string }
  /** The chunk's task module is loaded and its first item starts (timed chunks only). */
  | { readonly type: 'started'; readonly id: number }
  /** The chunk's items are done; its response follows (timed chunks only). */
  | { readonly type: 'finished'; readonly id: number }
  | Extract<FromWorker, { readonly type: 'done' | 'progress' | 'stray-rejection' | 'crashing' | 'finished-so-far' }>;
