import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counter } from 'millrace';

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
});
