import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counter, createPool, flow, tasks, transferResult, unorderedMap, type PackedCounter } from 'millrace';

const packedTasks = tasks<typeof import('../fixtures/counter.tasks.js')>(new URL('../fixtures/counter.tasks.js', import.meta.url));

describe('Counter', () => {
  it('adds counts, defaulting missing keys to 0', () => {
    const counts = new Counter<string>();
    expect(counts.add('a')).toBe(1);
    expect(counts.add('a', 4)).toBe(5);
    expect(counts.count('a')).toBe(5);
    expect(counts.count('missing')).toBe(0);
    expect(counts.has('missing')).toBe(false);
  });

  it('adds up repeated keys when built from pairs, unlike a Map', () => {
    expect([
      ...new Counter([
        ['a', 1],
        ['b', 2],
        ['a', 3],
      ]),
    ]).toEqual([
      ['a', 4],
      ['b', 2],
    ]);
    expect([...Counter.of('abca')]).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 1],
    ]);
  });

  it('merges Maps, pair lists and Counters with update', () => {
    const combined = new Counter<string>([['/', 3]]);
    expect(
      combined.update(
        new Map([
          ['/', 1],
          ['/faq', 2],
        ]),
      ),
    ).toBe(combined);
    combined.update([['/faq', 1]]).update(Counter.of(['/x']));
    expect(Object.fromEntries(combined)).toEqual({ '/': 4, '/faq': 3, '/x': 1 });
    expect(combined.total()).toBe(8);
  });

  it('lists the most common keys, ties broken by key', () => {
    const counts = new Counter([
      ['b', 2],
      ['c', 5],
      ['a', 2],
      ['d', 1],
    ]);
    expect(counts.mostCommon(3)).toEqual([
      ['c', 5],
      ['a', 2],
      ['b', 2],
    ]);
    expect(counts.mostCommon()).toEqual([
      ['c', 5],
      ['a', 2],
      ['b', 2],
      ['d', 1],
    ]);
    expect(counts.mostCommon(0)).toEqual([]);
    expect(counts.mostCommon(99)).toHaveLength(4);
    expect(
      new Counter([
        [10, 1],
        [9, 1],
        [100, 1],
      ]).mostCommon(2),
    ).toEqual([
      [9, 1],
      [10, 1],
    ]);
    expect(() => counts.mostCommon(-1)).toThrow(RangeError);
    expect(() => counts.mostCommon(1.5)).toThrow(RangeError);
  });

  it('gives mostCommon(n) equal to the first n of a full sort, whatever the merge order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 3 }), fc.integer({ min: 1, max: 5 })), { maxLength: 200 }),
        fc.nat(30),
        (pairs, n) => {
          const forward = new Counter(pairs);
          const backward = new Counter([...pairs].reverse());
          const sorted = [...forward].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
          expect(forward.mostCommon(n)).toEqual(sorted.slice(0, n));
          expect(backward.mostCommon(n)).toEqual(sorted.slice(0, n));
        },
      ),
    );
  });

  it('crosses threads as a plain Map (structured clone)', () => {
    const cloned = structuredClone(Counter.of('aab'));
    expect(cloned).toBeInstanceOf(Map);
    expect(new Counter<string>().update(cloned).mostCommon(1)).toEqual([['a', 2]]);
  });

  describe('pack', () => {
    it('merges a packed counter like the counter itself: string and number keys, any counts', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 20 }), fc.double({ noNaN: true })), fc.double({ noNaN: true })), {
            maxLength: 100,
          }),
          fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: -3, max: 3 })), fc.integer()), { maxLength: 20 }),
          (pairs, start) => {
            const counter = new Counter<string | number>(pairs);
            const viaMap = new Counter<string | number>(start).update(counter);
            const viaPacked = new Counter<string | number>(start).update(counter.pack());
            expect([...viaPacked].sort(byKey)).toEqual([...viaMap].sort(byKey));
          },
        ),
      );
    });

    it('survives a structured clone (a plain object on the other side) and builds a counter', () => {
      const counter = Counter.of(['/', '/faq', '/', 'ünïcödé 🚀', 'ünïcödé 🚀', '']);
      const cloned: PackedCounter = structuredClone(counter.pack());
      expect(Object.getPrototypeOf(cloned)).toBe(Object.prototype);
      expect([...new Counter(cloned)]).toEqual([...counter]);
    });

    it('leaves the counter as it was, string keys first in its order, then number keys', () => {
      const counter = new Counter<string | number>([
        [3, 1],
        ['b', 2],
        [1.5, 4],
        ['a', 5],
      ]);
      const packed = counter.pack();
      expect(packed.text).toBe('ba');
      expect([...packed.ends]).toEqual([1, 2]);
      expect([...packed.numbers]).toEqual([3, 1.5]);
      expect([...packed.counts]).toEqual([2, 5, 1, 4]);
      expect([...counter]).toEqual([
        [3, 1],
        ['b', 2],
        [1.5, 4],
        ['a', 5],
      ]);
    });

    it('refuses keys that are neither strings nor numbers, and pieces that do not fit', () => {
      expect(() => new Counter<unknown>([[{}, 1]]).pack()).toThrow(TypeError);
      const packed = Counter.of(['a', 'b']).pack();
      expect(() => new Counter<string>().update({ ...packed, counts: new Float64Array(1) })).toThrow(TypeError);
      expect(() => new Counter<string>().update({ ...packed, text: 'a' })).toThrow(TypeError);
    });

    it('is marked to move: transferResult finds it in a field of the result', () => {
      const packed = Counter.of('ab').pack();
      const result = { path: 'a.log', counts: packed };
      expect(transferResult(result)).toBe(result);
    });

    it('moves from a worker, as the result and as a field of one, and merges on the main thread', async () => {
      await using pool = createPool({ threads: 1 });
      const combined = new Counter<string>();
      for await (const packed of flow([3, 5]).pipe(unorderedMap(packedTasks.packedCounts, { pool, chunkSize: 1 }))) combined.update(packed);
      for await (const result of flow([2]).pipe(unorderedMap(packedTasks.packedField, { pool }))) combined.update(result.counts);
      expect(combined.mostCommon()).toEqual([
        ['k0', 3],
        ['k1', 3],
        ['k2', 2],
        ['k3', 1],
        ['k4', 1],
      ]);
      expect(await flow([0]).pipe(unorderedMap(packedTasks.lastMoved, { pool })).toArray()).toEqual([true]);
    });
  });
});

function byKey(a: [string | number, number], b: [string | number, number]): number {
  const x = `${typeof a[0]}:${String(a[0])}`;
  const y = `${typeof b[0]}:${String(b[0])}`;
  return x < y ? -1 : x > y ? 1 : 0;
}
