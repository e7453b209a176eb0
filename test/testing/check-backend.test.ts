// The backend conformance kit over the local backends (they must pass), over faithful wrappers
// (they pass too), and over broken wrappers (the kit must catch each breakage and name its check).
// The BullMQ backend passes it in test/scale-out/check-backend.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, type ChunkRequest, type ChunkResponse, type PoolBackend, type RunChunkOptions } from 'millrace';
import { checkBackend, ConformanceError, type BackendCheck } from 'millrace/testing';

/** Pools the wrappers below use, closed after each test whatever the wrapper did with close(). */
const inner: PoolBackend[] = [];
afterEach(async () => {
  await Promise.all(inner.splice(0).map((backend) => backend.close()));
});

function threads(count = 2): PoolBackend {
  const backend = createPool({ threads: count }).backend;
  inner.push(backend);
  return backend;
}

/** Passes everything through: what a logging or metering wrapper does. */
function faithful(backend: PoolBackend): PoolBackend {
  return {
    capacity: backend.capacity,
    ...(backend.reportsStart === undefined ? {} : { reportsStart: backend.reportsStart }),
    run: (request, options) => backend.run(request, options),
    close: () => backend.close(),
  };
}

/** Expects `checkBackend` to fail the named check. */
async function failsCheck(run: Promise<unknown>, check: BackendCheck, message: RegExp): Promise<void> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConformanceError);
  expect(error).toMatchObject({ kind: 'backend', check });
  expect((error as Error).message).toMatch(message);
}

const ALL: readonly BackendCheck[] = ['values', 'task-errors', 'independence', 'abort', 'abort-queued', 'capacity', 'close'];

// The kit's timeout is how long it waits before it calls a backend hung; a faithful backend never
// reaches it, so the suites of real backends give it room for a loaded machine's cold worker starts.
const ROOMY = { timeoutMs: 30_000 };

describe('checkBackend', () => {
  it('the thread backend passes', async () => {
    const result = await checkBackend(() => createPool({ threads: 2 }).backend, ROOMY);
    expect(result).toEqual({ backend: 'ThreadBackend', passed: ALL });
  });

  it('the process backend passes', async () => {
    const result = await checkBackend(() => createPool({ isolation: 'process', threads: 2 }).backend, ROOMY);
    expect(result).toEqual({ backend: 'ProcessBackend', passed: ALL });
  });

  it('a faithful wrapper passes, and a subset of checks runs alone', async () => {
    expect((await checkBackend(() => faithful(threads()), { name: 'logging', ...ROOMY })).passed).toEqual(ALL);
    expect(await checkBackend(() => faithful(threads()), { checks: ['close', 'values'], ...ROOMY })).toEqual({
      backend: 'backend',
      passed: ['values', 'close'],
    });
  });

  it('loads its task module from taskModuleUrl, and fails when the workers cannot load it', async () => {
    const module = new URL('../../lib/testing/backend-check.tasks.ts', import.meta.url);
    expect((await checkBackend(() => threads(), { checks: ['values'], taskModuleUrl: module })).passed).toEqual(['values']);
    const missing = new URL('./no-such.tasks.js', import.meta.url);
    await failsCheck(
      checkBackend(() => threads(), { checks: ['values'], taskModuleUrl: missing }),
      'values',
      /the task did not load/,
    );
  });

  it("fails 'abort' for a wrapper whose aborted runs never settle", async () => {
    const swallowing = (): PoolBackend => {
      const backend = threads();
      return {
        capacity: backend.capacity,
        // Settles only with a response: a rejection (the abort) is dropped, and the run hangs.
        run: (request, options) =>
          new Promise<ChunkResponse>((resolve) => void backend.run(request, options).then(resolve, () => undefined)),
        close: () => backend.close(),
      };
    };
    await failsCheck(
      // Only the check this wrapper breaks: that the others pass on a faithful wrapper is the test above.
      checkBackend(swallowing, { checks: ['abort'], timeoutMs: 2_000 }),
      'abort',
      /hung waiting for a run with an already-aborted signal to reject/,
    );
  });

  it("fails 'abort' for a wrapper that does not pass the signal on", async () => {
    const deaf = (): PoolBackend => {
      const backend = threads();
      return { capacity: backend.capacity, run: (request) => backend.run(request), close: () => backend.close() };
    };
    await failsCheck(checkBackend(deaf, { checks: ['abort'], timeoutMs: 2_000 }), 'abort', /already-aborted signal/);
  });

  it("fails 'close' for a wrapper that drops close()", async () => {
    // Threads already started, with the kit's module loaded: the check waits at most timeoutMs for
    // both to take up a chunk, and a cold start on a loaded machine took longer ('hung waiting for
    // 2 chunk(s) to start at once'), which is not the breakage under test. The check runs once.
    const backend = threads();
    const task = {
      moduleUrl: new URL('../../lib/testing/backend-check.tasks.ts', import.meta.url).href,
      exportName: 'double',
      boundArgs: [],
      setupArgs: [],
    };
    await Promise.all([1, 2].map((x) => backend.run({ mode: 'call', task, items: [x] })));
    const leaky = (): PoolBackend => ({
      capacity: backend.capacity,
      run: (request, options) => backend.run(request, options),
      close: () => Promise.resolve(),
    });
    await failsCheck(
      checkBackend(leaky, { checks: ['close'], timeoutMs: 2_000 }),
      'close',
      /hung waiting for a running chunk to reject after close\(\)/,
    );
  });

  it("fails 'capacity' for a wrapper that runs more chunks at once than its capacity (two pools behind one capacity)", async () => {
    // A long watch (a sixteenth of timeoutMs: 1 s), so that a loaded machine starting the extra
    // threads late still shows them running together.
    const doubled = (): PoolBackend => {
      const pools = [threads(), threads()] as const;
      let turn = 0;
      return {
        capacity: 2,
        run: (request, options) => (turn++ % 2 === 0 ? pools[0] : pools[1]).run(request, options),
        close: async () => {
          await Promise.all(pools.map((pool) => pool.close()));
        },
      };
    };
    await failsCheck(
      checkBackend(doubled, { checks: ['capacity'], timeoutMs: 16_000 }),
      'capacity',
      /\d chunks ran at once, with a capacity of 2/,
    );
  });

  it("fails 'independence' for a wrapper that hands out another run's (stale) outputs", async () => {
    // Caches responses by task: every later chunk of the same task gets the first one's results.
    const caching = (): PoolBackend => {
      const backend = threads();
      const cache = new Map<string, Promise<ChunkResponse>>();
      const key = (request: ChunkRequest): string => (request.mode === 'call' ? request.task.exportName : request.foldTask.exportName);
      return {
        capacity: backend.capacity,
        run: (request: ChunkRequest, options?: RunChunkOptions) => {
          const cached = cache.get(key(request));
          if (cached) return cached;
          const running = backend.run(request, options);
          cache.set(key(request), running);
          return running;
        },
        close: () => backend.close(),
      };
    };
    await failsCheck(
      checkBackend(caching, { checks: ['independence'] }),
      'independence',
      /run 2 of 5 concurrent runs got the outputs of run 1/,
    );
  });

  it("fails 'values' for a wrapper that loses results", async () => {
    const lossy = (): PoolBackend => {
      const backend = threads();
      return {
        capacity: backend.capacity,
        run: async (request, options) => {
          const response = await backend.run(request, options);
          return { ...response, results: response.results.slice(1) };
        },
        close: () => backend.close(),
      };
    };
    await failsCheck(checkBackend(lossy), 'values', /double over \[1, 2, 3\] gave \[4,6\] where \[2,4,6\] was expected/);
  });
});
