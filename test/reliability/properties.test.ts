import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bind, createPool, flow, parallelMap, reduceBy, tasks, unorderedMap, type Pool, type PoolBackend } from 'millrace';
import { onlyTaskErrors } from './helpers.js';

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));

// One pool per thread count, made once: the properties vary the thread count, not pool start-up.
const pools: Pool[] = [];
beforeAll(() => {
  for (const threads of [1, 2, 3]) pools.push(createPool({ threads }));
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
});

const NUM_RUNS = 20;
const item = fc.record({ x: fc.integer({ min: -1_000, max: 1_000 }), ms: fc.integer({ min: 0, max: 2 }) });
const items = fc.array(item, { maxLength: 60 });
const threadIndex = fc.integer({ min: 0, max: 2 });
// undefined: the adaptive chunk size.
const chunkSize = fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined });
const maxInFlight = fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined });

function options(
  pool: Pool,
  size: number | undefined,
  inFlight: number | undefined,
): { pool: Pool; chunkSize?: number; maxInFlight?: number } {
  return { pool, ...(size === undefined ? {} : { chunkSize: size }), ...(inFlight === undefined ? {} : { maxInFlight: inFlight }) };
}

describe('properties (fast-check, real worker threads)', () => {
  it('parallelMap equals Array.prototype.map', async () => {
    await fc.assert(
      fc.asyncProperty(items, threadIndex, chunkSize, maxInFlight, async (input, t, size, inFlight) => {
        const output = await flow(input)
          .pipe(parallelMap(crash.delayedDouble, options(pools[t]!, size, inFlight)))
          .toArray();
        expect(output).toEqual(input.map((i) => i.x * 2));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('unorderedMap emits a permutation of Array.prototype.map', async () => {
    const byValue = (a: number, b: number): number => a - b;
    await fc.assert(
      fc.asyncProperty(items, threadIndex, chunkSize, maxInFlight, async (input, t, size, inFlight) => {
        const output = await flow(input)
          .pipe(unorderedMap(crash.delayedDouble, options(pools[t]!, size, inFlight)))
          .toArray();
        expect([...output].sort(byValue)).toEqual(input.map((i) => i.x * 2).sort(byValue));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('reduceBy (main-thread and two-tier) equals a serial fold, keys in first-seen order', async () => {
    type Acc = { sum: number; count: number };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -500, max: 500 }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 7 }),
        threadIndex,
        chunkSize,
        async (input, modulus, t, size) => {
          const key = (x: number): number => ((x % modulus) + modulus) % modulus;
          const serial = new Map<number, Acc>();
          for (const x of input) {
            const acc = serial.get(key(x)) ?? { sum: 0, count: 0 };
            serial.set(key(x), { sum: acc.sum + x, count: acc.count + 1 });
          }
          const expected = [...serial];

          const inThread = await flow(input)
            .pipe(
              reduceBy(
                key,
                (acc: Acc, x: number) => ({ sum: acc.sum + x, count: acc.count + 1 }),
                () => ({ sum: 0, count: 0 }),
              ),
            )
            .toArray();
          expect(inThread).toEqual(expected);

          const twoTier = await flow(input)
            .pipe(
              reduceBy(
                bind(crash.modKey, modulus),
                crash.sumCount,
                { sum: 0, count: 0 },
                {
                  ...options(pools[t]!, size, undefined),
                  combine: (a: Acc, b: Acc) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
                },
              ),
            )
            .toArray();
          expect(twoTier).toEqual(expected);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('with onError, every item is accounted for exactly once as a result or a failure', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 10_000 }), { maxLength: 80 }),
        fc.integer({ min: 2, max: 5 }),
        threadIndex,
        chunkSize,
        fc.boolean(),
        async (input, divisor, t, size, ordered) => {
          const failed: number[] = [];
          const operator = ordered ? parallelMap : unorderedMap;
          const results = await flow(input)
            .pipe(
              operator(bind(crash.failMultiplesOf, divisor), {
                ...options(pools[t]!, size, undefined),
                onError: onlyTaskErrors((error) => failed.push(error.index)),
              }),
            )
            .toArray();
          // failMultiplesOf returns x + 1; a failure reports the item's index.
          const accounted = [...results.map((y) => y - 1), ...failed.map((index) => input[index]!)];
          const byValue = (a: number, b: number): number => a - b;
          expect(accounted.sort(byValue)).toEqual([...input].sort(byValue));
          expect(new Set(failed).size).toBe(failed.length);
          expect(failed.every((index) => input[index]! % divisor === 0)).toBe(true);
          if (ordered) expect(results).toEqual(input.filter((x) => x % divisor !== 0).map((x) => x + 1));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('the in-flight count never exceeds its bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(item, { minLength: 1, maxLength: 80 }),
        threadIndex,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 4 }),
        fc.boolean(),
        async (input, t, size, inFlight, buffered, ordered) => {
          const real = pools[t]!.backend;
          let running = 0;
          let maxRunning = 0;
          // The real backend, counting chunks that are submitted and not yet settled.
          const counting: PoolBackend = {
            capacity: real.capacity,
            run: (request, runOptions) => {
              maxRunning = Math.max(maxRunning, ++running);
              return real.run(request, runOptions).finally(() => running--);
            },
            close: () => Promise.resolve(),
          };
          const pool = createPool({ backend: counting });
          let pulled = 0;
          let consumed = 0;
          let maxAhead = 0;
          function* source(): Generator<{ x: number; ms: number }> {
            for (const i of input) {
              pulled++;
              yield i;
            }
          }
          const operator = ordered ? parallelMap : unorderedMap;
          const options = { pool, chunkSize: size, maxInFlight: inFlight, maxBuffered: buffered };
          for await (const _ of flow(source()).pipe(operator(crash.delayedDouble, options))) {
            consumed++;
            maxAhead = Math.max(maxAhead, pulled - consumed);
            // A consumer slower than the workers, so the bound is what holds the source back.
            await new Promise((resolve) => setImmediate(resolve));
          }
          expect(consumed).toBe(input.length);
          // Chunks in the workers: never more than maxInFlight (finished ones parked in the reorder
          // buffer are not running).
          expect(maxRunning).toBeLessThanOrEqual(inFlight);
          // Items read but not yet consumed: the chunks in flight, those parked behind a slower one
          // (up to maxBuffered), the chunk being filled, and one read.
          expect(maxAhead).toBeLessThanOrEqual((inFlight + buffered + 1) * size + 1);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
