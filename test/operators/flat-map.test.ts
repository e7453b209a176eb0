import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createPool, flatMap, flow, InvalidOptionError } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { deferred, turns } from '../fixtures/deferred.js';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: flatMap runs in the main thread

describe('flatMap', () => {
  it('flattens iterables in order, passing the index', async () => {
    expect(
      await flow([1, 2, 3])
        .pipe(flatMap((x: number, { index }) => Array<number>(x).fill(index)))
        .toArray(),
    ).toEqual([0, 1, 1, 2, 2, 2]);
  });

  it('flattens async iterables and promises of iterables', async () => {
    async function* twice(x: number): AsyncGenerator<number> {
      yield x;
      await Promise.resolve();
      yield x;
    }
    expect(
      await flow([1, 2])
        .pipe(flatMap((x: number) => twice(x)))
        .toArray(),
    ).toEqual([1, 1, 2, 2]);
    expect(
      await flow([1, 2])
        .pipe(flatMap(async (x: number) => [x, -x]))
        .toArray(),
    ).toEqual([1, -1, 2, -2]);
  });

  it('emits nothing for an empty input or empty inner iterables', async () => {
    expect(
      await flow<number>([])
        .pipe(flatMap((x: number) => [x]))
        .toArray(),
    ).toEqual([]);
    expect(
      await flow([1, 2])
        .pipe(flatMap(() => []))
        .toArray(),
    ).toEqual([]);
  });

  it('ends the flow with the error the function (or an inner iterable) threw, unchanged', async () => {
    const error = new Error('inner broke');
    function* broken(): Generator<number> {
      yield 1;
      throw error;
    }
    const source = probe(naturals);
    await expect(
      flow(source)
        .pipe(flatMap(() => broken()))
        .toArray(),
    ).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('pulls one source value per inner iterable, and break closes both the inner iterable and the source', async () => {
    const source = probe(naturals);
    let innerClosed = 0;
    function* triple(x: number): Generator<number> {
      try {
        yield x;
        yield x;
        yield x;
      } finally {
        innerClosed++;
      }
    }
    const seen: number[] = [];
    for await (const x of flow(source).pipe(flatMap((n: number) => triple(n)))) {
      seen.push(x);
      expect(source.stats.pulled).toBe(Math.floor((seen.length - 1) / 3) + 1);
      if (seen.length === 5) break;
    }
    expect(seen).toEqual([0, 0, 0, 1, 1]);
    expect(innerClosed).toBe(2);
    expect(source.stats.returned).toBe(true);
  });

  it('an abort while an inner async iterable is mid-read closes it (an inner Readable is destroyed)', async () => {
    const inner = new Readable({ objectMode: true, read() {} });
    inner.push('first'); // then nothing more: the next read waits
    const controller = new AbortController();
    const reason = new Error('stop');
    const seen: string[] = [];
    const run = flow([1], { signal: controller.signal })
      .pipe(flatMap(() => inner as AsyncIterable<string>))
      .forEach((x) => {
        seen.push(x);
        if (seen.length === 1) setImmediate(() => controller.abort(reason));
      });
    await expect(run).rejects.toBe(reason);
    expect(seen).toEqual(['first']);
    expect(inner.destroyed).toBe(true);
  });

  it('break closes an inner async iterable', async () => {
    const inner = new Readable({ objectMode: true, read() {} });
    inner.push('a');
    inner.push('b');
    for await (const x of flow([1]).pipe(flatMap(() => inner as AsyncIterable<string>))) {
      expect(x).toBe('a');
      break;
    }
    expect(inner.destroyed).toBe(true);
  });

  operatorContract<number, number>({ make: () => flatMap((x: number) => [x, x]), input: naturals, pool: () => pool });
});

describe('flatMap with { concurrency, ordered }', () => {
  it('runs up to `concurrency` projections at once and flattens them in input order', async () => {
    const gates = Array.from({ length: 5 }, () => deferred());
    let running = 0;
    let peak = 0;
    const source = probe([0, 1, 2, 3, 4]);
    const values = flow(source)
      .pipe(
        flatMap(
          async (x: number) => {
            running++;
            peak = Math.max(peak, running);
            await gates[x]!.promise;
            running--;
            return [x, x];
          },
          { concurrency: 2 },
        ),
      )
      .toArray();
    await turns();
    expect(running).toBe(2);
    expect(source.stats.pulled).toBe(2);
    for (const gate of [...gates].reverse()) gate.resolve();
    expect(await values).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect(peak).toBe(2);
  });

  it('with ordered: false flattens each result as its projection settles', async () => {
    const gates = Array.from({ length: 2 }, () => deferred());
    const seen: string[] = [];
    const run = flow([0, 1])
      .pipe(
        flatMap(
          async (x: number) => {
            await gates[x]!.promise;
            return [`${x}a`, `${x}b`];
          },
          { concurrency: 2, ordered: false },
        ),
      )
      .forEach((x) => {
        seen.push(x);
      });
    await turns();
    gates[1]!.resolve();
    await turns();
    gates[0]!.resolve();
    await run;
    expect(seen).toEqual(['1a', '1b', '0a', '0b']);
  });

  it('ends with a TaskError for the projection error, closing the source', async () => {
    const error = new Error('bad projection');
    const source = probe(naturals);
    await expect(
      flow(source)
        .pipe(
          flatMap(
            async (x: number) => {
              if (x === 3) throw error;
              return [x];
            },
            { concurrency: 3 },
          ),
        )
        .toArray(),
    ).rejects.toMatchObject({ name: 'TaskError', item: 3, index: 3, cause: error });
    expect(source.stats.returned).toBe(true);
  });

  it('rejects a concurrency that is not a positive integer when built', () => {
    expect(() => flatMap((x: number) => [x], { concurrency: -1 })).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => flatMap(async (x: number) => [x, -x], { concurrency: 3 }), { input: [1, 2], expected: [1, -1, 2, -2] });
  });

  operatorContract<number, number>({
    make: () => flatMap(async (x: number) => [x], { concurrency: 4 }),
    input: naturals,
    pool: () => pool,
  });
});
