import { describe, expect, it } from 'vitest';
import { createPool, flow, InvalidOptionError, map, TaskError } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { deferred, turns, type Deferred } from '../fixtures/deferred.js';
import { maxLead, naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: map runs in the main thread

describe('map', () => {
  it('maps each value in order, passing its index', async () => {
    expect(
      await flow(['a', 'b', 'c'])
        .pipe(map((s: string, { index }) => `${index}:${s}`))
        .toArray(),
    ).toEqual(['0:a', '1:b', '2:c']);
  });

  it('awaits a promise-returning function and keeps input order', async () => {
    const delays = [3, 0, 1];
    const output = await flow(delays)
      .pipe(
        map(async (d: number) => {
          await new Promise((resolve) => setTimeout(resolve, d));
          return d * 2;
        }),
      )
      .toArray();
    expect(output).toEqual([6, 0, 2]);
  });

  it('emits nothing for an empty input', async () => {
    expect(
      await flow<number>([])
        .pipe(map((x: number) => x + 1))
        .toArray(),
    ).toEqual([]);
  });

  it('ends the flow with a TaskError naming the item, its index and the function, the thrown error as cause, and closes the source', async () => {
    const error = new Error('bad item');
    const source = probe(naturals);
    const failing = map(function checkItem(x: number) {
      if (x === 4) throw error;
      return x;
    });
    const failure = await flow(source)
      .pipe(failing)
      .toArray()
      .catch((thrown: unknown) => thrown);
    expect(failure).toBeInstanceOf(TaskError);
    expect(failure).toMatchObject({
      task: 'checkItem',
      item: 4,
      index: 4,
      attempts: 1,
      message: 'Task checkItem failed on item #4 (4): bad item',
    });
    expect((failure as TaskError).cause).toBe(error);
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
  function gated(count: number): {
    gates: Deferred<void>[];
    running: () => number;
    peak: () => number;
    project: (x: number) => Promise<number>;
  } {
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

  it('runs up to `concurrency` calls at once; a finished result waiting for an earlier one frees its call; input order kept', async () => {
    const { gates, running, project } = gated(10);
    const source = probe(Array.from({ length: 10 }, (_, i) => i));
    const seen: number[] = [];
    const result = flow(source)
      .pipe(map(project, { concurrency: 3 }))
      .forEach((x) => {
        seen.push(x);
      });
    await turns();
    expect(running()).toBe(3);
    expect(source.stats.pulled).toBe(3);
    // 2 finishes first: it waits in the reorder buffer behind 0, and its call goes to item 3.
    gates[2]!.resolve();
    await turns();
    expect(seen).toEqual([]);
    expect(source.stats.pulled).toBe(4);
    expect(running()).toBe(3);
    gates[0]!.resolve();
    await turns();
    // 0 is emitted and its call goes to item 4; 2 still waits behind 1.
    expect(seen).toEqual([0]);
    expect(source.stats.pulled).toBe(5);
    expect(running()).toBe(3);
    for (const gate of gates) gate.resolve();
    await result;
    expect(seen).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('ordered: a slow first item holds its place, not the calls: the others run up to maxBuffered, nothing is emitted before it', async () => {
    const first = deferred();
    let started = 0;
    const seen: number[] = [];
    const source = probe(Array.from({ length: 100 }, (_, i) => i));
    const run = flow(source)
      .pipe(
        map(
          async (x: number) => {
            started++;
            if (x === 0) await first.promise;
            return x;
          },
          { concurrency: 4, maxBuffered: 10 },
        ),
      )
      .forEach((x) => {
        seen.push(x);
      });
    await turns(30);
    // Item 0 runs, items 1..10 finished and fill the buffer; nothing more is read.
    expect(started).toBe(11);
    expect(source.stats.pulled).toBe(11);
    expect(seen).toEqual([]);
    first.resolve();
    await run;
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(started).toBe(100);
  });

  it('the reorder buffer defaults to 16 × concurrency', async () => {
    const first = deferred();
    let started = 0;
    const run = flow(Array.from({ length: 200 }, (_, i) => i))
      .pipe(
        map(
          async (x: number) => {
            started++;
            if (x === 0) await first.promise;
            return x;
          },
          { concurrency: 4 },
        ),
      )
      .toArray();
    await turns(100);
    expect(started).toBe(1 + 16 * 4);
    first.resolve();
    expect(await run).toHaveLength(200);
  });

  it('with ordered: false emits results as calls settle', async () => {
    const { gates, project } = gated(3);
    const seen: number[] = [];
    const run = flow([0, 1, 2])
      .pipe(map(project, { concurrency: 3, ordered: false }))
      .forEach((x) => {
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
      .pipe(
        map(
          async (x: number) => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((resolve) => setImmediate(resolve));
            running--;
            return x;
          },
          { concurrency: 8, ordered: false },
        ),
      )
      .toArray();
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(peak).toBe(8);
  });

  it('ends with a TaskError for the first failing call (its item and index, the error as cause) and closes the source', async () => {
    const error = new Error('call failed');
    const source = probe(naturals);
    const failing = map(
      async (x: number) => {
        if (x === 5) throw error;
        return x;
      },
      { concurrency: 4 },
    );
    const failure = await flow(source)
      .pipe(failing)
      .toArray()
      .catch((thrown: unknown) => thrown);
    expect(failure).toBeInstanceOf(TaskError);
    expect(failure).toMatchObject({ task: 'map', item: 5, index: 5, attempts: 1 });
    expect((failure as TaskError).cause).toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('a synchronous throw fails the same way', async () => {
    const error = new Error('sync throw');
    const failure = await flow([1, 2, 3])
      .pipe(
        map(
          (x: number) => {
            if (x === 2) throw error;
            return x;
          },
          { concurrency: 2 },
        ),
      )
      .toArray()
      .catch((thrown: unknown) => thrown);
    expect(failure).toBeInstanceOf(TaskError);
    expect(failure).toMatchObject({ item: 2, index: 1, cause: error });
  });

  it('an abort with calls in flight rejects with signal.reason at once and closes the source', async () => {
    const { gates, project } = gated(10);
    const controller = new AbortController();
    const reason = new Error('stop');
    const source = probe(naturals);
    const run = flow(source, { signal: controller.signal })
      .pipe(map(project, { concurrency: 4 }))
      .toArray();
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
