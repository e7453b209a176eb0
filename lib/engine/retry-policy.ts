/**
 * What happens to an item whose call fails: how often it runs again, how long it waits first, how
 * long one call may take, and whether the last failure ends the flow or is reported. Written once
 * for every kind of operator (main-thread functions now, the worker engine next); it imports only
 * the error classes and the timer cap, so any layer may use it.
 *
 * @packageDocumentation
 */
import { checkInteger, InvalidOptionError, type TaskError } from '../errors.js';
import { MAX_TIMER_MS } from '../timers.js';

/** The longest backoff before a retry, in milliseconds, however many attempts came before. */
export const MAX_RETRY_DELAY_MS = 30_000;

/**
 * What happens to an item whose call failed for the last time: `'fail'` ends the flow with the
 * {@link TaskError}; a function is called with it once, and the flow goes on without the item. What
 * it returns is ignored, except a promise (an async function): that is not awaited (the other items
 * go on), but if it rejects, or the function throws, the flow ends with that error.
 *
 * @example
 * ```ts
 * import type { ItemErrorPolicy } from 'millrace';
 * const skipped: number[] = [];
 * const policy: ItemErrorPolicy<number> = (error) => {
 *   skipped.push(error.item);
 * };
 * ```
 * @category Transforms
 */
export type ItemErrorPolicy<In> = 'fail' | ((error: TaskError<In>) => unknown);

/**
 * The per-item failure options: retries with backoff, a time budget per call, and what to do with
 * an item that still fails.
 *
 * @example
 * ```ts
 * import { flow, map, type ItemPolicyOptions } from 'millrace';
 * const policy: ItemPolicyOptions<string> = { retries: 2, retryDelayMs: 50, timeoutMs: 5_000, onError: (error) => console.error(error.message) };
 * const lengths = await flow(['a', 'bb']).pipe(map(async (s: string) => s.length, { concurrency: 8, ...policy })).toArray();
 * console.log(lengths); // [1, 2]
 * ```
 * @category Transforms
 */
export interface ItemPolicyOptions<In = unknown> {
  /**
   * How many times an item whose call failed (threw, rejected, or ran past `timeoutMs`) is called
   * again before the failure counts. Only the failed item runs again: an item that succeeded is
   * never called twice.
   * @defaultValue `0`
   */
  readonly retries?: number | undefined;
  /**
   * Backoff before a retry, in milliseconds: the n-th retry waits about `retryDelayMs × 2^(n-1)`,
   * at most 30 s, with equal jitter (half of it fixed, half random) so that items failing together
   * do not all come back at the same moment. See {@link retryDelayMs}.
   * @defaultValue `100`
   */
  readonly retryDelayMs?: number | undefined;
  /**
   * What an item that failed its last attempt does to the flow: `'fail'` ends it with a
   * {@link TaskError}; a function receives that error once (the item's `item`, `index`, `attempts`
   * and `cause`) and the flow goes on without the item. A function that throws, or returns a
   * promise that rejects, ends the flow with that error.
   * @defaultValue `'fail'`
   */
  readonly onError?: ItemErrorPolicy<In> | undefined;
  /**
   * Time budget of one call, in milliseconds. When it runs out the call's `signal` aborts with an
   * {@link ItemTimeoutError}, and the attempt counts as failed at once (a call that ignores its
   * signal is no longer waited for).
   * @defaultValue no timeout
   */
  readonly timeoutMs?: number | undefined;
}

/**
 * {@link ItemPolicyOptions} checked, with their defaults filled in.
 *
 * @example
 * ```ts
 * import { checkItemPolicy, type ItemPolicy } from 'millrace';
 * const policy: ItemPolicy<number> = checkItemPolicy<number>({ retries: 1 });
 * console.log(policy.retries, policy.retryDelayMs, policy.onError); // 1 100 fail
 * ```
 * @category Transforms
 */
export interface ItemPolicy<In> {
  /** Calls after the first that a failing item gets. */
  readonly retries: number;
  /** The backoff's base, in milliseconds. */
  readonly retryDelayMs: number;
  /** What an item that failed for good does to the flow. */
  readonly onError: ItemErrorPolicy<In>;
  /** The budget of one call in milliseconds, capped to what a timer can wait; `undefined`: none. */
  readonly timeoutMs: number | undefined;
}

/**
 * Checks the per-item failure options when an operator is built, and fills in their defaults.
 *
 * @param options - the operator's options (other fields are ignored)
 * @returns the checked policy
 * @throws {@link InvalidOptionError} when `retries` or `retryDelayMs` is not an integer from 0,
 *   `timeoutMs` not a positive number (`Infinity`: none), or `onError` neither `'fail'` nor a function
 * @example
 * ```ts
 * import { checkItemPolicy, InvalidOptionError } from 'millrace';
 * console.log(checkItemPolicy({ timeoutMs: Infinity }).timeoutMs); // undefined
 * try {
 *   checkItemPolicy({ retries: -1 });
 * } catch (error) {
 *   console.log(error instanceof InvalidOptionError); // true
 * }
 * ```
 * @category Transforms
 */
export function checkItemPolicy<In = unknown>(options: ItemPolicyOptions<In>): ItemPolicy<In> {
  checkInteger('retries', options.retries, 0);
  checkInteger('retryDelayMs', options.retryDelayMs, 0);
  const { timeoutMs, onError } = options;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0)) {
    throw new InvalidOptionError('timeoutMs', timeoutMs, 'a positive number of milliseconds (Infinity: none)');
  }
  // The types rule these out, but options often come from JavaScript or configuration files.
  if (onError !== undefined && onError !== 'fail' && typeof onError !== 'function') {
    throw new InvalidOptionError('onError', onError, "'fail' or a function");
  }
  return {
    retries: options.retries ?? 0,
    retryDelayMs: options.retryDelayMs ?? 100,
    onError: onError ?? 'fail',
    // Beyond what a timer can wait, a budget never runs out: no timer at all.
    timeoutMs: timeoutMs === undefined || timeoutMs >= MAX_TIMER_MS ? undefined : timeoutMs,
  };
}

/**
 * The backoff before running a failed item again: exponential, `baseMs × 2^(attempt-1)` capped at
 * 30 s, with "equal jitter": half of that is waited for sure and the other half is random, so the
 * wait never drops below half the exponential step (a failing dependency is not hammered) while
 * items that failed together (a brief outage) do not all come back at the same moment.
 *
 * @param attempt - the number of the attempt that just failed (1 for the first call)
 * @param baseMs - the backoff's base (the `retryDelayMs` option), in milliseconds
 * @param random - a source of numbers in [0, 1); tests pass a fixed one
 * @returns the delay in milliseconds, from `step / 2` up to (not including) `step`
 * @example
 * ```ts
 * import { retryDelayMs } from 'millrace';
 * console.log(retryDelayMs(1, 100, () => 0)); // 50
 * console.log(retryDelayMs(3, 100, () => 0.5)); // 300
 * console.log(retryDelayMs(20, 100, () => 0)); // 15000
 * ```
 * @category Transforms
 */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const step = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  const half = step / 2;
  return half + random() * half;
}
