// The faults found from outside (issue "The chunk lifecycle as one explicit state machine"): each
// test failed on the engine before the lifecycle was rebuilt, on cold and warm pools, with several
// flows on one pool.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  bind,
  CloneError,
  createPool,
  flow,
  parallelMap,
  tasks,
  TaskError,
  TaskTimeoutError,
  unorderedMap,
  WorkerCrashedError,
} from '../../lib/index.js';
import { failure, filePool, onlyTaskErrors, range, tempDirs, waitForFile } from './helpers.js';

const life = tasks<typeof import('../fixtures/lifecycle.tasks.js')>(new URL('../fixtures/lifecycle.tasks.js', import.meta.url));
const prefetch = tasks<typeof import('../fixtures/prefetch.tasks.js')>(new URL('../fixtures/prefetch.tasks.js', import.meta.url));
const tempDir = tempDirs('lifecycle');
// Pools for the tests that end no worker and leave nothing in one (the cold-pool tests, a task that
// installs its own uncaughtException handler or leaves a stray rejection keep a pool of their own).
const oneThread = filePool({ threads: 1 });
const twoThreads = filePool({ threads: 2 });

/** Items that cannot be structured-cloned. */
const uncloneable = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ i, fn: () => i }));

/** Collects process warnings while `run` runs. */
async function warningsDuring(run: () => Promise<unknown>): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  try {
    await run();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

describe('uncloneable items (behaviours 1 and 2)', () => {
  it.each([
    ['two items, chunk size 1, cold pool', 2, 1],
    ['two items, one chunk, cold pool', 2, 10],
    ['fifty items in many chunks, cold pool', 50, 3],
  ])('%s: a CloneError naming the first bad item, never a hang', async (_name, count, chunkSize) => {
    await using pool = createPool({ threads: 2 });
    const error = await failure(
      flow(uncloneable(count))
        .pipe(parallelMap(life.square as never, { pool, chunkSize }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    expect((error as CloneError).direction).toBe('item');
    expect((error as CloneError).index).toBe(0);
  });

  it('on a warm pool too, and the pool then runs the next flow', async () => {
    await using pool = createPool({ threads: 2 });
    expect(await flow([1, 2, 3]).pipe(parallelMap(life.square, { pool })).toArray()).toEqual([1, 4, 9]);
    const error = await failure(
      flow(uncloneable(2))
        .pipe(unorderedMap(life.square as never, { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    expect(
      await flow(range(20))
        .pipe(parallelMap(life.square, { pool, chunkSize: 1 }))
        .toArray(),
    ).toEqual(range(20).map((x) => x * x));
  });

  it('after a flow of uncloneable items is aborted, the same pool runs the next flow', async () => {
    await using pool = createPool({ threads: 2 });
    const controller = new AbortController();
    const items = (async function* () {
      yield* uncloneable(2);
      controller.abort(new Error('user abort'));
    })();
    await failure(
      flow(items, { signal: controller.signal })
        .pipe(parallelMap(life.square as never, { pool, chunkSize: 1 }))
        .toArray(),
    );
    expect(
      await flow(range(10))
        .pipe(parallelMap(life.square, { pool, chunkSize: 1 }))
        .toArray(),
    ).toEqual(range(10).map((x) => x * x));
  });

  it('after flows that finished, failed, were aborted and broken out of, the pool runs the next flow', async () => {
    await using pool = createPool({ threads: 2 });
    const squares = (n: number): Promise<number[]> =>
      flow(range(n))
        .pipe(parallelMap(life.square, { pool, chunkSize: 1 }))
        .toArray();
    expect(await squares(5)).toEqual([0, 1, 4, 9, 16]);
    await failure(flow(['fields']).pipe(parallelMap(life.throwOdd, { pool })).toArray());
    expect(await squares(5)).toEqual([0, 1, 4, 9, 16]);
    const controller = new AbortController();
    const aborted = failure(
      flow(range(1000), { signal: controller.signal })
        .pipe(parallelMap(life.square, { pool, chunkSize: 1 }))
        .toArray(),
    );
    controller.abort(new Error('stop'));
    await aborted;
    expect(await squares(5)).toEqual([0, 1, 4, 9, 16]);
    for await (const value of flow(range(1000)).pipe(parallelMap(life.square, { pool, chunkSize: 1 }))) if (value > 10) break;
    expect(await squares(5)).toEqual([0, 1, 4, 9, 16]);
  });
});

describe('no flow waits behind another flow while a thread is free (behaviour 3)', () => {
  it("a 200-item flow with chunkSize 1 finishes while another flow's chunk holds one of two threads", async () => {
    const dir = tempDir();
    await using pool = createPool({ threads: 2 });
    // Warm both threads with short chunks so the prefetch rule is in force for `square`.
    await flow(range(50))
      .pipe(parallelMap(life.square, { pool, chunkSize: 1 }))
      .toArray();
    const holding = flow([7])
      .pipe(parallelMap(bind(prefetch.returnWhenReleased, dir), { pool, chunkSize: 1 }))
      .toArray();
    await waitForFile(join(dir, 'started-7'));
    // Must complete on the free thread while the other is held (if it stalled, the test would time out).
    const squares = await flow(range(200))
      .pipe(parallelMap(life.square, { pool, chunkSize: 1, timeoutMs: 60_000 }))
      .toArray();
    expect(squares).toEqual(range(200).map((x) => x * x));
    expect(existsSync(join(dir, 'release'))).toBe(false); // the holder was still holding throughout
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'release'), '');
    expect(await holding).toEqual([7]);
  });
});

describe('results that cannot be sent back (behaviours 4 and 9)', () => {
  it('a result that cannot be cloned is a CloneError naming the item, with timeoutMs and a task that swallows uncaught exceptions', async () => {
    await using pool = createPool({ threads: 1 });
    const error = await failure(
      flow([5])
        .pipe(parallelMap(life.swallowingHandlerThenUncloneable, { pool, timeoutMs: 10_000 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    expect((error as CloneError).direction).toBe('result');
    expect((error as CloneError).index).toBe(0);
  });

  it('a result with a throwing getter is a CloneError, not a dead worker, and is not retried', async () => {
    const pool = oneThread();
    const error = await failure(
      flow([1, 2])
        .pipe(parallelMap(life.throwingGetterResult, { pool, retries: 3, retryDelayMs: 0 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    expect((error as CloneError).direction).toBe('result');
  });

  it('an item with a throwing getter is a CloneError naming it', async () => {
    const pool = oneThread();
    const bad = {
      get value(): number {
        throw new Error('getter');
      },
    };
    const error = await failure(
      flow([1, bad])
        .pipe(parallelMap(life.square as never, { pool, chunkSize: 2 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    expect((error as CloneError).direction).toBe('item');
    expect((error as CloneError).index).toBe(1);
  });

  it('an uncloneable bound argument, setupArgs, or a buffer transferred twice is a CloneError saying which', async () => {
    const pool = oneThread();
    const bound = await failure(
      flow([1])
        .pipe(parallelMap(bind(prefetch.record, (() => 'dir') as never), { pool }))
        .toArray(),
    );
    expect(bound).toBeInstanceOf(CloneError);
    expect((bound as CloneError).direction).toBe('bound-arguments');

    const withSetup = tasks<typeof import('../fixtures/lifecycle.tasks.js')>(new URL('../fixtures/lifecycle.tasks.js', import.meta.url), {
      setupArgs: [Symbol('not cloneable')],
    });
    const setup = await failure(flow([1]).pipe(parallelMap(withSetup.square, { pool })).toArray());
    expect(setup).toBeInstanceOf(CloneError);
    expect((setup as CloneError).direction).toBe('setup-arguments');

    const buffer = new ArrayBuffer(8);
    const items = [new Uint8Array(buffer), new Uint8Array(buffer)];
    const transfer = await failure(
      flow(items)
        .pipe(parallelMap(life.whichThread as never, { pool, chunkSize: 2, transfer: (item: Uint8Array) => [item.buffer as ArrayBuffer] }))
        .toArray(),
    );
    expect(transfer).toBeInstanceOf(CloneError);
    expect((transfer as CloneError).direction).toBe('transfer-list');
    // And the pool goes on.
    expect(await flow([3]).pipe(parallelMap(life.square, { pool })).toArray()).toEqual([9]);
  });
});

describe('onError that throws or rejects (behaviour 5)', () => {
  it.each([
    [
      'throws',
      (): void => {
        throw new Error('from onError');
      },
    ],
    ['returns a rejected promise', (): Promise<void> => Promise.reject(new Error('from onError'))],
  ])('an onError that %s fails the flow with its error, never an unhandled rejection', async (_name, onError) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const pool = oneThread();
      const error = await failure(
        flow(['fields', 'fields'])
          .pipe(parallelMap(life.throwOdd, { pool, onError, chunkSize: 1 }))
          .toArray(),
      );
      expect((error as Error).message).toBe('from onError');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});

describe('a stray rejection in a task (behaviour 6)', () => {
  it('never fails a later, unrelated flow on the same pool', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await using pool = createPool({ threads: 1 });
      expect(await flow([1, 2]).pipe(parallelMap(life.leaveStrayRejection, { pool })).toArray()).toEqual([1, 2]);
      expect(
        await flow(range(5))
          .pipe(parallelMap(life.square, { pool, chunkSize: 1 }))
          .toArray(),
      ).toEqual([0, 1, 4, 9, 16]);
      expect(stderr.mock.calls.map((call) => String(call[0])).join('')).toMatch(/stray rejection from 1/);
    } finally {
      stderr.mockRestore();
    }
  });
});

describe('timeouts and listeners (behaviours 7 and 8, and no MaxListenersExceededWarning)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('makes no AbortSignal per chunk with timeoutMs (AbortSignal.any kept every chunk alive)', async () => {
    const any = vi.spyOn(AbortSignal, 'any');
    const pool = twoThreads();
    expect(
      await flow(range(100))
        .pipe(parallelMap(life.square, { pool, chunkSize: 1, timeoutMs: 5_000 }))
        .toArray(),
    ).toHaveLength(100);
    expect(any).not.toHaveBeenCalled();
  });

  it('takes timeoutMs and idleTimeoutMs up to Infinity without a TimeoutOverflowWarning', async () => {
    const warnings = await warningsDuring(async () => {
      await using pool = createPool({ threads: 2, idleTimeoutMs: Infinity });
      for (const timeoutMs of [3e9, 1e12, Infinity]) {
        expect(
          await flow(range(20))
            .pipe(parallelMap(life.square, { pool, chunkSize: 1, timeoutMs }))
            .toArray(),
        ).toHaveLength(20);
      }
    });
    expect(warnings).toEqual([]);
  });

  it('a pool of 16 threads and maxInFlight 64 print no MaxListenersExceededWarning', async () => {
    const warnings = await warningsDuring(async () => {
      await using pool = createPool({ threads: 16 });
      const results = await flow(range(2000))
        .pipe(unorderedMap(life.square, { pool, chunkSize: 1, maxInFlight: 64, timeoutMs: 30_000 }))
        .toArray();
      expect(results).toHaveLength(2000);
    });
    expect(warnings).toEqual([]);
  });
});

describe('whatever a task throws crosses as a task failure (behaviour 10)', () => {
  const thrown = async (kind: string): Promise<TaskError> => {
    const pool = oneThread();
    const error = await failure(flow([kind]).pipe(parallelMap(life.throwOdd, { pool })).toArray());
    expect(error).toBeInstanceOf(TaskError);
    return error as TaskError;
  };

  it("keeps name, message, stack, own fields, cause and an AggregateError's errors", async () => {
    const aggregate = (await thrown('aggregate')).cause as Error & { errors?: Error[]; cause?: Error };
    expect(aggregate.name).toBe('AggregateError');
    expect(aggregate.message).toBe('two things failed');
    expect(aggregate.stack).toMatch(/throwOdd/);
    expect(aggregate.cause?.message).toBe('root');
    expect(aggregate.errors?.map((error) => `${error.name}: ${error.message}`)).toEqual(['RangeError: first', 'TypeError: second']);
    const fields = (await thrown('fields')).cause as Error & { code?: string; detail?: unknown };
    expect([fields.code, fields.detail]).toEqual(['E_FIELDS', { n: 1 }]);
  });

  it('an error made in another realm keeps its name and message', async () => {
    const cause = (await thrown('vm')).cause as Error;
    expect([cause.name, cause.message]).toEqual(['TypeError', 'made in another realm']);
  });

  it.each(['null-prototype', 'bigint', 'getter'])(
    'a thrown %s object is a TaskError that onError can skip, never a dead worker',
    async (kind) => {
      await thrown(kind);
      const pool = oneThread();
      const skipped: TaskError[] = [];
      const results = await flow([kind, 'fine'])
        .pipe(parallelMap(life.throwOdd, { pool, chunkSize: 1, onError: onlyTaskErrors((error) => skipped.push(error)) }))
        .toArray();
      expect(results).toEqual([]);
      expect(skipped.map((error) => error.index)).toEqual([0, 1]);
      expect(skipped[0]).not.toBeInstanceOf(WorkerCrashedError);
    },
  );
});

describe('setupArgs per task reference (behaviour 11)', () => {
  it('two references to one module with different setupArgs each run after their own setup, on one pool', async () => {
    const url = new URL('../fixtures/setup-clash.tasks.js', import.meta.url);
    const english = tasks<typeof import('../fixtures/setup-clash.tasks.js')>(url, { setupArgs: ['en'] });
    const french = tasks<typeof import('../fixtures/setup-clash.tasks.js')>(url, { setupArgs: ['fr'] });
    await using pool = createPool({ threads: 1 });
    expect(await flow([1, 2]).pipe(parallelMap(english.tag, { pool })).toArray()).toEqual(['en:1', 'en:2']);
    expect(await flow([1, 2]).pipe(parallelMap(french.tag, { pool })).toArray()).toEqual(['fr:1', 'fr:2']);
    expect(await flow([3]).pipe(parallelMap(english.tag, { pool })).toArray()).toEqual(['en:3']);
  });
});

describe('concurrency inside a worker', () => {
  it('runs up to `concurrency` items of an async task at once per worker, in input order, never more', async () => {
    const pool = twoThreads();
    const results = await flow(range(200))
      .pipe(parallelMap(bind(life.wait, 5), { pool, concurrency: 8 }))
      .toArray();
    expect(results.map((result) => result.x)).toEqual(range(200));
    const most = Math.max(...results.map((result) => result.mostInFlight));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(8);
  });

  it('keeps errors as at concurrency 1: the first failing item by index, with skip-and-report too', async () => {
    const pool = twoThreads();
    const error = await failure(
      flow(range(50))
        .pipe(parallelMap(bind(life.waitThenFailOn, 17), { pool, concurrency: 8 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).index).toBe(17);
    const skipped: number[] = [];
    const kept = await flow(range(50))
      .pipe(parallelMap(bind(life.waitThenFailOn, 17), { pool, concurrency: 8, onError: onlyTaskErrors((e) => skipped.push(e.index)) }))
      .toArray();
    expect(skipped).toEqual([17]);
    expect(kept).toEqual(range(50).filter((x) => x !== 17));
  });

  it('is refused unless a whole number from 1', () => {
    expect(() => parallelMap(life.square, { concurrency: 0 })).toThrow(/concurrency/);
    expect(() => parallelMap(life.square, { concurrency: 1.5 })).toThrow(/concurrency/);
  });
});

describe('cancellation a task can see', () => {
  it("an aborted flow aborts the running task's taskSignal(), and a cooperative task keeps its worker", async () => {
    const dir = tempDir();
    const pool = oneThread();
    const before = await flow([0]).pipe(parallelMap(life.whichThread, { pool })).toArray();
    const controller = new AbortController();
    const done = failure(
      flow([1], { signal: controller.signal })
        .pipe(parallelMap(bind(life.waitForCancel, dir), { pool }))
        .toArray(),
    );
    await waitForFile(join(dir, 'started-1'));
    controller.abort(new Error('user abort'));
    expect(((await done) as Error).message).toBe('user abort');
    await waitForFile(join(dir, 'aborted-1'));
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(dir, 'aborted-1'), 'utf8')).toBe('AbortError');
    // The task returned when asked: its worker was not terminated.
    expect(await flow([0]).pipe(parallelMap(life.whichThread, { pool })).toArray()).toEqual(before);
  });

  it('a timeout aborts the task signal with a TimeoutError', async () => {
    const dir = tempDir();
    const pool = oneThread();
    const error = await failure(
      flow([2])
        .pipe(parallelMap(bind(life.waitForCancel, dir), { pool, timeoutMs: 200 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskTimeoutError);
    await waitForFile(join(dir, 'aborted-2'));
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(dir, 'aborted-2'), 'utf8')).toBe('TimeoutError');
  });

  it('each chunk has a signal of its own: one a task took, or one that aborted, never goes to a later chunk', async () => {
    const dir = tempDir();
    const pool = oneThread();
    // A cancelled chunk first: its signal aborted.
    const controller = new AbortController();
    const done = failure(
      flow([1], { signal: controller.signal })
        .pipe(parallelMap(bind(life.waitForCancel, dir), { pool }))
        .toArray(),
    );
    await waitForFile(join(dir, 'started-1'));
    controller.abort(new Error('user abort'));
    await done;
    await waitForFile(join(dir, 'aborted-1'));
    const seen = await flow(range(30))
      .pipe(parallelMap(life.signalPerChunk, { pool, chunkSize: 1 }))
      .toArray();
    expect(seen).toEqual(range(30).map(() => [false, false]));
  });

  it('taskSignal() after the first await is a clear error', async () => {
    const pool = oneThread();
    const error = await failure(flow([1]).pipe(parallelMap(life.signalAfterAwait, { pool })).toArray());
    expect(((error as TaskError).cause as Error).message).toMatch(/before the task's first await/);
  });
});
