import { afterAll, describe, expect, it } from 'vitest';
import { bind, flow, starMap, TaskError, tasks } from 'millrace';
import { countingPool, maxLead, operatorContract, probe } from '../fixtures/harness.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const { pool, runs } = countingPool(2);
afterAll(() => pool.close());

const pairs = (n: number): [number, number][] => Array.from({ length: n }, (_, i): [number, number] => [i, 2 * i]);
const pairAt = (i: number): [number, number] => [i, 1];

describe('starMap', () => {
  it('spreads each tuple into the task arguments, in input order', async () => {
    expect(
      await flow([
        [1, 2],
        [3, 4],
      ] as [number, number][])
        .pipe(starMap(math.add, { pool }))
        .toArray(),
    ).toEqual([3, 7]);
    const input = pairs(500);
    expect(
      await flow(input)
        .pipe(starMap(math.add, { pool, chunkSize: 9 }))
        .toArray(),
    ).toEqual(input.map(([a, b]) => a + b));
  });

  it('spreads after bound arguments', async () => {
    expect(
      await flow([[5]] as [number][])
        .pipe(starMap(bind(math.scale, 3), { pool }))
        .toArray(),
    ).toEqual([15]);
  });

  it('emits as chunks finish with ordered: false (same values)', async () => {
    const input = pairs(300);
    const output = await flow(input)
      .pipe(starMap(math.add, { pool, ordered: false, chunkSize: 4 }))
      .toArray();
    expect([...output].sort((a, b) => a - b)).toEqual(input.map(([a, b]) => a + b));
  });

  it('emits nothing and runs no chunk for an empty input', async () => {
    const before = runs();
    expect(await flow<[number, number]>([]).pipe(starMap(math.add, { pool })).toArray()).toEqual([]);
    expect(runs()).toBe(before);
  });

  it('ends the flow with a TaskError naming the task and the failing tuple', async () => {
    const input = Array.from({ length: 30 }, (_, i): [number] => [i]);
    const error: unknown = await flow(input)
      .pipe(starMap(math.failOn, { pool, chunkSize: 4 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.task).toMatch(/math\.tasks\.js#failOn$/);
    expect(taskError.item).toEqual([13]);
    expect(taskError.index).toBe(13);
    expect((taskError.cause as Error).stack).toMatch(/math\.tasks\.ts/);
  });

  it('holds the in-flight bound: pulled - taken <= maxInFlight * chunkSize + chunkSize (maxBuffered: 0)', async () => {
    const maxInFlight = 2;
    const chunkSize = 3;
    const source = probe(pairAt);
    const { lead, taken } = await maxLead(
      flow(source).pipe(starMap(math.add, { pool, maxInFlight, chunkSize, maxBuffered: 0 })),
      source.stats,
      30,
    );
    expect(taken).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(lead).toBeLessThanOrEqual(maxInFlight * chunkSize + chunkSize);
    expect(lead).toBeGreaterThanOrEqual(chunkSize);
  });

  operatorContract<[number, number], number>({ make: (p) => starMap(math.add, { pool: p }), input: pairAt, pool: () => pool, runs });
});
