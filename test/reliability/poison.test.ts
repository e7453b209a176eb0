// Poison items under skip-and-report: a chunk whose worker crashed runs again item by item, the
// item(s) that crash are reported to onError as WorkerCrashedErrors, every other item is emitted once.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, parallelMap, TaskError, tasks, unorderedMap, WorkerCrashedError, type PoolBackend } from 'millrace';
import { failure, range, tempDirs } from './helpers.js';

const poison = tasks<typeof import('../fixtures/poison.tasks.js')>(new URL('../fixtures/poison.tasks.js', import.meta.url));
const tempDir = tempDirs('poison');

/** How many times each item ran, from the task's log. */
function runs(dir: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of readFileSync(join(dir, 'runs'), 'utf8').trim().split('\n'))
    counts.set(Number(line), (counts.get(Number(line)) ?? 0) + 1);
  return counts;
}

describe('poison items under onError (skip and report)', () => {
  it.for([
    { name: 'chunkSize 50', chunkSize: 50 },
    { name: 'automatic chunks', chunkSize: undefined },
  ])('the poison item is found among 1,000 ($name), nothing else lost or emitted twice, in order', async ({ chunkSize }) => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    const reported: (TaskError | WorkerCrashedError)[] = [];
    const options = {
      pool,
      onError: (error: TaskError | WorkerCrashedError) => void reported.push(error),
      ...(chunkSize ? { chunkSize } : {}),
    };
    const results = await flow(range(1_000))
      .pipe(parallelMap(bind(poison.poisonOn, dir, [537], []), options))
      .toArray();
    expect(results).toEqual(
      range(1_000)
        .filter((x) => x !== 537)
        .map((x) => x * 10),
    );
    expect(reported).toHaveLength(1);
    const crashed = reported[0] as WorkerCrashedError;
    expect(crashed).toBeInstanceOf(WorkerCrashedError);
    expect(crashed.items).toEqual([537]);
    expect(crashed.firstIndex).toBe(537);
    expect(crashed.reason).toBe('exit');
    expect(crashed.exitCode).toBe(9);
    // Bounded: the crashed chunk's items ran at most twice (whole, then alone); the poison exactly twice.
    const counts = runs(dir);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
    expect(counts.get(537)).toBe(2);
  });

  it('two poison items and a failing one in one chunk: each reported once, the rest emitted (unordered)', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    const reported: (TaskError | WorkerCrashedError)[] = [];
    const results = await flow(range(200))
      .pipe(
        unorderedMap(bind(poison.poisonOn, dir, [103, 117], [110]), { pool, chunkSize: 25, onError: (error) => void reported.push(error) }),
      )
      .toArray();
    expect(results.sort((a, b) => a - b)).toEqual(
      range(200)
        .filter((x) => ![103, 110, 117].includes(x))
        .map((x) => x * 10),
    );
    const crashes = reported.filter((error) => error instanceof WorkerCrashedError);
    expect(crashes.map((error) => error.firstIndex).sort((a, b) => a - b)).toEqual([103, 117]);
    expect(crashes.every((error) => error.items.length === 1)).toBe(true);
    const failures = reported.filter((error) => error instanceof TaskError);
    expect(failures.map((error) => error.index)).toEqual([110]);
  });

  it('a one-item chunk that crashes is reported as is', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 1 });
    const reported: (TaskError | WorkerCrashedError)[] = [];
    const results = await flow(range(6))
      .pipe(parallelMap(bind(poison.poisonOn, dir, [2], []), { pool, chunkSize: 1, onError: (e) => void reported.push(e) }))
      .toArray();
    expect(results).toEqual([0, 10, 30, 40, 50]);
    expect(reported.map((error) => (error as WorkerCrashedError).items)).toEqual([[2]]);
    expect(runs(dir).get(2)).toBe(1);
  });

  it('with retries, the whole chunk is retried first; then it is isolated', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    const reported: (TaskError | WorkerCrashedError)[] = [];
    const options = {
      pool,
      chunkSize: 10,
      retries: 1,
      retryDelayMs: 0,
      onError: (e: TaskError | WorkerCrashedError) => void reported.push(e),
    };
    const results = await flow(range(30))
      .pipe(parallelMap(bind(poison.poisonOn, dir, [15], []), options))
      .toArray();
    expect(results).toEqual(
      range(30)
        .filter((x) => x !== 15)
        .map((x) => x * 10),
    );
    expect(reported.map((error) => (error as WorkerCrashedError).items)).toEqual([[15]]);
    // Whole chunk twice (the try and the retry), then alone.
    expect(runs(dir).get(15)).toBe(3);
  });

  it('every send has its own (runId, seq, attempt), pieces included, for backends that name jobs by it', async () => {
    const dir = tempDir();
    await using threads = createPool({ threads: 2 });
    const sends: string[] = [];
    const backend: PoolBackend = {
      capacity: threads.backend.capacity,
      reportsStart: true,
      run: (request, options) => {
        sends.push(`${options?.chunk?.runId}-${options?.chunk?.seq}-${options?.chunk?.attempt}`);
        return threads.backend.run(request, options);
      },
      close: () => threads.backend.close(),
    };
    await using pool = createPool({ backend });
    const results = await flow(range(40))
      .pipe(parallelMap(bind(poison.poisonOn, dir, [13], []), { pool, chunkSize: 10, onError: () => undefined }))
      .toArray();
    expect(results).toHaveLength(39);
    // 4 chunks, then the crashed chunk's unfinished items alone (13 to 19: items 10 to 12 had
    // finished, and the dying worker said so), and any never-started re-runs.
    expect(sends.length).toBeGreaterThanOrEqual(11);
    expect(new Set(sends).size).toBe(sends.length);
  });

  it("without onError a crash still ends the flow with the chunk's WorkerCrashedError", async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    const error = await failure(
      flow(range(100))
        .pipe(parallelMap(bind(poison.poisonOn, dir, [42], []), { pool, chunkSize: 10 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).items).toEqual(range(10).map((i) => 40 + i));
  });
});
