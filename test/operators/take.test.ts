import { describe, expect, it } from 'vitest';
import { createPool, flow, InvalidOptionError, map, take } from 'millrace';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: take runs in the main thread

describe('take', () => {
  it('emits the first n values in order', async () => {
    expect(await flow([1, 2, 3, 4]).pipe(take(2)).toArray()).toEqual([1, 2]);
  });

  it('emits everything from a shorter input, and nothing from an empty one', async () => {
    expect(await flow([1, 2]).pipe(take(5)).toArray()).toEqual([1, 2]);
    expect(await flow<number>([]).pipe(take(5)).toArray()).toEqual([]);
  });

  it('ends an endless source after exactly n pulls and closes it', async () => {
    const source = probe(naturals);
    expect(await flow(source).pipe(take(3)).toArray()).toEqual([0, 1, 2]);
    expect(source.stats.pulled).toBe(3);
    expect(source.stats.returned).toBe(true);
  });

  it('take(0) pulls nothing at all', async () => {
    const source = probe(naturals);
    expect(await flow(source).pipe(take(0)).toArray()).toEqual([]);
    expect(source.stats.pulled).toBe(0);
  });

  it('stops the steps before it too', async () => {
    const source = probe(naturals);
    let mapped = 0;
    const values = await flow(source)
      .pipe(
        map((x: number) => (mapped++, x * 2)),
        take(4),
      )
      .toArray();
    expect(values).toEqual([0, 2, 4, 6]);
    expect(mapped).toBe(4);
    expect(source.stats.returned).toBe(true);
  });

  it('rejects a count that is not a non-negative integer when built', () => {
    expect(() => take(-1)).toThrow(InvalidOptionError);
    expect(() => take(Number.NaN)).toThrow(InvalidOptionError);
  });

  operatorContract<number, number>({ make: () => take(1000), input: naturals, pool: () => pool });
});
