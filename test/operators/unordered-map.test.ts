import { afterAll, describe, expect, it } from 'vitest';
import { bind, flow, InvalidOptionError, TaskError, tasks, unorderedMap } from 'millrace';
import { createSlots, open } from '../fixtures/gates.tasks.js';
import { countingPool, maxLead, naturals, operatorContract, probe } from '../fixtures/harness.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const gates = tasks<typeof import('../fixtures/gates.tasks.js')>(new URL('../fixtures/gates.tasks.js', import.meta.url));
const { pool, runs } = countingPool(2);
afterAll(() => pool.close());

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

describe('unorderedMap', () => {
  it('maps every value exactly once through real worker threads', async () => {
    const input = range(1000);
    const output = await flow(input).pipe(unorderedMap(math.square, { pool })).toArray();
    expect(sorted(output)).toEqual(input.map((x) => x * x));
  });

  it('yields the awaited value of an async task', async () => {
    expect(
      sorted(
        await flow([3, 1, 2])
          .pipe(unorderedMap(math.slowSquare, { pool, chunkSize: 1 }))
          .toArray(),
      ),
    ).toEqual([1, 4, 9]);
  });

  it('does not hold later results behind a slow early item: they arrive first', async () => {
    const slots = createSlots();
    const n = 8;
    const seen: number[] = [];
    try {
      // Item 0 waits at the gate until the consumer has received a later result; an operator that
      // kept input order would deadlock here (vitest's timeout would fail the test).
      for await (const value of flow(range(n)).pipe(unorderedMap(bind(gates.gated, slots, 0), { pool, chunkSize: 1, maxInFlight: n }))) {
        seen.push(value);
        if (seen.length === 1) open(slots);
      }
    } finally {
      open(slots);
    }
    expect(seen[0]).not.toBe(0);
    expect(sorted(seen)).toEqual(range(n).map((x) => x * 10));
  });

  it('serves concurrent next() calls without losing or repeating a value', async () => {
    const iterator = flow([1, 2, 3, 4, 5])
      .pipe(unorderedMap(math.slowSquare, { pool, chunkSize: 1 }))
      [Symbol.asyncIterator]();
    const results = await Promise.all(Array.from({ length: 6 }, () => iterator.next()));
    expect(results[5]).toEqual({ done: true, value: undefined });
    expect(sorted(results.slice(0, 5).map((r) => r.value as number))).toEqual([1, 4, 9, 16, 25]);
  });

  it('emits nothing and runs no chunk for an empty input', async () => {
    const before = runs();
    expect(await flow<number>([]).pipe(unorderedMap(math.square, { pool })).toArray()).toEqual([]);
    expect(runs()).toBe(before);
  });

  it('ends the flow with a TaskError naming the task, the item and its index, with the worker stack as cause', async () => {
    const error: unknown = await flow(range(40))
      .pipe(unorderedMap(math.failOn, { pool, chunkSize: 3 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.task).toMatch(/math\.tasks\.js#failOn$/);
    expect(taskError.item).toBe(13);
    expect(taskError.index).toBe(13);
    const cause = taskError.cause as Error & { code?: string };
    expect(cause.name).toBe('RangeError');
    expect(cause.code).toBe('E_UNLUCKY');
    expect(cause.stack).toMatch(/math\.tasks\.ts/);
  });

  it('holds the in-flight bound: pulled - taken <= maxInFlight * chunkSize + chunkSize', async () => {
    const maxInFlight = 2;
    const chunkSize = 5;
    const source = probe(naturals);
    const { lead, taken } = await maxLead(flow(source).pipe(unorderedMap(math.square, { pool, maxInFlight, chunkSize })), source.stats, 50);
    expect(taken).toHaveLength(50);
    expect(lead).toBeLessThanOrEqual(maxInFlight * chunkSize + chunkSize);
    expect(lead).toBeGreaterThanOrEqual(chunkSize);
    expect(source.stats.returned).toBe(true);
  });

  it('rejects bad options when the operator is built', () => {
    expect(() => unorderedMap(math.square, { chunkSize: -1 })).toThrow(InvalidOptionError);
  });

  operatorContract<number, number>({ make: (p) => unorderedMap(math.square, { pool: p }), input: naturals, pool: () => pool, runs });
});
