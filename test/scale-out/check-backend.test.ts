// The BullMQ backend passes the backend conformance kit, against a real redis-server and a real
// `millrace worker` (from source, with the harness's root: the repository, which holds the kit's
// task module lib/testing/backend-check.tasks.ts, so nothing needs copying under it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmq } from 'millrace';
import { checkBackend } from 'millrace/testing';
import { startRedis, startWorkerProcess, type RedisServer, type WorkerProcess } from './harness.js';

const QUEUE = 'backend-check';
let redis: RedisServer;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  redis = await startRedis();
  // One worker running two jobs at once (the harness's --concurrency 2): the backend's capacity.
  worker = await startWorkerProcess(redis.url, QUEUE);
}, 600_000);

afterAll(async () => {
  await worker?.stop('SIGKILL');
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await redis?.stop();
});

describe('the BullMQ backend', () => {
  it('passes checkBackend', async () => {
    const result = await checkBackend(() => bullmq({ connection: redis.url, queue: QUEUE, capacity: 2, redisTimeoutMs: 2_000 }), {
      timeoutMs: 10_000,
    });
    expect(result).toEqual({
      backend: 'BullmqBackend',
      passed: ['values', 'task-errors', 'independence', 'abort', 'abort-queued', 'capacity', 'close'],
    });
  });
});
