// Type tests for aggregateByKey and aggregations: run by `vitest run --typecheck`.
import { describe, expectTypeOf, it } from 'vitest';
import { aggregateByKey, aggregations, checkpoint, flow, readBlocks, tasks, topK, type Flow, type KeyedMean } from 'millrace';

const k = tasks<typeof import('../fixtures/keyed.tasks.js')>(new URL('../fixtures/keyed.tasks.js', import.meta.url));

describe('aggregateByKey', () => {
  it('infers the item, key and accumulator types from the task module', () => {
    expectTypeOf(flow(['a,1']).pipe(aggregateByKey(k.csvPair, k.sum, 0, { combine: k.add }))).toEqualTypeOf<Flow<[string, number]>>();
    expectTypeOf(readBlocks('x.csv').pipe(aggregateByKey(k.blockPairs, aggregations.sum))).toEqualTypeOf<Flow<[string, number]>>();
    expectTypeOf(flow([[1, 2]]).pipe(aggregateByKey(k.modPairs, k.sum, 0))).toEqualTypeOf<Flow<[number, number]>>();
    expectTypeOf(flow(['a,1']).pipe(aggregateByKey(k.csvPair, aggregations.mean))).toEqualTypeOf<Flow<[string, KeyedMean]>>();
    expectTypeOf(flow(['a,1']).pipe(aggregateByKey(k.csvPair, aggregations.count))).toEqualTypeOf<Flow<[string, number]>>();
    expectTypeOf(flow(['a,1']).pipe(aggregateByKey(k.csvPair, k.collect, [] as number[]))).toEqualTypeOf<Flow<[string, number[]]>>();
  });

  it('composes with topK', () => {
    expectTypeOf(
      flow(['a,1']).pipe(
        aggregateByKey(k.csvPair, aggregations.sum),
        topK(2, ([, sum]) => sum),
      ),
    ).toEqualTypeOf<Flow<[string, number]>>();
  });

  it('rejects mismatched tasks, keys and options', () => {
    // @ts-expect-error the pairs task takes strings, the flow has numbers
    flow([1]).pipe(aggregateByKey(k.csvPair, k.sum, 0));
    // @ts-expect-error a fold of number[] accumulators does not take the initial 0
    aggregateByKey(k.csvPair, k.collect, 0);
    // @ts-expect-error keys must be strings or numbers
    aggregateByKey(k.objectKey, k.sum, 0);
    // @ts-expect-error combine must merge two accumulators of the fold's type
    aggregateByKey(k.csvPair, k.collect, [] as number[], { combine: k.add });
    // @ts-expect-error an aggregation brings its own combine
    aggregateByKey(k.csvPair, aggregations.sum, { combine: k.add });
    // @ts-expect-error aggregateByKey does not record its inputs
    aggregateByKey(k.csvPair, aggregations.sum, { checkpoint: checkpoint('dir') });
  });
});
