/**
 * @packageDocumentation
 * `flatMap`: one item in, any number out.
 */
import { concurrencyOf, runConcurrently, type ConcurrencyOptions } from '../lib/concurrent.js';
import { toAsyncIterable } from '../lib/flow.js';
import { abortable, defineOperator, type Operator } from '../lib/operator.js';

/**
 * Maps each item to an iterable or async iterable (or a promise of an iterable) and emits its
 * values. With `concurrency`, up to that many calls of `project` run at once (as Node's
 * `Readable.flatMap`); the iterables they return are still read one after another, in input order
 * unless `ordered` is `false` (then in the order the calls settle).
 *
 * @param project - called with each item and its 0-based index
 * @param options - `{ concurrency, ordered }` for async functions; see {@link ConcurrencyOptions}
 * @returns an {@link Operator} emitting the flattened values
 * @throws {@link InvalidOptionError} when `concurrency` is not a positive integer
 * @example
 * ```ts
 * import { flatMap, flow } from 'millrace';
 * const words = await flow(['a b', 'c']).pipe(flatMap((line) => line.split(' '))).toArray(); // ['a', 'b', 'c']
 * const pages = await flow([1, 2, 3]).pipe(flatMap(async (n) => [n, n * 10], { concurrency: 3 })).toArray(); // [1, 10, 2, 20, 3, 30]
 * ```
 * @category Transforms
 */
export function flatMap<In, Out>(
  project: (item: In, index: number) => Iterable<Out> | AsyncIterable<Out> | Promise<Iterable<Out> | AsyncIterable<Out>>,
  options: ConcurrencyOptions = {},
): Operator<In, Out> {
  const concurrency = concurrencyOf(options);
  return defineOperator<In, Out>('flatMap', async function* (source, context) {
    if (concurrency > 1) {
      for await (const inner of runConcurrently(source, concurrency, options.ordered ?? true, project)) {
        yield* flatten(inner, context.signal);
      }
      return;
    }
    let index = 0;
    for await (const item of source) yield* flatten(await project(item, index++), context.signal);
  });
}

/** The values of one inner iterable. */
async function* flatten<Out>(inner: Iterable<Out> | AsyncIterable<Out>, signal: AbortSignal): AsyncGenerator<Out> {
  if (typeof (inner as Partial<AsyncIterable<Out>>)[Symbol.asyncIterator] !== 'function') {
    yield* inner as Iterable<Out>;
    return;
  }
  // An async inner iterable is read racing the flow's signal and closed however this ends: an
  // abort mid-read would otherwise leave it (a file stream, say) open for good.
  const iterator = toAsyncIterable(inner as AsyncIterable<Out>)[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const result = await abortable(iterator.next(), signal);
      if (result.done) break;
      yield result.value;
    }
    finished = true;
  } finally {
    if (!finished) void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
