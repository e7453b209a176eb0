// Several progress bars on one stream: one line each on a terminal, redrawn together as one block;
// their own labelled lines off a terminal. A small terminal model reads what was written.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { flow, map, progress, ProgressBar, take, type ProgressStream } from 'millrace';
import { channel, turns } from '../fixtures/deferred.js';
import { interruptProbe } from '../fixtures/sigint-probe.js';

/** A stream that records what is written to it. */
function recorder(isTTY: boolean): ProgressStream & { text: () => string; writes: string[] } {
  const writes: string[] = [];
  return { isTTY, columns: 100, write: (text: string) => writes.push(text), writes, text: () => writes.join('') };
}

/**
 * What a terminal shows after `text`: its lines, and the cursor's row and column. Understands what
 * the bars write: carriage return, newline (as a terminal's output processing does, back to column
 * 0), erase line (`ESC [ 2 K`) and cursor up (`ESC [ n A`).
 */
function screen(text: string): { lines: string[]; row: number; col: number } {
  const lines = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\r') {
      col = 0;
    } else if (c === '\n') {
      row++;
      col = 0;
      if (row === lines.length) lines.push('');
    } else if (c === '\x1b') {
      // eslint-disable-next-line no-control-regex -- the escape sequences are what is read
      const match = /^\x1b\[(\d*)([AK])/.exec(text.slice(i));
      if (match === null) throw new Error(`unexpected escape sequence at ${i}: ${JSON.stringify(text.slice(i, i + 6))}`);
      const n = match[1] === '' ? 1 : Number(match[1]);
      if (match[2] === 'A') row = Math.max(0, row - n);
      else lines[row] = '';
      i += match[0].length - 1;
    } else {
      const line = lines[row]!.padEnd(col);
      lines[row] = line.slice(0, col) + c + line.slice(col + 1);
      col++;
    }
  }
  return { lines, row, col };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the terminal model', () => {
  it('reads what a single bar writes: its line redrawn in place', () => {
    expect(screen('\r\x1b[2Kabc\r\x1b[2Kab')).toEqual({ lines: ['ab'], row: 0, col: 2 });
    expect(screen('x\ny\x1b[1A\r\x1b[2Kz\n')).toEqual({ lines: ['z', 'y'], row: 1, col: 0 });
  });
});

describe('several progress stages on a terminal', () => {
  it('draws two stages of a flow as two lines, in pipeline order, and leaves the cursor on a fresh line below', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(true);
    const source = channel<number>();
    const out: number[] = [];
    const run = flow(source)
      .pipe(
        progress({ total: 4, label: 'read', unit: 'files', stream }),
        map((x: number) => x * 2),
        progress({ total: 4, label: 'parsed', unit: 'files', stream }),
      )
      .forEach((x) => {
        out.push(x);
      });
    source.push(1);
    source.push(2);
    while (out.length < 2) await turns(1);
    vi.advanceTimersByTime(250); // a redraw while both stages run
    const running = screen(stream.text());
    expect(running.lines).toEqual([
      expect.stringMatching(/^read .* 2\/4 files 50% · /),
      expect.stringMatching(/^parsed .* 2\/4 files 50% · /),
    ]);
    expect(running.row).toBe(1);
    source.push(3);
    source.push(4);
    source.end();
    await run;
    expect(out).toEqual([2, 4, 6, 8]);
    const shown = screen(stream.text());
    expect(shown.lines).toHaveLength(3);
    expect(shown.lines[0]).toMatch(/^read +█+ 4\/4 files 100% · /);
    expect(shown.lines[1]).toMatch(/^parsed █+ 4\/4 files 100% · /);
    // Labels padded to the longest: the bars line up.
    expect(shown.lines[0]!.indexOf('█')).toBe(shown.lines[1]!.indexOf('█'));
    expect(shown.lines[2]).toBe('');
    expect({ row: shown.row, col: shown.col }).toEqual({ row: 2, col: 0 });
    // No line ever held both bars (they did not fight over one line).
    for (const write of stream.writes)
      for (const line of write.split('\n')) expect(line.includes('read') && line.includes('parsed')).toBe(false);
  });

  it('redraws the block together, in one write, at the shortest interval among its bars', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(true);
    const slow = new ProgressBar({ label: 'slow', stream, intervalMs: 250 });
    const fast = new ProgressBar({ label: 'fast', stream, intervalMs: 100 });
    slow.start();
    fast.start();
    expect(stream.writes).toHaveLength(2); // each start draws the block
    vi.advanceTimersByTime(1_000);
    expect(stream.writes).toHaveLength(12);
    for (const write of stream.writes.slice(1)) {
      // Up to the block's first line, then both lines.
      expect(write.startsWith('\x1b[1A\r\x1b[2Kslow ') || write === stream.writes[1]).toBe(true);
      // eslint-disable-next-line no-control-regex -- the escape sequences are what is checked
      expect(write).toMatch(/slow .*\n\r\x1b\[2Kfast /);
    }
    expect([slow.draws, fast.draws]).toEqual([12, 11]);
    fast.stop('done');
    slow.stop('done');
    vi.advanceTimersByTime(1_000);
    expect(stream.writes).toHaveLength(14); // stopped: a last draw each, then no timer
    const shown = screen(stream.text());
    expect(shown.lines.map((line) => line.split(' ')[0])).toEqual(['slow', 'fast', '']);
    expect(shown.row).toBe(2);
  });

  it('orders lines by when the bars were created, not when they started', () => {
    const stream = recorder(true);
    const first = new ProgressBar({ label: 'first', stream });
    const second = new ProgressBar({ label: 'second', stream });
    second.start();
    first.start();
    expect(screen(stream.text()).lines.map((line) => line.split(' ')[0])).toEqual(['first', 'second']);
    first.stop('done');
    second.stop('done');
  });

  it('keeps a stopped bar\u2019s last line while the others run, and ends the block when the last one stops', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const before = process.listenerCount('SIGINT');
    const stream = recorder(true);
    const [a, b, c] = ['a', 'b', 'c'].map((label) => new ProgressBar({ label, stream, intervalMs: 100 })) as [
      ProgressBar,
      ProgressBar,
      ProgressBar,
    ];
    a.start();
    b.start();
    c.start();
    expect(process.listenerCount('SIGINT')).toBe(before + 1); // one listener for the block
    b.tick(7);
    b.stop('done');
    b.tick(100); // after its stop: not shown
    a.tick(1);
    c.tick(3);
    vi.advanceTimersByTime(100);
    let shown = screen(stream.text());
    expect(shown.lines).toEqual([
      expect.stringMatching(/^a 1 items/),
      expect.stringMatching(/^b 7 items/),
      expect.stringMatching(/^c 3 items/),
    ]);
    expect(shown.row).toBe(2);
    // The top bar stops: it and the stopped one below it stay as drawn, and the block is now c's line only.
    a.stop('done');
    c.tick(1);
    vi.advanceTimersByTime(100);
    // eslint-disable-next-line no-control-regex -- the escape sequences are what is checked
    expect(stream.writes.at(-1)).toMatch(/^\r\x1b\[2Kc 4 items/); // no cursor-up: one line left in the block
    c.stop('stopped');
    shown = screen(stream.text());
    expect(shown.lines).toEqual([
      expect.stringMatching(/^a 1 items/),
      expect.stringMatching(/^b 7 items/),
      expect.stringMatching(/^c 4 items/),
      '',
    ]);
    expect({ row: shown.row, col: shown.col }).toEqual({ row: 3, col: 0 });
    expect(process.listenerCount('SIGINT')).toBe(before);
    // A bar started afterwards begins a new block below.
    const d = new ProgressBar({ label: 'd', stream });
    d.start();
    d.stop('done');
    expect(screen(stream.text()).lines.slice(3)).toEqual([expect.stringMatching(/^d 0 items/), '']);
  });

  it('ends the block on a fresh line when the consumer stops early', async () => {
    const stream = recorder(true);
    expect(
      await flow([1, 2, 3])
        .pipe(progress({ total: 3, label: 'in', stream }), progress({ total: 3, label: 'out', stream }), take(1))
        .toArray(),
    ).toEqual([1]);
    const shown = screen(stream.text());
    expect(shown.lines[0]).toMatch(/^in .* items/);
    expect(shown.lines[1]).toMatch(/^out .*1\/3 items 33%/);
    expect(shown.lines.slice(2)).toEqual(['']);
    expect(shown.row).toBe(2);
  });

  it('keeps separate blocks for separate streams', () => {
    const one = recorder(true);
    const two = recorder(true);
    const a = new ProgressBar({ label: 'a', stream: one });
    const b = new ProgressBar({ label: 'b', stream: two });
    a.start();
    b.start();
    a.stop('done');
    b.stop('done');
    expect(screen(one.text()).lines).toEqual([expect.stringMatching(/^a /), '']);
    expect(screen(two.text()).lines).toEqual([expect.stringMatching(/^b /), '']);
  });
});

describe('several progress stages off a terminal', () => {
  it('prints each stage\u2019s own summary line, named by its label', async () => {
    const stream = recorder(false);
    await flow(['a', 'b', 'c'])
      .pipe(progress({ total: 3, label: 'read', unit: 'files', stream }), progress({ label: 'parsed', unit: 'files', stream }))
      .toArray();
    expect(stream.writes).toHaveLength(2);
    expect(stream.writes[0]).toMatch(/^read: 3\/3 files in [\d.]+ s \([^)]+ files\/s\)\n$/);
    expect(stream.writes[1]).toMatch(/^parsed: 3 files in [\d.]+ s \([^)]+ files\/s\)\n$/);
  });

  it('prints each stage\u2019s progress lines with its label while the work runs', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const stream = recorder(false);
    const read = new ProgressBar({ total: 10, label: 'read', stream, logIntervalMs: 1_000 });
    const parsed = new ProgressBar({ label: 'parsed', stream, logIntervalMs: 1_000 });
    read.start();
    parsed.start();
    read.tick(5);
    parsed.tick(2);
    vi.advanceTimersByTime(1_000);
    expect(stream.writes).toEqual(['read: 5/10 items in 1.0 s (5.0 items/s) 50% · ETA 0:01\n', 'parsed: 2 items in 1.0 s (2.0 items/s)\n']);
    read.stop('done');
    parsed.stop('done');
  });
});

describe('several progress stages and Ctrl-C', () => {
  it('ends the block of two stages on a fresh line below both, and the process ends by SIGINT', async () => {
    const ending = await interruptProbe('stages');
    expect({ code: ending.code, signal: ending.signal }).toEqual({ code: null, signal: 'SIGINT' });
    const shown = screen(ending.stderr);
    expect(shown.lines).toEqual([
      expect.stringMatching(/^read +\d+ items · .* items\/s · \d+:\d\d$/),
      expect.stringMatching(/^working \d+ items · .* items\/s · \d+:\d\d$/),
      '',
    ]);
    expect({ row: shown.row, col: shown.col }).toEqual({ row: 2, col: 0 });
  });
});
