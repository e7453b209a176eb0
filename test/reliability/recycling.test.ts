// Recycling workers: createPool({ maxItemsPerWorker, maxWorkerMemoryMb }).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, InvalidOptionError, parallelMap, tasks, unorderedMap } from 'millrace';
import * as gateSlots from '../fixtures/gates.tasks.js';
import { range, tempDirs } from './helpers.js';

const recycle = tasks<typeof import('../fixtures/recycle.tasks.js')>(new URL('../fixtures/recycle.tasks.js', import.meta.url));
const tempDir = tempDirs('recycle');
const gates = tasks<typeof import('../fixtures/gates.tasks.js')>(new URL('../fixtures/gates.tasks.js', import.meta.url));

/** How many items each thread ran. */
function perThread(rows: readonly (readonly number[])[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const row of rows) counts.set(row[1]!, (counts.get(row[1]!) ?? 0) + 1);
  return counts;
}

describe('recycling workers', () => {
  it('maxItemsPerWorker: 10 over 100 one-item chunks: a worker is replaced at the bound, every item once, in order', async () => {
    await using pool = createPool({ threads: 2, maxItemsPerWorker: 10 });
    const rows = await flow(range(100))
      .pipe(parallelMap(recycle.whoRuns, { pool, chunkSize: 1 }))
      .toArray();
    expect(rows.map(([x]) => x)).toEqual(range(100));
    const counts = perThread(rows);
    // No thread ran more than its bound, so 100 items took at least 10 threads (2 slots: 5+ each).
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(10);
    expect(counts.size).toBeGreaterThanOrEqual(10);
    // Old workers leave: at most the pool's threads (and replacements still starting) stay.
    expect(pool.liveThreads!).toBeLessThanOrEqual(2 * pool.threads);
  });

  it('maxItemsPerWorker: 1 with replacements up while the old workers still run: every item, and the flow ends', async () => {
    // The first four items wait for each other, so four workers run at once on a pool of two: the
    // two first workers, retiring, and their replacements, retiring too. The replacements' own
    // replacements then wait in tinypool's queue for a thread; tinypool never started one for them
    // once the old workers left (it refills only to minThreads), and the flow stalled with nothing
    // keeping the process alive.
    await using pool = createPool({ threads: 2, maxItemsPerWorker: 1 });
    const slots = gateSlots.createSlots();
    slots[gateSlots.NEED] = 4;
    const threads = await flow(range(8))
      .pipe(unorderedMap(bind(gates.rendezvous, slots), { pool, chunkSize: 1 }))
      .toArray();
    expect(threads).toHaveLength(8);
    expect(slots[gateSlots.MAX_RUNNING]).toBe(4);
    // A new worker for every item.
    expect(new Set(threads).size).toBe(8);
  }, 30_000);

  it('a chunk that crosses the bound runs whole on its worker; the next chunk goes to a new one', async () => {
    await using pool = createPool({ threads: 1, maxItemsPerWorker: 10 });
    const rows = await flow(range(40))
      .pipe(unorderedMap(recycle.whoRuns, { pool, chunkSize: 4 }))
      .toArray();
    expect(rows.map(([x]) => x).sort((a, b) => a - b)).toEqual(range(40));
    // 4 + 4 + 4 = 12 items reach the bound of 10 on the third chunk, which runs whole: usually 12, 12,
    // 12 and 4. A chunk waiting behind a retiring worker's running one is taken back for its idle
    // replacement when that is up first (seen: 12, 8, 12, 8), so what holds is: whole chunks, never
    // a chunk sent past the bound (at most 10 + 4 - 1 items, so 12), every item once.
    const counts = [...perThread(rows).values()];
    for (const count of counts) {
      expect(count % 4).toBe(0);
      expect(count).toBeLessThanOrEqual(12);
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(counts.length).toBeGreaterThanOrEqual(4);
  });

  it('a leaking task stays bounded with maxWorkerMemoryMb: the worker is replaced when its heap passes the bound', async () => {
    await using pool = createPool({ threads: 1, maxWorkerMemoryMb: 64 });
    const rows = await flow(range(80))
      .pipe(parallelMap(bind(recycle.leak, 2), { pool, chunkSize: 1 }))
      .toArray();
    expect(rows.map(([x]) => x)).toEqual(range(80));
    // 160 MB leaked in all; no worker's heap went past the bound by more than a chunk's leak (and a GC's slack).
    const maxHeapMb = Math.max(...rows.map(([, , heap]) => heap)) / 1024 / 1024;
    expect(maxHeapMb).toBeLessThan(64 + 32);
    expect(perThread(rows).size).toBeGreaterThan(1);
  });

  it('without a bound, the same leak grows past it on one worker (the test above would catch a bound that does nothing)', async () => {
    await using pool = createPool({ threads: 1 });
    const rows = await flow(range(80))
      .pipe(parallelMap(bind(recycle.leak, 2), { pool, chunkSize: 1 }))
      .toArray();
    expect(perThread(rows).size).toBe(1);
    expect(Math.max(...rows.map(([, , heap]) => heap)) / 1024 / 1024).toBeGreaterThan(64 + 32);
  });

  it("a recycled worker runs its modules' teardown before it leaves", async () => {
    const log = join(tempDir(), 'events');
    const module = tasks<typeof import('../fixtures/teardown.tasks.js')>(new URL('../fixtures/teardown.tasks.js', import.meta.url), {
      setupArgs: [log],
    });
    const pool = createPool({ threads: 1, maxItemsPerWorker: 5 });
    expect(
      await flow(range(20))
        .pipe(parallelMap(module.work, { pool, chunkSize: 1 }))
        .toArray(),
    ).toEqual(range(20).map((x) => x * 2));
    await pool.close();
    const byThread = new Map<string, string[]>();
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      const [event, thread] = line.split(' ') as [string, string];
      byThread.set(thread, [...(byThread.get(thread) ?? []), event]);
    }
    // Each worker: its setup, at most 5 items, then its teardown. Usually 4 workers of 5 items; a chunk
    // waiting behind a retiring worker's running one is taken back for its idle replacement when the
    // replacement is up first, and the retiring worker then ran fewer (seen under load: 5 workers).
    expect(byThread.size).toBeGreaterThanOrEqual(4);
    let tasksRun = 0;
    for (const events of byThread.values()) {
      const tasks = events.length - 2;
      expect(tasks).toBeGreaterThanOrEqual(1);
      expect(tasks).toBeLessThanOrEqual(5);
      expect(events).toEqual(['setup', ...Array<string>(tasks).fill('task'), 'teardown']);
      tasksRun += tasks;
    }
    expect(tasksRun).toBe(20);
  });

  it('rejects a bound below 1', () => {
    expect(() => createPool({ maxItemsPerWorker: 0 })).toThrow(InvalidOptionError);
    expect(() => createPool({ maxWorkerMemoryMb: -1 })).toThrow(InvalidOptionError);
  });
});
