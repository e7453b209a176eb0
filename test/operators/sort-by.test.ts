import { describe, expect, it } from 'vitest';
import { createPool, flow, sortBy } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: sortBy runs in the main thread

describe('sortBy', () => {
  it('sorts ascending by a key, stably, calling the key once per item', async () => {
    let calls = 0;
    const words = ['ccc', 'a', 'bb', 'd', 'ee'];
    const sorted = await flow(words)
      .pipe(sortBy((s) => {
        calls++;
        return s.length;
      }))
      .toArray();
    expect(sorted).toEqual(['a', 'd', 'bb', 'ee', 'ccc']);
    expect(calls).toBe(5);
  });

  it('sorts by string and bigint keys', async () => {
    expect(await flow([{ k: 'b' }, { k: 'a' }]).pipe(sortBy((x) => x.k)).toArray()).toEqual([{ k: 'a' }, { k: 'b' }]);
    expect(await flow([3n, 1n, 2n]).pipe(sortBy((x) => x)).toArray()).toEqual([1n, 2n, 3n]);
  });

  it('sorts by a comparator', async () => {
    expect(await flow([1, 3, 2]).pipe(sortBy((a: number, b: number) => b - a)).toArray()).toEqual([3, 2, 1]);
  });

  it('emits nothing for an empty input', async () => {
    expect(await flow<number>([]).pipe(sortBy((x: number) => x)).toArray()).toEqual([]);
  });

  it('ends with the key function error, unchanged, closing the source', async () => {
    const error = new Error('bad key');
    const source = probe(naturals);
    await expect(flow(source).pipe(sortBy((x: number) => {
      if (x === 2) throw error;
      return x;
    })).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => sortBy((x: number) => -x), { input: [1, 3, 2], expected: [3, 2, 1], emitsBeforeEnd: false });
  });

  operatorContract<number, number>({ make: () => sortBy((x: number) => -x), input: naturals, wholeInput: true, pool: () => pool });
});
