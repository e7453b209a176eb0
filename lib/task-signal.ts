/**
 * Cancellation a task can see: inside a worker, {@link taskSignal} gives the running task an
 * `AbortSignal` that fires when the chunk it belongs to is no longer wanted.
 *
 * @packageDocumentation
 */

/**
 * Where the worker publishes the signal of the item being called: a registered symbol on
 * `globalThis`, so that the worker entry and a task module's `import { taskSignal } from 'millrace'`
 * agree even when they load millrace through different URLs.
 */
const CURRENT = Symbol.for('millrace.currentTaskSignal');

type Slot = { [CURRENT]?: AbortSignal | undefined };

/** The worker's side: runs `call` with `signal` as the current task signal. */
export function withTaskSignal<T>(signal: AbortSignal, call: () => T): T {
  const slot = globalThis as Slot;
  const previous = slot[CURRENT];
  slot[CURRENT] = signal;
  try {
    return call();
  } finally {
    slot[CURRENT] = previous;
  }
}

/**
 * The `AbortSignal` of the task call that is running: it aborts when the task's flow is aborted,
 * broken out of, fails, or when the chunk's `timeoutMs` runs out, so an async task can stop its own
 * I/O. Call it synchronously at the start of the task, before its first `await` (the worker may
 * run other items while the task waits), and keep the signal.
 *
 * A task that ignores its signal is stopped anyway when it must be: the worker running it is ended
 * after a short grace period (see the reliability guide).
 *
 * @returns the signal of the current task call
 * @throws {@link MillraceError} when called outside a task call running in a worker, or after the
 *   task's first `await`
 * @example
 * ```ts
 * // fetch.tasks.ts
 * import { taskSignal } from 'millrace';
 * export async function fetchTitle(url: string): Promise<string> {
 *   const signal = taskSignal(); // before the first await
 *   const response = await fetch(url, { signal });
 *   return (await response.text()).match(/<title>(.*?)<\/title>/)?.[1] ?? '';
 * }
 * ```
 * @category Authoring
 */
export function taskSignal(): AbortSignal {
  const signal = (globalThis as Slot)[CURRENT];
  if (signal === undefined) {
    throw new MillraceError('taskSignal() works only inside a task call in a worker, before the task\'s first await');
  }
  return signal;
}

import { MillraceError } from './errors.js';
