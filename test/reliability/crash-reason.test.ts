// Why a worker died: WorkerCrashedError.reason (and WorkerExitError.reason at the backend level).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bind,
  createPool,
  flow,
  parallelMap,
  tasks,
  unorderedMap,
  WorkerCrashedError,
  WorkerExitError,
  type ChunkRequest,
  type Pool,
} from 'millrace';
import { failure, range, tempDirs, waitForFile } from './helpers.js';

const tempDir = tempDirs('reason');

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));

async function crashed(promise: Promise<unknown>): Promise<WorkerCrashedError> {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(WorkerCrashedError);
  return error as WorkerCrashedError;
}

describe('why a worker died (WorkerCrashedError.reason)', () => {
  it("a task that calls process.exit(7): reason 'exit', exitCode 7, the chunk's items", async () => {
    await using pool = createPool({ threads: 1 });
    const error = await crashed(
      flow(range(6))
        .pipe(parallelMap(bind(crash.exitOn, 4), { pool, chunkSize: 3 }))
        .toArray(),
    );
    expect(error.reason).toBe('exit');
    expect(error.exitCode).toBe(7);
    expect(error.items).toEqual([3, 4, 5]);
    expect(error.signal).toBeUndefined();
    expect(error.message).toMatch(/A worker exited with exit code 7 while running task .*exitOn on items #3\.\.#5/);
  });

  it("a worker past its heap limit: reason 'out-of-memory' (ERR_WORKER_OUT_OF_MEMORY)", async () => {
    await using pool = createPool({ threads: 1, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
    const error = await crashed(
      flow(range(4))
        .pipe(unorderedMap(bind(crash.hogOn, 2), { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error.reason).toBe('out-of-memory');
    expect(error.items).toEqual([2]);
    expect(error.message).toMatch(/out of memory/);
  });

  it("an error thrown from a timer in a task: reason 'uncaught-error'", async () => {
    await using pool = createPool({ threads: 1 });
    const error = await crashed(
      flow(range(3))
        .pipe(parallelMap(bind(crash.throwBareObjectLaterOn, 1), { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error.reason).toBe('uncaught-error');
    expect(error.items).toEqual([1]);
  });

  it("an uncaught error the worker could not announce (its thread's exit seen first): still 'uncaught-error'", async () => {
    await using pool = createPool({ threads: 1 });
    const error = await crashed(
      flow(range(3))
        .pipe(parallelMap(bind(crash.throwUnannouncedLaterOn, 1), { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error.reason).toBe('uncaught-error');
    expect(error.items).toEqual([1]);
    // What Node gave for the worker's error, under the backend's WorkerExitError.
    expect(error.cause).toBeInstanceOf(WorkerExitError);
    expect((error.cause as WorkerExitError).cause).toBeInstanceOf(RangeError);
    // The pool goes on.
    expect(
      await flow([5, 6])
        .pipe(parallelMap(bind(crash.throwUnannouncedLaterOn, 1), { pool }))
        .toArray(),
    ).toEqual([5, 6]);
  });

  // A short synchronous chunk first, so the next chunk of this task may wait behind a running one;
  // then a chunk that spins (after writing its marker) and one behind it on the same worker.
  // The thread backend lets a chunk wait behind another only if the task's last chunk ran under
  // 2 ms; a busy machine can stretch one trivial call past that, so run it until one was short.
  async function hungAndBehind(pool: Pool, signal: AbortSignal): Promise<{ hung: Promise<unknown>; behind: Promise<unknown> }> {
    const dir = tempDir();
    const spin = (items: number[]): ChunkRequest => ({ mode: 'call', task: bind(crash.spinOnceOn, dir, 5), items });
    let warmUp = await pool.backend.run(spin([1]));
    for (let tries = 1; warmUp.elapsedMs >= 2 && tries < 100; tries++) warmUp = await pool.backend.run(spin([1]));
    expect(warmUp.results).toEqual([1]);
    expect(warmUp.elapsedMs).toBeLessThan(2);
    const hung = pool.backend.run(spin([5]), { signal });
    const behind = pool.backend.run(spin([6]));
    hung.catch(() => undefined);
    behind.catch(() => undefined);
    await waitForFile(join(dir, 'spun-5'));
    return { hung, behind };
  }

  it("a chunk waiting behind one that timed out, on the worker millrace ended for it: reason 'timeout'", async () => {
    await using pool = createPool({ threads: 1 });
    const controller = new AbortController();
    const { hung, behind } = await hungAndBehind(pool, controller.signal);
    controller.abort(new DOMException('out of time', 'TimeoutError'));
    await expect(hung).rejects.toMatchObject({ name: 'TimeoutError' });
    const error = await failure(behind);
    expect(error).toBeInstanceOf(WorkerExitError);
    expect((error as WorkerExitError).reason).toBe('timeout');
    // It never started: the engine runs it again at no cost to its retries.
    expect((error as WorkerExitError).started).toBe(false);
  });

  it("a chunk waiting behind one cancelled past its grace period: reason 'cancel'", async () => {
    await using pool = createPool({ threads: 1 });
    const controller = new AbortController();
    const { hung, behind } = await hungAndBehind(pool, controller.signal);
    controller.abort(new Error('not wanted'));
    await expect(hung).rejects.toThrow('not wanted');
    const error = await failure(behind);
    expect(error).toBeInstanceOf(WorkerExitError);
    expect((error as WorkerExitError).reason).toBe('cancel');
  });
});
