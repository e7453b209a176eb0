import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bind, createPool, flow, map, parallelMap, take, tasks, unorderedMap, type Flow, type Pool } from 'millrace';

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'millrace-cancel-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** An endless source that counts what was pulled and whether it was stopped. */
function countingSource(): { numbers: Generator<number>; stats: { pulled: number; stopped: boolean } } {
  const stats = { pulled: 0, stopped: false };
  function* numbers(): Generator<number> {
    try {
      for (let i = 0; ; i++) {
        stats.pulled++;
        yield i;
      }
    } finally {
      stats.stopped = true;
    }
  }
  return { numbers: numbers(), stats };
}

type Stop = 'abort' | 'take' | 'break' | 'downstream error';

/** Waits until the probe (crash.gatedAfterFirst) has recorded that it started `item` (a condition, polled). */
async function untilStarted(dir: string, item: number): Promise<void> {
  const started = (): string[] => (existsSync(join(dir, 'started')) ? readFileSync(join(dir, 'started'), 'utf8').split('\n') : []);
  while (!started().includes(String(item))) await new Promise((resolve) => setTimeout(resolve, 5));
}

/**
 * Consumes `numbers` until the first value arrives, then stops the flow the given way, once item 1
 * runs on the pool's one thread. Waiting for that makes the state at the stop exact: item 1
 * running, every later chunk queued (in the backend's queue, or handed to the busy worker, which
 * cannot take it up while item 1 blocks it). Stopping right at value 0 instead raced the worker:
 * the chunks of items 1 and 2 could both be handed over, not yet taken up; the engine cancels its
 * chunks oldest first, so withdrawing item 1's let the worker take up item 2 before the engine
 * withdrew it too (it failed once as "expected [0, 2] to deeply equal [0]"). That race is the
 * engine's, tested deterministically in test/testing/scripted-backend.test.ts.
 */
async function runAndStop(how: Stop, dir: string, pool: Pool, numbers: Iterable<number>): Promise<{ values: number[]; error?: unknown }> {
  const controller = new AbortController();
  const options = { pool, chunkSize: 1, maxInFlight: 6 };
  let mapped: Flow<number> = flow(numbers, { signal: controller.signal })
    .pipe(parallelMap(bind(crash.gatedAfterFirst, dir), options))
    .pipe(
      map(async (x: number): Promise<number> => {
        await untilStarted(dir, 1);
        return x;
      }),
    );
  if (how === 'take') mapped = mapped.pipe(take(1));
  if (how === 'downstream error') {
    mapped = mapped.pipe(
      map((x: number): number => {
        throw new Error(`downstream refuses ${x}`);
      }),
    );
  }
  const values: number[] = [];
  try {
    for await (const value of mapped) {
      values.push(value);
      if (how === 'abort') controller.abort(new Error('stop now'));
      if (how === 'break') break;
    }
  } catch (error) {
    return { values, error };
  }
  return { values };
}

describe('cancellation', () => {
  it.each<Stop>(['abort', 'take', 'break', 'downstream error'])(
    '%s: stops pulling input, stops the source, cancels queued chunks, ends running ones, frees the pool',
    async (how) => {
      const dir = tempDir();
      await using pool = createPool({ threads: 1 });
      const { numbers, stats } = countingSource();
      const { values, error } = await runAndStop(how, dir, pool, numbers);

      if (how === 'abort') expect((error as Error).message).toBe('stop now');
      // The main-thread map's failure is a TaskError with the thrown error as cause.
      else if (how === 'downstream error') expect(((error as Error).cause as Error).message).toBe('downstream refuses 0');
      else expect(error).toBeUndefined();
      expect(values).toEqual(how === 'downstream error' ? [] : [0]);
      expect(stats.stopped).toBe(true);
      // Pulled at most the in-flight window (6 chunks of 1) plus the chunk being filled.
      const pulledAtStop = stats.pulled;
      expect(pulledAtStop).toBeLessThanOrEqual(8);

      // The one thread was busy with gated item 1: a new flow can only finish on this pool if that
      // worker was ended (item 1 waits for `release`, written only afterwards).
      expect(
        await flow(range(3))
          .pipe(unorderedMap(bind(crash.exitOn, -1), { pool }))
          .toArray(),
      ).toHaveLength(3);
      writeFileSync(join(dir, 'release'), '');
      expect(existsSync(join(dir, 'done-1'))).toBe(false);
      // Queued chunks never started: item 1 was running at the stop, and nothing started after it.
      const started = readFileSync(join(dir, 'started'), 'utf8').trim().split('\n').map(Number);
      expect(started).toEqual([0, 1]);
      // And nothing was pulled after the stop.
      expect(stats.pulled).toBe(pulledAtStop);
    },
  );

  it('an abort before consumption starts nothing and rejects with the reason', async () => {
    const { numbers, stats } = countingSource();
    const reason = new Error('never mind');
    await using pool = createPool({ threads: 1 });
    const error = await flow(numbers, { signal: AbortSignal.abort(reason) })
      .pipe(parallelMap(bind(crash.exitOn, -1), { pool }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBe(reason);
    expect(stats.pulled).toBe(0);
    expect(pool.liveThreads).toBe(0);
  });

  it('breaking out of a flow over a file read destroys the stream', async () => {
    const dir = tempDir();
    const file = join(dir, 'big.txt');
    writeFileSync(file, 'x'.repeat(1 << 20));
    const stream = createReadStream(file, { highWaterMark: 1024 });
    await using pool = createPool({ threads: 1 });
    let seen = 0;
    for await (const length of flow<Buffer>(stream).pipe(unorderedMap(crash.byteLength, { pool, chunkSize: 1 }))) {
      expect(length).toBe(1024);
      if (++seen === 2) break;
    }
    expect(stream.destroyed).toBe(true);
    expect(stream.bytesRead).toBeLessThan(1 << 20);
  });
});

describe('isolation between flows on one pool', () => {
  it('flows that fail, crash, time out or are aborted do not disturb another flow on the same pool', async () => {
    await using pool = createPool({ threads: 2 });
    const steady = flow(range(400))
      .pipe(parallelMap(bind(crash.recordAndBlock, tempDir(), 2), { pool, chunkSize: 4 }))
      .toArray();
    const disturbances: Promise<unknown>[] = [];
    for (let round = 0; round < 3; round++) {
      const controller = new AbortController();
      disturbances.push(
        flow(range(50))
          .pipe(unorderedMap(bind(crash.failMultiplesOf, 13), { pool, chunkSize: 2 }))
          .toArray()
          .catch((e: unknown) => e),
        flow(range(50))
          .pipe(parallelMap(bind(crash.exitOn, 9), { pool, chunkSize: 2 }))
          .toArray()
          .catch((e: unknown) => e),
        flow(range(4))
          .pipe(parallelMap(bind(crash.spinOn, 1), { pool, chunkSize: 1, timeoutMs: 50 }))
          .toArray()
          .catch((e: unknown) => e),
        (async () => {
          for await (const _ of flow(range(1_000), { signal: controller.signal }).pipe(unorderedMap(crash.echo, { pool })))
            controller.abort();
        })().catch((e: unknown) => e),
      );
    }
    const outcomes = await Promise.all(disturbances);
    expect(outcomes.every((outcome) => outcome instanceof Error)).toBe(true);
    // The steady flow saw none of it: every item, in order, no error.
    expect(await steady).toEqual(range(400));
  });
});

describe('Symbol.asyncDispose on pools', () => {
  it('await using closes the pool and ends its threads at the end of the scope', async () => {
    let escaped: Pool | undefined;
    {
      await using pool = createPool({ threads: 2 });
      escaped = pool;
      expect(
        await flow(range(20))
          .pipe(parallelMap(bind(crash.exitOn, -1), { pool, chunkSize: 1 }))
          .toArray(),
      ).toEqual(range(20));
      expect(pool.liveThreads).toBeGreaterThan(0);
    }
    expect(escaped.closed).toBe(true);
    expect(escaped.liveThreads).toBe(0);
    await expect(
      flow([1])
        .pipe(parallelMap(bind(crash.exitOn, -1), { pool: escaped }))
        .toArray(),
    ).rejects.toThrow(/closed/);
  });

  it('disposing a pool while a flow runs on it fails that flow instead of hanging', async () => {
    const dir = tempDir();
    const pool = createPool({ threads: 1 });
    const running = flow(range(5))
      .pipe(parallelMap(bind(crash.gatedAfterFirst, dir), { pool, chunkSize: 1 }))
      .toArray();
    const outcome = running.then(
      () => 'finished',
      (error: unknown) => error,
    );
    while (!existsSync(join(dir, 'started')) || !readFileSync(join(dir, 'started'), 'utf8').includes('1')) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await pool[Symbol.asyncDispose]();
    const error = await outcome;
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/pool (is|was) closed/);
    expect(existsSync(join(dir, 'done-1'))).toBe(false);
  });
});
