// The conformance kit over every built-in operator (they must pass), and over broken operators
// (the kit must catch each kind of breakage).
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  aggregateByKey,
  aggregations,
  batch,
  defineOperator,
  dispatch,
  distinct,
  drop,
  dropWhile,
  filter,
  flatMap,
  map,
  parallelMap,
  progress,
  reduce,
  reduceBy,
  scan,
  sortBy,
  starMap,
  take,
  takeWhile,
  tap,
  throttle,
  topK,
  tasks,
  unorderedMap,
  type Operator,
} from 'millrace';
import { checkOperator, ConformanceError, probeSource, type ConformanceOptions } from 'millrace/testing';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const keyed = tasks<typeof import('../fixtures/keyed.tasks.js')>(new URL('../fixtures/keyed.tasks.js', import.meta.url));

interface Case {
  readonly name: string;
  readonly factory: () => Operator<never, unknown>;
  readonly options: ConformanceOptions<never, unknown>;
}

/** Keeps each case's input and output types checked while the table holds them all. */
function operatorCase<In, Out>(name: string, factory: () => Operator<In, Out>, options: ConformanceOptions<In, Out>): Case {
  return { name, factory: factory as () => Operator<never, unknown>, options: options as ConformanceOptions<never, unknown> };
}

const numbers = [1, 2, 3, 4, 5];

const builtIns: Case[] = [
  operatorCase('map', () => map((x: number) => x + 1), { input: numbers, expected: [2, 3, 4, 5, 6] }),
  operatorCase('map (async)', () => map(async (x: number) => x * 2), { input: numbers, expected: [2, 4, 6, 8, 10] }),
  operatorCase('filter', () => filter((x: number) => x % 2 === 1), { input: numbers, expected: [1, 3, 5] }),
  operatorCase('flatMap', () => flatMap((x: number) => [x, x]), { input: [1, 2], expected: [1, 1, 2, 2] }),
  operatorCase('batch', () => batch<number>(2), { input: numbers, expected: [[1, 2], [3, 4], [5]] }),
  operatorCase('take', () => take<number>(100), { input: numbers, expected: numbers }),
  operatorCase('batch (maxWaitMs)', () => batch<number>(2, { maxWaitMs: 60_000 }), { input: numbers, expected: [[1, 2], [3, 4], [5]] }),
  operatorCase('map (concurrent)', () => map(async (x: number) => x * 2, { concurrency: 3 }), {
    input: numbers,
    expected: [2, 4, 6, 8, 10],
  }),
  operatorCase('filter (concurrent, unordered)', () => filter(async (x: number) => x > 2, { concurrency: 3, ordered: false }), {
    input: numbers,
    expected: [3, 4, 5],
    unordered: true,
  }),
  operatorCase('flatMap (concurrent)', () => flatMap(async (x: number) => [x, x], { concurrency: 2 }), {
    input: [1, 2],
    expected: [1, 1, 2, 2],
  }),
  operatorCase('scan', () => scan((total, x: number) => total + x, 0), { input: numbers, expected: [1, 3, 6, 10, 15] }),
  operatorCase('drop', () => drop<number>(2), { input: numbers, expected: [3, 4, 5] }),
  operatorCase('takeWhile', () => takeWhile((x: number) => x < 10), { input: numbers, expected: numbers }),
  operatorCase('dropWhile', () => dropWhile((x: number) => x < 3), { input: numbers, expected: [3, 4, 5] }),
  operatorCase('throttle', () => throttle<number>({ items: 1_000, perMs: 1 }), { input: numbers, expected: numbers }),
  operatorCase('topK', () => topK<number>(2), { input: numbers, expected: [5, 4], emitsBeforeEnd: false }),
  operatorCase('sortBy', () => sortBy((x: number) => -x), { input: numbers, expected: [5, 4, 3, 2, 1], emitsBeforeEnd: false }),
  operatorCase('distinct', () => distinct((x: number) => x % 3), { input: numbers, expected: [1, 2, 3] }),
  operatorCase('tap', () => tap((_x: number) => undefined), { input: numbers, expected: numbers }),
  operatorCase('progress', () => progress<number>({ stream: { isTTY: false, write: () => undefined } }), {
    input: numbers,
    expected: numbers,
  }),
  operatorCase('reduce', () => reduce((sum: number, x: number) => sum + x, 0), { input: numbers, expected: [15], emitsBeforeEnd: false }),
  operatorCase(
    'reduceBy (main thread)',
    () =>
      reduceBy(
        (w: string) => w,
        (n: number) => n + 1,
        0,
      ),
    {
      input: ['a', 'b', 'a'],
      expected: [
        ['a', 2],
        ['b', 1],
      ],
      emitsBeforeEnd: false,
    },
  ),
  operatorCase('parallelMap', () => parallelMap(math.square), { input: numbers, expected: [1, 4, 9, 16, 25] }),
  operatorCase('unorderedMap', () => unorderedMap(math.square), { input: numbers, expected: [1, 4, 9, 16, 25], unordered: true }),
  operatorCase('starMap', () => starMap(math.add), {
    input: [
      [1, 2],
      [3, 4],
    ] as [number, number][],
    expected: [3, 7],
  }),
  operatorCase('starMap (unordered)', () => starMap(math.add, { ordered: false }), {
    input: [
      [1, 2],
      [3, 4],
    ] as [number, number][],
    expected: [3, 7],
    unordered: true,
  }),
  operatorCase('aggregateByKey', () => aggregateByKey(keyed.csvPair, aggregations.sum), {
    input: ['a,1', 'b,2', 'a,3'],
    expected: [
      ['a', 4],
      ['b', 2],
    ],
    unordered: true,
    emitsBeforeEnd: false,
  }),
  operatorCase('reduceBy (two-tier)', () => reduceBy(math.word, math.count, 0, { combine: (a, b) => a + b }), {
    input: ['x', 'y', 'x'],
    expected: [
      ['x', 2],
      ['y', 1],
    ],
    emitsBeforeEnd: false,
  }),
];

describe('built-in operators pass the conformance kit', () => {
  it.each(builtIns)('$name', async ({ factory, options }) => {
    const result = await checkOperator(factory, options);
    expect(result.passed).toEqual(['laziness', 'values', 'early-termination', 'errors', 'abort']);
  });

  it('covers every operator file in operators/', () => {
    // One exported operator per file, named like the file in camelCase: a new file needs a case above.
    const names = readdirSync(new URL('../../operators/', import.meta.url))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.slice(0, -3).replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase()));
    const covered = new Set(builtIns.map((entry) => entry.name.split(' ')[0]));
    expect(names.filter((name) => !covered.has(name))).toEqual([]);
  });
});

describe('operators not made with defineOperator', () => {
  // The custom-operators guide says defineOperator is not required: the kit checks behaviour, and
  // dispatch keeps the contract by itself. Without defineOperator the operator has no name.
  it('an operator that is dispatch alone passes every check, named by the name option', async () => {
    const bare = (): Operator<number, number> => (source, context) =>
      dispatch(source, context, {
        name: 'bareSquare',
        ordered: true,
        request: (items) => ({ mode: 'call', task: math.square, items }),
        outputs: (response) => response.results,
      });
    expect(bare().name).toBe('');
    const result = await checkOperator(bare, { input: [1, 2, 3], expected: [1, 4, 9], name: 'bareSquare' });
    expect(result).toEqual({ operator: 'bareSquare', passed: ['laziness', 'values', 'early-termination', 'errors', 'abort'] });
  });
});

describe('the conformance kit catches broken operators', () => {
  const fast = { input: numbers, timeoutMs: 500 } as const;

  async function failure(promise: Promise<unknown>): Promise<ConformanceError> {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConformanceError);
    return error as ConformanceError;
  }

  it('an operator that reads its source before it is consumed fails laziness', async () => {
    const eager = (): Operator<number, number> => (source) => {
      const iterator = source[Symbol.asyncIterator]();
      void iterator.next();
      return { [Symbol.asyncIterator]: () => iterator };
    };
    const error = await failure(checkOperator(eager, { ...fast, name: 'eager' }));
    expect(error.check).toBe('laziness');
    expect(error.operator).toBe('eager');
  });

  it('wrong outputs fail values', async () => {
    const error = await failure(checkOperator(() => map((x: number) => x), { ...fast, expected: [9] }));
    expect(error.check).toBe('values');
  });

  it('an operator that fails on empty input fails values', async () => {
    const needsOne = () =>
      defineOperator<number, number>('needsOne', async function* (source) {
        let seen = 0;
        for await (const x of source) {
          seen++;
          yield x;
        }
        if (seen === 0) throw new Error('no input');
      });
    const error = await failure(checkOperator(needsOne, { ...fast, checks: ['values'] }));
    expect(error.check).toBe('values');
    expect(error.message).toContain('empty input');
  });

  it('an operator that does not close its source when stopped fails early termination', async () => {
    const leaky = (): Operator<number, number> => (source) => ({
      [Symbol.asyncIterator]() {
        const iterator = source[Symbol.asyncIterator]();
        return { next: () => iterator.next(), return: async () => ({ done: true, value: undefined }) };
      },
    });
    const error = await failure(checkOperator(leaky, { ...fast, checks: ['early-termination'] }));
    expect(error.check).toBe('early-termination');
  });

  it('an operator that swallows source errors fails errors', async () => {
    const swallow = () =>
      defineOperator<number, number>('swallow', async function* (source) {
        try {
          for await (const x of source) yield x;
        } catch {
          // the bug under test
        }
      });
    const error = await failure(checkOperator(swallow, fast));
    expect(error.check).toBe('errors');
  });

  it('an operator that ignores abort fails abort', async () => {
    // Reads on its own schedule and never looks at the signal.
    const deaf = (): Operator<number, number> => (source) => ({
      async *[Symbol.asyncIterator]() {
        for await (const x of source) yield x;
      },
    });
    const error = await failure(checkOperator(deaf, { ...fast, checks: ['abort'] }));
    expect(error.check).toBe('abort');
  });

  it(
    "reports a hang under its default timeout within a test runner's default test timeout (5 s), naming the check",
    { timeout: 5_000 },
    async () => {
      // Never emits and never ends: without the kit's own limit, vitest or jest would report only
      // "Test timed out in 5000ms". The default timeoutMs must leave room for the kit's error.
      const stuck = () =>
        defineOperator<number, number>('stuck', async function* (source) {
          for await (const x of source) if (x < 0) yield x; // reads everything, emits nothing
          await new Promise<never>(() => undefined);
        });
      const error = await failure(checkOperator(stuck, { input: numbers }));
      expect(error.check).toBe('values');
      expect(error.operator).toBe('stuck');
      expect(error.message).toMatch(/operator stuck fails 'values': hung waiting for .* \(over \d+ ms/);
    },
  );

  it('rejects an empty sample input', async () => {
    await expect(checkOperator(() => map((x: number) => x), { input: [] })).rejects.toThrow(TypeError);
  });
});

describe('probeSource', () => {
  it('counts reads and notices being closed early', async () => {
    const probe = probeSource([1, 2, 3], { endless: true });
    const iterator = probe[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 1 });
    await iterator.return?.();
    expect(probe.reads).toBe(1);
    expect(probe.returned).toBe(true);
    expect(probe.closed).toBe(true);
    expect(() => probe[Symbol.asyncIterator]()).toThrow(TypeError);
  });
});
