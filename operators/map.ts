/**
 * @packageDocumentation
 * `map`: transform each item on the main thread.
 */
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Transforms each item with a function, on the main thread; an async function is awaited before
 * the next item is read.
 *
 * @param project - called with each item and its 0-based index
 * @returns an {@link Operator} emitting the (awaited) results in order
 * @example
 * ```ts
 * import { flow, map } from 'millrace';
 * console.log(await flow(['a', 'b']).pipe(map((s, i) => `${i}:${s}`)).toArray()); // ['0:a', '1:b']
 * ```
 * @category Transforms
 * @see {@link parallelMap} to run the function in worker threads
 */
export function map<In, Out>(project: (item: In, index: number) => Out): Operator<In, Awaited<Out>> {
  return defineOperator<In, Awaited<Out>>('map', async function* (source) {
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
