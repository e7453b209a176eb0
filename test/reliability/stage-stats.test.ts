// Per-stage statistics (the `stats` option): they add up.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, formatStageStats, parallelMap, take, tasks, unorderedMap, type StageStats } from 'millrace';
import { range, tempDirs } from './helpers.js';

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));
const poison = tasks<typeof import('../fixtures/poison.tasks.js')>(new URL('../fixtures/poison.tasks.js', import.meta.url));
const tempDir = tempDirs('stats');

function addsUp(stats: StageStats, threads: number): void {
  expect(stats.itemsIn).toBe(stats.itemsOut + stats.itemsFailed);
  expect(stats.busyMs).toBeLessThanOrEqual(stats.wallMs * threads);
  expect(Object.values(stats.busyMsByWorker).reduce((a, b) => a + b, 0)).toBeCloseTo(stats.busyMs, 6);
  expect(stats.chunks.minSize).toBeLessThanOrEqual(stats.chunks.medianSize);
  expect(stats.chunks.medianSize).toBeLessThanOrEqual(stats.chunks.maxSize);
  expect(stats.chunks.count * stats.chunks.maxSize).toBeGreaterThanOrEqual(stats.itemsIn);
  expect(stats.queueWaitMs).toBeGreaterThanOrEqual(0);
  expect(stats.reorderWaitMs).toBeGreaterThanOrEqual(0);
  expect(stats.workerStarts.ms).toBeLessThanOrEqual(stats.wallMs * stats.workerStarts.count);
}

describe('stage statistics', () => {
  it('items in = out + failed, busy ≤ wall × workers, for an ordered stage with failures', async () => {
    await using pool = createPool({ threads: 2 });
    const reports: StageStats[] = [];
    const results = await flow(range(2_000))
      .pipe(parallelMap(bind(crash.failMultiplesOf, 7), { pool, onError: () => undefined, stats: (stats) => reports.push(stats) }))
      .toArray();
    expect(reports).toHaveLength(1);
    const stats = reports[0]!;
    expect(stats.state).toBe('done');
    expect(stats.itemsIn).toBe(2_000);
    expect(stats.itemsOut).toBe(results.length);
    expect(stats.itemsFailed).toBe(range(2_000).filter((x) => x % 7 === 0).length);
    expect(stats.task).toMatch(/crash\.tasks\.(ts|js)#failMultiplesOf$/);
    expect(stats.retries).toBe(0);
    addsUp(stats, 2);
    // No worker died: the busy time is spread over at most the pool's threads.
    expect(Object.keys(stats.busyMsByWorker).length).toBeLessThanOrEqual(2);
    expect(formatStageStats(stats)).toMatch(/^stage .*failMultiplesOf \(done\): 2000 in, \d+ out, 286 failed/);
  });

  it('counts a crashed chunk isolated item by item, and its poison item as failed', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    let stats: StageStats | undefined;
    await flow(range(300))
      .pipe(
        unorderedMap(bind(poison.poisonOn, dir, [150], []), { pool, chunkSize: 20, onError: () => undefined, stats: (s) => (stats = s) }),
      )
      .toArray();
    expect(stats!.runsAgain.isolate).toBe(1);
    expect(stats!.itemsFailed).toBe(1);
    expect(stats!.chunks).toMatchObject({ count: 15, minSize: 20, maxSize: 20 });
    // Crashed workers were replaced, so more worker ids than threads: the bound is on time, not ids.
    addsUp(stats!, 2);
  });

  it("a stage its consumer stops early reports 'stopped', with fewer items out than in at most", async () => {
    await using pool = createPool({ threads: 2 });
    let stats: StageStats | undefined;
    expect(
      await flow(range(10_000))
        .pipe(parallelMap(crash.echo, { pool, chunkSize: 10, stats: (s) => (stats = s) }), take(5))
        .toArray(),
    ).toHaveLength(5);
    expect(stats!.state).toBe('stopped');
    expect(stats!.itemsOut).toBeLessThanOrEqual(stats!.itemsIn);
    expect(stats!.busyMs).toBeLessThanOrEqual(stats!.wallMs * 2);
  });
});

describe('start-up cost in the statistics', () => {
  it('a fresh pool: the first stage pays the worker start and the module load, the next stage on the same worker neither', async () => {
    await using pool = createPool({ threads: 1 });
    const reports: StageStats[] = [];
    for (let i = 0; i < 2; i++)
      await flow(range(50))
        .pipe(parallelMap(crash.echo, { pool, stats: (s) => reports.push(s) }))
        .toArray();
    const [first, second] = reports as [StageStats, StageStats];
    expect(first.workerStarts.count).toBe(1);
    expect(first.workerStarts.ms).toBeGreaterThan(0);
    // A start-up within the stage: not the time since the process started (a worker's own clock
    // counts from there in Node 20), which this test file's imports alone make longer than the stage.
    expect(first.workerStarts.ms).toBeLessThanOrEqual(first.wallMs);
    expect(first.moduleLoads.count).toBe(1);
    expect(first.moduleLoads.ms).toBeGreaterThan(0);
    expect(second.workerStarts).toEqual({ count: 0, ms: 0 });
    expect(second.moduleLoads).toEqual({ count: 0, ms: 0 });
    expect(formatStageStats(first)).toMatch(/start-up: 1 worker\(s\) started \([\d,]+ ms\), 1 task-module load\(s\)/);
  });
});

describe('stage statistics while the stage runs (statsIntervalMs)', () => {
  it("reports 'running' snapshots that only grow, then the final one", async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    const reports: StageStats[] = [];
    const running = flow(range(20))
      .pipe(parallelMap(bind(crash.gatedAfterFirst, dir), { pool, chunkSize: 1, stats: (s) => reports.push(s), statsIntervalMs: 5 }))
      .toArray();
    // Items after the first wait at a gate: the stage is running until the test opens it.
    await until(() => reports.some((s) => s.state === 'running' && s.itemsOut >= 1));
    writeFileSync(join(dir, 'release'), '');
    expect(await running).toEqual(range(20));
    const last = reports.at(-1)!;
    expect(last.state).toBe('done');
    expect(reports.filter((s) => s.state !== 'running')).toEqual([last]);
    for (let i = 1; i < reports.length; i++) {
      expect(reports[i]!.itemsIn).toBeGreaterThanOrEqual(reports[i - 1]!.itemsIn);
      expect(reports[i]!.itemsOut).toBeGreaterThanOrEqual(reports[i - 1]!.itemsOut);
    }
    addsUp(last, 2);
  });
});

/** Polls (up to ~10 s) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2_000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(done()).toBe(true);
}
