// The engine's onSettled hook: every settled chunk says which of its items its outputs belong to
// (what a checkpoint records), with items that failed under an onError function left out.
import { afterAll, describe, expect, it } from 'vitest';
import { createPool, defineOperator, dispatch, flow, tasks, type TaskError, type WorkerCrashedError } from 'millrace';
import type { SettledChunk } from '../../lib/engine/options.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const pool = createPool({ threads: 2 });
afterAll(() => pool.close());

function squares(
  task: typeof math.square,
  seen: SettledChunk<number, number>[],
  onError?: (error: TaskError | WorkerCrashedError) => void,
): ReturnType<typeof defineOperator<number, number>> {
  return defineOperator<number, number>('squares', (source, context) =>
    dispatch(source, context, {
      name: 'square',
      ordered: true,
      pool,
      chunkSize: 3,
      ...(onError ? { onError } : {}),
      request: (items) => ({ mode: 'call', task, items }),
      outputs: (response) => response.results,
      onSettled: (chunk) => seen.push(chunk),
    }),
  );
}

describe('DispatchSpec.onSettled', () => {
  it('tells every chunk, with its first index, its items and the outputs of each', async () => {
    const seen: SettledChunk<number, number>[] = [];
    const input = Array.from({ length: 10 }, (_, i) => i);
    expect(await flow(input).pipe(squares(math.square, seen)).toArray()).toEqual(input.map((x) => x * x));
    const chunks = [...seen].sort((a, b) => a.firstIndex - b.firstIndex);
    expect(chunks.map((c) => [c.firstIndex, c.items])).toEqual([
      [0, [0, 1, 2]],
      [3, [3, 4, 5]],
      [6, [6, 7, 8]],
      [9, [9]],
    ]);
    for (const chunk of chunks) {
      expect(chunk.kept).toEqual(chunk.items);
      expect(chunk.outputs).toEqual(chunk.items.map((x) => x * x));
    }
  });

  it('leaves out the items that failed under an onError function', async () => {
    const seen: SettledChunk<number, number>[] = [];
    const failures: unknown[] = [];
    // failOn(x) throws for x === 13.
    const output = await flow([1, 2, 13, 4])
      .pipe(squares(math.failOn, seen, (error) => failures.push(error)))
      .toArray();
    expect(failures).toHaveLength(1);
    const all = [...seen].sort((a, b) => a.firstIndex - b.firstIndex);
    expect(all.flatMap((c) => c.items)).toEqual([1, 2, 13, 4]);
    expect(all.flatMap((c) => c.kept)).toEqual([1, 2, 4]);
    expect(all.flatMap((c) => c.outputs)).toEqual(output);
  });

  it('fails the flow with what the hook throws', async () => {
    const boom = new Error('boom');
    const operator = defineOperator<number, number>('squares', (source, context) =>
      dispatch(source, context, {
        name: 'square',
        ordered: false,
        pool,
        request: (items) => ({ mode: 'call', task: math.square, items }),
        outputs: (response) => response.results,
        onSettled: () => {
          throw boom;
        },
      }),
    );
    await expect(flow([1, 2]).pipe(operator).toArray()).rejects.toBe(boom);
  });
});
