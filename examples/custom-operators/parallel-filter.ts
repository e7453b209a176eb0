/**
 * `parallelFilter`: keep the items a task accepts, with the task running in worker threads. The
 * operator only says what to send (a chunk of items, called one by one) and how to read the answer
 * (one boolean per item); `dispatch` does the chunking, the in-flight bound, the ordering, retries
 * and cancellation, exactly as for the built-in `parallelMap`.
 */
import { defineOperator, dispatch, type Operator, type ParallelOptions, type TaskRef } from 'millrace';

/** Options for {@link parallelFilter}: those of every worker-backed operator. */
export type ParallelFilterOptions = ParallelOptions;

/**
 * Keeps the items for which `predicate` (a task reference) returns `true`, in input order.
 *
 * @param predicate - a task taking one item and returning a boolean (or a promise of one)
 * @param options - chunking, bounds, pool, errors, retries: see `ParallelOptions`
 */
export function parallelFilter<T>(predicate: TaskRef<[T], boolean>, options: ParallelFilterOptions = {}): Operator<T, T> {
  return defineOperator<T, T>('parallelFilter', (source, context) =>
    dispatch(source, context, {
      ...options,
      name: `parallelFilter(${predicate.exportName})`,
      ordered: true,
      // A task reference is the plain data a worker needs: send it with the chunk's items.
      request: (items) => ({ mode: 'call', task: predicate, items }),
      // One result per item, aligned with `items` (items that failed under onError are removed from both).
      outputs: (response, items) => items.filter((_, i) => response.results[i] === true),
    }),
  );
}
