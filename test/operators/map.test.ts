import { describe, expect, it } from 'vitest';
import { createPool, flow, InvalidOptionError, map } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { deferred, turns, type Deferred } from '../fixtures/deferred.js';
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

describe('map with { concurrency, ordered }', () => {
  /** A map whose call i waits for gates[i]; records how many calls run at once. */
  function gated(count: number): { gates: Deferred<void>[]; running: () => number; peak: () => number; project: (x: number) => Promise<number> } {
    const gates = Array.from({ length: count }, () => deferred());
    let running = 0;
    let peak = 0;
    const project = async (x: number): Promise<number> => {
      running++;
      peak = Math.max(peak, running);
      await gates[x]!.promise;
      running--;
      return x * 10;
    };
    return { gates, running: () => running, peak: () => peak, project };
  }

  it('runs up to `concurrency` calls at once, reading no further ahead, and keeps input order', async () => {
    const { gates, running, project } = gated(10);
    const source = probe(Array.from({ length: 10 }, (_, i) => i));
    const result = flow(source).pipe(map(project, { concurrency: 3 })).toArray();
    await turns();
    expect(running()).toBe(3);
    expect(source.stats.pulled).toBe(3);
    // The last of the three finishing first does not let output (or reading) move past the first.
    gates[2]!.resolve();
    await turns();
    expect(source.stats.pulled).toBe(3);
    gates[0]!.resolve();
    await turns();
    // 0 is emitted, one slot frees; 2 is done but waits behind 1, so it still holds its slot.
    expect(source.stats.pulled).toBe(4);
    expect(running()).toBe(2);
    for (const gate of gates) gate.resolve();
    expect(await result).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('with ordered: false emits results as calls settle', async () => {
    const { gates, project } = gated(3);
    const seen: number[] = [];
    const run = flow([0, 1, 2]).pipe(map(project, { concurrency: 3, ordered: false })).forEach((x) => {
      seen.push(x);
    });
    await turns();
    gates[2]!.resolve();
    await turns();
    gates[0]!.resolve();
    await turns();
    gates[1]!.resolve();
    await run;
    expect(seen).toEqual([20, 0, 10]);
  });

  it('never has more than `concurrency` calls running over a long input', async () => {
    let running = 0;
    let peak = 0;
    const values = await flow(Array.from({ length: 200 }, (_, i) => i))
      .pipe(map(async (x: number) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        return x;
      }, { concurrency: 8, ordered: false }))
      .toArray();
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(peak).toBe(8);
  });

  it('ends with the error of the first failing call, unchanged, and closes the source', async () => {
    const error = new Error('call failed');
    const source = probe(naturals);
    const failing = map(async (x: number) => {
      if (x === 5) throw error;
      return x;
    }, { concurrency: 4 });
    await expect(flow(source).pipe(failing).toArray()).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('a synchronous throw fails the same way', async () => {
    const error = new Error('sync throw');
    await expect(flow([1, 2, 3]).pipe(map((x: number) => {
      if (x === 2) throw error;
      return x;
    }, { concurrency: 2 })).toArray()).rejects.toBe(error);
  });

  it('an abort with calls in flight rejects with signal.reason at once and closes the source', async () => {
    const { gates, project } = gated(10);
    const controller = new AbortController();
    const reason = new Error('stop');
    const source = probe(naturals);
    const run = flow(source, { signal: controller.signal }).pipe(map(project, { concurrency: 4 })).toArray();
    await turns();
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(source.stats.returned).toBe(true);
    for (const gate of gates) gate.resolve();
  });

  it('rejects a concurrency that is not a positive integer when built', () => {
    expect(() => map((x: number) => x, { concurrency: 0 })).toThrow(InvalidOptionError);
    expect(() => map((x: number) => x, { concurrency: 1.5 })).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit, ordered and not', async () => {
    await checkOperator(() => map(async (x: number) => x * 2, { concurrency: 4 }), { input: [1, 2, 3, 4, 5], expected: [2, 4, 6, 8, 10] });
    await checkOperator(() => map(async (x: number) => x * 2, { concurrency: 4, ordered: false }), {
      input: [1, 2, 3],
      expected: [2, 4, 6],
      unordered: true,
    });
  });

  operatorContract<number, number>({ make: () => map(async (x: number) => x + 1, { concurrency: 4 }), input: naturals, pool: () => pool });
});
