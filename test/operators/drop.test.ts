import { describe, expect, it } from 'vitest';
import { createPool, drop, flow, InvalidOptionError } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: drop runs in the main thread

describe('drop', () => {
  it('skips the first n items', async () => {
    expect(await flow([1, 2, 3, 4]).pipe(drop(2)).toArray()).toEqual([3, 4]);
    expect(await flow([1, 2]).pipe(drop(0)).toArray()).toEqual([1, 2]);
    expect(await flow([1, 2]).pipe(drop(5)).toArray()).toEqual([]);
  });

  it('pulls only as far as what it emits needs', async () => {
    const source = probe(naturals);
    for await (const x of flow(source).pipe(drop(3))) {
      expect(x).toBe(3);
      expect(source.stats.pulled).toBe(4);
      break;
    }
    expect(source.stats.returned).toBe(true);
  });

  it('rejects a count that is not a non-negative integer when built', () => {
    expect(() => drop(-1)).toThrow(InvalidOptionError);
    expect(() => drop(0.5)).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => drop<number>(2), { input: [1, 2, 3, 4], expected: [3, 4] });
  });

  operatorContract<number, number>({ make: () => drop(2), input: naturals, pool: () => pool });
});
