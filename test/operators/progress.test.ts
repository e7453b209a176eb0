import { afterEach, describe, expect, it, vi } from 'vitest';
import { flow, InvalidOptionError, map, progress, ProgressBar, take, type ProgressStream } from 'millrace';
import { interruptProbe } from '../fixtures/sigint-probe.js';

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
    await flow(['a', 'b', 'c'])
      .pipe(progress({ total: 3, label: 'analysing', unit: 'files', stream }))
      .toArray();
    expect(stream.writes).toHaveLength(1);
    expect(stream.text()).toMatch(/^analysing: 3\/3 files in [\d.]+ s \([^)]+ files\/s\)\n$/);
  });

  it('prints nothing off a terminal with summary: false, or when the flow fails', async () => {
    const quiet = recorder(false);
    await flow([1])
      .pipe(progress({ stream: quiet, summary: false }))
      .toArray();
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
    await expect(failing.toArray()).rejects.toMatchObject({ name: 'TaskError', cause: boom });
    expect(failed.writes).toEqual([]);
  });

  it('draws a live bar on a terminal: done of total, percentage, rate, elapsed, ETA; then ends the line', async () => {
    const stream = recorder(true);
    await flow([1, 2, 3, 4])
      .pipe(progress({ total: 4, label: 'work', unit: 'files', stream }))
      .toArray();
    const text = stream.text();
    expect(text.startsWith('\r\x1b[2Kwork ')).toBe(true);
    expect(text).toMatch(/0\/4 files 0%/); // the first draw, at the start
    expect(text).toMatch(/4\/4 files 100% · .* files\/s · \d+:\d\d · ETA 0:00\n$/);
  });

  it('draws a readable bar when the terminal reports no width', async () => {
    const stream = { ...recorder(true), columns: 0 };
    await flow([1])
      .pipe(progress({ total: 1, stream }))
      .toArray();
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
    expect(
      await flow([1, 2, 3])
        .pipe(progress({ total: 3, stream }), take(1))
        .toArray(),
    ).toEqual([1]);
    expect(stream.text().endsWith('\n')).toBe(true);
    expect(stream.text()).toMatch(/1\/3 items 33%/);
  });

  it('rejects a negative total and a non-positive interval where the pipeline is written', () => {
    expect(() => progress({ total: -1 })).toThrow(InvalidOptionError);
    expect(() => progress({ intervalMs: 0 })).toThrow(InvalidOptionError);
    for (const logIntervalMs of [0, -1, Number.NaN]) expect(() => progress({ logIntervalMs })).toThrow(InvalidOptionError);
  });
});

describe('progress off a terminal (logs, CI)', () => {
  it('prints a line every 10 s by default while the work runs: count of total, rate, percentage, ETA', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(false);
    const bar = new ProgressBar({ total: 100, label: 'analysing', unit: 'files', stream });
    bar.start();
    bar.tick(10);
    vi.advanceTimersByTime(9_999);
    expect(stream.writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(stream.writes).toEqual(['analysing: 10/100 files in 10.0 s (1.0 files/s) 10% · ETA 1:30\n']);
    bar.tick(30);
    vi.advanceTimersByTime(10_000);
    expect(stream.writes[1]).toBe('analysing: 40/100 files in 20.0 s (2.0 files/s) 40% · ETA 0:30\n');
    bar.tick(60);
    vi.advanceTimersByTime(5_000);
    bar.stop('done');
    expect(stream.writes).toHaveLength(3);
    expect(stream.writes[2]).toBe('analysing: 100/100 files in 25.0 s (4.0 files/s)\n');
    vi.advanceTimersByTime(60_000);
    expect(stream.writes).toHaveLength(3); // stopped: no more lines
  });

  it('prints a count and a rate when the total is unknown, at the interval given by logIntervalMs', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(false);
    // Each item takes 1 s of (fake) time to arrive.
    async function* slowly(): AsyncGenerator<number> {
      for (let i = 0; i < 5; i++) {
        vi.advanceTimersByTime(1_000);
        yield i;
      }
    }
    await flow(slowly())
      .pipe(progress({ stream, logIntervalMs: 2_000, unit: 'lines' }))
      .toArray();
    expect(stream.writes).toEqual([
      'progress: 1 lines in 2.0 s (0.5 lines/s)\n',
      'progress: 3 lines in 4.0 s (0.8 lines/s)\n',
      'progress: 5 lines in 5.0 s (1.0 lines/s)\n', // the summary
    ]);
  });

  it('prints no lines while running with logIntervalMs: Infinity, and none at all with summary: false', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const onlySummary = recorder(false);
    const before = vi.getTimerCount(); // intervals of other modules in this process, if any
    const bar = new ProgressBar({ stream: onlySummary, logIntervalMs: Number.POSITIVE_INFINITY });
    bar.start();
    expect(vi.getTimerCount()).toBe(before); // no timer at all: an overlong delay would fire every 1 ms with a warning
    bar.tick();
    bar.stop('done');
    expect(onlySummary.writes).toHaveLength(1);
    const quiet = recorder(false);
    const silent = new ProgressBar({ stream: quiet, summary: false, logIntervalMs: 1_000 });
    silent.start();
    vi.advanceTimersByTime(10_000);
    silent.stop('done');
    expect(quiet.writes).toEqual([]);
  });
});

describe('progress and Ctrl-C', () => {
  it('ends the live bar on a fresh line, and the process ends by SIGINT as it does without millrace', async () => {
    const [plain, bar] = await Promise.all([interruptProbe('plain'), interruptProbe('bar')]);
    expect(plain).toMatchObject({ code: null, signal: 'SIGINT' });
    // eslint-disable-next-line no-control-regex -- the escape sequence that clears the terminal line is what is checked
    expect(bar.stderr).toMatch(/\r\x1b\[2Kworking \d+ items · .* items\/s · \d+:\d\d\n$/);
    expect({ code: bar.code, signal: bar.signal }).toEqual({ code: plain.code, signal: plain.signal });
  });

  it("leaves the decision to the program's own SIGINT listener, which prints on a fresh line", async () => {
    const handled = await interruptProbe('handled');
    expect(handled.code).toBe(3);
    expect(handled.stderr).toMatch(/items\/s · \d+:\d\d\nuser handler\n$/);
  });

  it("steps aside for a listener that, like signal-exit's, acts only when it is the last one", async () => {
    const deferring = await interruptProbe('deferring');
    expect(deferring).toMatchObject({ code: null, signal: 'SIGINT' });
    expect(deferring.stderr).toMatch(/items\/s · \d+:\d\d\ndeferring listener exits\n$/);
  });

  it('listens for SIGINT only while a live bar is drawn, with one listener for any number of bars', () => {
    const before = process.listenerCount('SIGINT');
    const first = new ProgressBar({ stream: recorder(true) });
    const second = new ProgressBar({ stream: recorder(true) });
    const offTerminal = new ProgressBar({ stream: recorder(false) });
    first.start();
    second.start();
    offTerminal.start();
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    first.stop('done');
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    second.stop('stopped');
    offTerminal.stop('done');
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
