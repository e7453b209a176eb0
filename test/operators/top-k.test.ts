import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPool, flow, InvalidOptionError, take, topK } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: topK runs in the main thread

describe('topK', () => {
  it('emits the k largest, largest first', async () => {
    expect(await flow([5, 1, 9, 3, 7]).pipe(topK(3)).toArray()).toEqual([9, 7, 5]);
    expect(await flow(['b', 'c', 'a']).pipe(topK(2)).toArray()).toEqual(['c', 'b']);
    expect(await flow([1, 2]).pipe(topK(5)).toArray()).toEqual([2, 1]);
    expect(await flow([1, 2]).pipe(topK(0)).toArray()).toEqual([]);
    expect(await flow<number>([]).pipe(topK(3)).toArray()).toEqual([]);
  });

  it('orders by a key function (called once per item) or by a comparator', async () => {
    const rows = [{ p: 'a', n: 3 }, { p: 'b', n: 10 }, { p: 'c', n: 1 }];
    let keyCalls = 0;
    const byKey = await flow(rows)
      .pipe(topK(2, (row) => {
        keyCalls++;
        return row.n;
      }))
      .toArray();
    expect(byKey.map((row) => row.p)).toEqual(['b', 'a']);
    expect(keyCalls).toBe(3);
    const byComparator = await flow(rows).pipe(topK(2, (a, b) => b.n - a.n)).toArray(); // reversed: the smallest
    expect(byComparator.map((row) => row.p)).toEqual(['c', 'a']);
  });

  it('keeps the earlier item on ties', async () => {
    const rows = [{ id: 1, n: 5 }, { id: 2, n: 5 }, { id: 3, n: 5 }, { id: 4, n: 1 }];
    expect((await flow(rows).pipe(topK(2, (row) => row.n)).toArray()).map((row) => row.id)).toEqual([1, 2]);
  });

  it('agrees with sorting everything (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -50, max: 50 })), fc.integer({ min: 0, max: 10 }), async (values, k) => {
        const expected = [...values].sort((a, b) => b - a).slice(0, k);
        expect(await flow(values).pipe(topK(k)).toArray()).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('ends with the key function error, unchanged, closing the source', async () => {
    const error = new Error('bad key');
    const source = probe(naturals);
    await expect(flow(source).pipe(topK(2, (x: number) => {
      if (x === 4) throw error;
      return x;
    })).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('rejects a k that is not a non-negative integer when built', () => {
    expect(() => topK(-1)).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => topK<number>(2), { input: [3, 1, 4, 1, 5], expected: [5, 4], emitsBeforeEnd: false });
  });

  it('works after take on an endless source', async () => {
    expect(await flow(probe(naturals)).pipe(take(100), topK(2)).toArray()).toEqual([99, 98]);
  });

  operatorContract<number, number>({ make: () => topK(3), input: naturals, wholeInput: true, pool: () => pool });
});
