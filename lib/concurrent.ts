/**
 * Main-thread concurrency for `map`, `filter` and `flatMap`: runs an async function over up to
 * `concurrency` items at once, emitting results in input order or as they settle.
 *
 * @packageDocumentation
 */
import { checkInteger, InvalidOptionError } from './errors.js';

/**
 * Options of `map`, `filter` and `flatMap` for async functions run on the main thread.
 *
 * @example
 * ```ts
 * import { flow, map, type ConcurrencyOptions } from 'millrace';
 * const options: ConcurrencyOptions = { concurrency: 16, ordered: false };
 * const sizes = await flow(['https://example.com']).pipe(map(async (url) => url.length, options)).toArray();
 * ```
 * @category Transforms
 */
export interface ConcurrencyOptions {
  /**
   * How many items may be taken from the source and not yet emitted (running, or finished and
   * waiting for an earlier one when `ordered`). The source is not read further until one is emitted.
   * @defaultValue `1` (one call at a time, awaited before the next item is read)
   */
  readonly concurrency?: number;
  /**
   * Emit results in input order; `false` emits each as it settles.
   * @defaultValue `true`
   */
  readonly ordered?: boolean;
}

/** Checks the options when the operator is built; returns the concurrency. */
export function concurrencyOf(options: ConcurrencyOptions): number {
  checkInteger('concurrency', options.concurrency, 1);
  if (options.ordered !== undefined && typeof options.ordered !== 'boolean') {
    throw new InvalidOptionError('ordered', options.ordered, 'a boolean');
  }
  return options.concurrency ?? 1;
}

/** One item taken from the source: its call's outcome once settled. */
interface Slot<R> {
  settled: boolean;
  value?: R;
  failure?: { error: unknown };
}

/**
 * Runs `run` over the source's items with up to `concurrency` of them taken and not yet emitted.
 * The first failure (of the source or of a call) ends the iteration with that error, unchanged;
 * calls still running are left to finish on their own, their results ignored.
 */
export async function* runConcurrently<In, R>(
  source: AsyncIterable<In>,
  concurrency: number,
  ordered: boolean,
  run: (item: In, index: number) => R | PromiseLike<R>,
): AsyncGenerator<R> {
  const iterator = source[Symbol.asyncIterator]();
  // Ordered: every slot in input order. Unordered: only settled slots, in settling order.
  const queue: Slot<R>[] = [];
  let taken = 0; // items read and not yet emitted
  let index = 0;
  let reading = false;
  let sourceDone = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  const settle = (slot: Slot<R>, outcome: { value: R } | { error: unknown }): void => {
    slot.settled = true;
    if ('error' in outcome) {
      failure ??= { error: outcome.error };
    } else {
      slot.value = outcome.value;
      if (!ordered) queue.push(slot);
    }
    notify();
  };

  const start = (item: In): void => {
    const slot: Slot<R> = { settled: false };
    if (ordered) queue.push(slot);
    let result: R | PromiseLike<R>;
    try {
      result = run(item, index++);
    } catch (error) {
      settle(slot, { error });
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        (value) => settle(slot, { value }),
        (error: unknown) => settle(slot, { error }),
      );
    } else {
      settle(slot, { value: result });
    }
  };

  const read = (): void => {
    reading = true;
    iterator.next().then(
      (result) => {
        reading = false;
        if (result.done) sourceDone = true;
        else {
          taken++;
          start(result.value);
        }
        notify();
      },
      (error: unknown) => {
        reading = false;
        sourceDone = true;
        failure ??= { error };
        notify();
      },
    );
  };

  // A function, not an inline test: the callbacks above set `failure` while this generator is paused.
  const rethrow = (): void => {
    if (failure) throw failure.error;
  };
  for (;;) {
    rethrow();
    // Emit what is ready; ordered output waits for the oldest item.
    while (queue.length > 0 && queue[0]!.settled) {
      const slot = queue.shift()!;
      taken--;
      yield slot.value as R;
      rethrow();
    }
    if (sourceDone && taken === 0) return;
    if (!reading && !sourceDone && taken < concurrency) {
      read();
      continue;
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
}

/** Whether a value must be awaited. */
function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}
