/**
 * @packageDocumentation
 * `map`: transform each item on the main thread.
 */
import { isPromiseLike, planItems, runItems, type ConcurrencyOptions, type ItemContext } from '../lib/concurrent.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Transforms each item with a function, on the main thread. An async function is awaited before
 * the next item is read, unless `concurrency` lets several calls run at once (as Node's
 * `Readable.map`); their results come in input order unless `ordered` is `false`, and a slow
 * item holds only its place in the output (see `maxBuffered`), not the other calls.
 *
 * A call that throws or rejects (or runs past `timeoutMs`) is called again up to `retries` times,
 * after a backoff; an item that succeeded is never called again. An item that still fails is a
 * {@link TaskError} naming it (`item`, `index`, `attempts`, `cause`): it ends the flow, or, with an
 * `onError` function, is reported to it once and left out of the output.
 *
 * @param project - called with each item and an {@link ItemContext}: `{ signal, index, attempt }`
 *   (the `signal` aborts when the flow stops or the call times out)
 * @param options - concurrency, order and the per-item failure policy; see {@link ConcurrencyOptions}
 * @returns an {@link Operator} emitting the (awaited) results
 * @throws {@link InvalidOptionError} when an option is out of range (`concurrency` not a positive integer, ...)
 * @example
 * ```ts
 * import { setTimeout as sleep } from 'node:timers/promises';
 * import { flow, map, TaskError } from 'millrace';
 * console.log(await flow(['a', 'b']).pipe(map((s, { index }) => `${index}:${s}`)).toArray()); // ['0:a', '1:b']
 * // Up to 64 async calls at once (a request, a query), results in input order:
 * const later = async (n: number, { signal }: { signal: AbortSignal }): Promise<number> => (await sleep(10, undefined, { signal }), n * 2);
 * console.log(await flow([1, 2, 3]).pipe(map(later, { concurrency: 64 })).toArray()); // [2, 4, 6]
 * // A flaky call gets two more tries; an item that still fails is reported and left out:
 * const flaky = (n: number, { attempt }: { attempt: number }): number => {
 *   if (n === 2 && attempt < 3) throw new Error('try again');
 *   if (n === 3) throw new Error('never');
 *   return n;
 * };
 * const failed: TaskError<number>[] = [];
 * const kept = await flow([1, 2, 3]).pipe(map(flaky, { retries: 2, retryDelayMs: 1, onError: (error) => failed.push(error) })).toArray();
 * console.log(kept, failed.map((error) => `${error.index}:${error.attempts}`)); // [1, 2] ['2:3']
 * ```
 * @category Transforms
 * @see {@link parallelMap} to run the function in worker threads
 */
export function map<In, Out>(
  project: (item: In, context: ItemContext) => Out,
  options: ConcurrencyOptions<In> = {},
): Operator<In, Awaited<Out>> {
  const plan = planItems(project.name || 'map', options);
  // `Out` may be a promise of the result: the runner awaits what the call returns.
  const run = project as (item: In, context: ItemContext) => Awaited<Out> | PromiseLike<Awaited<Out>>;
  return defineOperator<In, Awaited<Out>>('map', (source, context) => runItems(source, context.signal, plan, run));
}

export { isPromiseLike };
