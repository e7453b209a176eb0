import { describe, expect, it } from 'vitest';
import { createPool, flow, map } from 'millrace';
import { maxLead, naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: map runs in the main thread

describe('map', () => {
  it('maps each value in order, passing its index', async () => {
    expect(await flow(['a', 'b', 'c']).pipe(map((s: string, i) => `${i}:${s}`)).toArray()).toEqual(['0:a', '1:b', '2:c']);
  });

  it('awaits a promise-returning function and keeps input order', async () => {
    const delays = [3, 0, 1];
    const output = await flow(delays)
      .pipe(map(async (d: number) => {
        await new Promise((resolve) => setTimeout(resolve, d));
        return d * 2;
      }))
      .toArray();
    expect(output).toEqual([6, 0, 2]);
  });

  it('emits nothing for an empty input', async () => {
    expect(await flow<number>([]).pipe(map((x: number) => x + 1)).toArray()).toEqual([]);
  });

  it('ends the flow with the error the function threw, unchanged, and closes the source', async () => {
    const error = new Error('bad item');
    const source = probe(naturals);
    const failing = map((x: number) => {
      if (x === 4) throw error;
      return x;
    });
    await expect(flow(source).pipe(failing).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
    expect(source.stats.pulled).toBe(5);
  });

  it('pulls one value per value taken', async () => {
    const source = probe(naturals);
    const { lead, taken } = await maxLead(flow(source).pipe(map((x: number) => x * 3)), source.stats, 20);
    expect(taken).toEqual(Array.from({ length: 20 }, (_, i) => i * 3));
    expect(lead).toBeLessThanOrEqual(1);
  });

  operatorContract<number, number>({ make: () => map((x: number) => x + 1), input: naturals, pool: () => pool });
});
