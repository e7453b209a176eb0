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
  /** How many items may pass per `perMs` milliseconds (also the largest burst, from an idle flow). */
  readonly items: number;
  /** The time `items` items take, in milliseconds. */
  readonly perMs: number;
}

/**
 * Passes items at no more than `items` per `perMs` milliseconds, and pulls the source no faster: a
 * token bucket holding up to `items` tokens, refilled continuously at `items` per `perMs`, one
 * token spent per item. An idle flow may pass `items` at once; after that, items pass evenly
 * (`perMs / items` apart), and over any span of `t` ms at most `items + t × items / perMs` pass.
 * A late timer does not slow the long-run rate: the tokens that accrued meanwhile are spent at
 * once. Items are delayed, never dropped; to rate-limit calls to an API, put it before the `map`
 * that calls.
 *
 * @param options - the rate; see {@link ThrottleOptions}
 * @returns an {@link Operator} passing items unchanged
 * @throws {@link InvalidOptionError} when `items` is not a positive integer or `perMs` not a
 *   positive number
 * @example
 * ```ts
 * import { flow, map, throttle } from 'millrace';
 * // At most 5 calls a second to a rate-limited service (here a stand-in that echoes the id):
 * const call = async (id: number): Promise<string> => `done ${id}`;
 * const results = await flow([1, 2, 3])
 *   .pipe(throttle({ items: 5, perMs: 1_000 }), map(call, { concurrency: 5 }))
 *   .toArray();
 * console.log(results); // ['done 1', 'done 2', 'done 3']
 * ```
 * @category Transforms
 */
export function throttle<T>(options: ThrottleOptions): Operator<T, T> {
  const { items, perMs } = options;
  checkInteger('items', items, 1);
  if (typeof perMs !== 'number' || !(perMs > 0) || !Number.isFinite(perMs)) throw new InvalidOptionError('perMs', perMs, 'a positive number');
  const perToken = perMs / items;
  return defineOperator<T, T>('throttle', async function* (source, context) {
    let tokens = items;
    let refilled = performance.now();
    const refill = (): void => {
      const now = performance.now();
      tokens = Math.min(items, tokens + (now - refilled) / perToken);
      refilled = now;
    };
    const iterator = source[Symbol.asyncIterator]();
    for (;;) {
      refill();
      while (tokens < 1) {
        await sleep(Math.ceil((1 - tokens) * perToken), context.signal);
        refill();
      }
      tokens -= 1;
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
