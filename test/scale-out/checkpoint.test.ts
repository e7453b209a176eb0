// Checkpoints with the BullMQ backend: the checkpoint lives with the producer (the process that
// runs the flow), the tasks run on `millrace worker` processes. A producer killed with SIGKILL
// midway is rerun: the result equals the uninterrupted one and only inputs whose results were not
// yet durable run again. Task calls are counted with marker files the tasks write.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../reliability/helpers.js';
import { feedThenKill } from '../fixtures/paced-job.js';
import { startRedis, startWorkerProcess, type RedisServer, type WorkerProcess } from './harness.js';
import { nodeScript } from '../fixtures/node-script.js';

const script = fileURLToPath(new URL('../fixtures/scripts/checkpoint-job.ts', import.meta.url));
const tempDir = tempDirs('ckpt-remote');
const N = 16;
const MAX_IN_FLIGHT = 2;

let redis: RedisServer;
let worker: WorkerProcess | undefined;

// Ten minutes: on a fresh machine startRedis() first installs redis-server with apt-get (see harness.ts).
beforeAll(async () => {
  redis = await startRedis();
  worker = await startWorkerProcess(redis.url, 'checkpointed');
}, 600_000);

afterAll(async () => {
  await worker?.stop('SIGKILL');
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await redis?.stop();
});

function start(dir: string, markers: string, step: string, paced: boolean): ChildProcess {
  return spawn(process.execPath, [...nodeScript(script), dir, markers, step, String(N), paced ? '1' : '0', redis.url, 'checkpointed'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

async function runToEnd(dir: string, markers: string, step: string): Promise<{ result: unknown; resumed: number }> {
  const child = start(dir, markers, step, false);
  let out = '';
  child.stdout!.on('data', (data: Buffer) => (out += data.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
  return { result: JSON.parse(/^result (.*)$/m.exec(out)![1]!) as unknown, resumed: Number(/^resumed (\d+)$/m.exec(out)![1]) };
}

async function runAndKill(dir: string, markers: string, step: string, killAt: number): Promise<void> {
  expect(await feedThenKill(start(dir, markers, step, true), killAt)).toBe('SIGKILL');
}

const expected = {
  ordered: Array.from({ length: N }, (_, x) => ({ x, square: x * x })),
  reduce: [
    ['even', Array.from({ length: N / 2 }, (_, i) => 2 * i)],
    ['odd', Array.from({ length: N / 2 }, (_, i) => 2 * i + 1)],
  ],
};

describe('a checkpointed job on the BullMQ backend, its producer killed with SIGKILL midway', () => {
  for (const step of ['ordered', 'reduce'] as const) {
    it(`${step}: the rerun gives the uninterrupted result; inputs run again are at most those in flight`, async () => {
      const dir = join(tempDir(), 'ckpt');
      const markers = tempDir();
      await runAndKill(dir, markers, step, N / 2);
      const { result, resumed } = await runToEnd(dir, markers, step);
      expect(result).toEqual(expected[step]);
      // Markers are named by the worker process, the same for both runs: count calls in all. Jobs the
      // killed producer had queued may still run on the worker after it died (up to the in-flight bound).
      const calls = readdirSync(markers).map((name) => Number(name.split('.')[0]));
      expect(new Set(calls).size).toBe(N);
      expect(calls.length).toBeLessThanOrEqual(N + 2 * MAX_IN_FLIGHT);
      expect(resumed).toBeGreaterThanOrEqual(N / 2 - 2 * MAX_IN_FLIGHT);
      // A rerun of the finished job sends nothing to the workers.
      const before = readdirSync(markers).length;
      expect(await runToEnd(dir, markers, step)).toEqual({ result: expected[step], resumed: N });
      expect(readdirSync(markers).length).toBe(before);
    });
  }
});
