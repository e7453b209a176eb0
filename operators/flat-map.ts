/**
 * @packageDocumentation
 * `flatMap`: one item in, any number out.
 */
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Maps each item to an iterable or async iterable (or a promise of an iterable) and emits its
 * values in order.
 *
 * @param project - called with each item and its 0-based index
 * @returns an {@link Operator} emitting the flattened values
 * @example
 * ```ts
 * import { flatMap, flow } from 'millrace';
 * const words = await flow(['a b', 'c']).pipe(flatMap((line) => line.split(' '))).toArray(); // ['a', 'b', 'c']
 * ```
 * @category Transforms
 */
export function flatMap<In, Out>(
  project: (item: In, index: number) => Iterable<Out> | AsyncIterable<Out> | Promise<Iterable<Out> | AsyncIterable<Out>>,
): Operator<In, Out> {
  return defineOperator<In, Out>('flatMap', async function* (source) {
    let index = 0;
    for await (const item of source) yield* await project(item, index++);
  });
}
