import { describe, expect, it } from 'vitest';
import { createPool, distinct, flow } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: distinct runs in the main thread

describe('distinct', () => {
  it('emits the first occurrence of each item, in order', async () => {
    expect(await flow([3, 1, 3, 2, 1]).pipe(distinct()).toArray()).toEqual([3, 1, 2]);
    expect(await flow([1, '1', NaN, NaN]).pipe(distinct()).toArray()).toEqual([1, '1', NaN]);
  });

  it('compares by a key, keeping the first item per key', async () => {
    const rows = [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 1, v: 'c' }];
    expect(await flow(rows).pipe(distinct((row) => row.id)).toArray()).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'b' }]);
  });

  it('emits a new item without reading ahead', async () => {
    const source = probe((i) => i % 3);
    const seen: number[] = [];
    for await (const x of flow(source).pipe(distinct())) {
      seen.push(x);
      expect(source.stats.pulled).toBe(seen.length);
      if (seen.length === 3) break;
    }
    expect(source.stats.returned).toBe(true);
  });

  it('ends with the key function error, unchanged', async () => {
    const error = new Error('bad key');
    await expect(flow([1]).pipe(distinct(() => {
      throw error;
    })).toArray()).rejects.toBe(error);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => distinct<number>(), { input: [1, 1, 2], expected: [1, 2] });
  });

  operatorContract<number, number>({ make: () => distinct(), input: naturals, pool: () => pool });
});
