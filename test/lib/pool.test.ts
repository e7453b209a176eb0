import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, InvalidOptionError, MillraceError, parallelMap, sharedPool, tasks, type Pool } from 'millrace';
import { createSlots, MAX_RUNNING, NEED, open, waitForPassed } from '../fixtures/gates.tasks.js';
import { naturals, probe } from '../fixtures/harness.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const gates = tasks<typeof import('../fixtures/gates.tasks.js')>(new URL('../fixtures/gates.tasks.js', import.meta.url));
const setup = tasks<typeof import('../fixtures/setup.tasks.js')>(new URL('../fixtures/setup.tasks.js', import.meta.url));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Runs `items` tasks that record how many run at once, the first `threads` of which must meet. */
async function concurrency(pool: Pool, threads: number, items: number): Promise<{ maxRunning: number; threadIds: Set<number> }> {
  const slots = createSlots();
  Atomics.store(slots, NEED, threads);
  const ids = await flow(range(items))
    .pipe(parallelMap(bind(gates.rendezvous, slots), { pool, chunkSize: 1, maxInFlight: items }))
    .toArray();
  return { maxRunning: Atomics.load(slots, MAX_RUNNING), threadIds: new Set(ids) };
}

describe('createPool', () => {
  it('honours { threads }: exactly that many tasks run at once, on that many threads', async () => {
    await using pool = createPool({ threads: 3 });
    expect(pool.threads).toBe(3);
    const { maxRunning, threadIds } = await concurrency(pool, 3, 12);
    expect(maxRunning).toBe(3);
    expect(threadIds.size).toBe(3);
  });

  it('runs one task at a time with { threads: 1 }', async () => {
    await using pool = createPool({ threads: 1 });
    const { maxRunning, threadIds } = await concurrency(pool, 1, 6);
    expect(maxRunning).toBe(1);
    expect(threadIds.size).toBe(1);
  });

  it('rejects a thread count below 1', () => {
    expect(() => createPool({ threads: 0 })).toThrow(InvalidOptionError);
  });

  it('serves functions from any task module on the same workers', async () => {
    await using pool = createPool({ threads: 1 });
    const fromSetup = await flow([1, 2]).pipe(parallelMap(setup.whichThread, { pool })).toArray();
    const fromGates = await flow([1])
      .pipe(parallelMap(bind(gates.rendezvous, createSlots()), { pool }))
      .toArray();
    expect(await flow([3]).pipe(parallelMap(math.square, { pool })).toArray()).toEqual([9]);
    expect(new Set([...fromSetup, ...fromGates]).size).toBe(1);
  });
});

describe('sharedPool', () => {
  it('is one pool, sized to os.availableParallelism(), reused by every operator given no pool', async () => {
    expect(sharedPool()).toBe(sharedPool());
    expect(sharedPool().threads).toBe(availableParallelism());
    expect(await flow([1, 2]).pipe(parallelMap(math.square)).toArray()).toEqual([1, 4]);
    expect(await flow([3]).pipe(parallelMap(setup.whichThread)).toArray()).toHaveLength(1);
    expect(sharedPool().closed).toBe(false);
  });
});

describe('two flows on one pool', () => {
  it('both progress: a second flow finishes while an endless first flow keeps going', async () => {
    await using pool = createPool({ threads: 2 });
    const log: ('a' | 'b')[] = [];
    let stopA = false;
    let aStarted!: () => void;
    const aRunning = new Promise<void>((resolve) => (aStarted = resolve));
    const source = probe(naturals);
    const runA = (async () => {
      for await (const _ of flow(source).pipe(parallelMap(math.slowSquare, { pool, chunkSize: 1, maxInFlight: 2 }))) {
        log.push('a');
        if (log.length === 5) aStarted();
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stopA is set while this loop runs
        if (stopA) break;
      }
    })();
    await aRunning;
    await flow(range(30))
      .pipe(parallelMap(math.slowSquare, { pool, chunkSize: 1, maxInFlight: 2 }))
      .forEach(() => {
        log.push('b');
      });
    const aWasRunning = !stopA;
    stopA = true;
    await runA;
    expect(aWasRunning).toBe(true);
    expect(log.filter((x) => x === 'b')).toHaveLength(30);
    // While B ran (between its first and last result), A kept getting results too.
    const during = log.slice(log.indexOf('b'), log.lastIndexOf('b'));
    expect(during.filter((x) => x === 'a').length).toBeGreaterThanOrEqual(5);
    expect(source.stats.returned).toBe(true);
  });
});

describe('one flow ending early', () => {
  it('does not fail the next flow on the same pool (tinypool handing it to a worker it is terminating)', async () => {
    await using pool = createPool({ threads: 2 });
    for (let round = 0; round < 15; round++) {
      const controller = new AbortController();
      const reason = new Error('stop');
      let seen = 0;
      const aborted = (async () => {
        for await (const _ of flow(probe(naturals), { signal: controller.signal }).pipe(parallelMap(math.square, { pool }))) {
          if (++seen === 20) controller.abort(reason);
        }
      })();
      await expect(aborted).rejects.toBe(reason);
      expect(await flow(range(3)).pipe(parallelMap(math.square, { pool })).toArray()).toEqual([0, 1, 4]);
    }
  });
});

describe('closing a pool', () => {
  it('`await using` closes it at the end of the scope; later flows on it fail with a clear error', async () => {
    let outer: Pool | undefined;
    {
      await using pool = createPool({ threads: 1 });
      outer = pool;
      expect(await flow([2]).pipe(parallelMap(math.square, { pool })).toArray()).toEqual([4]);
      expect(pool.closed).toBe(false);
    }
    expect(outer.closed).toBe(true);
    const error: unknown = await flow([1])
      .pipe(parallelMap(math.square, { pool: outer }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MillraceError);
    expect((error as Error).message).toMatch(/closed/);
  });

  it('close() is safe to call twice', async () => {
    const pool = createPool({ threads: 1 });
    await pool.close();
    await pool.close();
    expect(pool.closed).toBe(true);
  });

  it('closing it under a running flow fails that flow rather than hanging it', async () => {
    const pool = createPool({ threads: 1 });
    const slots = createSlots();
    // Item 1 passes, item 0 waits at the gate (in the worker or the queue) until the pool closes.
    const running = flow([1, 0, 2])
      .pipe(parallelMap(bind(gates.gated, slots, 0), { pool, chunkSize: 1 }))
      .toArray();
    const outcome = running.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await waitForPassed(slots, 1);
    await pool.close();
    open(slots);
    const error = await outcome;
    expect(error).toBeInstanceOf(MillraceError);
    expect((error as Error).message).toMatch(/closed/);
  });
});
