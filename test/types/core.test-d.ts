// Type tests: run by `vitest run --typecheck` (vitest.config.ts typecheck.include), never executed.
import { describe, expectTypeOf, it } from 'vitest';
import {
  batch,
  bind,
  filter,
  flow,
  map,
  parallelMap,
  reduce,
  reduceBy,
  starMap,
  take,
  tasks,
  unorderedMap,
  TaskError,
  type Flow,
  type ParallelOptions,
  type Operator,
  type TaskRef,
} from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const fold = tasks<typeof import('../fixtures/fold.tasks.js')>(new URL('../fixtures/fold.tasks.js', import.meta.url));
const withSetup = tasks<typeof import('../fixtures/setup.tasks.js')>(new URL('../fixtures/setup.tasks.js', import.meta.url));

describe('tasks<typeof import(...)>', () => {
  it('gives one typed reference per exported function', () => {
    expectTypeOf(math.square).toEqualTypeOf<TaskRef<[number], number>>();
    expectTypeOf(math.add).toEqualTypeOf<TaskRef<[number, number], number>>();
    expectTypeOf(math.word).toEqualTypeOf<TaskRef<[string], string>>();
  });

  it('types an async task by its awaited result', () => {
    expectTypeOf(math.slowSquare).toEqualTypeOf<TaskRef<[number], number>>();
    expectTypeOf(fold.sumAsync).toEqualTypeOf<TaskRef<[number, number], number>>();
  });

  it('leaves out `setup` and what is not a function', () => {
    expectTypeOf(withSetup).not.toHaveProperty('setup');
    expectTypeOf(withSetup).toHaveProperty('report');
    const gates = tasks<typeof import('../fixtures/gates.tasks.js')>(new URL('../fixtures/gates.tasks.js', import.meta.url));
    expectTypeOf(gates).not.toHaveProperty('OPEN');
    expectTypeOf(gates).toHaveProperty('gated');
  });

  it('binds leading arguments with bind', () => {
    expectTypeOf(bind(math.scale, 10)).toEqualTypeOf<TaskRef<[number], number>>();
    expectTypeOf(bind(math.add, 1, 2)).toEqualTypeOf<TaskRef<[], number>>();
    // @ts-expect-error the bound value must match the parameter's type
    bind(math.scale, 'ten');
  });
});

describe('parallel operators infer from the task reference', () => {
  it('parallelMap', () => {
    expectTypeOf(parallelMap(math.square)).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(parallelMap(math.slowSquare)).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(parallelMap(bind(math.scale, 2))).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(flow([1, 2]).pipe(parallelMap(math.square))).toEqualTypeOf<Flow<number>>();
    expectTypeOf(flow(['a']).pipe(parallelMap(math.word)).toArray()).resolves.toEqualTypeOf<string[]>();
  });

  it('unorderedMap', () => {
    expectTypeOf(unorderedMap(math.square, { chunkSize: 100 })).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(unorderedMap(withSetup.report)).returns.toEqualTypeOf<AsyncIterable<import('../fixtures/setup.tasks.js').SetupReport>>();
  });

  it('starMap takes tuples matching the parameters, in arity and element types', () => {
    expectTypeOf(starMap(math.add)).toEqualTypeOf<Operator<[number, number], number>>();
    expectTypeOf(starMap(math.count)).toEqualTypeOf<Operator<[number, string], number>>();
    expectTypeOf(starMap(bind(math.add, 1))).toEqualTypeOf<Operator<[number], number>>();
    const pairs: [number, number][] = [[1, 2]];
    expectTypeOf(flow(pairs).pipe(starMap(math.add))).toEqualTypeOf<Flow<number>>();
  });

  it('reduceBy emits [key, accumulator] pairs typed from the key and the reducer', () => {
    expectTypeOf(
      reduceBy(
        (w: string) => w,
        (n: number, _w: string) => n + 1,
        0,
      ),
    ).toEqualTypeOf<Operator<string, [string, number]>>();
    expectTypeOf(
      reduceBy(
        (w: string) => w.length,
        (list: string[], w: string) => [...list, w],
        () => [] as string[],
      ),
    ).toEqualTypeOf<Operator<string, [number, string[]]>>();
    const keyed = { id: 1 };
    expectTypeOf(
      reduceBy(
        (_x: number) => keyed,
        (n: number, x: number) => n + x,
        0,
      ),
    ).toEqualTypeOf<Operator<number, [{ id: number }, number]>>();
    expectTypeOf(reduceBy(fold.parity, fold.sum, 0, { combine: (a, b) => a + b })).toEqualTypeOf<
      Operator<number, ['even' | 'odd', number]>
    >();
    expectTypeOf(reduceBy(fold.mod3, fold.collect, [] as number[], { combine: (a, b) => [...a, ...b] })).toEqualTypeOf<
      Operator<number, [number, number[]]>
    >();
  });
});

describe('.pipe carries the type through every step', () => {
  it('through a 4-step pipe', () => {
    const out = flow([1, 2, 3]).pipe(
      parallelMap(math.square),
      map((x) => ({ label: String(x), x })),
      filter((r) => r.x > 1),
      batch(2),
    );
    expectTypeOf(out).toEqualTypeOf<Flow<{ label: string; x: number }[]>>();
    expectTypeOf(out.toArray()).resolves.toEqualTypeOf<{ label: string; x: number }[][]>();
  });

  it('through worker and in-thread steps mixed, ending in a fold', () => {
    const words = ['a', 'b', 'a'];
    const out = flow(words).pipe(
      parallelMap(math.word),
      reduceBy(
        (w) => w,
        (n: number) => n + 1,
        0,
      ),
      map(([word, n]) => `${word}=${n}`),
      take(10),
    );
    expectTypeOf(out).toEqualTypeOf<Flow<string>>();
    expectTypeOf(
      flow([1, 2])
        .pipe(reduce((sum: number, x: number) => sum + x, 0))
        .reduce((a, x) => a + x, 0),
    ).resolves.toEqualTypeOf<number>();
  });

  it('sinks are typed', () => {
    const numbers = flow([1, 2]);
    expectTypeOf(numbers.toArray()).resolves.toEqualTypeOf<number[]>();
    expectTypeOf<Parameters<typeof numbers.forEach>[0]>().parameter(0).toEqualTypeOf<number>();
    expectTypeOf(numbers).toExtend<AsyncIterable<number>>();
  });
});

describe('wrong types are compile errors', () => {
  it('a wrong item type into a task', () => {
    // @ts-expect-error square takes numbers, not strings
    flow(['a', 'b']).pipe(parallelMap(math.square));
    // @ts-expect-error unorderedMap checks the item type too
    flow([true]).pipe(unorderedMap(math.square));
    // @ts-expect-error a later step's input must match the previous step's output
    flow([1]).pipe(parallelMap(math.square), parallelMap(math.word));
    // @ts-expect-error a task of two parameters is not a parallelMap task
    parallelMap(math.add);
  });

  it('a wrong tuple for starMap', () => {
    // @ts-expect-error add wants [number, number], not [number, string]
    flow([[1, 'x']] as [number, string][]).pipe(starMap(math.add));
    // @ts-expect-error add wants two arguments, not one
    flow([[1]] as [number][]).pipe(starMap(math.add));
    // @ts-expect-error not tuples at all
    flow([1, 2]).pipe(starMap(math.add));
  });

  it('a wrong reduceBy form', () => {
    // @ts-expect-error the fold task's item type must match the key task's
    reduceBy(fold.parity, math.count, 0, { combine: (a: number, b: number) => a + b });
  });
});

describe('worker options carry the item type', () => {
  it('onError receives TaskError of the task item; transfer sees the item unannotated', () => {
    const buffers = tasks<{ size(bytes: Uint8Array): number }>(new URL('file:///x.tasks.js'));
    const op = parallelMap(buffers.size, {
      transfer: (item) => [item.buffer as ArrayBuffer],
      onError: (error) => {
        if (error instanceof TaskError) expectTypeOf(error.item).toEqualTypeOf<Uint8Array>();
      },
    });
    expectTypeOf(op).toEqualTypeOf<Operator<Uint8Array, number>>();
    // Options written for any item still fit.
    const shared: ParallelOptions = { retries: 1, onError: () => undefined };
    expectTypeOf(unorderedMap(buffers.size, { ...shared })).toEqualTypeOf<Operator<Uint8Array, number>>();
  });
});
