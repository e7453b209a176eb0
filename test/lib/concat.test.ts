import { describe, expect, it } from 'vitest';
import { concat, defineOperator, flow, take } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { channel, turns } from '../fixtures/deferred.js';
import { naturals, probe } from '../fixtures/harness.js';

describe('concat', () => {
  it('emits the sources one after another', async () => {
    expect(await concat([1, 2], flow(['a']), probe([3])).toArray()).toEqual([1, 2, 'a', 3]);
  });

  it('opens each source only when the one before it has ended', async () => {
    const first = channel<number>();
    const second = probe([2]);
    const iterator = concat(first, second)[Symbol.asyncIterator]();
    const read = iterator.next();
    first.push(1);
    expect(await read).toEqual({ done: false, value: 1 });
    const next = iterator.next();
    await turns();
    expect(second.stats.opened).toBe(0);
    first.end();
    expect(await next).toEqual({ done: false, value: 2 });
    expect(second.stats.opened).toBe(1);
  });

  it('is lazy: nothing is opened before the flow is read', async () => {
    const a = probe(naturals);
    const pending = concat(a).pipe(take(2));
    await turns();
    expect(a.stats.opened).toBe(0);
    expect(await pending.toArray()).toEqual([0, 1]);
    expect(a.stats.returned).toBe(true);
  });

  it("ends with a source's error, unchanged, never opening the later sources", async () => {
    const error = new Error('broke');
    const later = probe([1]);
    await expect(concat(probe(naturals, { failAt: 2, error }), later).toArray()).rejects.toBe(error);
    expect(later.stats.opened).toBe(0);
  });

  it('an abort while a source waits rejects with signal.reason and closes it', async () => {
    const waiting = channel<number>();
    const later = probe([1]);
    const controller = new AbortController();
    const reason = new Error('stop');
    const run = flow(concat(waiting, later), { signal: controller.signal }).toArray();
    await turns();
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(waiting.stats.returned).toBe(true);
    expect(later.stats.opened).toBe(0);
  });

  it('break closes the source being read', async () => {
    const a = probe(naturals);
    for await (const _ of concat([1], a)) if (_ === 0) break;
    expect(a.stats.returned).toBe(true);
  });

  it('of no sources is empty', async () => {
    expect(await concat().toArray()).toEqual([]);
  });

  it('as an operator (concatWith) passes the conformance kit', async () => {
    const concatWith = () => defineOperator<number, number>('concat', (source) => concat(source, [100]));
    await checkOperator(concatWith, { input: [1, 2], expected: [1, 2, 100] });
  });
});
