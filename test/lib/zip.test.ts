import { describe, expect, it } from 'vitest';
import { defineOperator, flow, map, zip } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { channel, turns } from '../fixtures/deferred.js';
import { naturals, probe } from '../fixtures/harness.js';

describe('zip', () => {
  it('pairs the n-th items of each source, ending with the shortest and closing the others', async () => {
    const long = probe(naturals);
    expect(await zip(long, ['a', 'b'], flow([true, false, true])).toArray()).toEqual([
      [0, 'a', true],
      [1, 'b', false],
    ]);
    expect(long.stats.returned).toBe(true);
  });

  it('does not wait for the others once one source has ended', async () => {
    const ended = probe<number>([]);
    const stuck = channel<number>();
    expect(await zip(ended, stuck).toArray()).toEqual([]);
    expect(stuck.stats.returned).toBe(true);
  });

  it('reads one item of each source per tuple, lazily', async () => {
    const a = probe(naturals);
    const b = probe(naturals);
    const zipped = zip(a, b);
    await turns();
    expect(a.stats.opened + b.stats.opened).toBe(0);
    let tuples = 0;
    for await (const [x, y] of zipped) {
      expect(x).toBe(y);
      tuples++;
      expect(a.stats.pulled).toBe(tuples);
      expect(b.stats.pulled).toBe(tuples);
      if (tuples === 5) break;
    }
    expect(a.stats.returned && b.stats.returned).toBe(true);
  });

  it("ends with a source's error, unchanged, closing the others", async () => {
    const error = new Error('broke');
    const other = channel<number>();
    await expect(zip(probe(naturals, { failAt: 0, error }), other).toArray()).rejects.toBe(error);
    expect(other.stats.returned).toBe(true);
  });

  it('an abort while reading rejects with signal.reason and closes every source', async () => {
    const a = channel<number>();
    const b = channel<number>();
    const controller = new AbortController();
    const reason = new Error('stop');
    const run = flow(zip(a, b), { signal: controller.signal }).toArray();
    await turns();
    a.push(1);
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(a.stats.returned && b.stats.returned).toBe(true);
  });

  it('of no sources is empty', async () => {
    expect(await zip().toArray()).toEqual([]);
  });

  it('pipes like any flow', async () => {
    expect(await zip([1, 2], [10, 20]).pipe(map(([a, b]) => a + b)).toArray()).toEqual([11, 22]);
  });

  it('as an operator (zipWith) passes the conformance kit', async () => {
    const zipWithIndex = () => defineOperator<string, [string, number]>('zip', (source) => zip(source, naturalsFrom0()));
    await checkOperator(zipWithIndex, { input: ['a', 'b'], expected: [['a', 0], ['b', 1]] });
  });
});

function* naturalsFrom0(): Generator<number> {
  for (let n = 0; ; n++) yield n;
}
