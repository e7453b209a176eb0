/**
 * @packageDocumentation
 * `flatMap`: one item in, any number out.
 */
import { toAsyncIterable } from '../lib/flow.js';
import { abortable, defineOperator, type Operator } from '../lib/operator.js';

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
  return defineOperator<In, Out>('flatMap', async function* (source, context) {
    let index = 0;
    for await (const item of source) {
      const inner = await project(item, index++);
      if (typeof (inner as Partial<AsyncIterable<Out>>)[Symbol.asyncIterator] !== 'function') {
        yield* inner as Iterable<Out>;
        continue;
      }
      // An async inner iterable is read racing the flow's signal and closed however this ends: an
      // abort mid-read would otherwise leave it (a file stream, say) open for good.
      const iterator = toAsyncIterable(inner as AsyncIterable<Out>)[Symbol.asyncIterator]();
      let finished = false;
      try {
        for (;;) {
          const result = await abortable(iterator.next(), context.signal);
          if (result.done) break;
          yield result.value;
        }
        finished = true;
      } finally {
        if (!finished) void Promise.resolve(iterator.return?.()).catch(() => undefined);
      }
    }
  });
}
