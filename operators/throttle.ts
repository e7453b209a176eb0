/**
 * @packageDocumentation
 * `throttle`: at most so many items per time window.
 */
import { checkInteger, InvalidOptionError } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Options for {@link throttle}.
 *
 * @example
 * ```ts
 * import { flow, throttle, type ThrottleOptions } from 'millrace';
 * const tenPerSecond: ThrottleOptions = { items: 10, perMs: 1_000 };
 * await flow([1, 2, 3]).pipe(throttle(tenPerSecond)).toArray();
 * ```
 * @category Transforms
 */
export interface ThrottleOptions {
  /** How many items may pass in any window of `perMs` milliseconds (also the largest burst). */
  readonly items: number;
  /** The window's length in milliseconds. */
  readonly perMs: number;
}

/**
 * Passes at most `items` items in any `perMs` milliseconds, and pulls the source no faster: a
 * token bucket of `items` tokens in which each token comes back `perMs` after it was spent (so
 * an idle flow may burst `items` at once, and the long-run rate is `items / perMs`). Items are
 * delayed, never dropped; for rate-limiting calls to an API, put it before the `map` that calls.
 *
 * @param options - the rate; see {@link ThrottleOptions}
 * @returns an {@link Operator} passing items unchanged
 * @throws {@link InvalidOptionError} when `items` is not a positive integer or `perMs` not a
 *   positive number
 * @example
 * ```ts
 * import { flow, map, throttle } from 'millrace';
 * const urls = ['https://example.com/a', 'https://example.com/b'];
 * const pages = await flow(urls)
 *   .pipe(throttle({ items: 5, perMs: 1_000 }), map((url) => fetch(url), { concurrency: 5 }))
 *   .toArray();
 * ```
 * @category Transforms
 */
export function throttle<T>(options: ThrottleOptions): Operator<T, T> {
  const { items, perMs } = options;
  checkInteger('items', items, 1);
  if (typeof perMs !== 'number' || !(perMs > 0) || !Number.isFinite(perMs)) throw new InvalidOptionError('perMs', perMs, 'a positive number');
  return defineOperator<T, T>('throttle', async function* (source, context) {
    // When each of the last `items` pulls started: a ring, oldest at `next` once full.
    const started: number[] = [];
    let next = 0;
    const iterator = source[Symbol.asyncIterator]();
    for (;;) {
      if (started.length === items) {
        const wait = started[next]! + perMs - performance.now();
        if (wait > 0) await sleep(wait, context.signal);
      }
      const now = performance.now();
      if (started.length < items) started.push(now);
      else {
        started[next] = now;
        next = (next + 1) % items;
      }
      const result = await iterator.next();
      if (result.done) return;
      yield result.value;
    }
  });
}

/** Waits `ms`, or rejects with the signal's reason at once on abort (clearing the timer). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
