// Each item's outcome within a chunk, with plain responses.
import { describe, expect, it } from 'vitest';
import { ItemOutcomes } from '../../lib/engine/item-outcomes.js';
import type { ChunkResponse } from '../../lib/backend.js';

const error = { name: 'Error', message: 'no', fields: {} };
const response = (results: unknown[], failed: number[] = []): ChunkResponse => ({
  results,
  failures: failed.map((index) => ({ index, error })),
  elapsedMs: 1,
});

describe('ItemOutcomes', () => {
  it('keeps successes, leaves failures pending, and maps a retry run back to item indices', () => {
    const outcomes = new ItemOutcomes('call', 4);
    expect(outcomes.record(ItemOutcomes.all(4), response(['a', undefined, 'c', undefined], [1, 3]))).toBe(2);
    expect(outcomes.pending()).toEqual([1, 3]);
    // The retry carried items 1 and 3 only: its positions 0 and 1.
    expect(outcomes.record([1, 3], response(['b', undefined], [1]))).toBe(1);
    expect(outcomes.pending()).toEqual([3]);
    expect(outcomes.failures()).toEqual([{ index: 3, error }]);
    const settled = outcomes.settled(['w', 'x', 'y', 'z'], response([]));
    expect(settled.response.results).toEqual(['a', 'b', 'c']);
    expect(settled.items).toEqual(['w', 'x', 'y']);
  });

  it('leaves items a fail-fast run never reached pending, without a failure', () => {
    const outcomes = new ItemOutcomes('call', 3);
    expect(outcomes.record(ItemOutcomes.all(3), response(['a'], [1]))).toBe(1);
    expect(outcomes.pending()).toEqual([1, 2]);
    expect(outcomes.failures().map((f) => f.index)).toEqual([1]);
  });

  it('keeps every run of a fold as pairs, and drops items reported as crashed', () => {
    const outcomes = new ItemOutcomes('fold', 3);
    outcomes.record(ItemOutcomes.all(3), response([['k', 1]], [2]));
    outcomes.drop([2]);
    expect(outcomes.pending()).toEqual([]);
    expect(outcomes.failures()).toEqual([]);
    const settled = outcomes.settled([10, 20, 30], response([]));
    expect(settled.response.results).toEqual([['k', 1]]);
    expect(settled.items).toEqual([10, 20]);
  });
});
