import { describe, expect, it, vi } from 'vitest';
import { chunkDeadline } from '../../lib/engine/chunk-deadline.js';
import { CLOCK_FINISHED, CLOCK_STARTED, CLOCK_TAKEN_UP } from '../../lib/backend.js';

describe('chunkDeadline', () => {
  it('never times out a chunk whose worker finished its items, however late the response comes', async () => {
    // Both chunks started at the clock's origin and had 1 ms: long past by the time their timers
    // run. Same delay, so the finished chunk's check runs first (timers fire in creation order):
    // by the time the running chunk's deadline expires, the finished one's was checked too.
    let finishedExpired = false;
    let runningExpired: (reason: DOMException) => void = () => {};
    const expired = new Promise<DOMException>((resolve) => (runningExpired = resolve));
    const finished = chunkDeadline(1, true, () => (finishedExpired = true));
    const running = chunkDeadline(1, true, (reason) => runningExpired(reason));
    for (const deadline of [finished, running]) {
      Atomics.store(deadline.startClock!.cell, CLOCK_TAKEN_UP, 1);
      Atomics.store(deadline.startClock!.cell, CLOCK_STARTED, 1);
    }
    Atomics.store(finished.startClock!.cell, CLOCK_FINISHED, 1);
    expect((await expired).name).toBe('TimeoutError');
    expect(finishedExpired).toBe(false);
    finished.clear();
    running.clear();
  });

  it('takes any budget up to Infinity without a TimeoutOverflowWarning (the timer is capped, not overflowed)', () => {
    vi.useFakeTimers();
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    try {
      let expired = 0;
      const deadlines = [3e9, 1e12, Infinity].map((budget) => chunkDeadline(budget, false, () => expired++));
      for (const call of setTimeoutSpy.mock.calls) expect(call[1]).toBeLessThanOrEqual(2 ** 31 - 1);
      vi.advanceTimersByTime(2 ** 31); // past setTimeout's limit: an overflowed timer would have fired at once
      expect(expired).toBe(0);
      for (const deadline of deadlines) deadline.clear();
    } finally {
      setTimeoutSpy.mockRestore();
      process.off('warning', onWarning);
      vi.useRealTimers();
    }
    expect(warnings).toEqual([]);
  });
});
