/**
 * Cancellation a task can see: inside a worker, {@link taskSignal} gives the running task an
 * `AbortSignal` that fires when the chunk it belongs to is no longer wanted.
 *
 * @packageDocumentation
 */

/**
 * Where the worker publishes the signal of the task call that is running: one holder object kept
 * on `globalThis` under a registered symbol, so that the worker and a task module's
 * `import { taskSignal } from 'millrace'` share it even when they load millrace through different
 * URLs. The worker sets `signal` just before it calls a task and clears it as soon as the call
 * returns (its synchronous part), which costs two property writes per item. {@link taskSignal}
 * sets `taken` when it hands the signal out: a thread worker makes a new signal for its next chunk
 * only after a task has taken one (or it aborted), since each costs more than a trivial chunk's task.
 */
export interface TaskSignalHolder {
  signal: AbortSignal | undefined;
  taken?: boolean;
}

const KEY = Symbol.for('millrace.taskSignalHolder');

/** The holder shared by the worker and task modules. */
// The property is optional (absent until the first module sets it); the rule misreads `??=` on a symbol key
// under exactOptionalPropertyTypes (typescript-eslint issue 10440).
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
export const taskSignalHolder: TaskSignalHolder = ((globalThis as { [KEY]?: TaskSignalHolder })[KEY] ??= { signal: undefined });

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
  const signal = taskSignalHolder.signal;
  if (signal === undefined) {
    throw new MillraceError("taskSignal() works only inside a task call in a worker, before the task's first await");
  }
  taskSignalHolder.taken = true;
  return signal;
}

import { MillraceError } from './errors.js';
