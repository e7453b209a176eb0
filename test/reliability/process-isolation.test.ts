// createPool({ isolation: 'process' }): tasks run in child processes with the thread pool's
// guarantees, and a task that crashes its process (segfault, abort, exit, out of memory) fails its
// items with a WorkerCrashedError that says why, while the main process and the pool go on.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  bind,
  CloneError,
  createPool,
  flow,
  InvalidOptionError,
  parallelMap,
  reduceBy,
  TaskError,
  tasks,
  TaskTimeoutError,
  unorderedMap,
  WorkerCrashedError,
  type Pool,
  type PoolOptions,
  type StageStats,
} from 'millrace';
import { failure, filePool, range, tempDirs, waitForFile } from './helpers.js';
import { nodeScript } from '../fixtures/node-script.js';

const proc = tasks<typeof import('../fixtures/process.tasks.js')>(new URL('../fixtures/process.tasks.js', import.meta.url));
const progressTasks = tasks<typeof import('../fixtures/progress.tasks.js')>(new URL('../fixtures/progress.tasks.js', import.meta.url));
const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const fold = tasks<typeof import('../fixtures/fold.tasks.js')>(new URL('../fixtures/fold.tasks.js', import.meta.url));
const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));
const tempDir = tempDirs('process');
// A pool of two children for the tests that crash no child and leave none stuck in a task (a child
// starts node, tsx and the library: a pool for each test cost about a second of CPU each).
const shared = filePool({ isolation: 'process', threads: 2 });

/** Whether a process with this id is alive (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls (up to ~10 s) until the process is gone; the test then asserts it is. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 2_000 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return !alive(pid);
}

/** The children's private report directories now in the temp directory. */
/** The children's report directories in `dir`. */
function reportDirectories(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith('millrace-child-'))
    .sort();
}

/**
 * Runs `body` with the temporary directory of children forked meanwhile set to a fresh one of its
 * own (children inherit TMPDIR), so that other suites or files running pools at the same time do
 * not show up in it; returns that directory.
 */
async function withOwnTmpdir(body: (dir: string) => Promise<void>): Promise<string> {
  const dir = tempDir();
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    await body(dir);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  return dir;
}

async function crashed(promise: Promise<unknown>): Promise<WorkerCrashedError> {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(WorkerCrashedError);
  return error as WorkerCrashedError;
}

/** The pool still works: a small flow gives the right results. */
async function stillWorks(pool: Pool): Promise<void> {
  expect(
    await flow(range(10))
      .pipe(parallelMap(math.square, { pool, chunkSize: 3 }))
      .toArray(),
  ).toEqual(range(10).map((x) => x * x));
}

describe("createPool({ isolation: 'process' })", () => {
  it('gives the same results, in the same order, as threads: a map, an unordered map and a fold', async () => {
    const processes = shared();
    await using threads = createPool({ threads: 2 });
    const run = (pool: Pool) =>
      Promise.all([
        flow(range(500))
          .pipe(parallelMap(math.square, { pool, chunkSize: 7 }))
          .toArray(),
        flow(range(300))
          .pipe(unorderedMap(math.square, { pool }))
          .toArray()
          .then((values) => values.sort((a, b) => a - b)),
        flow(range(1_000))
          .pipe(reduceBy(fold.mod3, fold.sum, 0, { pool, chunkSize: 64, combine: (a: number, b: number) => a + b }))
          .toArray()
          .then((pairs) => new Map(pairs)),
      ]);
    const [fromProcesses, fromThreads] = await Promise.all([run(processes), run(threads)]);
    expect(fromProcesses).toEqual(fromThreads);
    expect(fromProcesses[0]).toEqual(range(500).map((x) => x * x));
    expect(fromProcesses[2].get(0)).toBe(range(1_000).reduce((sum, x) => (x % 3 === 0 ? sum + x : sum), 0));
  });

  it('runs chunks in child processes, not in this one', async () => {
    const pool = shared();
    const pairs = await flow(range(20))
      .pipe(parallelMap(proc.pid, { pool, chunkSize: 2 }))
      .toArray();
    expect(pairs.map(([x]) => x)).toEqual(range(20));
    const pids = new Set(pairs.map(([, pid]) => pid));
    expect(pids.has(process.pid)).toBe(false);
    expect(pids.size).toBeGreaterThanOrEqual(1);
    expect(pids.size).toBeLessThanOrEqual(2);
  });

  it('Maps, Sets, Dates, typed arrays and BigInts survive the trip both ways', async () => {
    const pool = shared();
    const item = {
      map: new Map([['a', 1]]),
      set: new Set([1, 2]),
      when: new Date(86_400_000),
      bytes: new Uint8Array([1, 2, 3]),
      big: 2n ** 70n,
    };
    const [result] = await flow([item]).pipe(parallelMap(proc.roundTrip, { pool })).toArray();
    expect(result!.kinds).toEqual(['[object Map]', '[object Set]', '[object Date]', '[object Uint8Array]', 'bigint']);
    expect(result!.value.map).toEqual(item.map);
    expect(result!.value.set).toEqual(item.set);
    expect(result!.value.when.getTime()).toBe(86_400_000);
    expect([...result!.value.bytes]).toEqual([1, 2, 3]);
    expect(result!.value.big).toBe(2n ** 70n);
  });

  it('shared memory cannot cross: a SharedArrayBuffer item is a CloneError naming it, and the pool goes on', async () => {
    const pool = shared();
    const error = await failure(
      flow([new SharedArrayBuffer(8)])
        .pipe(parallelMap(math.identity, { pool }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    expect((error as CloneError).index).toBe(0);
    expect(((error as CloneError).cause as Error).message).toMatch(/SharedArrayBuffer/);
    await stillWorks(pool);
  });

  it("a task's error is a TaskError naming the item and the task, with the child's stack", async () => {
    const pool = shared();
    const error = await failure(
      flow(range(10))
        .pipe(parallelMap(bind(proc.failOn, 6), { pool, chunkSize: 4 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.index).toBe(6);
    expect(taskError.item).toBe(6);
    expect(taskError.task).toMatch(/process\.tasks\.js#failOn$/);
    expect(taskError.cause).toBeInstanceOf(RangeError);
    expect((taskError.cause as Error).message).toBe('item 6 is out of range');
    expect((taskError.cause as Error).stack).toMatch(/failOn .*process\.tasks\.ts/);
  });

  it('stage statistics add up, per child process', async () => {
    const pool = shared();
    const reports: StageStats[] = [];
    const pairs = await flow(range(300))
      .pipe(parallelMap(proc.pid, { pool, chunkSize: 10, stats: (stats) => reports.push(stats) }))
      .toArray();
    const stats = reports[0]!;
    expect(stats.state).toBe('done');
    expect(stats.itemsIn).toBe(300);
    expect(stats.itemsOut + stats.itemsFailed).toBe(300);
    expect(stats.busyMs).toBeLessThanOrEqual(stats.wallMs * 2);
    // Busy time is told per worker, and a worker is a child process: its pid.
    expect(Object.keys(stats.busyMsByWorker).sort()).toEqual([...new Set(pairs.map(([, pid]) => String(pid)))].sort());
  });

  it('retries a failing item', async () => {
    const dir = tempDir();
    const pool = shared();
    // flaky(dir, 2, x) fails the first two attempts of each item (counted in files).
    const results = await flow(range(6))
      .pipe(parallelMap(bind(crash.flaky, dir, 2), { pool, chunkSize: 1, retries: 2, retryDelayMs: 1 }))
      .toArray();
    expect(results).toEqual(range(6).map((x) => x * 2));
    for (const x of range(6)) expect(readFileSync(join(dir, `attempts-${x}`), 'utf8')).toBe('...');
  });

  it('runs an async task several items at a time in one process (concurrency)', async () => {
    const pool = shared();
    const results = await flow(range(16))
      .pipe(parallelMap(bind(proc.wait, 20), { pool, chunkSize: 16, concurrency: 4 }))
      .toArray();
    expect(results.map((r) => r.x)).toEqual(range(16));
    expect(Math.max(...results.map((r) => r.most))).toBe(4);
  });

  it('copies what `transfer` would move: no error, and the items stay usable here', async () => {
    const pool = shared();
    const items = range(4).map((x) => new Uint8Array(16).fill(x));
    const lengths = await flow(items)
      .pipe(parallelMap(crash.byteLength, { pool, chunkSize: 2, transfer: (item: Uint8Array) => [item.buffer as ArrayBuffer] }))
      .toArray();
    expect(lengths).toEqual([16, 16, 16, 16]);
    expect(items.map((item) => item.byteLength)).toEqual([16, 16, 16, 16]);
  });

  it('with `transfer` (copied), a crashed chunk is still isolated under onError and retries are allowed', async () => {
    await using pool = createPool({ isolation: 'process', threads: 2 });
    const items = range(40).map((x) => new Uint8Array(8).fill(x));
    const transfer = (item: Uint8Array): ArrayBuffer[] => [item.buffer as ArrayBuffer];
    const reported: unknown[] = [];
    const results = await flow(items)
      .pipe(parallelMap(bind(proc.segfaultOnBytes, 13), { pool, chunkSize: 10, transfer, onError: (error) => void reported.push(error) }))
      .toArray();
    // Only the poison item is lost; a thread pool would have to report its whole chunk (moved buffers).
    expect(results).toEqual(
      range(40)
        .filter((x) => x !== 13)
        .map((x) => x * 10),
    );
    expect(reported).toHaveLength(1);
    expect((reported[0] as WorkerCrashedError).items).toHaveLength(1);
    // retries with transfer: refused up front for threads, allowed here.
    expect(
      await flow(range(3).map((x) => new Uint8Array(8).fill(x)))
        .pipe(parallelMap(bind(proc.segfaultOnBytes, -1), { pool, transfer, retries: 1 }))
        .toArray(),
    ).toEqual([0, 10, 20]);
  });

  it('carries reportProgress() from the child: every unit, batched into few messages, none without a listener', async () => {
    const pool = shared();
    const amounts: number[] = [];
    const response = await pool.backend.run(
      { mode: 'call', task: progressTasks.reportMany, items: [100_000] },
      { onTaskProgress: (amount) => amounts.push(amount) },
    );
    expect(response.results).toEqual([100_000]);
    expect(amounts.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(amounts.length).toBeLessThanOrEqual(2 + Math.ceil(response.elapsedMs / 100));
    // Without onTaskProgress the child keeps no batch and the task runs as usual.
    expect((await pool.backend.run({ mode: 'call', task: progressTasks.reportOnce, items: [5] })).results).toEqual([5]);
  });

  it('timeoutMs ends a task spinning in synchronous code: its process is killed, the pool goes on', async () => {
    const dir = tempDir();
    await using pool = createPool({ isolation: 'process', threads: 1 });
    const error = await failure(
      flow([0])
        .pipe(parallelMap(bind(proc.spinFrom, dir, 0), { pool, timeoutMs: 200 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskTimeoutError);
    const pid = Number(readFileSync(join(dir, 'pid-0'), 'utf8'));
    expect(await gone(pid)).toBe(true);
    await stillWorks(pool);
  });

  it.for(['abort', 'break'] as const)('%s ends the flow and kills the child stuck in a task; the pool goes on', async (how) => {
    const dir = tempDir();
    await using pool = createPool({ isolation: 'process', threads: 1 });
    const controller = new AbortController();
    const stream = flow(range(10), { signal: controller.signal }).pipe(parallelMap(bind(proc.spinFrom, dir, 1), { pool, chunkSize: 1 }));
    const seen: number[] = [];
    const done = (async () => {
      for await (const pid of stream) {
        seen.push(pid);
        await waitForFile(join(dir, 'pid-1'));
        if (how === 'break') break;
        controller.abort(new Error('enough'));
      }
    })();
    if (how === 'abort') expect(((await failure(done)) as Error).message).toBe('enough');
    else await done;
    expect(seen).toHaveLength(1);
    const spinning = Number(readFileSync(join(dir, 'pid-1'), 'utf8'));
    expect(spinning).toBe(seen[0]);
    expect(await gone(spinning)).toBe(true);
    await stillWorks(pool);
  });

  it("a task's taskSignal() aborts when its flow is broken out of, in the child", async () => {
    const dir = tempDir();
    await using pool = createPool({ isolation: 'process', threads: 2 });
    const stream = flow(range(2)).pipe(unorderedMap(bind(proc.waitForCancel, dir), { pool, chunkSize: 1 }));
    const iterator = stream[Symbol.asyncIterator]();
    const next = iterator.next();
    await waitForFile(join(dir, 'started-0'));
    await waitForFile(join(dir, 'started-1'));
    await iterator.return?.();
    await next.catch(() => undefined);
    await waitForFile(join(dir, 'aborted-0'));
    expect(readFileSync(join(dir, 'aborted-0'), 'utf8')).toBe('AbortError');
  });

  it.for([
    { how: 'a segfault', task: proc.segfaultOn, signal: 'SIGSEGV' },
    { how: 'process.abort()', task: proc.abortOn, signal: 'SIGABRT' },
  ])("$how fails the chunk's items with reason 'signal' naming $signal; the pool goes on", async ({ task, signal }) => {
    await using pool = createPool({ isolation: 'process', threads: 1 });
    const error = await crashed(
      flow(range(9))
        .pipe(parallelMap(bind(task, 4), { pool, chunkSize: 3 }))
        .toArray(),
    );
    expect(error.reason).toBe('signal');
    expect(error.signal).toBe(signal);
    expect(error.exitCode).toBeUndefined();
    expect(error.items).toEqual([3, 4, 5]);
    expect(error.firstIndex).toBe(3);
    expect(error.message).toMatch(new RegExp(`A worker was killed by a signal \\(${signal}\\) while running task .* on items #3\\.\\.#5`));
    await stillWorks(pool);
  });

  it('under onError, a segfaulting item among 200 is reported and every other item is emitted once, in order', async () => {
    await using pool = createPool({ isolation: 'process', threads: 2 });
    const reported: (TaskError | WorkerCrashedError)[] = [];
    const results = await flow(range(200))
      .pipe(parallelMap(bind(proc.segfaultOn, 137), { pool, chunkSize: 16, onError: (error) => void reported.push(error) }))
      .toArray();
    expect(results).toEqual(
      range(200)
        .filter((x) => x !== 137)
        .map((x) => x * 10),
    );
    expect(reported).toHaveLength(1);
    const error = reported[0] as WorkerCrashedError;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.items).toEqual([137]);
    expect(error.reason).toBe('signal');
    expect(error.signal).toBe('SIGSEGV');
  });

  it("process.exit(3) in a task: reason 'exit', exitCode 3", async () => {
    await using pool = createPool({ isolation: 'process', threads: 1 });
    const error = await crashed(
      flow(range(4))
        .pipe(parallelMap(bind(proc.exitWith, 3, 2), { pool, chunkSize: 2 }))
        .toArray(),
    );
    expect(error.reason).toBe('exit');
    expect(error.exitCode).toBe(3);
    expect(error.signal).toBeUndefined();
    expect(error.items).toEqual([2, 3]);
    await stillWorks(pool);
  });

  it("a child past its heap limit (resourceLimits → --max-old-space-size): reason 'out-of-memory'", async () => {
    let error: WorkerCrashedError | undefined;
    const dir = await withOwnTmpdir(async (own) => {
      const pool = createPool({ isolation: 'process', threads: 1, resourceLimits: { maxOldGenerationSizeMb: 48 } });
      await flow([0]).pipe(parallelMap(proc.pid, { pool })).toArray();
      // The child made its directory here (so the check below is not vacuous).
      expect(reportDirectories(own)).toHaveLength(1);
      error = await crashed(
        flow(range(4))
          .pipe(unorderedMap(bind(proc.hogOn, 2), { pool, chunkSize: 1 }))
          .toArray(),
      );
      await pool.close();
    });
    if (error === undefined) throw new Error('the flow did not fail');
    expect(error.reason).toBe('out-of-memory');
    expect(error.signal).toBe('SIGABRT');
    expect(error.items).toEqual([2]);
    expect(error.message).toMatch(/out of memory/);
    // The dead child's report (it holds the environment) and every other child's directory are gone.
    expect(reportDirectories(dir)).toEqual([]);
  });

  it('runs setup with its setupArgs in each child, and teardown() when the pool closes', async () => {
    const log = join(tempDir(), 'events');
    const logged = tasks<typeof import('../fixtures/process.tasks.js')>(new URL('../fixtures/process.tasks.js', import.meta.url), {
      setupArgs: [log],
    }).logged;
    const pool = createPool({ isolation: 'process', threads: 2 });
    const pids = new Set(
      await flow(range(40))
        .pipe(parallelMap(logged, { pool, chunkSize: 4 }))
        .toArray(),
    );
    const before = readFileSync(log, 'utf8');
    expect(before).not.toMatch(/teardown/);
    await pool.close();
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    for (const pid of pids) {
      const own = lines.filter((line) => line.endsWith(` ${pid}`)).map((line) => line.split(' ')[0]);
      expect(own[0]).toBe('setup');
      expect(own.at(-1)).toBe('teardown');
      expect(own.filter((event) => event === 'teardown')).toHaveLength(1);
    }
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(pool.liveThreads).toBe(0);
  });

  it('maxItemsPerWorker replaces a child after that many items', async () => {
    await using pool = createPool({ isolation: 'process', threads: 1, maxItemsPerWorker: 10 });
    const pids = await flow(range(30))
      .pipe(parallelMap(proc.pid, { pool, chunkSize: 5 }))
      .toArray();
    const byPid = new Map<number, number>();
    for (const [, pid] of pids) byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    expect([...byPid.values()]).toEqual([10, 10, 10]);
  });

  it('maxWorkerMemoryMb replaces a child whose heap is over the bound after a chunk', async () => {
    // Any child's heap is over 1 MB: each is replaced after every chunk.
    await using pool = createPool({ isolation: 'process', threads: 1, maxWorkerMemoryMb: 1 });
    const pids = await flow(range(15))
      .pipe(parallelMap(proc.pid, { pool, chunkSize: 5 }))
      .toArray();
    expect(pids.map(([x]) => x)).toEqual(range(15));
    expect(new Set(pids.map(([, pid]) => pid)).size).toBe(3);
  });

  it("an error thrown from a timer in a task: reason 'uncaught-error'", async () => {
    await using pool = createPool({ isolation: 'process', threads: 1 });
    const error = await crashed(
      flow(range(3))
        .pipe(parallelMap(bind(crash.throwBareObjectLaterOn, 1), { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error.reason).toBe('uncaught-error');
    expect(error.items).toEqual([1]);
    await stillWorks(pool);
  });

  it('a child killed from outside while idle loses nothing and the pool goes on', async () => {
    await using pool = createPool({ isolation: 'process', threads: 1 });
    const [[, pid]] = (await flow([1]).pipe(parallelMap(proc.pid, { pool })).toArray()) as [[number, number]];
    process.kill(pid, 'SIGKILL');
    expect(await gone(pid)).toBe(true);
    const [[, next]] = (await flow([2]).pipe(parallelMap(proc.pid, { pool })).toArray()) as [[number, number]];
    expect(next).not.toBe(pid);
    await stillWorks(pool);
  });

  it("an idle pool's children leave after idleTimeoutMs", async () => {
    await using pool = createPool({ isolation: 'process', threads: 1, idleTimeoutMs: 50 });
    const [[, pid]] = (await flow([1]).pipe(parallelMap(proc.pid, { pool })).toArray()) as [[number, number]];
    expect(await gone(pid)).toBe(true);
    expect(pool.liveThreads).toBe(0);
    await stillWorks(pool);
  });

  it('a script exits by itself after closing one process pool (close() resolves) and never closing another', async () => {
    const script = fileURLToPath(new URL('../fixtures/scripts/process-pool-exit.ts', import.meta.url));
    const outcome = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, nodeScript(script), { timeout: 45_000, killSignal: 'SIGKILL' }, (_error, stdout, stderr) =>
        resolve({ code: child.exitCode, stdout, stderr }),
      );
    });
    expect(outcome).toEqual({ code: 0, stdout: 'closed 0\ndone 1,4,9 crashed SIGSEGV\n', stderr: '' });
  });

  it("takes 'thread' or 'process', and rejects anything else with InvalidOptionError", () => {
    expectTypeOf<PoolOptions['isolation']>().toEqualTypeOf<'thread' | 'process' | undefined>();
    // @ts-expect-error -- not an isolation
    expect(() => createPool({ isolation: 'fork' })).toThrow(InvalidOptionError);
    const thread = createPool({ isolation: 'thread', threads: 1 });
    expect(thread.threads).toBe(1);
    void thread.close();
  });
});
