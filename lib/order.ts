/**
 * Orders for `topK` and `sortBy`: a key function or a two-argument comparator, as one comparator.
 *
 * @packageDocumentation
 */

/** What `topK` and `sortBy` order by: a key function (keys compared with `<`) or a two-argument comparator. */
export type OrderBy<T> = ((item: T) => number | string | bigint) | ((a: T, b: T) => number);

/** A comparator: negative when `a` comes before `b` in ascending order. */
export type Compare<T> = (a: T, b: T) => number;

/** Natural ascending order of numbers, strings or bigints. */
export function ascending(a: unknown, b: unknown): number {
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/**
 * The comparator for `by`: a function declaring two parameters is a comparator, one declaring
 * fewer is a key function (its keys computed once per item by the callers, not per comparison).
 */
export function isComparator<T>(by: OrderBy<T>): by is (a: T, b: T) => number {
  return by.length >= 2;
}
