import { describe, expect, it } from 'vitest';
import { createPool, flow, takeWhile } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: takeWhile runs in the main thread

describe('takeWhile', () => {
  it('emits items while the predicate holds, not the first that fails', async () => {
    expect(await flow([1, 2, 5, 1]).pipe(takeWhile((x) => x < 3)).toArray()).toEqual([1, 2]);
    expect(await flow([5, 1]).pipe(takeWhile((x) => x < 3)).toArray()).toEqual([]);
  });

  it('ends an endless source at the first failing item, closing it', async () => {
    const source = probe(naturals);
    expect(await flow(source).pipe(takeWhile((x: number) => x < 4)).toArray()).toEqual([0, 1, 2, 3]);
    expect(source.stats.pulled).toBe(5);
    expect(source.stats.returned).toBe(true);
  });

  it('awaits an async predicate and passes the index', async () => {
    expect(await flow(['a', 'b', 'c']).pipe(takeWhile(async (_s: string, i) => i < 2)).toArray()).toEqual(['a', 'b']);
  });

  it('ends with the predicate error, unchanged', async () => {
    const error = new Error('bad predicate');
    await expect(flow([1, 2]).pipe(takeWhile(() => {
      throw error;
    })).toArray()).rejects.toBe(error);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => takeWhile((x: number) => x < 100), { input: [1, 2, 3], expected: [1, 2, 3] });
  });

  operatorContract<number, number>({ make: () => takeWhile((x: number) => x >= 0), input: naturals, pool: () => pool });
});
