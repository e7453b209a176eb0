// The answering sinks on Flow: some, every, find, count. Each stops the source as soon as the
// answer is known, and passes errors and aborts through.
import { describe, expect, it } from 'vitest';
import { flow, map, parallelMap, tasks } from 'millrace';
import { probeSource } from 'millrace/testing';
import { naturals, probe } from '../fixtures/harness.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

describe('count', () => {
  it('counts the values, 0 for an empty flow', async () => {
    expect(await flow([1, 2, 3]).count()).toBe(3);
    expect(await flow([]).count()).toBe(0);
  });

  it('passes a source error through unchanged', async () => {
    const error = new Error('broke');
    await expect(flow(probe(naturals, { failAt: 3, error })).count()).rejects.toBe(error);
  });

  it('counts a parallel flow', async () => {
    expect(await flow(Array.from({ length: 100 }, (_, i) => i)).pipe(parallelMap(math.square)).count()).toBe(100);
  });
});

describe('some', () => {
  it('answers true at the first match and closes the (endless) source there', async () => {
    const source = probe(naturals);
    expect(await flow(source).some((x) => x === 5)).toBe(true);
    expect(source.stats.pulled).toBe(6);
    expect(source.stats.returned).toBe(true);
  });

  it('answers false when nothing matches, and for an empty flow', async () => {
    const source = probeSource([1, 2, 3]);
    expect(await flow(source).some((x) => x > 3)).toBe(false);
    expect(source.closed).toBe(true);
    expect(await flow<number>([]).some(() => true)).toBe(false);
  });

  it('awaits an async predicate and passes the index', async () => {
    const indexes: number[] = [];
    const found = await flow(['a', 'b', 'c']).some(async (s, i) => {
      indexes.push(i);
      return s === 'b';
    });
    expect(found).toBe(true);
    expect(indexes).toEqual([0, 1]);
  });

  it('reads no further than the predicate has seen', async () => {
    const source = probe(naturals);
    await flow(source).some((x) => {
      expect(source.stats.pulled).toBe(x + 1);
      return x === 20;
    });
  });

  it('stops a parallel flow early', async () => {
    const source = probe(naturals);
    expect(await flow(source).pipe(parallelMap(math.square)).some((x) => x > 100)).toBe(true);
    expect(source.stats.returned).toBe(true);
  });

  it('rejects with the predicate error, unchanged, closing the source', async () => {
    const error = new Error('bad predicate');
    const source = probe(naturals);
    await expect(
      flow(source).some((x) => {
        if (x === 2) throw error;
        return false;
      }),
    ).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('rejects with signal.reason on abort, closing the source', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const source = probe(naturals, { onPull: (i) => i === 10 && controller.abort(reason) });
    await expect(flow(source, { signal: controller.signal }).some(() => false)).rejects.toBe(reason);
    expect(source.stats.returned).toBe(true);
  });
});

describe('every', () => {
  it('answers false at the first value that fails, closing the source', async () => {
    const source = probe(naturals);
    expect(await flow(source).every((x) => x < 7)).toBe(false);
    expect(source.stats.pulled).toBe(8);
    expect(source.stats.returned).toBe(true);
  });

  it('answers true when all pass, and for an empty flow', async () => {
    expect(await flow([2, 4]).every(async (x) => x % 2 === 0)).toBe(true);
    expect(await flow<number>([]).every(() => false)).toBe(true);
  });

  it('passes a source error through unchanged', async () => {
    const error = new Error('broke');
    await expect(flow(probe(naturals, { failAt: 3, error })).every(() => true)).rejects.toBe(error);
  });
});

describe('find', () => {
  it('returns the first match and closes the source; undefined when none', async () => {
    const source = probe(naturals);
    expect(await flow(source).pipe(map((x: number) => x * 3)).find((x) => x > 10)).toBe(12);
    expect(source.stats.returned).toBe(true);
    expect(await flow([1, 2]).find((x) => x > 2)).toBeUndefined();
  });

  it('finds a falsy value (the answer is not confused with "none")', async () => {
    expect(await flow([1, 0, 2]).find((x) => x === 0)).toBe(0);
  });

  it('rejects at once under an already-aborted signal, reading nothing', async () => {
    const reason = new Error('early');
    const source = probe(naturals);
    await expect(flow(source, { signal: AbortSignal.abort(reason) }).find(() => true)).rejects.toBe(reason);
    expect(source.stats.pulled).toBe(0);
  });
});
