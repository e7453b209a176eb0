/**
 * @packageDocumentation
 * `filter`: keep the items a predicate accepts.
 */
import { isPromiseLike, planItems, runItems, SKIP, type ConcurrencyOptions, type ItemContext } from '../lib/concurrent.js';
import { defineOperator, type Operator } from '../lib/operator.js';

/**
 * Keeps the items for which `predicate` returns true (or a promise of true); a type guard narrows
 * the output type. `concurrency` lets several async predicates run at once; the kept items come
 * in input order unless `ordered` is `false`. A predicate that fails is retried, reported or ends
 * the flow as {@link map}'s function does (`retries`, `onError`, `timeoutMs`).
 *
 * @param predicate - called with each item and an {@link ItemContext}: `{ signal, index, attempt }`
 * @param options - concurrency, order and the per-item failure policy; see {@link ConcurrencyOptions}
 * @returns an {@link Operator} emitting the kept items
 * @throws {@link InvalidOptionError} when an option is out of range (`concurrency` not a positive integer, ...)
 * @example
 * ```ts
 * import { filter, flow } from 'millrace';
 * const words = await flow(['a', '', 'b']).pipe(filter((s) => s.length > 0)).toArray(); // ['a', 'b']
 * const numbers = await flow([1, null, 2]).pipe(filter((x): x is number => x !== null)).toArray(); // number[]
 * const small = await flow([3, 1, 2]).pipe(filter(async (x) => x < 3, { concurrency: 8 })).toArray(); // [1, 2]
 * const odd = await flow(['a', 'b', 'c']).pipe(filter((_, { index }) => index % 2 === 0)).toArray(); // ['a', 'c']
 * ```
 * @category Transforms
 */
export function filter<In, Out extends In>(
  predicate: (item: In, context: ItemContext) => item is Out,
  options?: ConcurrencyOptions<In>,
): Operator<In, Out>;
export function filter<In>(
  predicate: (item: In, context: ItemContext) => boolean | Promise<boolean>,
  options?: ConcurrencyOptions<In>,
): Operator<In, In>;
export function filter<In>(
  predicate: (item: In, context: ItemContext) => boolean | Promise<boolean>,
  options: ConcurrencyOptions<In> = {},
): Operator<In, In> {
  const plan = planItems(predicate.name || 'filter', options);
  const judge = (item: In, context: ItemContext): In | typeof SKIP | PromiseLike<In | typeof SKIP> => {
    const keep = predicate(item, context);
    if (isPromiseLike(keep)) return keep.then((kept) => (kept ? item : SKIP));
    return keep ? item : SKIP;
  };
  return defineOperator<In, In>('filter', (source, context) => runItems(source, context.signal, plan, judge));
}
