/**
 * How long a cancelled chunk's worker (a thread or a child process) may take to let go after its
 * `taskSignal()` aborts, before the backend ends it. Both local backends use it, so a task that
 * honours its signal keeps its worker wherever it runs.
 *
 * @packageDocumentation
 */

/**
 * How long a cancelled chunk's task has to notice its `taskSignal()` and return before its worker
 * is ended: long enough for an async task to stop its I/O, short enough that a synchronous task
 * that cannot see the signal holds a worker only briefly.
 */
export const CANCEL_GRACE_MS = 100;
