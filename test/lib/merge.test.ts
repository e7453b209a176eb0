import { describe, expect, it } from 'vitest';
import { defineOperator, flow, map, merge, take } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { channel, turns } from '../fixtures/deferred.js';
import { naturals, probe } from '../fixtures/harness.js';

describe('merge', () => {
  it('emits every item of every source, keeping each source in its own order', async () => {
    const values = await merge([1, 2, 3], flow(['a', 'b']), probe([10, 20])).toArray();
    expect([...values].sort()).toEqual([1, 10, 2, 20, 3, 'a', 'b']);
    expect(values.filter((x) => typeof x === 'string')).toEqual(['a', 'b']);
    expect(values.filter((x) => typeof x === 'number' && x < 10)).toEqual([1, 2, 3]);
  });

  it('emits items as they arrive from any source', async () => {
    const left = channel<string>();
    const right = channel<string>();
    const iterator = merge(left, right)[Symbol.asyncIterator]();
    const first = iterator.next();
    right.push('r1');
    expect(await first).toEqual({ done: false, value: 'r1' });
    const second = iterator.next();
    left.push('l1');
    expect(await second).toEqual({ done: false, value: 'l1' });
    left.end();
    right.push('r2');
    expect(await iterator.next()).toEqual({ done: false, value: 'r2' });
    right.end();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('is lazy: no source is opened before the merged flow is read', async () => {
    const a = probe(naturals);
    const b = probe(naturals);
    const merged = merge(a, b).pipe(take(4));
    await turns();
    expect(a.stats.opened + b.stats.opened).toBe(0);
    expect(await merged.toArray()).toHaveLength(4);
    expect(a.stats.opened).toBe(1);
  });

  it('reads each source at most one item ahead of what the consumer took', async () => {
    const a = probe(naturals);
    const b = probe(naturals);
    let taken = 0;
    for await (const _ of merge(a, b)) {
      taken++;
      await turns();
      expect(a.stats.pulled + b.stats.pulled).toBeLessThanOrEqual(taken + 2);
      if (taken === 20) break;
    }
    expect(a.stats.returned && b.stats.returned).toBe(true);
  });

  it("ends with a source's error, unchanged, and closes the other sources", async () => {
    const error = new Error('one source broke');
    const healthy = channel<number>();
    await expect(merge(probe(naturals, { failAt: 3, error }), healthy).toArray()).rejects.toBe(error);
    expect(healthy.stats.returned).toBe(true);
  });

  it('break closes every source', async () => {
    const a = probe(naturals);
    const waiting = channel<number>();
    for await (const _ of merge(a, waiting)) break;
    expect(a.stats.returned).toBe(true);
    expect(waiting.stats.returned).toBe(true);
  });

  it('an abort while every source waits rejects with signal.reason and closes them all', async () => {
    const a = channel<number>();
    const b = channel<number>();
    const controller = new AbortController();
    const reason = new Error('stop');
    const run = flow(merge(a, b), { signal: controller.signal }).toArray();
    await turns();
    expect(a.stats.reads).toBe(1);
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(a.stats.returned && b.stats.returned).toBe(true);
  });

  it('an already-aborted signal rejects without opening anything', async () => {
    const a = probe(naturals);
    const reason = new Error('early');
    await expect(flow(merge(a), { signal: AbortSignal.abort(reason) }).toArray()).rejects.toBe(reason);
    expect(a.stats.opened).toBe(0);
  });

  it('of no sources or empty sources is empty', async () => {
    expect(await merge().toArray()).toEqual([]);
    expect(await merge([], []).toArray()).toEqual([]);
  });

  it('rejects a source of the wrong kind where it is passed', () => {
    expect(() => merge([1], 42 as unknown as number[])).toThrow(TypeError);
  });

  it('pipes like any flow', async () => {
    expect((await merge([1], [2]).pipe(map((x) => x * 10)).toArray()).sort()).toEqual([10, 20]);
  });

  it('as an operator (mergeWith) passes the conformance kit', async () => {
    const mergeWith = (other: readonly number[]) => () => defineOperator<number, number>('merge', (source) => merge(source, other));
    await checkOperator(mergeWith([100]), { input: [1, 2, 3], expected: [1, 2, 3, 100], unordered: true });
  });
});
