// Types through pipe: a 6-step Flow.pipe with parallel steps, the standalone pipe, and mismatches.
import { describe, expectTypeOf, it } from 'vitest';
import {
  batch,
  filter,
  flatMap,
  flow,
  map,
  parallelMap,
  pipe,
  reduceBy,
  starMap,
  take,
  tasks,
  unorderedMap,
  type Flow,
  type Operator,
} from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

describe('Flow.pipe', () => {
  it('carries the item type through six steps mixing in-thread and worker steps', () => {
    const six = flow(['1 2', '3']).pipe(
      flatMap((line: string) => line.split(' ')),
      map((word) => Number(word)),
      parallelMap(math.square),
      filter((n) => n > 1),
      map((n) => [n, n] as [number, number]),
      starMap(math.add),
    );
    expectTypeOf(six).toEqualTypeOf<Flow<number>>();
    expectTypeOf(six.toArray()).resolves.toEqualTypeOf<number[]>();
  });

  it('infers async tasks as their awaited result', () => {
    expectTypeOf(flow([1]).pipe(unorderedMap(math.slowSquare))).toEqualTypeOf<Flow<number>>();
  });

  it('types reduceBy keys and accumulators', () => {
    const counts = flow(['a', 'b']).pipe(
      reduceBy(
        (word: string) => word.length,
        (n: number) => n + 1,
        0,
      ),
    );
    expectTypeOf(counts).toEqualTypeOf<Flow<[number, number]>>();
  });

  it('rejects a step whose input does not match the previous output', () => {
    // @ts-expect-error: parallelMap(math.square) takes numbers, the flow carries strings
    flow(['a']).pipe(parallelMap(math.square));
    flow([1]).pipe(
      // @ts-expect-error: the second step expects numbers, the first emits strings
      map((n: number) => String(n)),
      map((n: number) => n + 1),
    );
  });
});

describe('standalone pipe', () => {
  it('composes operators into one, from the first input to the last output', () => {
    const lengths = pipe(
      map((s: string) => s.trim()),
      filter((s: string) => s.length > 0),
      map((s: string) => s.length),
      batch<number>(10),
      take<number[]>(1),
      map((sizes: number[]) => sizes.length),
    );
    expectTypeOf(lengths).toEqualTypeOf<Operator<string, number>>();
    expectTypeOf(flow([' a ']).pipe(lengths)).toEqualTypeOf<Flow<number>>();
  });

  it('composes worker-backed operators', () => {
    const squaresThenSum = pipe(
      parallelMap(math.square),
      map((n: number) => `${n}`),
    );
    expectTypeOf(squaresThenSum).toEqualTypeOf<Operator<number, string>>();
  });

  it('rejects operators that do not line up', () => {
    pipe(
      // @ts-expect-error: map emits strings, parallelMap(math.square) takes numbers
      map((n: number) => String(n)),
      parallelMap(math.square),
    );
  });
});
