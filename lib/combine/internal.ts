/**
 * What the combining functions share: closing an input without waiting on a read it has pending,
 * and a generator made closable while it waits.
 *
 * @packageDocumentation
 */
import { FlowClosedReason } from '../flow.js';

/** A short grace period for an input's asynchronous teardown before moving on. */
function settleSoon(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Closes an input (its `return()` destroys streams and stops walks). An input that is mid-read may
 * settle its `return()` only after that read, so teardown does not wait on it; an input failing
 * while it closes is not the flow's result.
 */
export async function closeQuietly(iterator: AsyncIterator<unknown> | undefined): Promise<void> {
  if (!iterator?.return) return;
  let closing: Promise<unknown>;
  try {
    closing = Promise.resolve(iterator.return());
  } catch {
    return;
  }
  await Promise.race([closing.catch(() => undefined), settleSoon()]);
}

/**
 * An async iterable over a generator whose every await races `signal`, made closable at any
 * time: `return()` aborts the generator's own signal, so a generator suspended at an await (which
 * a plain `return()` would queue behind) rejects there, runs its `finally` and closes its inputs.
 * That matters when the flow is itself a source (`flow(merge(a, b), { signal })`): the outer flow
 * closes it with `return()` while it waits.
 */
export function closable<T>(signal: AbortSignal, start: (signal: AbortSignal) => AsyncGenerator<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const controller = new AbortController();
      const onAbort = (): void => controller.abort(signal.reason);
      if (signal.aborted) controller.abort(signal.reason);
      else signal.addEventListener('abort', onAbort, { once: true });
      const detach = (): void => signal.removeEventListener('abort', onAbort);
      const generator = start(controller.signal);
      return {
        next: async () => {
          try {
            const result = await generator.next();
            if (result.done) detach();
            return result;
          } catch (error) {
            detach();
            throw error;
          }
        },
        return: async () => {
          if (!controller.signal.aborted) controller.abort(new FlowClosedReason());
          await generator.return(undefined).catch(() => undefined);
          detach();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
