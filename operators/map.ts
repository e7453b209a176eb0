/**
 * @packageDocumentation
 * `map`: transform each item on the main thread.
 */
import { concurrencyOf, runConcurrently, type ConcurrencyOptions } from '../lib/concurrent.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Transforms each item with a function, on the main thread. An async function is awaited before
 * the next item is read, unless `concurrency` lets several calls run at once (as Node's
 * `Readable.map`); their results come in input order unless `ordered` is `false`.
 *
 * @param project - called with each item and its 0-based index
 * @param options - `{ concurrency, ordered }` for async functions; see {@link ConcurrencyOptions}
 * @returns an {@link Operator} emitting the (awaited) results
 * @throws {@link InvalidOptionError} when `concurrency` is not a positive integer
 * @example
 * ```ts
 * import { setTimeout as sleep } from 'node:timers/promises';
 * import { flow, map } from 'millrace';
 * console.log(await flow(['a', 'b']).pipe(map((s, i) => `${i}:${s}`)).toArray()); // ['0:a', '1:b']
 * // Up to 64 async calls at once (a request, a query), results in input order:
 * const later = async (n: number): Promise<number> => (await sleep(10), n * 2);
 * console.log(await flow([1, 2, 3]).pipe(map(later, { concurrency: 64 })).toArray()); // [2, 4, 6]
 * ```
 * @category Transforms
 * @see {@link parallelMap} to run the function in worker threads
 */
export function map<In, Out>(project: (item: In, index: number) => Out, options: ConcurrencyOptions = {}): Operator<In, Awaited<Out>> {
  const concurrency = concurrencyOf(options);
  return defineOperator<In, Awaited<Out>>('map', async function* (source) {
    if (concurrency > 1) {
      yield* runConcurrently(source, concurrency, options.ordered ?? true, project as (item: In, index: number) => Awaited<Out>);
      return;
    }
    let index = 0;
    for await (const item of source) {
      const value = project(item, index++);
      yield isPromiseLike(value) ? await value : (value as Awaited<Out>);
    }
  });
}

/** Whether a value must be awaited; awaiting every value would cost a microtask per item. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}
