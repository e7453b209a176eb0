// flow.writeLines: lines (or bytes) to a file, gzip by name or option, written under a temporary
// name and renamed only on success, with backpressure.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { flow, map, take } from 'millrace';
import { FileSink } from '../../lib/sinks/write-lines.js';
import { probe } from '../fixtures/harness.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'millrace-write-lines-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeLines', () => {
  it('writes each string followed by a newline, and leaves no temporary file', async () => {
    const path = join(dir, 'out.txt');
    await flow(['a', 'b', 'ç']).writeLines(path);
    expect(readFileSync(path, 'utf8')).toBe('a\nb\nç\n');
    expect(readdirSync(dir)).toEqual(['out.txt']);
  });

  it('writes an empty file for an empty flow', async () => {
    const path = join(dir, 'empty.txt');
    await flow<string>([]).writeLines(path);
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('gzips when the name ends in .gz, or when asked', async () => {
    const byName = join(dir, 'out.txt.gz');
    await flow(['x', 'y']).writeLines(byName);
    expect(gunzipSync(readFileSync(byName)).toString()).toBe('x\ny\n');
    const asked = join(dir, 'asked.bin');
    await flow(['z']).writeLines(asked, { gzip: true });
    expect(gunzipSync(readFileSync(asked)).toString()).toBe('z\n');
    const notAsked = join(dir, 'plain.gz');
    await flow(['p']).writeLines(notAsked, { gzip: false });
    expect(readFileSync(notAsked, 'utf8')).toBe('p\n');
  });

  it('writes bytes as they are with an empty separator', async () => {
    const path = join(dir, 'bytes.bin');
    await flow([new Uint8Array([1, 2]), Buffer.from([3])]).writeLines(path, { separator: '' });
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
  });

  it('writes many lines (several flushes) in order', async () => {
    const path = join(dir, 'many.txt.gz');
    const count = 50_000;
    await flow(probe((i) => i)).pipe(take(count), map((i: number) => `line ${i}`)).writeLines(path);
    const lines = gunzipSync(readFileSync(path)).toString().split('\n');
    expect(lines.length).toBe(count + 1);
    expect(lines[count - 1]).toBe(`line ${count - 1}`);
  });

  it('on a failing flow rejects with its error, removes the temporary file and keeps an existing target', async () => {
    const path = join(dir, 'kept.txt');
    writeFileSync(path, 'old\n');
    const error = new Error('source broke');
    const source = probe((i) => `line ${i}`, { failAt: 70_000, error });
    await expect(flow(source).writeLines(path)).rejects.toBe(error);
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['kept.txt']);
  });

  it('on abort rejects with signal.reason, closes the source and leaves no file', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const source = probe((i) => `line ${i}`, { onPull: (i) => i === 1_000 && controller.abort(reason) });
    const path = join(dir, 'aborted.txt.gz');
    await expect(flow(source, { signal: controller.signal }).writeLines(path)).rejects.toBe(reason);
    expect(source.stats.returned).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects when the directory does not exist, reading at most what it buffered', async () => {
    const source = probe((i) => `line ${i}`);
    await expect(flow(source).writeLines(join(dir, 'missing', 'x.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(source.stats.returned).toBe(true);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('rejects (does not hang) when the file fails with many lines still to write', async () => {
    const source = probe((i) => `line ${i} `.repeat(20));
    await expect(flow(source).pipe(take(100_000)).writeLines(join(dir, 'missing', 'big.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(flow(probe((i) => `line ${i} `.repeat(20))).pipe(take(100_000)).writeLines(join(dir, 'missing', 'big.txt.gz'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('applies backpressure: the writer is told to wait while the file catches up, and the flow waits', async () => {
    const sink = new FileSink(join(dir, 'pressure.txt'));
    // One push past the flush size is more than the file stream buffers: push returns the wait.
    const wait = sink.push('x'.repeat(100_000));
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    await sink.commit();
    // Through a flow: the value after a flush is pulled only once that wait has settled.
    let waiting = false;
    let waits = 0;
    const source = probe((i) => {
      expect(waiting).toBe(false);
      return 'y'.repeat(100_000) + i;
    });
    const original = FileSink.prototype.push;
    const spy = function (this: FileSink, value: string | Uint8Array) {
      const pending = original.call(this, value);
      if (pending) {
        waiting = true;
        waits++;
        return pending.then(() => {
          waiting = false;
        });
      }
      return pending;
    };
    FileSink.prototype.push = spy;
    try {
      await flow(source).pipe(take(20)).writeLines(join(dir, 'flow.txt'));
    } finally {
      FileSink.prototype.push = original;
    }
    expect(source.stats.pulled).toBe(20);
    expect(waits).toBeGreaterThan(0);
  });
});
