/**
 * `window`: group items into arrays that close after `count` items or `ms` milliseconds, whichever
 * comes first. The operator has to wait on two things at once (the next item, a timer), so it
 * keeps one read of the source pending across timer flushes instead of starting another.
 */
import { defineOperator, InvalidOptionError, type Operator } from 'millrace';

/** Options for {@link window}. */
export interface WindowOptions {
  /** Items at most per window. */
  readonly count: number;
  /** Milliseconds at most between a window's first item and its emission. */
  readonly ms: number;
}

const TIMEOUT = Symbol('timeout');

/**
 * Groups items into arrays, emitting a window when it holds `count` items or when `ms` have passed
 * since its first item; a slow source still gets its items out on time.
 *
 * @throws {@link InvalidOptionError} when `count` is not a positive integer or `ms` not positive
 */
export function window<T>(options: WindowOptions): Operator<T, T[]> {
  const { count, ms } = options;
  // Checked when the operator is built, not when it runs: bad options fail at the call site.
  if (!Number.isInteger(count) || count < 1) throw new InvalidOptionError('count', count, 'an integer from 1 up');
  if (!(ms > 0)) throw new InvalidOptionError('ms', ms, 'a positive number of milliseconds');

  return defineOperator<T, T[]>('window', async function* (source) {
    const input = source[Symbol.asyncIterator]();
    let buffer: T[] = [];
    let timer: NodeJS.Timeout | undefined;
    let deadline: Promise<typeof TIMEOUT> | undefined;
    let read: Promise<IteratorResult<T>> | undefined;
    const take = (): T[] => {
      clearTimeout(timer);
      deadline = undefined;
      const full = buffer;
      buffer = [];
      return full;
    };
    try {
      for (;;) {
        // One read stays pending across timer flushes: calling next() again would skip an item.
        read ??= input.next();
        const result = deadline ? await Promise.race([read, deadline]) : await read;
        if (result === TIMEOUT) {
          yield take();
          continue;
        }
        read = undefined;
        if (result.done) break;
        buffer.push(result.value);
        if (buffer.length === 1) {
          deadline = new Promise((resolve) => {
            timer = setTimeout(() => resolve(TIMEOUT), ms);
          });
        }
        if (buffer.length >= count) yield take();
      }
      if (buffer.length > 0) yield take();
    } finally {
      // Stopped early or failed: no timer may outlive the operator.
      clearTimeout(timer);
    }
  });
}
