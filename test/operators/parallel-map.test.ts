import { afterAll, describe, expect, it } from 'vitest';
import { bind, createPool, flow, InvalidOptionError, map, parallelMap, TaskError, tasks } from 'millrace';
import { createSlots, HELD_DONE, open, waitForPassed } from '../fixtures/gates.tasks.js';
import { countingPool, maxLead, naturals, operatorContract, probe } from '../fixtures/harness.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const gates = tasks<typeof import('../fixtures/gates.tasks.js')>(new URL('../fixtures/gates.tasks.js', import.meta.url));
const { pool, runs } = countingPool(2);
afterAll(() => pool.close());

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('parallelMap', () => {
  it('maps values in input order through real worker threads (auto chunk size)', async () => {
    const input = range(1000);
    expect(await flow(input).pipe(parallelMap(math.square, { pool })).toArray()).toEqual(input.map((x) => x * x));
  });

  it('keeps order with a fixed chunk size that does not divide the input', async () => {
    const input = range(103);
    expect(
      await flow(input)
        .pipe(parallelMap(math.square, { pool, chunkSize: 7 }))
        .toArray(),
    ).toEqual(input.map((x) => x * x));
  });

  it('yields the awaited value of an async task', async () => {
    expect(await flow([1, 2, 3]).pipe(parallelMap(math.slowSquare, { pool })).toArray()).toEqual([1, 4, 9]);
  });

  it('passes falsy and empty values through unchanged', async () => {
    const values = [undefined, null, 0, '', Number.NaN, [undefined], {}];
    expect(
      await flow(values)
        .pipe(parallelMap(math.identity, { pool, chunkSize: 3 }))
        .toArray(),
    ).toEqual(values);
  });

  it('keeps values flowing from a slow async source (partial chunks go out)', async () => {
    async function* slow(): AsyncGenerator<number> {
      for (let i = 0; i < 12; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        yield i;
      }
    }
    expect(await flow(slow()).pipe(parallelMap(math.square, { pool })).toArray()).toEqual(range(12).map((x) => x * x));
  });

  it('runs on the shared pool when given none', async () => {
    expect(await flow([2, 3]).pipe(parallelMap(math.square)).toArray()).toEqual([4, 9]);
  });

  it('keeps input order while an early item is held back and every later one has finished', async () => {
    const slots = createSlots();
    const n = 8;
    const result = flow(range(n))
      .pipe(parallelMap(bind(gates.gated, slots, 0), { pool, chunkSize: 1, maxInFlight: n }))
      .toArray();
    // Items 1..7 all finish in the workers while item 0 still waits at the gate.
    await waitForPassed(slots, n - 1);
    open(slots);
    expect(await result).toEqual(range(n).map((x) => x * 10));
  });

  it('stops dispatching at the reorder window while an early item is held back (maxBuffered: 0)', async () => {
    const slots = createSlots();
    const maxInFlight = 3;
    const before = runs();
    const result = flow(range(10))
      .pipe(parallelMap(bind(gates.gated, slots, 0), { pool, chunkSize: 1, maxInFlight, maxBuffered: 0 }))
      .toArray();
    await waitForPassed(slots, maxInFlight - 1);
    // Give the engine every chance to overrun the window before checking that it did not.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(runs() - before).toBe(maxInFlight);
    open(slots);
    expect(await result).toEqual(range(10).map((x) => x * 10));
  });

  it('a slow head item holds its place in the output, not the workers: later items run into the reorder buffer', async () => {
    const slots = createSlots();
    const maxInFlight = 3;
    const maxBuffered = 4;
    const before = runs();
    const emitted: number[] = [];
    const result = flow(range(20))
      .pipe(parallelMap(bind(gates.gated, slots, 0), { pool, chunkSize: 1, maxInFlight, maxBuffered }))
      .forEach((value) => {
        emitted.push(value);
      });
    // While item 0 waits at its gate, the other workers go on: maxInFlight - 1 running or waiting
    // for the consumer, plus maxBuffered finished ones parked behind item 0.
    await waitForPassed(slots, maxInFlight - 1 + maxBuffered);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(runs() - before).toBe(maxInFlight + maxBuffered);
    expect(emitted).toEqual([]); // nothing overtakes item 0
    open(slots);
    await result;
    expect(emitted).toEqual(range(20).map((x) => x * 10));
  });

  it('releases the worker of a running chunk when the consumer breaks out', async () => {
    await using single = createPool({ threads: 1 });
    const slots = createSlots();
    // Item 1 comes back; item 0 then holds the only worker at a gate that is never opened.
    for await (const value of flow([1, 0, 2]).pipe(
      parallelMap(bind(gates.gated, slots, 0), { pool: single, chunkSize: 1, maxInFlight: 3 }),
    )) {
      expect(value).toBe(10);
      await waitForPassed(slots, 1);
      break;
    }
    // Had the held chunk kept its worker, this flow would wait for the gate's own timeout first.
    expect(
      await flow([3])
        .pipe(parallelMap(math.square, { pool: single }))
        .toArray(),
    ).toEqual([9]);
    expect(Atomics.load(slots, HELD_DONE)).toBe(0);
  });

  it('serves concurrent next() calls in call order, then done to all', async () => {
    const iterator = flow([1, 2, 3, 4, 5])
      .pipe(parallelMap(math.slowSquare, { pool, chunkSize: 2 }))
      [Symbol.asyncIterator]();
    const results = await Promise.all(Array.from({ length: 7 }, () => iterator.next()));
    expect(results.map((r) => (r.done ? 'done' : r.value))).toEqual([1, 4, 9, 16, 25, 'done', 'done']);
  });

  it('rejects with signal.reason when aborted while a chunk runs, and releases its worker', async () => {
    await using single = createPool({ threads: 1 });
    const slots = createSlots();
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const pending = flow([1, 0, 2], { signal: controller.signal })
      .pipe(parallelMap(bind(gates.gated, slots, 0), { pool: single, chunkSize: 1 }))
      .toArray();
    await waitForPassed(slots, 1);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(
      await flow([4])
        .pipe(parallelMap(math.square, { pool: single }))
        .toArray(),
    ).toEqual([16]);
    expect(Atomics.load(slots, HELD_DONE)).toBe(0);
  });

  it('emits nothing and runs no chunk for an empty input', async () => {
    const before = runs();
    expect(await flow<number>([]).pipe(parallelMap(math.square, { pool })).toArray()).toEqual([]);
    expect(runs()).toBe(before);
  });

  it('ends the flow with a TaskError naming the task, the item and its index, with the worker stack as cause', async () => {
    const error: unknown = await flow(range(40))
      .pipe(parallelMap(math.failOn, { pool, chunkSize: 5 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.task).toMatch(/math\.tasks\.js#failOn$/);
    expect(taskError.item).toBe(13);
    expect(taskError.index).toBe(13);
    expect(taskError.message).toContain('unlucky 13');
    const cause = taskError.cause as Error & { code?: string; detail?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause.name).toBe('RangeError');
    expect(cause.message).toBe('unlucky 13');
    expect(cause.code).toBe('E_UNLUCKY');
    expect(cause.detail).toEqual({ x: 13 });
    // The stack is the worker's: it points into the task module, not into millrace's main thread.
    expect(cause.stack).toMatch(/math\.tasks\.ts/);
  });

  it('wraps a thrown non-Error value in an Error cause that describes it', async () => {
    const error: unknown = await flow([1, 2, 3])
      .pipe(parallelMap(math.throwString, { pool }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).index).toBe(1);
    const cause = (error as TaskError).cause as Error & { value?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause.message).toContain('not an Error');
    expect(cause.value).toBe('not an Error');
  });

  it('holds the in-flight bound: pulled - taken <= (maxInFlight + maxBuffered) * chunkSize + chunkSize', async () => {
    const maxInFlight = 3;
    const maxBuffered = 2;
    const chunkSize = 4;
    const source = probe(naturals);
    const { lead, taken } = await maxLead(
      flow(source).pipe(parallelMap(math.square, { pool, maxInFlight, maxBuffered, chunkSize })),
      source.stats,
      60,
    );
    expect(taken).toEqual(range(60).map((x) => x * x));
    expect(lead).toBeLessThanOrEqual((maxInFlight + maxBuffered) * chunkSize + chunkSize);
    // Not vacuous: the engine did run ahead of the consumer.
    expect(lead).toBeGreaterThanOrEqual(chunkSize);
    expect(source.stats.returned).toBe(true);
  });

  it('holds the default bounds: twice the thread count in chunks in flight, 16 times that in the reorder buffer', async () => {
    const chunkSize = 3;
    const source = probe(naturals);
    const { lead } = await maxLead(flow(source).pipe(parallelMap(math.square, { pool, chunkSize })), source.stats, 400);
    expect(pool.threads).toBe(2);
    const maxInFlight = 2 * pool.threads;
    expect(lead).toBeLessThanOrEqual((maxInFlight + 16 * maxInFlight) * chunkSize + chunkSize);
  });

  it('a failing later step cancels the work and closes the source', async () => {
    const error = new Error('downstream broke');
    const source = probe(naturals);
    const failing = map((x: number) => {
      if (x === 100) throw error;
      return x;
    });
    // The main-thread map reports its failure as a TaskError naming the item, the error as cause.
    await expect(flow(source).pipe(parallelMap(math.square, { pool }), failing).toArray()).rejects.toMatchObject({
      name: 'TaskError',
      index: 10,
      cause: error,
    });
    expect(source.stats.returned).toBe(true);
  });

  it('rejects bad options when the operator is built', () => {
    expect(() => parallelMap(math.square, { chunkSize: 0 })).toThrow(InvalidOptionError);
    expect(() => parallelMap(math.square, { maxInFlight: 1.5 })).toThrow(InvalidOptionError);
  });

  operatorContract<number, number>({ make: (p) => parallelMap(math.square, { pool: p }), input: naturals, pool: () => pool, runs });
});
