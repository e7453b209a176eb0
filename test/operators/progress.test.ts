import { afterEach, describe, expect, it, vi } from 'vitest';
import { flow, InvalidOptionError, map, progress, ProgressBar, take, type ProgressStream } from 'millrace';

/** A stream that records what is written to it. */
function recorder(isTTY: boolean): ProgressStream & { text: () => string; writes: string[] } {
  const writes: string[] = [];
  return { isTTY, columns: 100, write: (text: string) => writes.push(text), writes, text: () => writes.join('') };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('progress', () => {
  it('passes every item through unchanged, in order', async () => {
    const stream = recorder(false);
    expect(await flow([3, 1, 2]).pipe(progress({ stream })).toArray()).toEqual([3, 1, 2]);
  });

  it('prints one summary line when the stream is not a terminal', async () => {
    const stream = recorder(false);
    await flow(['a', 'b', 'c']).pipe(progress({ total: 3, label: 'analysing', unit: 'files', stream })).toArray();
    expect(stream.writes).toHaveLength(1);
    expect(stream.text()).toMatch(/^analysing: 3\/3 files in [\d.]+ s \([^)]+ files\/s\)\n$/);
  });

  it('prints nothing off a terminal with summary: false, or when the flow fails', async () => {
    const quiet = recorder(false);
    await flow([1]).pipe(progress({ stream: quiet, summary: false })).toArray();
    expect(quiet.writes).toEqual([]);
    const failed = recorder(false);
    const boom = new Error('boom');
    const failing = flow([1, 2]).pipe(
      progress({ stream: failed }),
      map((x: number) => {
        if (x === 2) throw boom;
        return x;
      }),
    );
    await expect(failing.toArray()).rejects.toBe(boom);
    expect(failed.writes).toEqual([]);
  });

  it('draws a live bar on a terminal: done of total, percentage, rate, elapsed, ETA; then ends the line', async () => {
    const stream = recorder(true);
    await flow([1, 2, 3, 4]).pipe(progress({ total: 4, label: 'work', unit: 'files', stream })).toArray();
    const text = stream.text();
    expect(text.startsWith('\r\x1b[2Kwork ')).toBe(true);
    expect(text).toMatch(/0\/4 files 0%/); // the first draw, at the start
    expect(text).toMatch(/4\/4 files 100% · .* files\/s · \d+:\d\d · ETA 0:00\n$/);
  });

  it('draws a readable bar when the terminal reports no width', async () => {
    const stream = { ...recorder(true), columns: 0 };
    await flow([1]).pipe(progress({ total: 1, stream })).toArray();
    expect(stream.text()).toMatch(/1\/1 items 100%/);
  });

  it('shows a count and a rate when the total is unknown', () => {
    const bar = new ProgressBar({ label: 'lines', stream: recorder(true) });
    bar.start();
    bar.tick(41);
    bar.tick();
    expect(bar.barLine(80)).toMatch(/^lines 42 items · .*\/s · 0:00$/);
    bar.stop('done');
  });

  it('redraws on a timer, at most once per interval, however many items pass', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(true);
    const bar = new ProgressBar({ total: 100_000, stream, intervalMs: 250 });
    bar.start();
    for (let i = 0; i < 100_000; i++) bar.tick();
    expect(bar.draws).toBe(1); // ticks never draw
    vi.advanceTimersByTime(1000);
    expect(bar.draws).toBe(5);
    bar.stop('done');
    vi.advanceTimersByTime(1000);
    expect(bar.draws).toBe(6); // stopped: the final draw only
  });

  it('stops its timer and ends the line when the consumer stops early', async () => {
    const stream = recorder(true);
    expect(await flow([1, 2, 3]).pipe(progress({ total: 3, stream }), take(1)).toArray()).toEqual([1]);
    expect(stream.text().endsWith('\n')).toBe(true);
    expect(stream.text()).toMatch(/1\/3 items 33%/);
  });

  it('rejects a negative total and a non-positive interval where the pipeline is written', () => {
    expect(() => progress({ total: -1 })).toThrow(InvalidOptionError);
    expect(() => progress({ intervalMs: 0 })).toThrow(InvalidOptionError);
  });
});
