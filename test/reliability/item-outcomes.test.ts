// Items, not chunks: under scheduled failures every item is emitted once or reported once, never
// both, never neither, and a success is never run again (every call is counted in shared memory).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, parallelMap, reduceBy, TaskError, tasks, unorderedMap, type Pool } from 'millrace';
import { failsOn } from '../fixtures/items.tasks.js';
import { createSlots, MAX_RUNNING, NEED } from '../fixtures/gates.tasks.js';
import { onlyTaskErrors, range, tempDirs } from './helpers.js';

const tempDir = tempDirs('item-outcomes');

const items = tasks<typeof import('../fixtures/items.tasks.js')>(new URL('../fixtures/items.tasks.js', import.meta.url));
const gates = tasks<typeof import('../fixtures/gates.tasks.js')>(new URL('../fixtures/gates.tasks.js', import.meta.url));

/** How many calls item `x` takes under the schedule with `retries`, and whether it ends as a value. */
function expected(x: number, retries: number, every: number): { calls: number; succeeds: boolean } {
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    if (!failsOn(x, attempt, every)) return { calls: attempt, succeeds: true };
  }
  return { calls: retries + 1, succeeds: false };
}

function counters(count: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT));
}

type Shape = {
  readonly name: string;
  readonly isolation: 'thread' | 'process';
  readonly ordered: boolean;
  readonly chunkSize?: number;
  readonly concurrency?: number;
};

const shapes: Shape[] = [
  { name: 'threads, ordered, adaptive chunks', isolation: 'thread', ordered: true },
  { name: 'threads, unordered, chunks of 7', isolation: 'thread', ordered: false, chunkSize: 7 },
  { name: 'threads, ordered, chunks of 5, 4 items at once (async)', isolation: 'thread', ordered: true, chunkSize: 5, concurrency: 4 },
  { name: 'processes, ordered, chunks of 50', isolation: 'process', ordered: true, chunkSize: 50 },
];

describe('item-level outcomes under scheduled failures (retries: 2, onError)', () => {
  for (const shape of shapes) {
    it(`${shape.name}: every item emitted once or reported once, and no success run again`, async () => {
      const count = shape.isolation === 'process' ? 600 : 3000;
      const every = 9;
      const retries = 2;
      await using pool: Pool = createPool({ threads: 2, isolation: shape.isolation });
      const calls = counters(count);
      // Child processes do not share memory with us: they count their calls in files.
      const dir = tempDir();
      const reported: TaskError[] = [];
      const task =
        shape.isolation === 'process'
          ? bind(items.scheduledInFiles, dir, every)
          : shape.concurrency === undefined
            ? bind(items.scheduled, calls, every)
            : bind(items.scheduledAsync, calls, every);
      const options = {
        pool,
        retries,
        retryDelayMs: 0,
        onError: onlyTaskErrors((error) => reported.push(error)),
        ...(shape.chunkSize === undefined ? {} : { chunkSize: shape.chunkSize }),
        ...(shape.concurrency === undefined ? {} : { concurrency: shape.concurrency }),
      };
      const emitted = await flow(range(count))
        .pipe(shape.ordered ? parallelMap(task, options) : unorderedMap(task, options))
        .toArray();

      const want = range(count).map((x) => expected(x, retries, every));
      const succeeding = range(count).filter((x) => want[x]!.succeeds);
      const failing = range(count).filter((x) => !want[x]!.succeeds);
      // The schedule has both kinds, and items that needed a retry to succeed.
      expect(failing.length).toBeGreaterThan(0);
      expect(want.filter((w) => w.succeeds && w.calls > 1).length).toBeGreaterThan(count / 20);

      const values = shape.ordered ? emitted : [...emitted].sort((a, b) => a - b);
      expect(values).toEqual(succeeding.map((x) => x * 2));
      expect(reported.map((error) => error.index).sort((a, b) => a - b)).toEqual(failing);
      for (const error of reported) {
        expect(error.item).toBe(error.index);
        expect(error.attempts).toBe(retries + 1);
      }
      // Every call counted: a success ran exactly until its first good attempt, never again.
      const counted =
        shape.isolation === 'process'
          ? range(count).map((x) => (existsSync(join(dir, `calls-${x}`)) ? readFileSync(join(dir, `calls-${x}`), 'utf8').length : 0))
          : Array.from(calls);
      expect(counted).toEqual(want.map((w) => w.calls));
    });
  }

  it('fail fast with retries: the flow fails on an item that failed every attempt, naming it and its attempts', async () => {
    await using pool = createPool({ threads: 2 });
    const every = 9;
    const calls = counters(400);
    const firstFailing = range(400).find((x) => !expected(x, 1, every).succeeds)!;
    const error = await flow(range(400))
      .pipe(parallelMap(bind(items.scheduled, calls, every), { pool, retries: 1, retryDelayMs: 0, chunkSize: 400 }))
      .toArray()
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).index).toBe(firstFailing);
    expect((error as TaskError).attempts).toBe(2);
    // Items that succeeded on the first attempt were not run again.
    for (const x of range(400)) if (!failsOn(x, 1, every)) expect(calls[x]).toBe(1);
  });

  it('two-tier reduceBy: a retry folds only the failed items again, so the sum counts each item once', async () => {
    await using pool = createPool({ threads: 2 });
    const every = 9;
    const count = 2000;
    const calls = counters(count);
    const reported: TaskError[] = [];
    const folds = await flow(range(count))
      .pipe(
        reduceBy(items.one, bind(items.scheduledSum, calls, every), 0, {
          pool,
          chunkSize: 64,
          retries: 2,
          retryDelayMs: 0,
          combine: (a, b) => a + b,
          onError: onlyTaskErrors((error) => reported.push(error)),
        }),
      )
      .toArray();
    const want = range(count).map((x) => expected(x, 2, every));
    const sum = range(count)
      .filter((x) => want[x]!.succeeds)
      .reduce((total, x) => total + x, 0);
    expect(folds).toEqual([['all', sum]]);
    expect(reported.map((error) => error.index).sort((a, b) => a - b)).toEqual(range(count).filter((x) => !want[x]!.succeeds));
    expect(Array.from(calls)).toEqual(want.map((w) => w.calls));
  });
});

describe('a worker that dies mid-chunk: the items it had finished keep their values', () => {
  // Every 10th item (9, 19, ...) kills its worker on its first call, while it runs; the chunk's
  // other items run exactly once (the dead worker said which had finished), the crashing one twice.
  const crashShapes = [
    { name: 'threads, chunks of 10', isolation: 'thread' as const, chunkSize: 10, concurrency: 1 },
    { name: 'threads, chunks of 10, 4 at once', isolation: 'thread' as const, chunkSize: 10, concurrency: 4 },
    { name: 'processes, chunks of 10', isolation: 'process' as const, chunkSize: 10, concurrency: 1 },
  ];
  for (const shape of crashShapes) {
    it(`${shape.name}: retries run only the unfinished items`, async () => {
      const n = 60;
      await using pool = createPool({ threads: 2, isolation: shape.isolation });
      const dir = tempDir();
      const calls = counters(n);
      const task = shape.isolation === 'process' ? bind(items.crashOnceInFiles, dir, 10) : bind(items.crashOnce, calls, 10);
      const out = await flow(range(n))
        .pipe(parallelMap(task, { pool, chunkSize: shape.chunkSize, concurrency: shape.concurrency, retries: 1 }))
        .toArray();
      expect(out).toEqual(range(n).map((x) => x * 2));
      const counted = range(n).map((x) =>
        shape.isolation === 'process'
          ? existsSync(join(dir, `calls-${x}`))
            ? readFileSync(join(dir, `calls-${x}`), 'utf8').length
            : 0
          : calls[x]!,
      );
      const crashing = (x: number) => x % 10 === 9;
      // With 4 at once, the items after the crashing one in its chunk may not have started: they run once, later.
      expect(range(n).filter((x) => counted[x] !== (crashing(x) ? 2 : 1))).toEqual([]);
    });
  }

  it('process.exit() in a worker thread: the items before it keep their values', async () => {
    await using pool = createPool({ threads: 1 });
    const calls = counters(20);
    const out = await flow(range(20))
      .pipe(parallelMap(bind(items.exitOnce, calls, 7), { pool, chunkSize: 20, retries: 1 }))
      .toArray();
    expect(out).toEqual(range(20).map((x) => x * 2));
    expect([...calls]).toEqual(range(20).map((x) => (x === 7 ? 2 : 1)));
  });

  it('under onError (isolation): only the unfinished items run again, one by one', async () => {
    await using pool = createPool({ threads: 2 });
    const calls = counters(30);
    const reported: unknown[] = [];
    const out = await flow(range(30))
      .pipe(parallelMap(bind(items.crashOnce, calls, 10), { pool, chunkSize: 10, onError: (error) => void reported.push(error) }))
      .toArray();
    expect(reported).toEqual([]);
    expect(out).toEqual(range(30).map((x) => x * 2));
    expect([...calls]).toEqual(range(30).map((x) => (x % 10 === 9 ? 2 : 1)));
  });
});

describe('concurrency is not capped by chunk size', () => {
  it('{ concurrency: 16, chunkSize: 1 } runs 16 items at once in one worker', async () => {
    await using pool = createPool({ threads: 1 });
    const slots = createSlots();
    Atomics.store(slots, NEED, 16);
    // The first 16 items wait at a rendezvous until 16 run together: only a worker running 16 at
    // once lets them through (one at a time, each would wait out the rendezvous' own timeout).
    const ids = await flow(range(16))
      .pipe(parallelMap(bind(gates.rendezvous, slots), { pool, chunkSize: 1, concurrency: 16 }))
      .toArray();
    expect(ids).toHaveLength(16);
    expect(Atomics.load(slots, MAX_RUNNING)).toBe(16);
  });
});
