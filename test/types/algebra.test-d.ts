// Type tests of the stream algebra: run by `vitest run --typecheck`, never executed.
import { describe, expectTypeOf, it } from 'vitest';
import { concat, distinct, drop, dropWhile, filter, flatMap, flow, map, merge, scan, sortBy, takeWhile, tee, topK, zip, type Flow, type Operator } from 'millrace';

describe('sinks', () => {
  it('some, every, count answer booleans and numbers', () => {
    expectTypeOf(flow([1, 2]).some((x) => x > 1)).resolves.toEqualTypeOf<boolean>();
    expectTypeOf(flow([1, 2]).every(async (x) => x > 1)).resolves.toEqualTypeOf<boolean>();
    expectTypeOf(flow(['a']).count()).resolves.toEqualTypeOf<number>();
  });

  it('find answers the item or undefined, narrowed by a type guard', () => {
    expectTypeOf(flow([1, 2]).find((x) => x > 1)).resolves.toEqualTypeOf<number | undefined>();
    const mixed: (string | number)[] = [1, 'a'];
    expectTypeOf(flow(mixed).find((x): x is string => typeof x === 'string')).resolves.toEqualTypeOf<string | undefined>();
  });

  it('writeLines takes flows of strings or bytes only', () => {
    expectTypeOf(flow(['a']).writeLines('out.txt')).resolves.toEqualTypeOf<void>();
    expectTypeOf(flow([new Uint8Array(1)]).writeLines('out.bin', { separator: '' })).resolves.toEqualTypeOf<void>();
    // @ts-expect-error numbers are not lines: map them to strings first
    void flow([1, 2]).writeLines('out.txt');
  });
});

describe('main-thread concurrency', () => {
  it('map, filter and flatMap keep their types with options', () => {
    expectTypeOf(map(async (x: number) => String(x), { concurrency: 4 })).toEqualTypeOf<Operator<number, string>>();
    expectTypeOf(filter((x: number | null): x is number => x !== null, { concurrency: 2 })).toEqualTypeOf<Operator<number | null, number>>();
    expectTypeOf(flatMap(async (x: number) => [String(x)], { concurrency: 2, ordered: false })).toEqualTypeOf<Operator<number, string>>();
    // @ts-expect-error ordered is a boolean
    map((x: number) => x, { ordered: 'yes' });
  });
});

describe('operators', () => {
  it("scan's output is its accumulator", () => {
    expectTypeOf(scan((total, x: number) => total + x, 0)).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(scan((acc: string[], x: number) => [...acc, String(x)], [] as string[])).toEqualTypeOf<Operator<number, string[]>>();
    expectTypeOf(flow([1, 2]).pipe(scan(async (acc: Map<number, number>, x: number) => acc.set(x, x), new Map<number, number>()))).toEqualTypeOf<
      Flow<Map<number, number>>
    >();
  });

  it('drop, dropWhile and distinct keep the item type; takeWhile narrows by a type guard', () => {
    expectTypeOf(flow(['a']).pipe(drop(1))).toEqualTypeOf<Flow<string>>();
    expectTypeOf(flow(['a']).pipe(dropWhile((s) => s === ''))).toEqualTypeOf<Flow<string>>();
    expectTypeOf(flow([{ id: 1 }]).pipe(distinct((row) => row.id))).toEqualTypeOf<Flow<{ id: number }>>();
    expectTypeOf(takeWhile((x: number | string): x is number => typeof x === 'number')).toEqualTypeOf<Operator<number | string, number>>();
    expectTypeOf(flow([1]).pipe(takeWhile((x) => x < 3))).toEqualTypeOf<Flow<number>>();
  });
});

describe('combining sources', () => {
  async function* bigints(): AsyncGenerator<bigint> {
    yield 1n;
  }

  it("zip's items are tuples typed by position", () => {
    expectTypeOf(zip(flow([1, 2]), flow(['a']))).toEqualTypeOf<Flow<[number, string]>>();
    expectTypeOf(zip([1], new Set([true]), bigints())).toEqualTypeOf<Flow<[number, boolean, bigint]>>();
    expectTypeOf(zip(flow([1]), ['a']).pipe(map(([n, s]) => s.repeat(n)))).toEqualTypeOf<Flow<string>>();
  });

  it('merge and concat emit the union of their sources\' items', () => {
    expectTypeOf(merge(flow([1]), ['a'])).toEqualTypeOf<Flow<number | string>>();
    expectTypeOf(concat([1], [2])).toEqualTypeOf<Flow<number>>();
    expectTypeOf(concat(bigints(), flow(['a']))).toEqualTypeOf<Flow<bigint | string>>();
  });
});

describe('tee', () => {
  it('gives a tuple of flows for a literal count, an array otherwise', () => {
    expectTypeOf(tee([1, 2])).toEqualTypeOf<[Flow<number>, Flow<number>]>();
    expectTypeOf(tee(flow(['a']), 3)).toEqualTypeOf<[Flow<string>, Flow<string>, Flow<string>]>();
    const count: number = 4;
    expectTypeOf(tee([1], count)).toEqualTypeOf<Flow<number>[]>();
  });
});

describe('topK and sortBy', () => {
  it('infer the item type from a key function or comparator, and from the flow', () => {
    expectTypeOf(flow([3, 1]).pipe(topK(1))).toEqualTypeOf<Flow<number>>();
    expectTypeOf(flow(['bb', 'a']).pipe(sortBy((s) => s.length))).toEqualTypeOf<Flow<string>>();
    expectTypeOf(flow([{ hits: 1 }]).pipe(topK(2, (row) => row.hits))).toEqualTypeOf<Flow<{ hits: number }>>();
    expectTypeOf(flow([{ hits: 1 }]).pipe(sortBy((a, b) => a.hits - b.hits))).toEqualTypeOf<Flow<{ hits: number }>>();
    expectTypeOf(topK(2, (a: string, b: string) => a.localeCompare(b))).toEqualTypeOf<Operator<string, string>>();
    // @ts-expect-error objects have no natural order: give a key or a comparator
    topK<{ hits: number }>(1);
  });
});
