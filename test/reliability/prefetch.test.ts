import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, parallelMap, WorkerCrashedError, tasks, type Pool } from 'millrace';
import { failure, tempDirs, waitForFile } from './helpers.js';

// The pool hands each worker its next chunk while the current one runs. These tests pin that
// second chunk behind a first one that holds the only worker, then end or cancel around it.
const prefetch = tasks<typeof import('../fixtures/prefetch.tasks.js')>(new URL('../fixtures/prefetch.tasks.js', import.meta.url));

const tempDir = tempDirs('prefetch');

/**
 * A source of `items` that resolves `handedOver` when asked for more: with chunk size 1 the
 * engine submits each chunk before it reads on, so by then every item is in a submitted chunk.
 */
function announcingSource(items: readonly number[]): { source: AsyncIterable<number>; handedOver: Promise<void> } {
  let announce!: () => void;
  const handedOver = new Promise<void>((resolve) => {
    announce = resolve;
  });
  async function* source(): AsyncGenerator<number> {
    yield* items;
    announce();
  }
  return { source: source(), handedOver };
}

/**
 * Short synchronous chunks of `record` (in a directory of their own): what makes the pool hand a
 * worker its next chunk of that task early.
 */
async function warm(pool: Pool): Promise<void> {
  expect(
    await flow([1, 2, 3])
      .pipe(parallelMap(bind(prefetch.record, tempDir()), { pool, chunkSize: 1 }))
      .toArray(),
  ).toEqual([10, 20, 30]);
}

const runs = (dir: string): number[] =>
  existsSync(join(dir, 'runs'))
    ? readFileSync(join(dir, 'runs'), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map(Number)
    : [];

describe('the chunk queued behind a running one on the same worker', () => {
  it('is not failed when that worker dies: it never ran, so it runs on a fresh worker, once', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 1 });
    await warm(pool);
    const crashing = failure(
      flow([0])
        .pipe(parallelMap(bind(prefetch.exitWhenReleased, dir), { pool, chunkSize: 1 }))
        .toArray(),
    );
    await waitForFile(join(dir, 'started-0'));
    // The only worker is busy: the next flow's chunk is handed to it and waits there.
    const { source, handedOver } = announcingSource([7]);
    const queued = flow(source)
      .pipe(parallelMap(bind(prefetch.record, dir), { pool, chunkSize: 1 }))
      .toArray();
    await handedOver;
    writeFileSync(join(dir, 'release'), '');
    const error = await crashing;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).items).toEqual([0]);
    // Without retries: a chunk reported as crashed would fail this flow.
    expect(await queued).toEqual([70]);
    expect(runs(dir)).toEqual([7]);
  });

  it('within one flow, a crash names only the running chunk, not the one queued behind it', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 1 });
    await warm(pool);
    const { source, handedOver } = announcingSource([0, 1]);
    // maxInFlight 3: room for both chunks and the read after them that announces the hand-over.
    const options = { pool, chunkSize: 1, maxInFlight: 3 };
    const done = failure(
      flow(source)
        .pipe(parallelMap(bind(prefetch.exitWhenReleased, dir), options))
        .toArray(),
    );
    await handedOver;
    await waitForFile(join(dir, 'started-0'));
    writeFileSync(join(dir, 'release'), '');
    const error = await done;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).items).toEqual([0]);
    expect((error as WorkerCrashedError).firstIndex).toBe(0);
  });

  it('is dropped without running when its flow is cancelled, and the running chunk is not disturbed', async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 1 });
    await warm(pool);
    const holding = flow([5])
      .pipe(parallelMap(bind(prefetch.returnWhenReleased, dir), { pool, chunkSize: 1 }))
      .toArray();
    await waitForFile(join(dir, 'started-5'));
    const controller = new AbortController();
    const { source, handedOver } = announcingSource([8]);
    const cancelled = failure(
      flow(source, { signal: controller.signal })
        .pipe(parallelMap(bind(prefetch.record, dir), { pool, chunkSize: 1 }))
        .toArray(),
    );
    await handedOver;
    controller.abort(new Error('stop'));
    // Settles at once, while the worker is still held by the other flow's chunk.
    expect(await cancelled).toMatchObject({ message: 'stop' });
    writeFileSync(join(dir, 'release'), '');
    expect(await holding).toEqual([5]);
    // The same worker then takes up the cancelled chunk's message and skips it.
    expect(
      await flow([9])
        .pipe(parallelMap(bind(prefetch.record, dir), { pool, chunkSize: 1 }))
        .toArray(),
    ).toEqual([90]);
    expect(runs(dir)).toEqual([9]);
  });
});
