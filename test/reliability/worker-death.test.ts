import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import workerThreads, { type Worker } from 'node:worker_threads';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bind, createPool, flow, parallelMap, TaskLoadError, TaskTimeoutError, tasks, unorderedMap, WorkerCrashedError } from 'millrace';
import { waitWhile } from '../fixtures/gates.tasks.js';
import { failure, range, tempDirs, waitForFile } from './helpers.js';
import { nodeScript } from '../fixtures/node-script.js';

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));
const hangs = tasks<typeof import('../fixtures/crash-load-hang.tasks.js')>(
  new URL('../fixtures/crash-load-hang.tasks.js', import.meta.url),
);
const atLoad = tasks<typeof import('../fixtures/crash-at-load.tasks.js')>(new URL('../fixtures/crash-at-load.tasks.js', import.meta.url));

const tempDir = tempDirs('death');

describe('worker death', () => {
  it("a chunk answered just before its worker died keeps its answer, even when the thread's exit is seen first", async () => {
    await using pool = createPool({ threads: 1 });
    const slots = new Int32Array(new SharedArrayBuffer(16));
    const run = (x: number) => pool.backend.run({ mode: 'call', task: bind(crash.answerThenExit, slots), items: [x] });
    // A short chunk first, so the next chunks of this task go to the worker while one runs; then
    // idle past the linger time, so the next chunks come on a new channel to the same thread (a
    // channel made after its thread: the thread's exit is then handled before the channel's messages).
    expect((await run(1)).results).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const answered = run(2);
    const dying = run(9);
    dying.catch(() => undefined);
    // Item 2 runs (item 9 was sent with it); hold the main thread while the worker answers item 2
    // and exits on item 9: the answer and the exit then both wait for the main thread.
    await waitWhile(slots, 2, 0);
    Atomics.store(slots, 1, 1);
    Atomics.notify(slots, 1);
    expect(Atomics.wait(slots, 0, 0, 10_000)).not.toBe('timed-out');
    const until = Date.now() + 300;
    while (Date.now() < until); // the thread's exit completes meanwhile
    expect((await answered).results).toEqual([2]);
    expect(await failure(dying)).toMatchObject({ exitCode: 7 });
  });

  it('process.exit() in a task fails the flow with a WorkerCrashedError naming the chunk', async () => {
    await using pool = createPool({ threads: 2 });
    const error = await failure(
      flow(range(20))
        .pipe(parallelMap(bind(crash.exitOn, 7), { pool, chunkSize: 5 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    const crashed = error as WorkerCrashedError;
    expect(crashed.exitCode).toBe(7);
    expect(crashed.firstIndex).toBe(5);
    expect(crashed.items).toEqual([5, 6, 7, 8, 9]);
    expect(crashed.task).toMatch(/crash\.tasks\.js#exitOn$/);
    expect(crashed.message).toMatch(/#5\.\.#9/);
  });

  it('with retries, a crashed chunk runs again on a fresh worker and every item is emitted once', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    const results = await flow(range(12))
      .pipe(parallelMap(bind(crash.exitOnceOn, dir, 4), { pool, chunkSize: 3, retries: 1 }))
      .toArray();
    expect(results.map(([x]) => x)).toEqual(range(12));
    const crashedThread = Number(readFileSync(join(dir, 'crashed-4'), 'utf8'));
    const rerunThread = results[4]![1];
    expect(rerunThread).not.toBe(crashedThread);
  });

  it('a module that throws while loading fails with a TaskLoadError naming the module', async () => {
    await using pool = createPool({ threads: 1 });
    const error = await failure(flow(range(3)).pipe(parallelMap(atLoad.neverRuns, { pool })).toArray());
    expect(error).toBeInstanceOf(TaskLoadError);
    const loadError = error as TaskLoadError;
    expect(loadError.moduleUrl).toMatch(/crash-at-load\.tasks\.ts$/);
    expect(loadError.exportName).toBe('neverRuns');
    expect(loadError.message).toMatch(/crash-at-load\.tasks\.ts/);
    expect(loadError.message).toMatch(/refuses to load/);
    expect((loadError.cause as Error).message).toMatch(/refuses to load/);
  });

  it('a worker that runs out of heap (resourceLimits) fails with a WorkerCrashedError', async () => {
    await using pool = createPool({ threads: 1, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
    const error = await failure(
      flow(range(4))
        .pipe(unorderedMap(bind(crash.hogOn, 2), { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    const crashed = error as WorkerCrashedError;
    expect(crashed.items).toEqual([2]);
    expect(crashed.firstIndex).toBe(2);
    expect((crashed.cause as Error).message).toMatch(/memory/i);
  });

  it('a worker that cannot even start (heap limit too small to boot) fails the flow instead of hanging', async () => {
    await using pool = createPool({ threads: 2, resourceLimits: { maxOldGenerationSizeMb: 2, maxYoungGenerationSizeMb: 1 } });
    const error = await failure(
      flow(range(5))
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool, chunkSize: 1, retries: 1 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(String(((error as WorkerCrashedError).cause as Error).cause)).toMatch(/memory/i);
  });

  it('a worker terminated from outside fails its chunk with a WorkerCrashedError', async () => {
    const dir = tempDir();
    const workersSeen = recordWorkers();
    await using pool = createPool({ threads: 1 });
    const flowDone = failure(
      flow([0])
        .pipe(parallelMap(bind(crash.slowFirst, dir, -1), { pool }))
        .toArray(),
    );
    // Wait until the task runs (it writes started-0), then end its thread from outside.
    await waitForFile(join(dir, 'started-0'));
    const running = workersSeen.filter((worker) => worker.threadId > 0);
    expect(running).toHaveLength(1);
    await running[0]!.terminate();
    const error = await flowDone;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).items).toEqual([0]);
  });

  it('a stuck synchronous task is ended by timeoutMs with a TaskTimeoutError', async () => {
    // One thread, its module loaded beforehand: chunk [0, 1] finishes before the stuck chunk [2, 3]
    // starts, so only the stuck one can run out of budget. (On two cold threads, loading the module
    // under load could outlast chunk [0, 1]'s loading allowance, and it was reported instead.)
    await using pool = createPool({ threads: 1 });
    expect(
      await flow(range(2))
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool }))
        .toArray(),
    ).toEqual(range(2));
    const error = await failure(
      flow(range(6))
        .pipe(parallelMap(bind(crash.spinOn, 3), { pool, chunkSize: 2, timeoutMs: 200 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskTimeoutError);
    const timeout = error as TaskTimeoutError;
    expect(timeout.firstIndex).toBe(2);
    expect(timeout.itemCount).toBe(2);
    expect(timeout.timeoutMs).toBe(400);
    // The pool still works: the spinning worker was replaced.
    expect(
      await flow(range(4))
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool }))
        .toArray(),
    ).toEqual(range(4));
  });

  it('a worker that dies while idle (terminated from outside) does not bring the main thread down', async () => {
    const workersSeen = recordWorkers();
    await using pool = createPool({ threads: 1 });
    expect(
      await flow(range(3))
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool }))
        .toArray(),
    ).toEqual(range(3));
    expect(workersSeen).toHaveLength(1);
    await workersSeen[0]!.terminate();
    // The dead worker is replaced on demand: the next flow runs as if nothing happened.
    expect(
      await flow(range(3))
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool }))
        .toArray(),
    ).toEqual(range(3));
    expect(workersSeen).toHaveLength(2);
  });

  it('a worker ended from outside while being given back to tinypool (detached, not yet answered) is replaced', async () => {
    const workersSeen = recordWorkers();
    await using pool = createPool({ threads: 1 });
    expect(
      await flow([1])
        .pipe(parallelMap(bind(crash.busyAfterReturning, 5_000), { pool }))
        .toArray(),
    ).toEqual([1]);
    // The worker is busy in a timer the task left, so it cannot answer the detach that comes after
    // the linger time (20 ms; this wait is longer and started later); then it is ended from outside.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await workersSeen[0]!.terminate();
    // tinypool still counted the attach task as running on the dead thread, and would have
    // queued the next flow's attach forever behind it.
    expect(
      await flow(range(3))
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool }))
        .toArray(),
    ).toEqual(range(3));
    expect(workersSeen).toHaveLength(2);
  }, 30_000);

  it('an uncaught non-Error thrown asynchronously in a worker fails with a WorkerCrashedError', async () => {
    await using pool = createPool({ threads: 1 });
    const error = await failure(
      flow(range(3))
        .pipe(parallelMap(bind(crash.throwBareObjectLaterOn, 1), { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).items).toEqual([1]);
  });

  it('with retries, a timed-out chunk runs again on a fresh worker', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 1 });
    const options = { pool, chunkSize: 1, timeoutMs: 200, retries: 1 };
    expect(
      await flow(range(4))
        .pipe(parallelMap(bind(crash.spinOnceOn, dir, 2), options))
        .toArray(),
    ).toEqual(range(4));
    expect(existsSync(join(dir, 'spun-2'))).toBe(true);
  });

  it('a task module whose top level never returns is ended too (loading has its own, longer allowance)', async () => {
    await using pool = createPool({ threads: 1 });
    const error = await failure(
      flow([1, 2])
        .pipe(parallelMap(hangs.neverRuns, { pool, timeoutMs: 100 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect((error as TaskTimeoutError).firstIndex).toBe(0);
  });

  it('the timeout counts from when a worker starts the chunk, not while it waits in the queue', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 1 });
    // Six 150 ms items queue behind each other on one thread: the last waits 750 ms, well past its
    // 400 ms budget, yet none of them runs for longer than 150 ms, so none may time out.
    const options = { pool, chunkSize: 1, maxInFlight: 6, timeoutMs: 400 };
    expect(
      await flow(range(6))
        .pipe(parallelMap(bind(crash.recordAndBlock, dir, 150), options))
        .toArray(),
    ).toEqual(range(6));
  });
});

/** Records every worker thread created during the current test (tinypool's own import included). */
function recordWorkers(): Worker[] {
  const workersSeen: Worker[] = [];
  const Original = workerThreads.Worker;
  workerThreads.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      workersSeen.push(this);
    }
  };
  syncBuiltinESMExports();
  onTestFinished(() => {
    workerThreads.Worker = Original;
    syncBuiltinESMExports();
  });
  return workersSeen;
}

describe('a process whose workers die of uncaught errors, round after round', () => {
  // Compiled code (as a built package runs) started workers fast enough to hit two races on a dead
  // worker: reading its closed port crashed Node 20 with SIGSEGV, and aborting tinypool's task for
  // a thread that died of an error left an unhandled rejection. Both ended the process.
  it('neither crashes nor leaves an unhandled rejection: 20 pools, each with 6 worker deaths, every item once', async () => {
    const script = new URL('../fixtures/scripts/crash-rounds.ts', import.meta.url).pathname;
    const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, [...nodeScript(script), '20'], { timeout: 60_000, maxBuffer: 1 << 24 }, (_error, stdout) =>
        resolve({ code: child.exitCode, signal: child.signalCode, stdout }),
      );
    });
    expect(outcome).toEqual({ code: 0, signal: null, stdout: 'ok 20\n' });
  }, 90_000);
});
