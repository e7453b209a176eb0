/**
 * `merge`: items from several sources as they arrive.
 *
 * @packageDocumentation
 */
import { Flow, toAsyncIterable, type FlowSource } from '../flow.js';
import { closable, closeQuietly, Wakeup } from './internal.js';

/**
 * Reads several sources at once and emits their items as they arrive (each source's own order is
 * kept; the interleaving is not promised). Each source has at most one read in flight and one
 * item waiting, so a fast source is read no faster than the consumer takes items. The flow ends
 * when every source has ended; an error from any source ends it with that error, and an error,
 * an abort or an early stop closes every source still open.
 *
 * @param sources - anything {@link flow} accepts (arrays, iterables, async iterables, `Readable`s,
 *   highland streams, other flows); opened when the merged flow is first read
 * @returns a {@link Flow} of the items of all sources; wrap it as `flow(merge(...), { signal })` to
 *   give it an abort signal
 * @throws `TypeError` when a source is none of the accepted kinds
 * @example
 * ```ts
 * import { flow, merge } from 'millrace';
 * const all = await merge(flow([1, 2]), ['a', 'b']).toArray(); // (number | string)[], e.g. [1, 'a', 2, 'b']
 * ```
 * @category Sources
 * @see {@link concat} for one source after another
 */
export function merge<T extends readonly unknown[]>(...sources: { [K in keyof T]: FlowSource<T[K]> }): Flow<T[number]> {
  const iterables = sources.map((source) => toAsyncIterable(source as FlowSource<T[number]>));
  return new Flow<T[number]>((context) => closable(context.signal, (signal) => mergeIterables(iterables, signal)));
}

type Arrival<T> = { readonly index: number; readonly result: IteratorResult<T> } | { readonly index: number; readonly error: unknown };

async function* mergeIterables<T>(iterables: readonly AsyncIterable<T>[], signal: AbortSignal): AsyncGenerator<T> {
  if (signal.aborted) throw signal.reason;
  const iterators: AsyncIterator<T>[] = [];
  const open = new Set<number>();
  const arrivals: Arrival<T>[] = [];
  const wakeup = new Wakeup(signal);
  const read = (index: number): void => {
    iterators[index]!.next().then(
      (result) => {
        arrivals.push({ index, result });
        wakeup.notify();
      },
      (error: unknown) => {
        arrivals.push({ index, error });
        wakeup.notify();
      },
    );
  };
  try {
    for (const [index, iterable] of iterables.entries()) {
      iterators.push(iterable[Symbol.asyncIterator]());
      open.add(index);
    }
    for (const index of open) read(index);
    while (open.size > 0) {
      const arrival = arrivals.shift();
      if (!arrival) {
        await wakeup.wait();
        continue;
      }
      if ('error' in arrival) {
        open.delete(arrival.index); // a failed source has finished itself
        throw arrival.error;
      }
      if (arrival.result.done) {
        open.delete(arrival.index);
        continue;
      }
      yield arrival.result.value;
      read(arrival.index);
    }
  } finally {
    await Promise.all([...open].map((index) => closeQuietly(iterators[index])));
  }
}
