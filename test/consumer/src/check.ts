// Small assertion helpers for the consumer program: type pins that fail tsc, and value checks
// that fail the run. Each check is one line in main.ts.
import { deepStrictEqual } from 'node:assert/strict';

/** `true` when X and Y are the same type (not merely assignable either way). */
// The well-known exact-equality trick: each `T` is used once on purpose (the two deferred conditional
// types are compared), so the rule's advice does not apply.
export type Equal<X, Y> =
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see above
  (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;

/**
 * Pins an inferred type: `typeOf(flow([1, 2, 3])).is<Flow<number>>()` returns the value, and is a
 * compile error ("Expected 1 arguments, but got 0") unless its type is exactly `Flow<number>`.
 */
export function typeOf<Actual>(value: Actual): {
  is<Expected>(..._mismatch: Equal<Actual, Expected> extends true ? [] : [Actual]): Actual;
} {
  return { is: () => value };
}

let passed = 0;

/** The number of checks that passed so far. */
export function passedChecks(): number {
  return passed;
}

async function run(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    throw new Error(`consumer check failed: ${name}`, { cause: error });
  }
  passed++;
}

/** Consumes `actual` (a flow, any async iterable, or a promise of an array) and compares its values. */
export function values<T>(name: string, actual: AsyncIterable<T> | PromiseLike<readonly T[]>, expected: readonly T[]): Promise<void> {
  return run(name, async () => {
    const seen: T[] = [];
    if (Symbol.asyncIterator in actual) for await (const value of actual) seen.push(value);
    else seen.push(...(await actual));
    deepStrictEqual(seen, expected);
  });
}

/** Compares one (awaited) value. */
export function equal<T>(name: string, actual: T | PromiseLike<T>, expected: T): Promise<void> {
  return run(name, async () => deepStrictEqual(await actual, expected));
}

/** Expects `action` to reject with an instance of `type` that passes `inspect`. */
export function rejects<E extends Error>(
  name: string,
  action: () => PromiseLike<unknown>,
  type: abstract new (...args: never[]) => E,
  inspect: (error: E) => boolean = () => true,
): Promise<void> {
  return run(name, async () => {
    let caught: unknown;
    try {
      await action();
    } catch (error) {
      caught = error;
    }
    if (!(caught instanceof type)) throw new Error(`expected a ${type.name}, got ${String(caught)}`, { cause: caught });
    if (!inspect(caught)) throw new Error(`${type.name} did not pass the check: ${caught.message}`, { cause: caught });
  });
}
