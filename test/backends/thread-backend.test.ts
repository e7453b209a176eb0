// The thread backend's hand-over of short chunks: several handed to one worker in the same tick go
// in one message, and what one of them does wrong stays its own.
import { describe, expect, it } from 'vitest';
import { ChunkSendError, createPool, tasks, type ChunkRequest, type ChunkResponse } from 'millrace';
import { taskSpec } from '../../lib/tasks.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const square = (items: unknown[]): ChunkRequest => ({ mode: 'call', task: taskSpec(math.square), items });
const settled = (run: Promise<ChunkResponse>): Promise<unknown> =>
  run.then(
    (response) => response.results,
    (error: unknown) => error,
  );

describe('ThreadBackend', () => {
  it('sends chunks handed to one worker in one tick together, and fails only the one that cannot be cloned', async () => {
    await using pool = createPool({ threads: 1 });
    // A short synchronous chunk first: later chunks of the task may then wait behind each other.
    expect((await pool.backend.run(square([2]))).results).toEqual([4]);
    const runs = [square([3]), square([() => 4]), square([5]), square([6])].map((request) => settled(pool.backend.run(request)));
    const [three, uncloneable, five, six] = await Promise.all(runs);
    expect(uncloneable).toBeInstanceOf(ChunkSendError);
    expect([three, five, six]).toEqual([[9], [25], [36]]);
    // The worker is fine, and so is its next chunk.
    expect((await pool.backend.run(square([7]))).results).toEqual([49]);
  });

  it('answers every chunk of a long run of short ones, whatever the depth', async () => {
    await using pool = createPool({ threads: 2 });
    expect((await pool.backend.run(square([1]))).results).toEqual([1]);
    const items = Array.from({ length: 500 }, (_, i) => i);
    const answers = await Promise.all(items.map((i) => pool.backend.run(square([i]))));
    expect(answers.map((response) => response.results[0])).toEqual(items.map((i) => i * i));
  });
});
