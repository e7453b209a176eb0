/**
 * @packageDocumentation
 * `flatMap`: one item in, any number out.
 */
import { planItems, runItems, type ConcurrencyOptions, type ItemContext } from '../lib/concurrent.js';
import { toAsyncIterable } from '../lib/flow.js';
import { abortable, defineOperator, type Operator } from '../lib/operator.js';

/**
 * Maps each item to an iterable or async iterable (or a promise of an iterable) and emits its
 * values. With `concurrency`, up to that many calls of `project` run at once (as Node's
 * `Readable.flatMap`); the iterables they return are still read one after another, in input order
 * unless `ordered` is `false` (then in the order the calls settle). A call of `project` that fails
 * is retried, reported or ends the flow as {@link map}'s function does (`retries`, `onError`,
 * `timeoutMs`); reading an inner iterable is not retried (its values may already be out).
 *
 * @param project - called with each item and an {@link ItemContext}: `{ signal, index, attempt }`
 * @param options - concurrency, order and the per-item failure policy; see {@link ConcurrencyOptions}
 * @returns an {@link Operator} emitting the flattened values
 * @throws {@link InvalidOptionError} when an option is out of range (`concurrency` not a positive integer, ...)
 * @example
 * ```ts
 * import { flatMap, flow } from 'millrace';
 * const words = await flow(['a b', 'c']).pipe(flatMap((line) => line.split(' '))).toArray(); // ['a', 'b', 'c']
 * const pages = await flow([1, 2, 3]).pipe(flatMap(async (n) => [n, n * 10], { concurrency: 3 })).toArray(); // [1, 10, 2, 20, 3, 30]
 * const marked = await flow(['x', 'y']).pipe(flatMap((s, { index }) => [s, index])).toArray(); // ['x', 0, 'y', 1]
 * ```
 * @category Transforms
 */
export function flatMap<In, Out>(
  project: (item: In, context: ItemContext) => Iterable<Out> | AsyncIterable<Out> | Promise<Iterable<Out> | AsyncIterable<Out>>,
  options: ConcurrencyOptions<In> = {},
): Operator<In, Out> {
  const plan = planItems(project.name || 'flatMap', options);
  return defineOperator<In, Out>('flatMap', async function* (source, context) {
    for await (const inner of runItems(source, context.signal, plan, project)) yield* flatten(inner, context.signal);
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
