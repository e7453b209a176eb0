import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { batch, createPool, flow, InvalidOptionError } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { channel, turns } from '../fixtures/deferred.js';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: batch runs in the main thread

describe('batch', () => {
  it('groups values in order into arrays of the size, the last one shorter', async () => {
    expect(await flow([1, 2, 3, 4, 5]).pipe(batch(2)).toArray()).toEqual([[1, 2], [3, 4], [5]]);
    expect(await flow([1, 2, 3, 4]).pipe(batch(2)).toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(await flow([1, 2]).pipe(batch(10)).toArray()).toEqual([[1, 2]]);
  });

  it('emits nothing for an empty input', async () => {
    expect(await flow<number>([]).pipe(batch(3)).toArray()).toEqual([]);
  });

  it('rejects a size that is not a positive integer when built', () => {
    expect(() => batch(0)).toThrow(InvalidOptionError);
    expect(() => batch(2.5)).toThrow(InvalidOptionError);
  });

  it('pulls no further than the batch it emits', async () => {
    const source = probe(naturals);
    const taken: number[][] = [];
    for await (const group of flow(source).pipe(batch(4))) {
      taken.push(group);
      await new Promise((resolve) => setImmediate(resolve));
      expect(source.stats.pulled).toBe(taken.length * 4);
      if (taken.length === 3) break;
    }
    expect(taken).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
    ]);
  });

  operatorContract<number, number[]>({ make: () => batch(3), input: naturals, pool: () => pool });
});

describe('batch with maxWaitMs', () => {
  // Only the timers batch uses are faked: setImmediate stays real for turns() and teardown.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('emits a partial batch maxWaitMs after its first item, and the next batch starts its own wait', async () => {
    const source = channel<number>();
    const iterator = flow(source)
      .pipe(batch(10, { maxWaitMs: 100 }))
      [Symbol.asyncIterator]();
    let settled: IteratorResult<number[]> | undefined;
    void iterator.next().then((result) => (settled = result));
    await vi.advanceTimersByTimeAsync(500); // no item yet: no deadline runs
    expect(settled).toBeUndefined();
    source.push(1);
    await turns();
    await vi.advanceTimersByTimeAsync(60);
    source.push(2);
    await turns();
    await vi.advanceTimersByTimeAsync(39);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toEqual({ done: false, value: [1, 2] });
    const next = iterator.next();
    source.push(3);
    await turns();
    await vi.advanceTimersByTimeAsync(100);
    expect(await next).toEqual({ done: false, value: [3] });
    source.end();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('emits a full batch at once, before the deadline', async () => {
    const source = channel<number>();
    const iterator = flow(source)
      .pipe(batch(2, { maxWaitMs: 1_000 }))
      [Symbol.asyncIterator]();
    const first = iterator.next();
    source.push(1);
    source.push(2);
    expect(await first).toEqual({ done: false, value: [1, 2] });
    // The full batch cancelled its deadline: the next batch is not cut short by it.
    const second = iterator.next();
    source.push(3);
    await turns();
    await vi.advanceTimersByTimeAsync(999);
    source.push(4);
    expect(await second).toEqual({ done: false, value: [3, 4] });
    await iterator.return?.();
    expect(source.stats.returned).toBe(true);
  });

  it('the item a pending read brings after a deadline starts the next batch', async () => {
    const source = channel<string>();
    const iterator = flow(source)
      .pipe(batch(3, { maxWaitMs: 50 }))
      [Symbol.asyncIterator]();
    const first = iterator.next();
    source.push('a');
    await turns();
    await vi.advanceTimersByTimeAsync(50);
    expect(await first).toEqual({ done: false, value: ['a'] });
    const second = iterator.next();
    source.push('b');
    source.push('c');
    source.push('d');
    expect(await second).toEqual({ done: false, value: ['b', 'c', 'd'] });
    source.end();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('emits what it has at the end of input, and passes a source error through after it is read', async () => {
    expect(
      await flow([1, 2, 3])
        .pipe(batch(2, { maxWaitMs: 10 }))
        .toArray(),
    ).toEqual([[1, 2], [3]]);
    const error = new Error('broke');
    const source = channel<number>();
    const run = flow(source)
      .pipe(batch(5, { maxWaitMs: 10 }))
      .toArray();
    source.push(1);
    source.fail(error);
    await expect(run).rejects.toBe(error);
  });

  it('an abort while a batch waits rejects with signal.reason and closes the source', async () => {
    // Timers of other modules (this file shares its process with others: a pool of theirs that
    // idles out) are on the fake clock too: only the batch's own must be gone.
    const before = vi.getTimerCount();
    const source = channel<number>();
    const controller = new AbortController();
    const reason = new Error('stop');
    const run = flow(source, { signal: controller.signal })
      .pipe(batch(5, { maxWaitMs: 1_000 }))
      .toArray();
    source.push(1);
    await turns();
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(source.stats.returned).toBe(true);
    expect(vi.getTimerCount()).toBe(before);
  });

  it('rejects a maxWaitMs that is not a positive integer when built', () => {
    expect(() => batch(2, { maxWaitMs: 0 })).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    vi.useRealTimers();
    await checkOperator(() => batch<number>(2, { maxWaitMs: 60_000 }), { input: [1, 2, 3], expected: [[1, 2], [3]] });
  });

  operatorContract<number, number[]>({ make: () => batch(3, { maxWaitMs: 60_000 }), input: naturals, pool: () => pool });
});
