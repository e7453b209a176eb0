// Per-item failure policy of the main-thread map, filter and flatMap (lib/concurrent.ts) and the
// shared retry policy (lib/engine/retry-policy.ts): retries, onError, timeouts, stopping, and
// backoffs that hold a place in the output but no call.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  checkItemPolicy,
  createPool,
  filter,
  flatMap,
  flow,
  InvalidOptionError,
  ItemTimeoutError,
  map,
  retryDelayMs,
  TaskError,
  TaskTimeoutError,
  type ItemContext,
} from 'millrace';
import { deferred, turns } from '../fixtures/deferred.js';
import { checkOperator } from 'millrace/testing';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: these operators run in the main thread

/** How many of its first calls fail, for item i: 0, 1, 2 or 3 (with retries: 2, the last never succeeds). */
const failuresOf = (i: number): number => (i * 7) % 4;

describe('retries and onError', () => {
  for (const [label, options] of [
    ['ordered, 32 calls at once', { concurrency: 32 }],
    ['unordered, 32 calls at once', { concurrency: 32, ordered: false }],
    ['one call at a time', { concurrency: 1 }],
  ] as const) {
    it(`re-runs only failed calls; every item is emitted once or reported once (${label})`, async () => {
      const count = 3_000;
      const calls = new Array<number>(count).fill(0);
      const reported: TaskError<number>[] = [];
      const output = await flow(Array.from({ length: count }, (_, i) => i))
        .pipe(
          map(
            async (x: number, { index, attempt }) => {
              calls[x]!++;
              expect(index).toBe(x);
              expect(attempt).toBe(calls[x]);
              await Promise.resolve();
              if (attempt <= failuresOf(x)) throw new Error(`item ${x} attempt ${attempt}`);
              return x;
            },
            { ...options, retries: 2, retryDelayMs: 0, onError: (error) => reported.push(error) },
          ),
        )
        .toArray();

      const failing = Array.from({ length: count }, (_, i) => i).filter((i) => failuresOf(i) === 3);
      const succeeding = Array.from({ length: count }, (_, i) => i).filter((i) => failuresOf(i) < 3);
      // Emitted once or reported once, never both, never neither.
      // Ordered output is in input order as it is; unordered is compared as a set.
      expect('ordered' in options ? [...output].sort((a, b) => a - b) : output).toEqual(succeeding);
      expect(reported.map((error) => error.index).sort((a, b) => a - b)).toEqual(failing);
      // An item that succeeded is never run again: its calls are its failures plus one.
      const failedCalls = Array.from({ length: count }, (_, i) => Math.min(failuresOf(i), 3)).reduce((a, b) => a + b, 0);
      expect(calls.reduce((a, b) => a + b, 0)).toBe(count - failing.length + failedCalls);
      for (let i = 0; i < count; i++) expect(calls[i]).toBe(failuresOf(i) === 3 ? 3 : failuresOf(i) + 1);
    });
  }

  it('hands onError a TaskError with the item, its index, the attempts and the last error as cause', async () => {
    const reported: TaskError<{ id: string }>[] = [];
    const items = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    const output = await flow(items)
      .pipe(
        map(
          async function lookUp(item: { id: string }, { attempt }) {
            if (item.id === 'b') throw new RangeError(`no ${item.id} (attempt ${attempt})`);
            return item.id.toUpperCase();
          },
          { concurrency: 2, retries: 1, retryDelayMs: 0, onError: (error) => reported.push(error) },
        ),
      )
      .toArray();
    expect(output).toEqual(['A', 'C']);
    expect(reported).toHaveLength(1);
    const [error] = reported;
    expect(error).toBeInstanceOf(TaskError);
    expect(error!.item).toBe(items[1]);
    expect(error).toMatchObject({ task: 'lookUp', index: 1, attempts: 2, itemPreview: '{"id":"b"}' });
    expect(error!.cause).toBeInstanceOf(RangeError);
    expect((error!.cause as Error).message).toBe('no b (attempt 2)');
    expect(error!.message).toBe('Task lookUp failed on item #1 ({"id":"b"}): no b (attempt 2)');
  });

  it('without onError, the item that fails its last attempt ends the flow with a TaskError naming it, and closes the source', async () => {
    const source = probe(naturals);
    let calls = 0;
    const failure = await flow(source)
      .pipe(
        map(
          (x: number) => {
            calls++;
            if (x === 5) throw new Error('five');
            return x;
          },
          { concurrency: 3, retries: 2, retryDelayMs: 0 },
        ),
      )
      .toArray()
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaskError);
    expect(failure).toMatchObject({ task: 'map', item: 5, index: 5, attempts: 3 });
    expect((failure as TaskError).cause).toEqual(new Error('five'));
    expect(source.stats.returned).toBe(true);
    expect(calls).toBeGreaterThanOrEqual(8);
  });

  it('a thrown non-Error value is the cause, described in the message', async () => {
    const failure = await flow([1])
      .pipe(
        map((): number => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless function may do
          throw 'nope';
        }),
      )
      .toArray()
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaskError);
    expect((failure as TaskError).cause).toBe('nope');
    expect((failure as TaskError).message).toBe('Task map failed on item #0 (1): threw "nope"');
  });

  it('one call at a time, onError reports the item and the flow goes on', async () => {
    const reported: number[] = [];
    const output = await flow([1, 2, 3, 4])
      .pipe(
        filter(
          (x: number) => {
            if (x === 2) throw new Error('two');
            return x % 2 === 0 || x === 3;
          },
          { onError: (error) => reported.push(error.index) },
        ),
      )
      .toArray();
    expect(output).toEqual([3, 4]);
    expect(reported).toEqual([1]);
  });

  it('flatMap retries its function and reports an item that keeps failing', async () => {
    const reported: TaskError<number>[] = [];
    let calls = 0;
    const output = await flow([1, 2, 3])
      .pipe(
        flatMap(
          async (x: number, { attempt }) => {
            calls++;
            if (x === 2 && attempt === 1) throw new Error('once');
            if (x === 3) throw new Error('always');
            return [x, x * 10];
          },
          { concurrency: 2, retries: 1, retryDelayMs: 0, onError: (error) => reported.push(error) },
        ),
      )
      .toArray();
    expect(output).toEqual([1, 10, 2, 20]);
    expect(reported.map((error) => [error.item, error.attempts])).toEqual([[3, 2]]);
    expect(calls).toBe(5);
  });

  it('an onError that throws, or whose promise rejects, ends the flow with that error', async () => {
    const thrown = new Error('policy threw');
    await expect(
      flow([1, 2, 3])
        .pipe(
          map(
            async (x: number) => {
              if (x === 2) throw new Error('bad');
              return x;
            },
            {
              concurrency: 2,
              onError: () => {
                throw thrown;
              },
            },
          ),
        )
        .toArray(),
    ).rejects.toBe(thrown);
    const rejected = new Error('policy rejected');
    const gate = deferred();
    await expect(
      flow(probe(naturals))
        .pipe(
          map(
            async (x: number) => {
              if (x === 2) throw new Error('bad');
              if (x > 2) await gate.promise;
              return x;
            },
            { concurrency: 2, onError: () => Promise.reject(rejected) },
          ),
        )
        .toArray(),
    ).rejects.toBe(rejected);
    gate.resolve();
  });
});

describe('backoff holds a place in the output, not a call', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('while item 0 waits out its backoff, the other items run on the free call; nothing is emitted before item 0', async () => {
    // Only setTimeout is faked: the backoff is the test's to end, and turns() (setImmediate) still runs.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const calls: string[] = [];
    const seen: number[] = [];
    const run = flow(Array.from({ length: 6 }, (_, i) => i))
      .pipe(
        map(
          async (x: number, { attempt }) => {
            calls.push(`${x}.${attempt}`);
            await Promise.resolve();
            if (x === 0 && attempt === 1) throw new Error('first call of item 0 fails');
            return x;
          },
          { concurrency: 1, retries: 1, retryDelayMs: 1_000 },
        ),
      )
      .forEach((x) => {
        seen.push(x);
      });
    await turns(30);
    // One call at a time, yet items 1..5 all ran while item 0 waited: its backoff held no call.
    expect(calls).toEqual(['0.1', '1.1', '2.1', '3.1', '4.1', '5.1']);
    expect(seen).toEqual([]);
    // Equal jitter: the first retry waits from half the base up to the base.
    await vi.advanceTimersByTimeAsync(1_000);
    await run;
    expect(calls).toEqual(['0.1', '1.1', '2.1', '3.1', '4.1', '5.1', '0.2']);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('signals: timeout, abort, break', () => {
  /** A call that settles only when its signal aborts (then rejects with the reason); records the signals. */
  function untilAborted(signals: AbortSignal[]): (x: number, context: ItemContext) => Promise<number> {
    return (_x, { signal }) => {
      signals.push(signal);
      return new Promise<number>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    };
  }

  it('timeoutMs aborts the call signal with an ItemTimeoutError naming the item, retries, then reports it', async () => {
    const signals: AbortSignal[] = [];
    const reported: TaskError<number>[] = [];
    const output = await flow([1, 2, 3])
      .pipe(
        map(
          async (x: number, context) => {
            if (x === 2) return untilAborted(signals)(x, context);
            return x;
          },
          { concurrency: 2, timeoutMs: 5, retries: 1, retryDelayMs: 0, onError: (error) => reported.push(error) },
        ),
      )
      .toArray();
    expect(output).toEqual([1, 3]);
    expect(signals).toHaveLength(2);
    for (const [n, signal] of signals.entries()) {
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(ItemTimeoutError);
      expect(signal.reason).toBeInstanceOf(TaskTimeoutError);
      expect(signal.reason).toMatchObject({ item: 2, index: 1, attempt: n + 1, timeoutMs: 5, firstIndex: 1, itemCount: 1 });
    }
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ item: 2, index: 1, attempts: 2 });
    expect(reported[0]!.cause).toBe(signals[1]!.reason);
  });

  it('a call that ignores its signal is not waited for past its timeout', async () => {
    const failure = await flow([1, 2])
      .pipe(map((x: number) => (x === 2 ? new Promise<number>(() => undefined) : x), { timeoutMs: 5 }))
      .toArray()
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaskError);
    expect((failure as TaskError).cause).toBeInstanceOf(ItemTimeoutError);
    expect(failure).toMatchObject({ index: 1, attempts: 1 });
  });

  it('an abort rejects with signal.reason at once, aborts the running calls and starts no retry', async () => {
    const signals: AbortSignal[] = [];
    const controller = new AbortController();
    const reason = new Error('stop');
    let calls = 0;
    const wait = untilAborted(signals);
    const run = flow(probe(naturals), { signal: controller.signal })
      .pipe(
        map(
          (x: number, context) => {
            calls++;
            if (x === 0) throw new Error('retry me later');
            return wait(x, context);
          },
          { concurrency: 4, retries: 3, retryDelayMs: 60_000 },
        ),
      )
      .toArray();
    await turns();
    expect(signals).toHaveLength(4);
    const callsBefore = calls;
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    for (const signal of signals) {
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(reason);
    }
    await turns();
    expect(calls).toBe(callsBefore);
  });

  it('a consumer that stops early aborts the signals of the calls still running', async () => {
    const signals: AbortSignal[] = [];
    const wait = untilAborted(signals);
    const first = deferred();
    const source = probe(naturals);
    const iterator = flow(source)
      .pipe(map(async (x: number, context) => (x === 0 ? (await first.promise, x) : wait(x, context)), { concurrency: 4 }))
      [Symbol.asyncIterator]();
    const head = iterator.next();
    await turns();
    expect(signals).toHaveLength(3);
    first.resolve();
    expect(await head).toEqual({ done: false, value: 0 });
    await iterator.return?.();
    for (const signal of signals) expect(signal.aborted).toBe(true);
    expect(source.stats.returned).toBe(true);
  });

  it('one call at a time, the function gets the flow signal, aborted on abort', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const signals: AbortSignal[] = [];
    const run = flow(probe(naturals), { signal: controller.signal })
      .pipe(map(untilAborted(signals)))
      .toArray();
    await turns();
    expect(signals).toHaveLength(1);
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(signals[0]!.reason).toBe(reason);
  });
});

describe('retryDelayMs and checkItemPolicy', () => {
  it('doubles from the base, caps at 30 s, and keeps half of each step fixed (equal jitter)', () => {
    expect(retryDelayMs(1, 100, () => 0)).toBe(50);
    expect(retryDelayMs(1, 100, () => 0.999)).toBeCloseTo(99.95);
    expect(retryDelayMs(2, 100, () => 0)).toBe(100);
    expect(retryDelayMs(4, 100, () => 0.5)).toBe(600);
    expect(retryDelayMs(30, 100, () => 0)).toBe(15_000);
    expect(retryDelayMs(30, 100, () => 0.999_999)).toBeLessThan(30_000);
    expect(retryDelayMs(3, 0)).toBe(0);
    for (let attempt = 1; attempt < 12; attempt++) {
      const delay = retryDelayMs(attempt, 100);
      const step = Math.min(30_000, 100 * 2 ** (attempt - 1));
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThan(step);
    }
  });

  it('fills the defaults and rejects out-of-range options when the operator is built', () => {
    expect(checkItemPolicy({})).toEqual({ retries: 0, retryDelayMs: 100, onError: 'fail', timeoutMs: undefined });
    expect(checkItemPolicy({ retries: undefined, timeoutMs: Infinity }).timeoutMs).toBeUndefined();
    expect(() => map((x: number) => x, { retries: -1 })).toThrow(InvalidOptionError);
    expect(() => map((x: number) => x, { retries: 1.5 })).toThrow(InvalidOptionError);
    expect(() => filter((x: number) => x > 0, { retryDelayMs: -5 })).toThrow(InvalidOptionError);
    expect(() => flatMap((x: number) => [x], { timeoutMs: 0 })).toThrow(InvalidOptionError);
    expect(() => map((x: number) => x, { onError: 'ignore' as 'fail' })).toThrow(InvalidOptionError);
    expect(() => map((x: number) => x, { maxBuffered: 0 })).toThrow(InvalidOptionError);
  });
});

describe('the operator contract with retries, timeouts and onError set (the item runner, not the one-by-one loop)', () => {
  const options = { concurrency: 4, retries: 2, retryDelayMs: 1, timeoutMs: 60_000, onError: () => undefined } as const;

  it('passes the conformance kit, ordered and not', async () => {
    await checkOperator(() => map(async (x: number) => x * 2, options), { input: [1, 2, 3, 4, 5], expected: [2, 4, 6, 8, 10] });
    await checkOperator(() => filter(async (x: number) => x > 2, { ...options, ordered: false }), {
      input: [1, 2, 3, 4],
      expected: [3, 4],
      unordered: true,
    });
    await checkOperator(() => flatMap(async (x: number) => [x, -x], options), { input: [1, 2], expected: [1, -1, 2, -2] });
  });

  operatorContract<number, number>({ make: () => map(async (x: number) => x + 1, options), input: naturals, pool: () => pool });
  operatorContract<number, number>({ make: () => map((x: number) => x + 1, { retries: 1 }), input: naturals, pool: () => pool });
});
