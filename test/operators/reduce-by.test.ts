import { afterAll, describe, expect, it } from 'vitest';
import { flow, InvalidOptionError, reduceBy, TaskError, tasks } from 'millrace';
import { countingPool, naturals, operatorContract, probe } from '../fixtures/harness.js';

const fold = tasks<typeof import('../fixtures/fold.tasks.js')>(new URL('../fixtures/fold.tasks.js', import.meta.url));
const { pool, runs } = countingPool(2);
afterAll(() => pool.close());

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The serial answer: a fold by key, in first-seen key order. */
function serial<T, K, A>(items: readonly T[], key: (item: T) => K, reducer: (a: A, item: T) => A, initial: () => A): [K, A][] {
  const folds = new Map<K, A>();
  for (const item of items) folds.set(key(item), reducer(folds.has(key(item)) ? folds.get(key(item))! : initial(), item));
  return [...folds];
}

describe('reduceBy (in the main thread)', () => {
  it('folds by key and emits [key, accumulator] pairs in first-seen key order', async () => {
    const words = ['b', 'a', 'b', 'c', 'a', 'b'];
    expect(
      await flow(words)
        .pipe(
          reduceBy(
            (w: string) => w,
            (n: number) => n + 1,
            0,
          ),
        )
        .toArray(),
    ).toEqual([
      ['b', 3],
      ['a', 2],
      ['c', 1],
    ]);
  });

  it('accepts any key a Map can hold, compared by identity', async () => {
    const left = { side: 'left' };
    const right = { side: 'right' };
    const items = [left, right, left, { side: 'left' }];
    const folds = await flow(items)
      .pipe(
        reduceBy(
          (o: { side: string }) => o,
          (n: number) => n + 1,
          0,
        ),
      )
      .toArray();
    expect(folds.map(([key, n]) => [key.side, n])).toEqual([
      ['left', 2],
      ['right', 1],
      ['left', 1],
    ]);
    expect(folds[0]![0]).toBe(left);
  });

  it('calls an initial factory once per key, so mutable accumulators are not shared', async () => {
    const folds = await flow(range(6))
      .pipe(
        reduceBy(
          (x: number) => x % 2,
          (list: number[], x: number) => {
            list.push(x);
            return list;
          },
          () => [] as number[],
        ),
      )
      .toArray();
    expect(folds).toEqual([
      [0, [0, 2, 4]],
      [1, [1, 3, 5]],
    ]);
    expect(folds[0]![1]).not.toBe(folds[1]![1]);
  });

  it('emits nothing for an empty input', async () => {
    expect(
      await flow<string>([])
        .pipe(
          reduceBy(
            (w: string) => w,
            (n: number) => n + 1,
            0,
          ),
        )
        .toArray(),
    ).toEqual([]);
  });

  it('lets an error thrown by the key function end the flow unchanged', async () => {
    const error = new Error('bad key');
    const failing = reduceBy(
      (x: number) => {
        if (x === 3) throw error;
        return x;
      },
      (n: number) => n + 1,
      0,
    );
    await expect(flow(range(10)).pipe(failing).toArray()).rejects.toBe(error);
  });

  operatorContract<number, [number, number]>({
    make: () =>
      reduceBy(
        (x: number) => x % 3,
        (sum: number, x: number) => sum + x,
        0,
      ),
    input: naturals,
    wholeInput: true,
    pool: () => pool,
  });
});

describe('reduceBy (two-tier: partial folds in the workers, combined in the main thread)', () => {
  const combine = (a: number, b: number): number => a + b;

  it('gives the serial answer, keys in first-seen order, across many chunks', async () => {
    const input = range(1000).map((i) => (i * 7919) % 1000);
    const expected = serial(
      input,
      (x) => x % 3,
      (a: number, x) => a + x,
      () => 0,
    );
    const folds = await flow(input)
      .pipe(reduceBy(fold.mod3, fold.sum, 0, { combine, pool, chunkSize: 37 }))
      .toArray();
    expect(folds).toEqual(expected);
  });

  it('works with string keys and async fold tasks', async () => {
    const folds = await flow(range(100))
      .pipe(reduceBy(fold.parity, fold.sumAsync, 0, { combine, pool, chunkSize: 10 }))
      .toArray();
    expect(folds).toEqual([
      ['even', 2450],
      ['odd', 2500],
    ]);
  });

  it('gives every key of every chunk its own copy of a mutable initial', async () => {
    const folds = await flow(range(12))
      .pipe(reduceBy(fold.mod3, fold.collect, [] as number[], { combine: (a, b) => [...a, ...b], pool, chunkSize: 4 }))
      .toArray();
    expect(folds).toEqual([
      [0, [0, 3, 6, 9]],
      [1, [1, 4, 7, 10]],
      [2, [2, 5, 8, 11]],
    ]);
  });

  it('emits nothing and runs no chunk for an empty input', async () => {
    const before = runs();
    expect(
      await flow<number>([])
        .pipe(reduceBy(fold.mod3, fold.sum, 0, { combine, pool }))
        .toArray(),
    ).toEqual([]);
    expect(runs()).toBe(before);
  });

  it('ends the flow with a TaskError naming the fold task, the item and its index, with the worker stack as cause', async () => {
    const error: unknown = await flow(range(40))
      .pipe(reduceBy(fold.mod3, fold.sumFailing, 0, { combine, pool, chunkSize: 6 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.task).toMatch(/fold\.tasks\.js#sumFailing/);
    expect(taskError.item).toBe(13);
    expect(taskError.index).toBe(13);
    const cause = taskError.cause as Error & { code?: string };
    expect(cause.name).toBe('RangeError');
    expect(cause.code).toBe('E_FOLD');
    expect(cause.stack).toMatch(/fold\.tasks\.ts/);
  });

  it('lets an error thrown by combine end the flow unchanged, and closes the source', async () => {
    const error = new Error('cannot merge');
    const source = probe(naturals);
    const failingCombine = (): number => {
      throw error;
    };
    await expect(
      flow(source)
        .pipe(reduceBy(fold.mod3, fold.sum, 0, { combine: failingCombine, pool, chunkSize: 4 }))
        .toArray(),
    ).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('needs a combine function, and both key and fold as task references', () => {
    // @ts-expect-error combine is required for the two-tier form
    expect(() => reduceBy(fold.mod3, fold.sum, 0, {})).toThrow(InvalidOptionError);
    // @ts-expect-error a function key with a task-reference fold is not a form reduceBy has
    expect(() => reduceBy((x: number) => x, fold.sum, 0, { combine })).toThrow(InvalidOptionError);
  });

  it('holds the in-flight bound: the source runs at most about maxInFlight chunks ahead of the folding', async () => {
    const maxInFlight = 2;
    const chunkSize = 6;
    // Every chunk of 6 consecutive numbers has all three keys, so each chunk after the first calls
    // combine 3 times: combine calls / 3 counts chunks folded (one behind, hence + chunkSize below).
    let combines = 0;
    let lead = 0;
    const source = probe(range(300), {
      onPull: () => {
        lead = Math.max(lead, source.stats.pulled - Math.floor(combines / 3) * chunkSize);
      },
    });
    const counting = (a: number, b: number): number => {
      combines++;
      return a + b;
    };
    const folds = await flow(source)
      // maxBuffered 0: chunks that finish behind a slower one count against maxInFlight too.
      .pipe(reduceBy(fold.mod3, fold.sum, 0, { combine: counting, pool, maxInFlight, chunkSize, maxBuffered: 0 }))
      .toArray();
    expect(folds).toEqual(
      serial(
        range(300),
        (x) => x % 3,
        (a: number, x) => a + x,
        () => 0,
      ),
    );
    expect(combines).toBe(3 * (300 / chunkSize - 1));
    expect(lead).toBeLessThanOrEqual(maxInFlight * chunkSize + 2 * chunkSize);
    expect(lead).toBeGreaterThanOrEqual(chunkSize);
  });

  operatorContract<number, [number, number]>({
    make: (p) => reduceBy(fold.mod3, fold.sum, 0, { combine, pool: p }),
    input: naturals,
    wholeInput: true,
    pool: () => pool,
    runs,
  });
});
