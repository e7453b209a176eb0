import { describe, expect, expectTypeOf, it } from 'vitest';
import { createPool, filter, flow, InvalidOptionError, TaskError } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { deferred, turns } from '../fixtures/deferred.js';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: filter runs in the main thread

describe('filter', () => {
  it('keeps the values the predicate accepts, in order, passing the index', async () => {
    expect(
      await flow([5, 6, 7, 8])
        .pipe(filter((x: number) => x % 2 === 0))
        .toArray(),
    ).toEqual([6, 8]);
    expect(
      await flow(['a', 'b', 'c'])
        .pipe(filter((_: string, { index }) => index !== 1))
        .toArray(),
    ).toEqual(['a', 'c']);
  });

  it('awaits an async predicate', async () => {
    expect(
      await flow([1, 2, 3, 4])
        .pipe(filter(async (x: number) => x > 2))
        .toArray(),
    ).toEqual([3, 4]);
  });

  it('narrows the type with a type guard', async () => {
    const mixed: (string | number)[] = [1, 'a', 2, 'b'];
    const strings = await flow(mixed)
      .pipe(filter((x): x is string => typeof x === 'string'))
      .toArray();
    expectTypeOf(strings).toEqualTypeOf<string[]>();
    expect(strings).toEqual(['a', 'b']);
  });

  it('emits nothing for an empty input', async () => {
    expect(
      await flow<number>([])
        .pipe(filter(() => true))
        .toArray(),
    ).toEqual([]);
  });

  it('ends the flow with a TaskError naming the item and its index, the thrown error as cause, and closes the source', async () => {
    const error = new TypeError('cannot judge');
    const source = probe(naturals);
    const failing = filter((x: number) => {
      if (x === 3) throw error;
      return true;
    });
    const failure = await flow(source)
      .pipe(failing)
      .toArray()
      .catch((thrown: unknown) => thrown);
    expect(failure).toBeInstanceOf(TaskError);
    expect(failure).toMatchObject({ task: 'filter', item: 3, index: 3, attempts: 1 });
    expect((failure as TaskError).cause).toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('pulls only up to the value it emits', async () => {
    const source = probe(naturals);
    const taken: number[] = [];
    for await (const x of flow(source).pipe(filter((n: number) => n % 10 === 9))) {
      taken.push(x);
      expect(source.stats.pulled).toBe(x + 1);
      if (taken.length === 3) break;
    }
    expect(taken).toEqual([9, 19, 29]);
  });

  operatorContract<number, number>({ make: () => filter((x: number) => x % 2 === 0), input: naturals, pool: () => pool });
});

describe('filter with { concurrency, ordered }', () => {
  it('runs up to `concurrency` predicates at once and keeps input order', async () => {
    const gates = Array.from({ length: 6 }, () => deferred());
    let running = 0;
    const source = probe([0, 1, 2, 3, 4, 5]);
    const kept = flow(source)
      .pipe(
        filter(
          async (x: number) => {
            running++;
            await gates[x]!.promise;
            running--;
            return x % 2 === 0;
          },
          { concurrency: 3 },
        ),
      )
      .toArray();
    await turns();
    expect(running).toBe(3);
    expect(source.stats.pulled).toBe(3);
    for (const gate of [...gates].reverse()) gate.resolve();
    expect(await kept).toEqual([0, 2, 4]);
  });

  it('with ordered: false emits kept items as predicates settle', async () => {
    const gates = Array.from({ length: 3 }, () => deferred());
    const seen: number[] = [];
    const run = flow([0, 1, 2])
      .pipe(
        filter(
          async (x: number) => {
            await gates[x]!.promise;
            return x !== 1;
          },
          { concurrency: 3, ordered: false },
        ),
      )
      .forEach((x) => {
        seen.push(x);
      });
    await turns();
    gates[2]!.resolve();
    await turns();
    gates[1]!.resolve();
    gates[0]!.resolve();
    await run;
    expect(seen).toEqual([2, 0]);
  });

  it('ends with a TaskError for the predicate error, closing the source', async () => {
    const error = new Error('bad predicate');
    const source = probe(naturals);
    await expect(
      flow(source)
        .pipe(
          filter(
            async (x: number) => {
              if (x === 3) throw error;
              return true;
            },
            { concurrency: 2 },
          ),
        )
        .toArray(),
    ).rejects.toMatchObject({ name: 'TaskError', item: 3, index: 3, cause: error });
    expect(source.stats.returned).toBe(true);
  });

  it('rejects a concurrency that is not a positive integer when built', () => {
    expect(() => filter((x: number) => x > 0, { concurrency: 0 })).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => filter(async (x: number) => x > 2, { concurrency: 3 }), { input: [1, 2, 3, 4], expected: [3, 4] });
  });

  operatorContract<number, number>({
    make: () => filter(async (x: number) => x % 2 === 0, { concurrency: 4 }),
    input: naturals,
    pool: () => pool,
  });
});
