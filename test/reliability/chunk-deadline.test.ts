import { describe, expect, it } from 'vitest';
import { chunkDeadline } from '../../lib/chunk-deadline.js';

const TAKEN_UP = 0;
const STARTED = 1;
const FINISHED = 2;

describe('chunkDeadline', () => {
  it('never times out a chunk whose worker finished its items, however late the response comes', async () => {
    // Both chunks started at the clock's origin and had 1 ms: long past by the time their timers
    // run. Same delay, so the finished chunk's check runs first (timers fire in creation order):
    // by the time the running chunk's deadline aborts, the finished one's was checked too.
    const finished = chunkDeadline(1, true);
    const running = chunkDeadline(1, true);
    for (const deadline of [finished, running]) {
      Atomics.store(deadline.startClock!.cell, TAKEN_UP, 1);
      Atomics.store(deadline.startClock!.cell, STARTED, 1);
    }
    Atomics.store(finished.startClock!.cell, FINISHED, 1);
    await new Promise((resolve) => running.signal.addEventListener('abort', resolve, { once: true }));
    expect((running.signal.reason as DOMException).name).toBe('TimeoutError');
    expect(finished.signal.aborted).toBe(false);
    finished.clear();
    running.clear();
  });
});
