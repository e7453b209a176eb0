import { describe, expect, it } from 'vitest';
import { defineOperator, flow, InvalidOptionError, map, take, tee } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { channel, turns } from '../fixtures/deferred.js';
import { naturals, probe } from '../fixtures/harness.js';

describe('tee', () => {
  it('gives every branch every item, reading the source once', async () => {
    const source = probe([1, 2, 3]);
    const [a, b, c] = tee(source, 3);
    const [x, y, z] = await Promise.all([a.toArray(), b.pipe(map((v) => v * 10)).toArray(), c.count()]);
    expect(x).toEqual([1, 2, 3]);
    expect(y).toEqual([10, 20, 30]);
    expect(z).toBe(3);
    expect(source.stats.opened).toBe(1);
    expect(source.stats.pulled).toBe(3);
  });

  it('is lazy: the source is opened when a branch is first read', async () => {
    const source = probe(naturals);
    const [a, b] = tee(source);
    await turns();
    expect(source.stats.opened).toBe(0);
    const both = Promise.all([a.pipe(take(3)).toArray(), b.pipe(take(3)).toArray()]);
    expect(await both).toEqual([[0, 1, 2], [0, 1, 2]]);
  });

  it('bounds memory: the fastest branch waits when bufferSize ahead of the slowest', async () => {
    const source = probe(naturals);
    const [fast, slow] = tee(source, 2, { bufferSize: 4 });
    const fastIterator = fast[Symbol.asyncIterator]();
    const slowIterator = slow[Symbol.asyncIterator]();
    for (let i = 0; i < 4; i++) expect(await fastIterator.next()).toEqual({ done: false, value: i });
    const blocked = fastIterator.next();
    let settled = false;
    void blocked.then(() => (settled = true));
    await turns();
    expect(settled).toBe(false);
    expect(source.stats.pulled).toBe(4);
    expect(await slowIterator.next()).toEqual({ done: false, value: 0 });
    expect(await blocked).toEqual({ done: false, value: 4 });
    expect(source.stats.pulled).toBe(5);
    await fastIterator.return?.();
    await slowIterator.return?.();
    expect(source.stats.returned).toBe(true);
  });

  it('a branch that stops early detaches: the others go on, and the source closes when all have stopped', async () => {
    const source = probe(naturals);
    const [short, long] = tee(source, 2, { bufferSize: 2 });
    const [first, second] = await Promise.all([short.pipe(take(2)).toArray(), long.pipe(take(50)).toArray()]);
    expect(first).toEqual([0, 1]);
    expect(second).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(source.stats.returned).toBe(true);
  });

  it('does not close the source while one branch still reads', async () => {
    const source = channel<number>();
    const [a, b] = tee(source);
    source.push(1);
    for await (const _ of a) break;
    await turns();
    expect(source.stats.returned).toBe(false);
    const rest = b.toArray();
    source.push(2);
    source.end();
    expect(await rest).toEqual([1, 2]);
  });

  it("gives every branch the source's error, unchanged, after the items read before it", async () => {
    const error = new Error('broke');
    const [a, b] = tee(probe(naturals, { failAt: 3, error }));
    const seen: number[] = [];
    const results = await Promise.allSettled([a.forEach((x) => void seen.push(x)), b.toArray()]);
    expect(seen).toEqual([0, 1, 2]);
    expect(results.map((r) => (r.status === 'rejected' ? r.reason : r.value))).toEqual([error, error]);
  });

  it("a branch's own abort rejects it with the reason and detaches it; the source closes with the last branch", async () => {
    const source = channel<number>();
    const controller = new AbortController();
    const reason = new Error('stop');
    const [a, b] = tee(source);
    const aborted = flow(a, { signal: controller.signal }).toArray();
    const other = b.toArray();
    await turns();
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(source.stats.returned).toBe(false);
    source.push(7);
    source.end();
    expect(await other).toEqual([7]);
  });

  it('an aborted source flow ends every branch with its reason and closes the source', async () => {
    const inner = channel<number>();
    const controller = new AbortController();
    const reason = new Error('stop all');
    const [a, b] = tee(flow(inner, { signal: controller.signal }));
    const runs = Promise.allSettled([a.toArray(), b.toArray()]);
    await turns();
    controller.abort(reason);
    expect((await runs).map((r) => (r.status === 'rejected' ? r.reason : r.value))).toEqual([reason, reason]);
    expect(inner.stats.returned).toBe(true);
  });

  it('rejects n or bufferSize that is not a positive integer when built', () => {
    expect(() => tee([1], 0)).toThrow(InvalidOptionError);
    expect(() => tee([1], 2, { bufferSize: 0 })).toThrow(InvalidOptionError);
  });

  it('a single branch passes the conformance kit', async () => {
    const teeOne = () => defineOperator<number, number>('tee', (source) => tee(source, 1)[0]);
    await checkOperator(teeOne, { input: [1, 2, 3], expected: [1, 2, 3] });
  });
});
