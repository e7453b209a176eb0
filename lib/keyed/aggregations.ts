/**
 * Ready-made per-key aggregations for {@link aggregateByKey}: count, sum, min, max and mean, each a
 * fold, a combine and an initial accumulator (dask.bag's `foldby` pairs and `frequencies`).
 *
 * @packageDocumentation
 */
import { tasks, type TaskRef } from '../tasks.js';
import type { KeyedMean } from './aggregations.tasks.js';

export type { KeyedMean } from './aggregations.tasks.js';

/**
 * A per-key aggregation as {@link aggregateByKey} takes it: a fold of a value into a key's
 * accumulator, a combine of two partial accumulators of one key (the map-side combine, the merge of
 * spilled runs), and the first accumulator of each key. Folds and combines are task references,
 * synchronous, and must not depend on the order values arrive in.
 *
 * @typeParam V - the values the pairs carry
 * @typeParam A - the accumulator of each key
 * @example
 * ```ts
 * import { aggregations, type KeyedAggregation } from 'millrace';
 * const total: KeyedAggregation<number, number> = aggregations.sum;
 * ```
 * @category Aggregation
 */
export interface KeyedAggregation<V, A> {
  /** `(accumulator, value) => accumulator`. */
  readonly fold: TaskRef<[A, V], A>;
  /** `(left, right) => merged`: two partial accumulators of one key. */
  readonly combine: TaskRef<[A, A], A>;
  /** The first accumulator of each key (structured-cloned per key when it is an object). */
  readonly initial: A;
}

const folds = tasks<typeof import('./aggregations.tasks.js')>(new URL('./aggregations.tasks.js', import.meta.url));

/**
 * Per-key aggregations to give {@link aggregateByKey}: `count` (how many values a key has, any value:
 * word frequencies), `sum`, `min`, `max` and `mean` (of number values; `mean` gives
 * `{ count, sum, mean }` per key).
 *
 * @example
 * ```ts
 * import { aggregateByKey, aggregations, flow, tasks } from 'millrace';
 * // words.tasks.ts: export function wordPairs(line: string, emit: (word: string, one: number) => void): void { ... }
 * const words = tasks<typeof import('./words.tasks.js')>(new URL('./words.tasks.js', import.meta.url));
 * const counts = await flow(['a b', 'b']).pipe(aggregateByKey(words.wordPairs, aggregations.count)).toArray();
 * console.log(counts.sort()); // [['a', 1], ['b', 2]]
 * ```
 * @category Aggregation
 */
export const aggregations: {
  /** How many values each key has. */
  readonly count: KeyedAggregation<unknown, number>;
  /** The sum of each key's values. */
  readonly sum: KeyedAggregation<number, number>;
  /** The smallest of each key's values. */
  readonly min: KeyedAggregation<number, number>;
  /** The largest of each key's values. */
  readonly max: KeyedAggregation<number, number>;
  /** Each key's count, sum and mean. */
  readonly mean: KeyedAggregation<number, KeyedMean>;
} = Object.freeze({
  count: { fold: folds.count, combine: folds.add, initial: 0 },
  sum: { fold: folds.sum, combine: folds.add, initial: 0 },
  min: { fold: folds.min, combine: folds.min, initial: Infinity },
  max: { fold: folds.max, combine: folds.max, initial: -Infinity },
  mean: { fold: folds.meanFold, combine: folds.meanCombine, initial: { count: 0, sum: 0, mean: 0 } },
});
