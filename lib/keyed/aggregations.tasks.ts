/**
 * The folds and combines behind {@link aggregations}: a task module millrace ships, run in the
 * pool's workers (map-side combine) and in the partition owners.
 *
 * @packageDocumentation
 */

/**
 * What {@link aggregations}' `mean` gives per key: how many values, their sum and their mean.
 *
 * @example
 * ```ts
 * import type { KeyedMean } from 'millrace';
 * const latency: KeyedMean = { count: 2, sum: 30, mean: 15 };
 * ```
 * @category Aggregation
 */
export interface KeyedMean {
  /** How many values the key had. */
  count: number;
  /** Their sum. */
  sum: number;
  /** `sum / count`. */
  mean: number;
}

/** Counts a value. */
export function count(total: number, _value: unknown): number {
  return total + 1;
}

/** Adds a value. */
export function sum(total: number, value: number): number {
  return total + value;
}

/** Adds two partial counts or sums. */
export function add(left: number, right: number): number {
  return left + right;
}

/** The smaller. */
export function min(left: number, right: number): number {
  return right < left ? right : left;
}

/** The larger. */
export function max(left: number, right: number): number {
  return right > left ? right : left;
}

/** Adds a value to a mean (the accumulator is the key's own copy, updated in place). */
export function meanFold(accumulator: KeyedMean, value: number): KeyedMean {
  accumulator.count += 1;
  accumulator.sum += value;
  accumulator.mean = accumulator.sum / accumulator.count;
  return accumulator;
}

/** Merges two partial means. */
export function meanCombine(left: KeyedMean, right: KeyedMean): KeyedMean {
  const count = left.count + right.count;
  const total = left.sum + right.sum;
  return { count, sum: total, mean: total / count };
}
