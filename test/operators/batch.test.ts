import { describe, expect, it } from 'vitest';
import { batch, createPool, flow, InvalidOptionError } from 'millrace';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: batch runs in the main thread

describe('batch', () => {
  it('groups values in order into arrays of the size, the last one shorter', async () => {
    expect(await flow([1, 2, 3, 4, 5]).pipe(batch(2)).toArray()).toEqual([[1, 2], [3, 4], [5]]);
    expect(await flow([1, 2, 3, 4]).pipe(batch(2)).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(await flow([1, 2]).pipe(batch(10)).toArray()).toEqual([[1, 2]]);
  });

  it('emits nothing for an empty input', async () => {
    expect(await flow<number>([]).pipe(batch(3)).toArray()).toEqual([]);
  });

  it('rejects a size that is not a positive integer when built', () => {
    expect(() => batch(0)).toThrow(InvalidOptionError);
    expect(() => batch(2.5)).toThrow(InvalidOptionError);
  });

  it('pulls no further than the batch it emits', async () => {
    const source = probe(naturals);
    const taken: number[][] = [];
    for await (const group of flow(source).pipe(batch(4))) {
      taken.push(group);
      await new Promise((resolve) => setImmediate(resolve));
      expect(source.stats.pulled).toBe(taken.length * 4);
      if (taken.length === 3) break;
    }
    expect(taken).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
  });

  operatorContract<number, number[]>({ make: () => batch(3), input: naturals, pool: () => pool });
});
