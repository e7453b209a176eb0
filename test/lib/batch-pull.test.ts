// The internal batch-pull protocol (lib/batch-pull.ts): batches must not change what a flow
// reads, emits or cancels, only how many promises it takes.
import { describe, expect, it } from 'vitest';
import { createPool, flow, parallelMap, tasks, unorderedMap } from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

/** A sync source that counts its pulls and can throw at a given item. */
function counted(limit: number, throwAt = -1): { iterable: Iterable<number>; state: { pulled: number } } {
  const state = { pulled: 0 };
  function* generate(): Generator<number> {
    for (let i = 0; i < limit; i++) {
      if (i === throwAt) throw new RangeError(`source failed at ${i}`);
      state.pulled++;
      yield i;
    }
  }
  return { iterable: { [Symbol.iterator]: generate }, state };
}

describe('batch pulls', () => {
  it('forEach over a lazy sync source reads no item before the callback is done with the previous one', async () => {
    const { iterable, state } = counted(50);
    const pulledAtCall: number[] = [];
    await flow(iterable).forEach((x) => {
      pulledAtCall.push(state.pulled - x);
    });
    // When item x is handed to the callback, exactly x + 1 items have been read.
    expect(pulledAtCall).toEqual(new Array(50).fill(1));
  });

  it('reduce over a lazy sync source stops reading where the reducer throws', async () => {
    const { iterable, state } = counted(1_000);
    const failure = flow(iterable).reduce((sum, x) => {
      if (x === 10) throw new Error('enough');
      return sum + x;
    }, 0);
    await expect(failure).rejects.toThrow('enough');
    expect(state.pulled).toBe(11);
  });

  it('a sync source that throws mid-batch delivers the items before the error, then the error', async () => {
    const { iterable } = counted(100, 37);
    const seen: number[] = [];
    const failure = (async () => {
      for await (const x of flow(iterable)) seen.push(x);
    })();
    await expect(failure).rejects.toThrow('source failed at 37');
    expect(seen).toEqual(Array.from({ length: 37 }, (_, i) => i));
    await expect(
      flow(counted(100, 37).iterable)
        .pipe(parallelMap(math.square, { chunkSize: 16 }))
        .toArray(),
    ).rejects.toThrow('source failed at 37');
  });

  it('keeps input order through batches of every size, and every item exactly once unordered', async () => {
    await using pool = createPool({ threads: 2 });
    const input = Array.from({ length: 20_000 }, (_, i) => i);
    const squares = input.map((x) => x * x);
    expect(await flow(input).pipe(parallelMap(math.square, { pool })).toArray()).toEqual(squares);
    expect(
      await flow(input)
        .pipe(parallelMap(math.square, { pool, chunkSize: 7 }))
        .reduce((all: number[], x) => (all.push(x), all), []),
    ).toEqual(squares);
    const unordered = await flow(input)
      .pipe(unorderedMap(math.square, { pool, chunkSize: 100 }))
      .toArray();
    expect(unordered.sort((a, b) => a - b)).toEqual(squares);
  });

  it("chains two engines: the second takes the first one's finished chunks as batches", async () => {
    await using pool = createPool({ threads: 2 });
    const input = Array.from({ length: 5_000 }, (_, i) => i % 100);
    const result = await flow(input)
      .pipe(parallelMap(math.square, { pool, chunkSize: 64 }), parallelMap(math.square, { pool, chunkSize: 100 }))
      .toArray();
    expect(result).toEqual(input.map((x) => x ** 4));
  });

  it('reads an array with holes as its iterator does (undefined in the holes)', async () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is what this test is about
    const sparse: (number | undefined)[] = [1, , 3];
    // toStrictEqual: a hole and an undefined element differ.
    expect(await flow(sparse).toArray()).toStrictEqual([1, undefined, 3]);
    expect(await flow(sparse).pipe(parallelMap(math.identity)).toArray()).toStrictEqual([1, undefined, 3]);
  });

  it('an abort felt during a batch drain stops the flow and bounds what was read', async () => {
    await using pool = createPool({ threads: 2 });
    const { iterable, state } = counted(10_000_000);
    const controller = new AbortController();
    const reason = new Error('stop');
    let seen = 0;
    const run = flow(iterable, { signal: controller.signal })
      // maxBuffered 0: chunks finished behind a slower one count in the window too.
      .pipe(parallelMap(math.square, { pool, chunkSize: 10, maxInFlight: 4, maxBuffered: 0 }))
      .forEach(() => {
        if (++seen === 5) controller.abort(reason);
      });
    await expect(run).rejects.toBe(reason);
    // At most the in-flight window (4 chunks of 10) plus the chunk being filled was ever read.
    expect(state.pulled).toBeLessThanOrEqual(50);
  });
});
