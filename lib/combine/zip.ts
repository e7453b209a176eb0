/**
 * `zip`: one tuple per step, an item from each source.
 *
 * @packageDocumentation
 */
import { Flow, toAsyncIterable, type FlowSource } from '../flow.js';
import { abortable } from '../operator.js';
import { closable, closeQuietly } from './internal.js';

/**
 * Pairs up the sources: the n-th tuple holds the n-th item of each source, typed by position
 * (`zip(flow(numbers), flow(strings))` is a `Flow<[number, string]>`). The sources are read at
 * once, one item each per tuple; the flow ends with the shortest source and closes the others.
 * An error from any source ends it with that error; an abort or an early stop closes them all.
 *
 * @param sources - anything {@link flow} accepts (arrays, iterables, async iterables, `Readable`s,
 *   highland streams, other flows)
 * @returns a {@link Flow} of tuples
 * @throws `TypeError` when a source is none of the accepted kinds
 * @example
 * ```ts
 * import { flow, zip } from 'millrace';
 * const pairs = await zip(flow([1, 2, 3]), ['a', 'b']).toArray(); // [[1, 'a'], [2, 'b']]: [number, string][]
 * ```
 * @category Sources
 */
export function zip<T extends readonly unknown[]>(...sources: { [K in keyof T]: FlowSource<T[K]> }): Flow<T> {
  const iterables = sources.map((source) => toAsyncIterable(source as FlowSource<T[number]>));
  return new Flow<T>((context) => closable(context.signal, (signal) => zipIterables(iterables, signal)) as AsyncIterable<T>);
}

async function* zipIterables<T>(iterables: readonly AsyncIterable<T>[], signal: AbortSignal): AsyncGenerator<T[]> {
  if (signal.aborted) throw signal.reason;
  if (iterables.length === 0) return;
  const iterators: AsyncIterator<T>[] = [];
  // Sources that need no closing: ended, or failed (which finishes a source itself).
  const finished = new Set<number>();
  try {
    for (const iterable of iterables) iterators.push(iterable[Symbol.asyncIterator]());
    for (;;) {
      const tuple = await abortable(readRow(iterators, finished), signal);
      if (!tuple) return;
      yield tuple;
    }
  } finally {
    await Promise.all(iterators.map((iterator, index) => (finished.has(index) ? undefined : closeQuietly(iterator))));
  }
}

/**
 * One item from each iterator, or `undefined` as soon as one of them ends (not waiting for the
 * others' reads, which closing them abandons).
 */
function readRow<T>(iterators: readonly AsyncIterator<T>[], finished: Set<number>): Promise<T[] | undefined> {
  return new Promise((resolve, reject) => {
    const row: T[] = new Array<T>(iterators.length);
    let remaining = iterators.length;
    for (const [index, iterator] of iterators.entries()) {
      iterator.next().then(
        (result) => {
          if (result.done) {
            finished.add(index);
            resolve(undefined);
            return;
          }
          row[index] = result.value;
          if (--remaining === 0) resolve(row);
        },
        (error: unknown) => {
          finished.add(index);
          reject(error);
        },
      );
    }
  });
}
