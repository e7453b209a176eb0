import { describe, expect, it } from 'vitest';
import { createPool, flow, scan } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: scan runs in the main thread

describe('scan', () => {
  it('emits the accumulation after each item, not the seed, passing the index', async () => {
    expect(await flow([1, 2, 3]).pipe(scan((total, x: number) => total + x, 10)).toArray()).toEqual([11, 13, 16]);
    expect(await flow(['a', 'b']).pipe(scan((acc: string[], x: string, i) => [...acc, `${i}${x}`], [])).toArray()).toEqual([
      ['0a'],
      ['0a', '1b'],
    ]);
  });

  it('awaits an async reducer', async () => {
    expect(await flow([1, 2]).pipe(scan(async (total, x: number) => total * 10 + x, 0)).toArray()).toEqual([1, 12]);
  });

  it('emits nothing for an empty input', async () => {
    expect(await flow<number>([]).pipe(scan((total, x: number) => total + x, 0)).toArray()).toEqual([]);
  });

  it('ends with the reducer error, unchanged, closing the source', async () => {
    const error = new Error('bad reducer');
    const source = probe(naturals);
    const failing = scan((total, x: number) => {
      if (x === 3) throw error;
      return total + x;
    }, 0);
    await expect(flow(source).pipe(failing).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => scan((total, x: number) => total + x, 0), { input: [1, 2, 3], expected: [1, 3, 6] });
  });

  operatorContract<number, number>({ make: () => scan((total, x: number) => total + x, 0), input: naturals, pool: () => pool });
});
