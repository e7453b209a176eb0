// Items, not chunks, on the BullMQ backend: under scheduled failures with retries, every item is
// emitted once or reported once, and a success is never requested again (the worker processes
// count their calls in files, which this process reads).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bind, bullmq, createPool, flow, parallelMap, TaskError, tasks } from 'millrace';
import { failsOn } from '../fixtures/items.tasks.js';
import { startRedis, startWorkerProcess, type RedisServer, type WorkerProcess } from './harness.js';

const items = tasks<typeof import('../fixtures/items.tasks.js')>(new URL('../fixtures/items.tasks.js', import.meta.url));
const QUEUE = 'item-outcomes';
let redis: RedisServer;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  redis = await startRedis();
  worker = await startWorkerProcess(redis.url, QUEUE);
}, 600_000);

afterAll(async () => {
  await worker?.stop('SIGKILL');
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await redis?.stop();
});

describe('item-level outcomes through Redis', () => {
  it('retries only the failed items of a chunk: every item emitted once or reported once, no success run again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'millrace-items-remote-'));
    const count = 300;
    const every = 9;
    const retries = 2;
    await using pool = createPool({ backend: bullmq({ connection: redis.url, queue: QUEUE, capacity: 2 }) });
    const reported: TaskError<number>[] = [];
    try {
      const emitted = await flow(Array.from({ length: count }, (_, i) => i))
        .pipe(
          parallelMap(bind(items.scheduledInFiles, dir, every), {
            pool,
            chunkSize: 25,
            retries,
            retryDelayMs: 0,
            onError: (error) => {
              if (!(error instanceof TaskError)) throw error;
              reported.push(error);
            },
          }),
        )
        .toArray();
      const expected = (x: number): { calls: number; succeeds: boolean } => {
        for (let attempt = 1; attempt <= retries + 1; attempt++) if (!failsOn(x, attempt, every)) return { calls: attempt, succeeds: true };
        return { calls: retries + 1, succeeds: false };
      };
      const all = Array.from({ length: count }, (_, x) => x);
      expect(emitted).toEqual(all.filter((x) => expected(x).succeeds).map((x) => x * 2));
      expect(reported.map((error) => error.index).sort((a, b) => a - b)).toEqual(all.filter((x) => !expected(x).succeeds));
      expect(reported.every((error) => error.attempts === retries + 1)).toBe(true);
      const calls = all.map((x) => (existsSync(join(dir, `calls-${x}`)) ? readFileSync(join(dir, `calls-${x}`), 'utf8').length : 0));
      expect(calls).toEqual(all.map((x) => expected(x).calls));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
