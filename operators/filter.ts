/**
 * @packageDocumentation
 * `filter`: keep the items a predicate accepts.
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { isPromiseLike } from './map.js';

/**
 * Keeps the items for which `predicate` returns true (or a promise of true); a type guard narrows
 * the output type.
 *
 * @param predicate - called with each item and its 0-based index
 * @returns an {@link Operator} emitting the kept items in order
 * @example
 * ```ts
 * import { filter, flow } from 'millrace';
 * const words = await flow(['a', '', 'b']).pipe(filter((s) => s.length > 0)).toArray(); // ['a', 'b']
 * const numbers = await flow([1, null, 2]).pipe(filter((x): x is number => x !== null)).toArray(); // number[]
 * ```
 * @category Transforms
 */
export function filter<In, Out extends In>(predicate: (item: In, index: number) => item is Out): Operator<In, Out>;
export function filter<In>(predicate: (item: In, index: number) => boolean | Promise<boolean>): Operator<In, In>;
export function filter<In>(predicate: (item: In, index: number) => boolean | Promise<boolean>): Operator<In, In> {
  return defineOperator<In, In>('filter', async function* (source) {
    let index = 0;
    for await (const item of source) {
      const keep = predicate(item, index++);
      if (isPromiseLike(keep) ? await keep : keep) yield item;
    }
  });
}
