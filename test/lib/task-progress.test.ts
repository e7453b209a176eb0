// Progress reported from inside tasks (reportProgress): batched in the worker, carried by the thread
// backend to the run's onTaskProgress, forwarded by the engine to the progress() after the stage.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  bind,
  createPool,
  flow,
  InvalidOptionError,
  map,
  MillraceError,
  parallelMap,
  progress,
  ProgressBar,
  reduceBy,
  reportProgress,
  take,
  TaskError,
  tasks,
  unorderedMap,
  type ProgressStream,
} from 'millrace';
import { CLOCK_EVERY, ReportBatch } from '../../lib/task-progress.js';
import { deferred } from '../fixtures/deferred.js';
import { createSlots, open } from '../fixtures/gates.tasks.js';
import { filePool } from '../reliability/helpers.js';

const p = tasks<typeof import('../fixtures/progress.tasks.js')>(new URL('../fixtures/progress.tasks.js', import.meta.url));

/** A stream that records what is written to it. */
function recorder(isTTY: boolean): ProgressStream & { text: () => string; writes: string[] } {
  const writes: string[] = [];
  return { isTTY, columns: 120, write: (text: string) => writes.push(text), writes, text: () => writes.join('') };
}

/**
 * Off a terminal a bar also prints a line every `logIntervalMs` (10 s): a flow slowed past that by
 * a loaded machine would print one more line than these tests expect.
 */
const NO_LOG_LINE = 3_600_000;
// Pools for the tests that cancel no chunk (those keep a pool of their own).
const oneThread = filePool({ threads: 1 });
const twoThreads = filePool({ threads: 2 });

const total = (amounts: readonly number[]): number => amounts.reduce((sum, amount) => sum + amount, 0);

afterEach(() => {
  vi.useRealTimers();
});

describe('reportProgress outside a worker', () => {
  it('does nothing on the main thread, so a task runs unchanged outside millrace', () => {
    expect(() => reportProgress(10)).not.toThrow();
    expect(() => reportProgress(0)).not.toThrow();
  });

  it('rejects an amount that is negative, not finite or not a number', () => {
    for (const amount of [-1, Number.NaN, Number.POSITIVE_INFINITY, '3' as unknown as number]) {
      expect(() => reportProgress(amount)).toThrow(InvalidOptionError);
    }
  });
});

describe('ReportBatch (the worker side)', () => {
  it('sends the first report at once, then one sum when a report finds the interval over (a synchronous task)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let now = 0;
    const sent: number[] = [];
    const batch = new ReportBatch(
      (amount) => sent.push(amount),
      100,
      () => now,
    );
    for (let i = 0; i < 10_000; i++) batch.add(1);
    expect(sent).toEqual([1]); // the first, at once: a bar moves as soon as work starts
    now = 99;
    for (let i = 0; i < 10_000; i++) batch.add(1);
    expect(sent).toEqual([1]);
    now = 100;
    // The clock is read every CLOCK_EVERY reports: one of the next CLOCK_EVERY sends the sum.
    for (let i = 0; i < CLOCK_EVERY; i++) batch.add(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBeGreaterThanOrEqual(19_999);
    expect(total(sent) + batch.take()).toBe(20_000 + CLOCK_EVERY); // nothing lost, nothing twice
    vi.advanceTimersByTime(1_000);
    expect(sent).toHaveLength(2); // taken: the timer is gone
  });

  it('sends the last reports before a long wait on a timer, one interval after the previous send', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let now = 0;
    const sent: number[] = [];
    const batch = new ReportBatch(
      (amount) => sent.push(amount),
      100,
      () => now,
    );
    batch.add(1);
    now = 50;
    batch.add(5);
    vi.advanceTimersByTime(49);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([1, 5]);
    batch.add(2);
    expect(batch.take()).toBe(2);
    expect(batch.take()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(sent).toEqual([1, 5]);
  });
});

describe('reportProgress through the thread backend', () => {
  it('batches many reports into few messages: the first, one per 100 ms of work at most, and the rest with the answer', async () => {
    const pool = oneThread();
    const amounts: number[] = [];
    const response = await pool.backend.run(
      { mode: 'call', task: p.reportMany, items: [100_000] },
      { onTaskProgress: (amount) => amounts.push(amount) },
    );
    expect(response.results).toEqual([100_000]);
    expect(total(amounts)).toBe(100_000);
    // The bound follows from the rule, whatever the machine's speed: one send at the first report,
    // then at most one per 100 ms of the chunk's running time, then one with the answer.
    expect(amounts.length).toBeLessThanOrEqual(2 + Math.ceil(response.elapsedMs / 100));
    expect(amounts.length).toBeLessThan(1_000);
  });

  it('sends nothing when the run has no onTaskProgress, and the task runs as usual', async () => {
    const pool = oneThread();
    expect((await pool.backend.run({ mode: 'call', task: p.reportMany, items: [1_000] })).results).toEqual([1_000]);
  });

  it('drops the reports of a cancelled chunk, and the pool goes on', async () => {
    await using pool = createPool({ threads: 1 });
    const controller = new AbortController();
    const amounts: number[] = [];
    const reporting = deferred();
    const run = pool.backend.run(
      { mode: 'call', task: bind(p.reportUntilCancelled, 2_000), items: [1] },
      {
        signal: controller.signal,
        onTaskProgress: (amount) => {
          amounts.push(amount);
          reporting.resolve();
        },
      },
    );
    await reporting.promise;
    const reason = new Error('no longer wanted');
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    const before = total(amounts);
    // The task reports 2,000 more times after its cancel; none of it reaches the caller.
    const next: number[] = [];
    const response = await pool.backend.run(
      { mode: 'call', task: p.reportOnce, items: [5] },
      { onTaskProgress: (amount) => next.push(amount) },
    );
    expect(response.results).toEqual([5]);
    expect(next).toEqual([5]);
    expect(total(amounts)).toBe(before);
  });
});

describe("progress({ count: 'reported' })", () => {
  it("shows bytes in decimal units with unit: 'bytes'", () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(false);
    const bar = new ProgressBar({ total: 4.8e9, unit: 'bytes', label: 'read', stream });
    bar.start();
    bar.tick(1.8e9);
    vi.advanceTimersByTime(6_000);
    expect(bar.barLine(120)).toBe('read ███████████░░░░░░░░░░░░░░░░░░░ 1.8 GB/4.8 GB 37% · 300.0 MB/s · 0:06 · ETA 0:10');
    bar.tick(3e9 - 512);
    bar.stop('done');
    expect(stream.writes.at(-1)).toBe('read: 4.8 GB/4.8 GB in 6.0 s (800.0 MB/s)\n');
    const small = new ProgressBar({ unit: 'bytes', stream });
    small.tick(512);
    expect(small.summaryLine()).toBe('progress: 512 B in 0.0 s (… B/s)');
  });

  it('moves with what a task reports before the chunk\u2019s items come back', async () => {
    const pool = oneThread();
    const slots = createSlots();
    let emitted = 0;
    const shown = deferred<string>();
    // A terminal the test reads: the first draw that shows the reported bytes, while no item has come back.
    const stream: ProgressStream = {
      isTTY: true,
      columns: 120,
      write: (text: string) => {
        if (emitted === 0 && text.includes('read 42 B ·')) shown.resolve(text);
      },
    };
    const run = flow([42])
      .pipe(
        unorderedMap(bind(p.reportThenWait, slots), { pool }),
        progress({ count: 'reported', label: 'read', unit: 'bytes', stream, intervalMs: 5 }),
      )
      .forEach(() => {
        emitted++;
      });
    // The item waits at the gate until the test opens it (or 10 s pass, and the flow ends without the bar having moved).
    expect(await Promise.race([shown.promise, run.then(() => 'the flow ended first')])).toContain('read 42 B ·');
    expect(emitted).toBe(0);
    open(slots);
    await run;
    expect(emitted).toBe(1);
  });

  it('counts every amount the tasks report, not the items, by the end of the flow', async () => {
    const pool = twoThreads();
    const stream = recorder(false);
    const out = await flow([1, 2, 3, 4, 5, 6, 7, 8])
      .pipe(
        unorderedMap(p.reportOnce, { pool, chunkSize: 3 }),
        progress({ count: 'reported', total: 36, unit: 'bytes', stream, logIntervalMs: NO_LOG_LINE }),
      )
      .toArray();
    expect(out.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(stream.text()).toMatch(/^progress: 36 B\/36 B in [\d.]+ s \([^)]+ B\/s\)\n$/);
  });

  it('follows the nearest worker-backed stage: two stages report to their own bars, across main-thread steps', async () => {
    const pool = twoThreads();
    const stream = recorder(false);
    await flow([1, 2, 3, 4])
      .pipe(
        parallelMap(bind(p.reportScaled, 1), { pool }),
        progress({ count: 'reported', label: 'first', stream, logIntervalMs: NO_LOG_LINE }),
        map((x: number) => x),
        parallelMap(bind(p.reportScaled, 100), { pool }),
        map((x: number) => x),
        progress({ count: 'reported', label: 'second', stream, logIntervalMs: NO_LOG_LINE }),
        progress({ count: 'reported', label: 'third', stream, logIntervalMs: NO_LOG_LINE }),
      )
      .toArray();
    const lines = stream.writes.map((line) => line.split(' in ')[0]).sort();
    expect(lines).toEqual(['first: 10 items', 'second: 1000 items', 'third: 1000 items']);
  });

  it('counts reports from the tasks of a two-tier reduceBy', async () => {
    const pool = twoThreads();
    const stream = recorder(false);
    const sums = await flow([1, 2, 3, 4, 5])
      .pipe(
        reduceBy(p.parityReporting, p.sum, 0, { combine: (a: number, b: number) => a + b, pool, chunkSize: 2 }),
        progress({ count: 'reported', unit: 'lines', stream, logIntervalMs: NO_LOG_LINE }),
      )
      .toArray();
    expect(new Map(sums)).toEqual(
      new Map([
        ['odd', 9],
        ['even', 6],
      ]),
    );
    expect(stream.text()).toMatch(/^progress: 5 lines in /);
  });

  it('fails the flow, saying why, when no worker-backed stage comes before it', async () => {
    const stream = recorder(false);
    const run = flow([1, 2])
      .pipe(
        map((x: number) => x),
        progress({ count: 'reported', stream, logIntervalMs: NO_LOG_LINE }),
      )
      .toArray();
    await expect(run).rejects.toThrow(MillraceError);
    await expect(run).rejects.toThrow(/must follow one/);
    expect(() => progress({ count: 'bytes' as 'items' })).toThrow(InvalidOptionError);
  });

  it('survives reports from a chunk cancelled when the consumer stops early, and the pool goes on', async () => {
    await using pool = createPool({ threads: 2 });
    const stream = recorder(false);
    // Item 0 comes back at once; item 1 reports until its chunk is cancelled, then 2,000 times more.
    const out = await flow([0, 1])
      .pipe(
        unorderedMap(bind(p.reportUntilCancelled, 2_000), { pool, chunkSize: 1 }),
        progress({ count: 'reported', stream, logIntervalMs: NO_LOG_LINE }),
        take(1),
      )
      .toArray();
    expect(out).toEqual([0]);
    expect(
      await flow([2, 3])
        .pipe(parallelMap(p.reportOnce, { pool }), progress({ count: 'reported', stream, logIntervalMs: NO_LOG_LINE }))
        .toArray(),
    ).toEqual([2, 3]);
    expect(stream.writes.at(-1)).toMatch(/^progress: 5 items in /);
  });

  it('fails an item whose task reports a negative amount, with the error as its cause', async () => {
    const pool = oneThread();
    const run = flow([3])
      .pipe(parallelMap(p.reportNegative, { pool }), progress({ count: 'reported', stream: recorder(false) }))
      .toArray();
    const error: unknown = await run.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).cause).toMatchObject({ name: 'InvalidOptionError' });
  });
});
