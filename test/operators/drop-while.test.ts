import { describe, expect, it } from 'vitest';
import { createPool, dropWhile, flow } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: dropWhile runs in the main thread

describe('dropWhile', () => {
  it('skips items while the predicate holds, then emits the rest without asking again', async () => {
    let calls = 0;
    const rest = await flow([1, 2, 5, 1, 7])
      .pipe(dropWhile((x: number) => {
        calls++;
        return x < 3;
      }))
      .toArray();
    expect(rest).toEqual([5, 1, 7]);
    expect(calls).toBe(3);
  });

  it('emits nothing when the predicate always holds, everything when it never does', async () => {
    expect(await flow([1, 2]).pipe(dropWhile(() => true)).toArray()).toEqual([]);
    expect(await flow([1, 2]).pipe(dropWhile(() => false)).toArray()).toEqual([1, 2]);
  });

  it('awaits an async predicate and passes the index', async () => {
    expect(await flow(['a', 'b', 'c']).pipe(dropWhile(async (_s: string, i) => i < 2)).toArray()).toEqual(['c']);
  });

  it('ends with the predicate error, unchanged, closing the source', async () => {
    const error = new Error('bad predicate');
    const source = probe(naturals);
    await expect(flow(source).pipe(dropWhile((x: number) => {
      if (x === 2) throw error;
      return true;
    })).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => dropWhile((x: number) => x < 2), { input: [1, 2, 3], expected: [2, 3] });
  });

  operatorContract<number, number>({ make: () => dropWhile((x: number) => x < 3), input: naturals, pool: () => pool });
});
