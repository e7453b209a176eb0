// The BullMQ backend against a real redis-server and real `millrace worker` processes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bind,
  bullmq,
  CloneError,
  CodeVersionMismatchError,
  createPool,
  flow,
  InvalidOptionError,
  JobAbandonedError,
  parallelMap,
  progress,
  RedisUnavailableError,
  reduceBy,
  starMap,
  take,
  TaskError,
  TaskModuleOutsideRootError,
  TaskTimeoutError,
  tasks,
  unorderedMap,
  type StageStats,
  WorkerCrashedError,
  type ChunkRequest,
  type Pool,
} from 'millrace';
import { repoRoot, startRedis, startWorkerProcess, waitForLine, type RedisServer, type WorkerProcess } from './harness.js';

const t = tasks<typeof import('./scale-out.tasks.js')>(new URL('./scale-out.tasks.js', import.meta.url));

let redis: RedisServer;
const started: WorkerProcess[] = [];
const inspectors: Queue[] = [];

async function worker(queue: string, extra: readonly string[] = [], env: Record<string, string> = {}): Promise<WorkerProcess> {
  const process = await startWorkerProcess(redis.url, queue, extra, env);
  started.push(process);
  return process;
}

function remotePool(queue: string, capacity = 4): Pool {
  return createPool({ backend: bullmq({ connection: redis.url, queue, capacity, redisTimeoutMs: 2_000 }) });
}

/** A chunk of `exportName` from the scale-out task module, to hand to a backend directly. */
function chunkOf(exportName: string, items: readonly unknown[]): ChunkRequest {
  const moduleUrl = new URL('./scale-out.tasks.ts', import.meta.url).href;
  return { mode: 'call', task: { moduleUrl, exportName, boundArgs: [], setupArgs: [] }, items };
}

/** Waits until `read()` matches `pattern` (a condition, not a sleep: it polls what a process wrote). */
async function until(read: () => string, pattern: RegExp): Promise<void> {
  while (!pattern.test(read())) await delay(20);
}

/** How many times `pattern` (global) occurs in `text`. */
function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

/** A plain BullMQ handle on a queue, to look at what the flows left in Redis. */
function inspect(queue: string): Queue {
  const inspector = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
  inspectors.push(inspector);
  return inspector;
}

/** Redis keys of individual jobs (`bull:<queue>:<run>-<seq>...`) that are still there. */
async function jobKeys(queue: string): Promise<string[]> {
  const client = await inspect(queue).client;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, { MATCH: `bull:${queue}:*`, COUNT: 1000 });
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys.filter((key) => /^bull:[^:]+:[0-9a-z]+-\d+/.test(key));
}

// Ten minutes: on a fresh machine startRedis() first installs redis-server with apt-get (see harness.ts).
beforeAll(async () => {
  redis = await startRedis();
  await Promise.all([worker('parity'), worker('parity')]);
}, 600_000);

afterAll(async () => {
  await Promise.all(inspectors.map((inspector) => inspector.close()));
  // SIGKILL: some workers hold jobs that never finish on purpose.
  await Promise.all(started.map((process) => process.stop('SIGKILL')));
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await redis?.stop();
});

describe('the BullMQ backend', () => {
  it('gives the same results as the local pool: ordered, unordered, starMap, two-tier reduceBy, Map results', async () => {
    const input = Array.from({ length: 300 }, (_, i) => i);
    const run = async (pool: Pool) => ({
      ordered: await flow(input)
        .pipe(parallelMap(t.square, { pool, chunkSize: 16 }))
        .toArray(),
      unordered: (
        await flow(input)
          .pipe(unorderedMap(t.square, { pool, chunkSize: 16 }))
          .toArray()
      ).sort((a, b) => a - b),
      star: await flow(input.map((i): [number, number] => [i, 2 * i]))
        .pipe(starMap(t.add, { pool, chunkSize: 16 }))
        .toArray(),
      maps: await flow(input)
        .pipe(parallelMap(t.digits, { pool, chunkSize: 16 }))
        .toArray(),
      reduced: new Map(
        await flow(input)
          .pipe(
            reduceBy(
              t.bucket,
              t.collect,
              { sum: 0, seen: new Set<number>() },
              {
                pool,
                chunkSize: 16,
                combine: (a, b) => ({ sum: a.sum + b.sum, seen: new Set([...a.seen, ...b.seen]) }),
              },
            ),
          )
          .toArray(),
      ),
    });
    const local = createPool({ threads: 2 });
    const remote = remotePool('parity');
    try {
      const [expected, actual] = [await run(local), await run(remote)];
      expect(actual).toEqual(expected);
      expect(actual.ordered).toEqual(input.map((x) => x * x));
      expect(actual.maps[12]).toEqual(
        new Map([
          ['1', 0],
          ['2', 1],
        ]),
      );
      expect(actual.reduced.get('b3')?.seen.size).toBe(43);
    } finally {
      await Promise.all([local.close(), remote.close()]);
    }
    // Every job was removed once its result was in: only BullMQ's per-queue bookkeeping is left.
    expect(await jobKeys('parity')).toEqual([]);
  });

  it('counts progress as with the local pool', async () => {
    const lines = { local: [] as string[], remote: [] as string[] };
    const local = createPool({ threads: 2 });
    const remote = remotePool('parity');
    try {
      for (const [name, pool] of [
        ['local', local],
        ['remote', remote],
      ] as const) {
        // No periodic line (every 10 s off a terminal), however slow a loaded machine makes the flow.
        const stream = { isTTY: false, write: (text: string) => lines[name].push(text) };
        const squares = await flow(Array.from({ length: 120 }, (_, i) => i))
          .pipe(
            unorderedMap(t.square, { pool, chunkSize: 8 }),
            progress({ stream, total: 120, label: 'squares', unit: 'n', logIntervalMs: 3_600_000 }),
          )
          .toArray();
        expect(squares).toHaveLength(120);
      }
      expect(lines.remote).toHaveLength(1);
      // The same summary, apart from the timing after ' in '.
      expect(lines.remote[0]?.split(' in ')[0]).toBe('squares: 120/120 n');
      expect(lines.local[0]?.split(' in ')[0]).toBe('squares: 120/120 n');
    } finally {
      await Promise.all([local.close(), remote.close()]);
    }
  });

  it('reports a task error as the same TaskError, with the item and the remote stack', async () => {
    const pool = remotePool('parity');
    try {
      const error: unknown = await flow(Array.from({ length: 20 }, (_, i) => i))
        .pipe(parallelMap(t.failOn13, { pool, chunkSize: 4 }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TaskError);
      const taskError = error as TaskError;
      expect(taskError.item).toBe(13);
      expect(taskError.index).toBe(13);
      expect(taskError.task).toMatch(/scale-out\.tasks\.(js|ts)#failOn13$/);
      const cause = taskError.cause as Error & { code?: string; workerHost?: string };
      expect(cause.name).toBe('RangeError');
      expect(cause.code).toBe('E_UNLUCKY');
      expect(cause.stack).toMatch(/at failOn13 .*scale-out\.tasks\.ts/);
      expect(cause.workerHost).toMatch(/\/\d+$/);
    } finally {
      await pool.close();
    }
  });

  it('re-runs a failed chunk as a new job with the same retries option as the local pool', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'millrace-retry-'));
    const pool = remotePool('parity');
    try {
      const results = await flow(Array.from({ length: 10 }, (_, i) => i))
        .pipe(parallelMap(bind(t.failOnceOn5, dir), { pool, chunkSize: 2, retries: 1 }))
        .toArray();
      expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(existsSync(join(dir, 'failed-once'))).toBe(true);
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad options when the backend is created, and task modules outside the root when a chunk is sent', async () => {
    expect(() => bullmq({ connection: 'http://127.0.0.1:6379', queue: 'q' })).toThrow(InvalidOptionError);
    expect(() => bullmq({ connection: redis.url, queue: 'a:b' })).toThrow(InvalidOptionError);
    expect(() => bullmq({ connection: redis.url, queue: 'q', capacity: 0 })).toThrow(InvalidOptionError);
    const pool = createPool({ backend: bullmq({ connection: redis.url, queue: 'parity', root: join(repoRoot, 'lib') }) });
    try {
      const error: unknown = await flow([1])
        .pipe(parallelMap(t.square, { pool }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TaskModuleOutsideRootError);
      expect((error as TaskModuleOutsideRootError).moduleUrl).toMatch(/scale-out\.tasks\.ts$/);
    } finally {
      await pool.close();
    }
  });

  it('names the item whose result cannot be sent back, as with local threads', async () => {
    const pool = remotePool('parity');
    try {
      const error: unknown = await flow([0, 1, 2, 3])
        .pipe(parallelMap(t.functionOn2, { pool, chunkSize: 4 }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CloneError);
      expect((error as CloneError).direction).toBe('result');
      expect((error as CloneError).index).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('fails the flow with a WorkerCrashedError when a task ends its worker thread', async () => {
    const pool = remotePool('parity');
    try {
      const error: unknown = await flow([0, 1, 2, 3, 4])
        .pipe(parallelMap(t.exitOn3, { pool, chunkSize: 1 }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect((error as WorkerCrashedError).items).toEqual([3]);
      expect((error as WorkerCrashedError).exitCode).toBe(3);
    } finally {
      await pool.close();
    }
  });

  it('completes with nothing lost or duplicated when a worker holding jobs is SIGKILLed', async () => {
    const doomed = await worker('crash', [], { MILLRACE_TEST_HANG: '1' });
    await worker('crash');
    const pool = remotePool('crash');
    try {
      const input = Array.from({ length: 60 }, (_, i) => i);
      const results = flow(input)
        .pipe(unorderedMap(t.squareOrHang, { pool, chunkSize: 2 }))
        .toArray();
      // The doomed worker now holds jobs it will never finish; killing it leaves them to stalled-job recovery.
      await waitForLine(doomed.process, 'stdout', /HANGING/, 'the doomed worker');
      await doomed.stop('SIGKILL');
      const squares = await results;
      expect(squares).toHaveLength(input.length);
      expect([...squares].sort((a, b) => a - b)).toEqual(input.map((x) => x * x));
    } finally {
      await pool.close();
    }
  });

  it('leaves no waiting jobs when the flow ends early (take)', async () => {
    const stuck = await worker('take', ['--concurrency', '1']);
    const pool = remotePool('take');
    const queue = inspect('take');
    try {
      // Item 0 comes back, every other item hangs on the only worker: what is still waiting stays waiting unless removed.
      const first = await flow(Array.from({ length: 50 }, (_, i) => i))
        .pipe(parallelMap(t.firstOnly, { pool, chunkSize: 1 }), take(1))
        .toArray();
      expect(first).toEqual([0]);
      await pool.close();
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'completed');
      expect(counts).toMatchObject({ waiting: 0, prioritized: 0, delayed: 0, completed: 0 });
      // The job that was running is cancelled on the worker, not left to hold its slot.
      await until(stuck.stderr, /cancelled job \S+ \(flow ended\)/);
      while ((await queue.getActiveCount()) > 0) await delay(20);
    } finally {
      await pool.close();
      await stuck.stop('SIGKILL');
    }
  });

  it('removes the waiting jobs of an aborted flow', async () => {
    // No worker serves this queue, so jobs wait until the abort removes them.
    const pool = remotePool('orphan');
    const queue = inspect('orphan');
    const controller = new AbortController();
    const reason = new Error('stop');
    const results = flow(
      Array.from({ length: 20 }, (_, i) => i),
      { signal: controller.signal },
    )
      .pipe(parallelMap(t.square, { pool, chunkSize: 1 }))
      .toArray();
    while ((await queue.getWaitingCount()) === 0) await delay(10);
    controller.abort(reason);
    await expect(results).rejects.toBe(reason);
    await pool.close();
    expect(await queue.getJobCounts('waiting', 'active', 'completed', 'failed')).toMatchObject({
      waiting: 0,
      active: 0,
      completed: 0,
      failed: 0,
    });
    expect(await jobKeys('orphan')).toEqual([]);
  });

  it('queues a chunk again when its job vanishes from Redis before a result came back', async () => {
    const pool = createPool({ backend: bullmq({ connection: redis.url, queue: 'vanish', capacity: 2, recheckMs: 100 }) });
    const queue = inspect('vanish');
    try {
      // No worker yet: the jobs wait, and are then deleted behind the flow's back.
      let stats: StageStats | undefined;
      const results = flow([1, 2])
        .pipe(parallelMap(t.square, { pool, chunkSize: 1, stats: (final) => (stats = final) }))
        .toArray();
      while ((await queue.getWaitingCount()) < 2) await delay(10);
      for (const job of await queue.getWaiting()) await queue.remove(job.id!);
      await worker('vanish');
      expect(await results).toEqual([1, 4]);
      // The engine ran them again, through its one run-again path, and says why.
      expect(stats?.runsAgain.lost).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('refuses a job from another code version clearly', async () => {
    const other = await worker('version', ['--code-version', 'other-build']);
    const pool = remotePool('version');
    try {
      const error: unknown = await flow([1, 2, 3])
        .pipe(parallelMap(t.square, { pool }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CodeVersionMismatchError);
      const mismatch = error as CodeVersionMismatchError;
      expect(mismatch.workerVersion).toBe('other-build');
      expect(mismatch.jobVersion).toBe('millrace@0.1.0');
      expect(mismatch.message).toMatch(/"other-build".*"millrace@0\.1\.0"/);
      expect(other.stderr()).toMatch(/refusing jobs of code version "millrace@0\.1\.0"/);
    } finally {
      await pool.close();
    }
  });

  it('lets a worker finish its running job on SIGINT, then exit 0', async () => {
    const draining = await worker('drain', ['--concurrency', '1']);
    const pool = remotePool('drain');
    const release = join(mkdtempSync(join(tmpdir(), 'millrace-drain-')), 'release');
    try {
      const results: [number, number][] = [];
      let exited: Promise<number | null> | undefined;
      let replacement: Promise<WorkerProcess> | undefined;
      const task = bind(t.heldSquareWithPid, release, 1);
      for await (const result of flow([0, 1, 2, 3]).pipe(parallelMap(task, { pool, chunkSize: 1 }))) {
        results.push(result);
        if (results.length === 1) {
          // BullMQ hands a worker its next job as it completes one: the worker now runs item 1,
          // held until the worker has taken in the SIGINT (however long the result took to get here).
          exited = draining.stop('SIGINT');
          await until(draining.stderr, /SIGINT: taking no more jobs/);
          writeFileSync(release, '');
          replacement = exited.then(() => worker('drain'));
        }
      }
      expect(await exited).toBe(0);
      const next = await replacement!;
      expect(results.map(([square]) => square)).toEqual([0, 1, 4, 9]);
      expect(results.map(([, pid]) => pid)).toEqual([draining.process.pid, draining.process.pid, next.process.pid, next.process.pid]);
      expect(draining.stderr()).toMatch(/SIGINT: taking no more jobs; finishing the running ones/);
    } finally {
      await pool.close();
    }
  });
});

describe('process lifetime', () => {
  it('lets the submitting process exit by itself once the pool is closed (used or not)', async () => {
    const script = `
      import { bullmq, createPool, flow, parallelMap, tasks } from './lib/index.ts';
      const t = tasks(new URL('./test/scale-out/scale-out.tasks.ts', import.meta.url));
      const used = createPool({ backend: bullmq({ connection: process.argv[1], queue: 'parity' }) });
      console.log(JSON.stringify(await flow([1, 2]).pipe(parallelMap(t.square, { pool: used })).toArray()));
      await used.close();
      await createPool({ backend: bullmq({ connection: process.argv[1], queue: 'parity' }) }).close();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, redis.url], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    // A hang guard, not a timing assert: a process kept alive by a leftover connection never exits.
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(guard);
    expect(output.trim()).toBe('[1,4]');
    expect(code).toBe(0);
  });
});

describe('when Redis is unavailable', () => {
  it('fails the flow with a clear error when Redis is lost mid-run', async () => {
    const doomedRedis = await startRedis();
    const queueWorker = await startWorkerProcess(doomedRedis.url, 'lost');
    started.push(queueWorker);
    const pool = createPool({ backend: bullmq({ connection: doomedRedis.url, queue: 'lost', capacity: 2, redisTimeoutMs: 1_000 }) });
    try {
      const seen: number[] = [];
      const error: unknown = await (async () => {
        for await (const value of flow(Array.from({ length: 20 }, (_, i) => i)).pipe(parallelMap(t.firstOnly, { pool, chunkSize: 1 }))) {
          seen.push(value);
          await doomedRedis.stop();
        }
      })().catch((caught: unknown) => caught);
      expect(seen).toEqual([0]);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as RedisUnavailableError).message).toContain(`127.0.0.1:${doomedRedis.port}`);
    } finally {
      await pool.close();
      await doomedRedis.stop();
    }
  }, 30_000);

  it('fails the flow with a clear error when Redis is unreachable from the start', async () => {
    const gone = await startRedis();
    await gone.stop();
    const pool = createPool({ backend: bullmq({ connection: gone.url, queue: 'nowhere', redisTimeoutMs: 500 }) });
    try {
      await expect(flow([1, 2]).pipe(parallelMap(t.square, { pool })).toArray()).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      await pool.close();
    }
  }, 30_000);
});

describe('timeouts and cancellation on remote workers', () => {
  it('ends a chunk over its timeoutMs on the remote worker: its task sees the cancellation and its slot runs the next chunk', async () => {
    const only = await worker('cancel', ['--concurrency', '1']);
    const pool = remotePool('cancel', 1);
    try {
      const cancelled = waitForLine(only.process, 'stdout', /CANCELLED 1 \(TimeoutError\)/, 'the worker');
      const error: unknown = await flow([1])
        .pipe(parallelMap(t.untilCancelled, { pool, timeoutMs: 300 }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TaskTimeoutError);
      await cancelled;
      // The worker runs one chunk at a time: a job still holding its slot would block this flow forever.
      expect(await flow([2, 3]).pipe(parallelMap(t.square, { pool })).toArray()).toEqual([4, 9]);
      expect(only.stderr()).toMatch(/cancelled job \S+ \(timeout\)/);
    } finally {
      await pool.close();
      await only.stop('SIGKILL');
    }
  });

  it('a TaskTimeoutError quotes what the backend did with the chunk when the engine passes it as the cause', () => {
    const cause = new JobAbandonedError({ jobId: 'r1-0', outcome: 'cancelled', workerHost: 'host/42' });
    const remote = new TaskTimeoutError({ task: 'm#t', firstIndex: 0, itemCount: 1, timeoutMs: 300, cause });
    expect(remote.message).toBe('Task m#t timed out after 300 ms on items #0..#0; Job r1-0 was abandoned and cancelled on worker host/42');
    expect(remote.cause).toBe(cause);
    const unreachable = new JobAbandonedError({ jobId: 'r1-1', outcome: 'unreachable' });
    expect(new TaskTimeoutError({ task: 'm#t', firstIndex: 1, itemCount: 1, timeoutMs: 300, cause: unreachable }).message).toMatch(
      /; Job r1-1 was abandoned; the worker could not be reached/,
    );
    const local = new TaskTimeoutError({
      task: 'm#t',
      firstIndex: 0,
      itemCount: 1,
      timeoutMs: 300,
      cause: new DOMException('late', 'TimeoutError'),
    });
    expect(local.message).toMatch(/; it was cancelled \(a worker that did not let go was ended\)$/);
  });

  it('says the job was abandoned and cancelled on its worker, naming the worker', async () => {
    const only = await worker('cancel-says', ['--concurrency', '1']);
    const pool = remotePool('cancel-says', 1);
    try {
      const running = waitForLine(only.process, 'stdout', /STARTED 7/, 'the worker');
      const controller = new AbortController();
      const result = pool.backend.run(chunkOf('untilCancelled', [7]), { signal: controller.signal });
      await running;
      controller.abort(new DOMException('over budget', 'TimeoutError'));
      const error: unknown = await result.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(JobAbandonedError);
      const abandoned = error as JobAbandonedError;
      expect(abandoned.outcome).toBe('cancelled');
      expect(abandoned.workerHost).toMatch(new RegExp(`/${only.process.pid}$`));
      expect(abandoned.message).toMatch(/abandoned and cancelled on worker \S+\/\d+/);
    } finally {
      await pool.close();
      await only.stop('SIGKILL');
    }
  });

  it('says when the worker running an abandoned job could not be reached', async () => {
    // A plain BullMQ worker (an older millrace, say) takes the job and never listens for cancellations.
    const deaf = new Worker('cancel-deaf', () => new Promise<never>(() => undefined), {
      connection: { host: '127.0.0.1', port: redis.port },
    });
    const pool = remotePool('cancel-deaf', 1);
    const queue = inspect('cancel-deaf');
    try {
      const controller = new AbortController();
      const result = pool.backend.run(chunkOf('square', [7]), { signal: controller.signal });
      while ((await queue.getActiveCount()) === 0) await delay(10);
      controller.abort(new DOMException('over budget', 'TimeoutError'));
      const error: unknown = await result.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(JobAbandonedError);
      expect((error as JobAbandonedError).outcome).toBe('unreachable');
      expect((error as JobAbandonedError).message).toMatch(/abandoned; the worker could not be reached/);
    } finally {
      await pool.close();
      await deaf.close(true);
    }
  });

  it('says a job abandoned while it waited in Redis was removed, before any worker took it up', async () => {
    const pool = remotePool('cancel-queued', 1);
    const queue = inspect('cancel-queued');
    try {
      const controller = new AbortController();
      const result = pool.backend.run(chunkOf('square', [7]), { signal: controller.signal });
      while ((await queue.getWaitingCount()) === 0) await delay(10);
      controller.abort(new DOMException('over budget', 'TimeoutError'));
      const error: unknown = await result.catch((caught: unknown) => caught);
      expect((error as JobAbandonedError).outcome).toBe('removed');
      expect(await queue.getJobCounts('waiting', 'active')).toMatchObject({ waiting: 0, active: 0 });
    } finally {
      await pool.close();
    }
  });

  it('does not count the time a chunk waits in Redis for a worker against its timeoutMs', async () => {
    const pool = remotePool('queued-budget', 2);
    const queue = inspect('queued-budget');
    try {
      const results = flow([1, 2])
        .pipe(parallelMap(t.square, { pool, chunkSize: 1, timeoutMs: 2_000 }))
        .toArray()
        .catch((error: unknown) => error);
      while ((await queue.getWaitingCount()) < 2) await delay(10);
      // Queued for longer than the budget: no worker serves the queue yet.
      await delay(2_500);
      await worker('queued-budget');
      expect(await results).toEqual([1, 4]);
    } finally {
      await pool.close();
    }
  });

  it('prints no MaxListenersExceededWarning for a flow with capacity 8', async () => {
    const warnings: Error[] = [];
    const collect = (warning: Error): void => void warnings.push(warning);
    process.on('warning', collect);
    const pool = remotePool('parity', 8);
    try {
      const input = Array.from({ length: 64 }, (_, i) => i);
      expect(
        await flow(input)
          .pipe(parallelMap(t.square, { pool, chunkSize: 1 }))
          .toArray(),
      ).toEqual(input.map((x) => x * x));
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => `${warning.name}: ${warning.message}`)).toEqual([]);
    } finally {
      process.off('warning', collect);
      await pool.close();
    }
  });
});

describe('Redis outages', () => {
  it('closes a pool whose Redis is lost within redisTimeoutMs', async () => {
    const doomedRedis = await startRedis();
    const pool = createPool({ backend: bullmq({ connection: doomedRedis.url, queue: 'close-lost', capacity: 2, redisTimeoutMs: 4_000 }) });
    try {
      // Jobs wait (no worker); then Redis goes away under them.
      const results = flow([1, 2, 3])
        .pipe(parallelMap(t.square, { pool, chunkSize: 1 }))
        .toArray();
      const queue = new Queue('close-lost', { connection: { host: '127.0.0.1', port: doomedRedis.port } });
      while ((await queue.getWaitingCount()) === 0) await delay(10);
      await queue.close();
      await doomedRedis.stop();
      await expect(results).rejects.toBeInstanceOf(RedisUnavailableError);
      const closed = pool.close().then(() => 'closed' as const);
      // A bound, not a speed assert: the behaviour is "returns within redisTimeoutMs".
      expect(await Promise.race([closed, delay(4_000).then(() => 'still closing' as const)])).toBe('closed');
    } finally {
      await pool.close();
      await doomedRedis.stop();
    }
  }, 30_000);

  it('has the worker report each Redis outage, start and end, and name a lost job lock as such', async () => {
    let outageRedis = await startRedis();
    const port = outageRedis.port;
    const queueWorker = await startWorkerProcess(outageRedis.url, 'outages', ['--concurrency', '1']);
    started.push(queueWorker);
    const running = waitForLine(queueWorker.process, 'stdout', /STARTED 1/, 'the worker');
    const submitter = new Queue('outages', { connection: { host: '127.0.0.1', port } });
    try {
      // A job that never ends holds a lock the worker renews (every --lock-ms / 2, 1000 ms here).
      await submitter.add('hang', {
        protocol: 1,
        codeVersion: 'millrace@0.1.0',
        task: 'hang',
        // Named relative to the worker's root, as a producer names it (workers refuse any other name).
        request: Buffer.from(
          serialize({
            mode: 'call',
            task: { moduleUrl: 'test/scale-out/scale-out.tasks.ts', exportName: 'startAndHang', boundArgs: [], setupArgs: [] },
            items: [1],
          } satisfies ChunkRequest),
        ).toString('base64'),
      });
      await running;
      await submitter.close();
      for (let outage = 1; outage <= 2; outage++) {
        await outageRedis.stop();
        await until(queueWorker.stderr, new RegExp(`(lost Redis[^\\n]*\\n[^]*){${outage}}`));
        // Down for longer than the lock lasts: the job's lock is gone when Redis is back.
        await delay(outage === 1 ? 2_500 : 0);
        outageRedis = await startRedis(port);
        await until(queueWorker.stderr, new RegExp(`(reconnected to Redis[^\\n]*\\n[^]*){${outage}}`));
      }
      const stderr = queueWorker.stderr();
      expect(count(stderr, /lost Redis at /g)).toBe(2);
      expect(count(stderr, /reconnected to Redis at /g)).toBe(2);
      // Redis came back empty (no persistence): the running job's lock is gone, and the worker says so.
      expect(stderr).toMatch(
        /lost the lock on job \S+ \(it lapsed while Redis was unreachable or slow, or the job is gone\); cancelled it here/,
      );
      // Once, although BullMQ retries the renewal every half lock: the job was cancelled, so it stopped.
      expect(count(stderr, /lost the lock on job/g)).toBe(1);
      expect(stderr).not.toMatch(/Redis at [^\n]*could not renew lock/);
    } finally {
      await queueWorker.stop('SIGKILL');
      await outageRedis.stop();
    }
  }, 60_000);
});
