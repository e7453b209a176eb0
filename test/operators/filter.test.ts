import { describe, expect, expectTypeOf, it } from 'vitest';
import { createPool, filter, flow } from 'millrace';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: filter runs in the main thread

describe('filter', () => {
  it('keeps the values the predicate accepts, in order, passing the index', async () => {
    expect(await flow([5, 6, 7, 8]).pipe(filter((x: number) => x % 2 === 0)).toArray()).toEqual([6, 8]);
    expect(await flow(['a', 'b', 'c']).pipe(filter((_: string, i) => i !== 1)).toArray()).toEqual(['a', 'c']);
  });

  it('awaits an async predicate', async () => {
    expect(await flow([1, 2, 3, 4]).pipe(filter(async (x: number) => x > 2)).toArray()).toEqual([3, 4]);
  });

  it('narrows the type with a type guard', async () => {
    const mixed: (string | number)[] = [1, 'a', 2, 'b'];
    const strings = await flow(mixed).pipe(filter((x): x is string => typeof x === 'string')).toArray();
    expectTypeOf(strings).toEqualTypeOf<string[]>();
    expect(strings).toEqual(['a', 'b']);
  });

  it('emits nothing for an empty input', async () => {
    expect(await flow<number>([]).pipe(filter(() => true)).toArray()).toEqual([]);
  });

  it('ends the flow with the error the predicate threw, unchanged, and closes the source', async () => {
    const error = new TypeError('cannot judge');
    const source = probe(naturals);
    const failing = filter((x: number) => {
      if (x === 3) throw error;
      return true;
    });
    await expect(flow(source).pipe(failing).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('pulls only up to the value it emits', async () => {
    const source = probe(naturals);
    const taken: number[] = [];
    for await (const x of flow(source).pipe(filter((n: number) => n % 10 === 9))) {
      taken.push(x);
      expect(source.stats.pulled).toBe(x + 1);
      if (taken.length === 3) break;
    }
    expect(taken).toEqual([9, 19, 29]);
  });

  operatorContract<number, number>({ make: () => filter((x: number) => x % 2 === 0), input: naturals, pool: () => pool });
});
