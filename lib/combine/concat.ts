/**
 * `concat`: one source after another.
 *
 * @packageDocumentation
 */
import { Flow, toAsyncIterable, type FlowSource } from '../flow.js';
import { abortable } from '../operator.js';
import { closable, closeQuietly } from './internal.js';

/**
 * Emits every item of the first source, then of the second, and so on; each source is opened only
 * when the one before it has ended. An error ends the flow with that error (later sources are
 * never opened); an abort or an early stop closes the source being read.
 *
 * @param sources - anything {@link flow} accepts (arrays, iterables, async iterables, `Readable`s,
 *   highland streams, other flows)
 * @returns a {@link Flow} of all items in source order
 * @throws `TypeError` when a source is none of the accepted kinds
 * @example
 * ```ts
 * import { concat, flow, readLines } from 'millrace';
 * const lines = await concat(['# header'], readLines('a.log'), readLines('c.log')).toArray();
 * console.log(lines.length); // 7
 * ```
 * @category Sources
 * @see {@link merge} to read the sources at once
 */
export function concat<T extends readonly unknown[]>(...sources: { [K in keyof T]: FlowSource<T[K]> }): Flow<T[number]> {
  const iterables = sources.map((source) => toAsyncIterable(source as FlowSource<T[number]>));
  return new Flow<T[number]>((context) => closable(context.signal, (signal) => concatIterables(iterables, signal)));
}

async function* concatIterables<T>(iterables: readonly AsyncIterable<T>[], signal: AbortSignal): AsyncGenerator<T> {
  for (const iterable of iterables) {
    if (signal.aborted) throw signal.reason;
    const iterator = iterable[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        let result: IteratorResult<T>;
        try {
          result = await abortable(iterator.next(), signal);
        } catch (error) {
          finished = !signal.aborted; // a failed source has finished itself; an aborted one is mid-read
          throw error;
        }
        if (result.done) break;
        yield result.value;
      }
      finished = true;
    } finally {
      if (!finished) await closeQuietly(iterator);
    }
  }
}
