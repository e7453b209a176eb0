/**
 * @packageDocumentation
 * `reduceBy`: fold by key, on the main thread or two-tier with partial folds in the workers.
 */
import { checkpointed } from '../lib/checkpoint/layer.js';
import { dispatch } from '../lib/engine/dispatch.js';
import { checkParallelOptions, type DispatchSpec, type ParallelOptions } from '../lib/engine/options.js';
import { InvalidOptionError } from '../lib/errors.js';
import { defineOperator, type Operator } from '../lib/operator.js';
import { taskName, taskSpec, type TaskRef } from '../lib/tasks.js';
import { isPromiseLike } from './map.js';

/**
 * Options for the two-tier form of {@link reduceBy}.
 *
 * @example
 * ```ts
 * import type { ReduceByOptions } from 'millrace';
 * const options: ReduceByOptions<number> = { combine: (a, b) => a + b, chunkSize: 10_000 };
 * ```
 * @category Aggregation
 */
export interface ReduceByOptions<A> extends ParallelOptions {
  /** Merges two partial accumulators of the same key, on the main thread (tier 2). */
  readonly combine: (left: A, right: A) => A;
}

/**
 * Folds items by key and emits `[key, accumulator]` pairs, in first-seen key order, when the
 * input ends.
 *
 * The main-thread form takes functions; any value a `Map` can hold is a key. The two-tier form
 * takes task references for the key and the fold: each chunk is folded inside a worker into
 * partial accumulators (the map-side combine), which the main thread merges with
 * `options.combine`; keys and accumulators must then be structured-cloneable.
 *
 * @param key - the item's key
 * @param reducer - `(accumulator, item) => accumulator`
 * @param initial - the first accumulator of each key; a function is called per key to make a fresh
 *   (mutable) one (in the two-tier form, an object initial is structured-cloned per key instead)
 * @returns an {@link Operator} emitting one `[key, accumulator]` pair per key
 * @throws {@link InvalidOptionError} when the two-tier form lacks `combine`
 * @example
 * ```ts
 * import { flow, reduceBy, tasks } from 'millrace';
 * const counts = await flow(['a', 'b', 'a']).pipe(reduceBy((w) => w, (n: number) => n + 1, 0)).toArray();
 * console.log(counts); // [['a', 2], ['b', 1]]
 *
 * // Two-tier: words.tasks.ts exports `word(s: string): string` and `count(n: number, s: string): number`.
 * const words = tasks<typeof import('./words.tasks.js')>(new URL('./words.tasks.js', import.meta.url));
 * const totals = await flow(['x', 'y', 'x'])
 *   .pipe(reduceBy(words.word, words.count, 0, { combine: (a, b) => a + b }))
 *   .toArray(); // [['x', 2], ['y', 1]]
 * ```
 * @category Aggregation
 * @see {@link reduce} for a single accumulator
 */
export function reduceBy<T, K, A>(
  key: (item: T) => K,
  reducer: (accumulator: A, item: T) => A,
  initial: A | (() => A),
): Operator<T, [K, A]>;
/**
 * The two-tier form of {@link reduceBy}: each chunk is folded by key inside a worker, and the
 * partial accumulators are merged on the main thread with `options.combine`.
 *
 * @param key - a task giving the item's key
 * @param reducer - a task `(accumulator, item) => accumulator`
 * @param initial - the first accumulator of each key (structured-cloned per key)
 * @param options - `combine` (required: merges two partials of a key) and the worker options of
 *   {@link ParallelOptions}
 * @returns an {@link Operator} emitting one `[key, accumulator]` pair per key
 * @throws {@link InvalidOptionError} without `combine`, or for bad worker options
 */
export function reduceBy<T, K, A>(
  key: TaskRef<[T], K>,
  reducer: TaskRef<[A, T], A>,
  initial: A,
  options: ReduceByOptions<A>,
): Operator<T, [K, A]>;
export function reduceBy<T, K, A>(
  key: ((item: T) => K) | TaskRef<[T], K>,
  reducer: ((accumulator: A, item: T) => A) | TaskRef<[A, T], A>,
  initial: A | (() => A),
  options?: ReduceByOptions<A>,
): Operator<T, [K, A]> {
  if (typeof key === 'function' && typeof reducer === 'function') {
    return inThread(key, reducer, initial);
  }
  if (typeof key === 'function' || typeof reducer === 'function') {
    throw new InvalidOptionError('reduceBy', 'a function and a task reference', 'both functions, or both task references');
  }
  if (!options || typeof options.combine !== 'function') {
    throw new InvalidOptionError('combine', options?.combine, 'a function (left, right) => merged, for the two-tier reduceBy');
  }
  return twoTier(key, reducer, initial as A, options);
}

function inThread<T, K, A>(key: (item: T) => K, reducer: (accumulator: A, item: T) => A, initial: A | (() => A)): Operator<T, [K, A]> {
  const fresh = typeof initial === 'function' ? (initial as () => A) : () => initial;
  return defineOperator<T, [K, A]>('reduceBy', async function* (source) {
    const folds = new Map<K, A>();
    for await (const item of source) {
      const k = key(item);
      const accumulator = reducer(folds.has(k) ? folds.get(k)! : fresh(), item);
      folds.set(k, isPromiseLike(accumulator) ? await accumulator : accumulator);
    }
    yield* folds;
  });
}

function twoTier<T, K, A>(key: TaskRef<[T], K>, reducer: TaskRef<[A, T], A>, initial: A, options: ReduceByOptions<A>): Operator<T, [K, A]> {
  const { combine, checkpoint, ...parallel } = options;
  checkParallelOptions(parallel);
  if (checkpoint !== undefined) {
    // A record is one input's partial, so a changed or removed input invalidates only its own, and
    // the fold is rebuilt in input order from records whatever the combine (see the guide "Long jobs").
    if (parallel.chunkSize !== undefined && parallel.chunkSize !== 1) {
      throw new InvalidOptionError(
        'chunkSize',
        parallel.chunkSize,
        '1 (or unset) with a checkpoint: each input is folded and recorded on its own',
      );
    }
    if (parallel.concurrency !== undefined && parallel.concurrency !== 1) {
      throw new InvalidOptionError(
        'concurrency',
        parallel.concurrency,
        '1 (or unset) with a checkpoint: each input is folded and recorded on its own',
      );
    }
  }
  const name = `${taskName(key)} + ${taskName(reducer)}`;
  return defineOperator<T, [K, A]>('reduceBy', async function* (source, context) {
    const folds = new Map<K, A>();
    // Ordered, so keys come out in the order a serial fold would first see them.
    const spec: DispatchSpec<T, [K, A]> = {
      ...parallel,
      ...(checkpoint ? { chunkSize: 1 } : {}),
      name,
      ordered: true,
      request: (items) => ({ mode: 'fold', keyTask: taskSpec(key), foldTask: taskSpec(reducer), initial, items }),
      outputs: (response) => response.results,
    };
    const partials = checkpoint
      ? checkpointed(source, context, spec, checkpoint, { kind: 'fold', tasks: [key, reducer], extra: initial })
      : dispatch(source, context, spec);
    for await (const [k, partial] of partials) folds.set(k, folds.has(k) ? combine(folds.get(k)!, partial) : partial);
    yield* folds;
  });
}
