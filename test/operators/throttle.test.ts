import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPool, flow, InvalidOptionError, throttle } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { turns } from '../fixtures/deferred.js';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: throttle runs in the main thread

describe('throttle', () => {
  // The clock and the timers throttle uses are faked; setImmediate stays real for turns() and teardown.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Consumes in the background, recording the fake time of each pull. */
  function consume(count: number, options: { items: number; perMs: number }) {
    const pulls: number[] = [];
    const source = probe(naturals, { onPull: () => pulls.push(performance.now()) });
    const start = performance.now();
    const seen: number[] = [];
    const done = flow(source)
      .pipe(throttle(options))
      .forEach((x) => {
        seen.push(x);
        if (seen.length === count) throw new Error('enough');
      })
      .catch(() => undefined);
    return { pulls: () => pulls.map((t) => t - start), seen, done, source };
  }

  it('lets a burst of `items` through at once, then one item every perMs / items', async () => {
    const run = consume(100, { items: 3, perMs: 1_000 });
    await turns();
    expect(run.seen).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(330);
    await turns();
    expect(run.seen).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(4);
    await turns();
    expect(run.seen).toEqual([0, 1, 2, 3]);
    await vi.advanceTimersByTimeAsync(334);
    await turns();
    expect(run.seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('never passes more than items + t × items / perMs in any span of t ms, and keeps the rate', async () => {
    const run = consume(50, { items: 4, perMs: 100 });
    for (let i = 0; i < 40; i++) {
      await vi.advanceTimersByTimeAsync(37);
      await turns(2);
    }
    await run.done;
    const pulls = run.pulls();
    expect(pulls.length).toBeGreaterThanOrEqual(50);
    for (let i = 0; i < pulls.length; i++) {
      for (let j = i + 1; j < pulls.length; j++) expect(j - i + 1).toBeLessThanOrEqual(4 + ((pulls[j]! - pulls[i]!) * 4) / 100 + 1e-9);
    }
    // After the burst of 4, one item every 25 ms: the 50th at 46 × 25 ms.
    expect(pulls[49]).toBeGreaterThanOrEqual(1_150);
    expect(pulls[49]).toBeLessThanOrEqual(1_200);
  });

  it('holds the rate exactly: after the burst, one item per perMs / items', async () => {
    const run = consume(1_000, { items: 10, perMs: 100 });
    await turns();
    expect(run.seen).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(500);
    await turns();
    expect(run.seen).toHaveLength(60);
  });

  it('a consumer that pauses finds at most `items` tokens waiting, not the whole pause', async () => {
    const pulls: number[] = [];
    const source = probe(naturals, { onPull: () => pulls.push(performance.now()) });
    const iterator = flow(source)
      .pipe(throttle({ items: 5, perMs: 100 }))
      [Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) await iterator.next(); // the burst
    await vi.advanceTimersByTimeAsync(1_000); // a long pause: 50 tokens' worth, but the bucket holds 5
    const start = performance.now();
    for (let i = 0; i < 5; i++) await iterator.next();
    expect(performance.now()).toBe(start); // five at once
    const sixth = iterator.next();
    await vi.advanceTimersByTimeAsync(20);
    await sixth;
    expect(pulls[10]! - start).toBeGreaterThanOrEqual(20);
    await iterator.return?.();
  });

  it('passes items unchanged and in order, and an empty source ends at once', async () => {
    vi.useRealTimers();
    expect(
      await flow([1, 2, 3])
        .pipe(throttle({ items: 10, perMs: 1_000 }))
        .toArray(),
    ).toEqual([1, 2, 3]);
    expect(
      await flow([])
        .pipe(throttle({ items: 1, perMs: 1_000 }))
        .toArray(),
    ).toEqual([]);
  });

  it('an abort while waiting for a token rejects with signal.reason, closes the source and clears its timer', async () => {
    // Other modules' timers (a pool of another file in this process) may be on the fake clock too.
    const before = vi.getTimerCount();
    const controller = new AbortController();
    const reason = new Error('stop');
    const source = probe(naturals);
    const run = flow(source, { signal: controller.signal })
      .pipe(throttle({ items: 2, perMs: 60_000 }))
      .toArray();
    await turns();
    expect(source.stats.pulled).toBe(2);
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(source.stats.returned).toBe(true);
    expect(vi.getTimerCount()).toBe(before);
  });

  it('rejects bad options when built', () => {
    expect(() => throttle({ items: 0, perMs: 10 })).toThrow(InvalidOptionError);
    expect(() => throttle({ items: 1, perMs: 0 })).toThrow(InvalidOptionError);
    expect(() => throttle({ items: 1, perMs: Number.NaN })).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    vi.useRealTimers();
    await checkOperator(() => throttle<number>({ items: 1_000, perMs: 1 }), { input: [1, 2, 3], expected: [1, 2, 3] });
  });
});

describe('throttle (operator contract, real timers)', () => {
  operatorContract<number, number>({ make: () => throttle({ items: 1_000, perMs: 1 }), input: naturals, pool: () => pool });
});
