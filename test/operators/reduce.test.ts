import { describe, expect, it } from 'vitest';
import { createPool, flow, reduce } from 'millrace';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: reduce runs in the main thread

describe('reduce', () => {
  it('emits one value, folding (accumulator, item) in input order like Array.prototype.reduce', async () => {
    const words = ['a', 'b', 'c'];
    const expected = words.reduce((acc, w) => acc + w, '>');
    expect(
      await flow(words)
        .pipe(reduce((acc: string, w: string) => acc + w, '>'))
        .toArray(),
    ).toEqual([expected]);
    expect(expected).toBe('>abc');
  });

  it('passes the index and awaits an async reducer', async () => {
    const output = await flow([10, 20])
      .pipe(reduce(async (acc: number[], x: number, i) => [...acc, x + i], [] as number[]))
      .toArray();
    expect(output).toEqual([[10, 21]]);
  });

  it('emits the initial value for an empty input', async () => {
    expect(
      await flow<number>([])
        .pipe(reduce((acc: number, x: number) => acc + x, 42))
        .toArray(),
    ).toEqual([42]);
  });

  it('ends the flow with the error the reducer threw, unchanged, and closes the source', async () => {
    const error = new Error('cannot fold');
    const source = probe(naturals);
    await expect(
      flow(source)
        .pipe(
          reduce((acc: number, x: number) => {
            if (x === 7) throw error;
            return acc + x;
          }, 0),
        )
        .toArray(),
    ).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  operatorContract<number, number>({
    make: () => reduce((acc: number, x: number) => acc + x, 0),
    input: naturals,
    wholeInput: true,
    pool: () => pool,
  });
});
