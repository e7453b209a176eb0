/**
 * @packageDocumentation
 * `filter`: keep the items a predicate accepts.
 */
import { concurrencyOf, runConcurrently, type ConcurrencyOptions } from '../lib/concurrent.js';
import { defineOperator, type Operator } from '../lib/operator.js';
import { isPromiseLike } from './map.js';

/**
 * Keeps the items for which `predicate` returns true (or a promise of true); a type guard narrows
 * the output type. `concurrency` lets several async predicates run at once; the kept items come
 * in input order unless `ordered` is `false`.
 *
 * @param predicate - called with each item and its 0-based index
 * @param options - `{ concurrency, ordered }` for async predicates; see {@link ConcurrencyOptions}
 * @returns an {@link Operator} emitting the kept items
 * @throws {@link InvalidOptionError} when `concurrency` is not a positive integer
 * @example
 * ```ts
 * import { filter, flow } from 'millrace';
 * const words = await flow(['a', '', 'b']).pipe(filter((s) => s.length > 0)).toArray(); // ['a', 'b']
 * const numbers = await flow([1, null, 2]).pipe(filter((x): x is number => x !== null)).toArray(); // number[]
 * const small = await flow([3, 1, 2]).pipe(filter(async (x) => x < 3, { concurrency: 8 })).toArray(); // [1, 2]
 * ```
 * @category Transforms
 */
export function filter<In, Out extends In>(predicate: (item: In, index: number) => item is Out, options?: ConcurrencyOptions): Operator<In, Out>;
export function filter<In>(predicate: (item: In, index: number) => boolean | Promise<boolean>, options?: ConcurrencyOptions): Operator<In, In>;
export function filter<In>(predicate: (item: In, index: number) => boolean | Promise<boolean>, options: ConcurrencyOptions = {}): Operator<In, In> {
  const concurrency = concurrencyOf(options);
  return defineOperator<In, In>('filter', async function* (source) {
    if (concurrency > 1) {
      const judged = runConcurrently(source, concurrency, options.ordered ?? true, async (item: In, index) => ({
        item,
        keep: await predicate(item, index),
      }));
      for await (const { item, keep } of judged) if (keep) yield item;
      return;
    }
    let index = 0;
    for await (const item of source) {
      const keep = predicate(item, index++);
      if (isPromiseLike(keep) ? await keep : keep) yield item;
    }
  });
}
