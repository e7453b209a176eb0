import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow, InputFileError, lines, readLines, take } from 'millrace';

let dir: string;
const at = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-lines-'));
  await writeFile(at('plain.log'), 'alpha\nbeta\ngamma\n');
  await writeFile(at('crlf.log'), 'one\r\ntwo\r\n\r\nthree');
  await writeFile(at('no-newline.log'), 'first\nlast without newline');
  await writeFile(at('empty.log'), '');
  await writeFile(at('empty.log.gz'), '');
  await writeFile(at('plain.log.gz'), gzipSync('x 1\ny 2\r\nz 3'));
  // Gzip data without the .gz name is sniffed by its magic bytes.
  await writeFile(at('sniffed.bin'), gzipSync('sniffed\nfine\n'));
  await writeFile(at('fake.log.gz'), 'this is plain text, not gzip\n');
  const zipped = gzipSync(Array.from({ length: 10_000 }, (_, i) => `entry ${i * 7919}`).join('\n'));
  await writeFile(at('truncated.log.gz'), zipped.subarray(0, zipped.length >> 1));
  await writeFile(at('utf8.log'), 'café ☕\nnaïve\n');
  // Many lines across several read buffers: a split at a buffer boundary must not break a line.
  await writeFile(at('big.log.gz'), gzipSync(Array.from({ length: 100_000 }, (_, i) => `line ${i}`).join('\n')));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readLines', () => {
  it('reads plain text lines without their terminators', async () => {
    expect(await readLines(at('plain.log')).toArray()).toEqual(['alpha', 'beta', 'gamma']);
  });

  it('handles CRLF, an empty line in the middle, and a last line without newline', async () => {
    expect(await readLines(at('crlf.log')).toArray()).toEqual(['one', 'two', '', 'three']);
    expect(await readLines(at('no-newline.log')).toArray()).toEqual(['first', 'last without newline']);
  });

  it('handles a CRLF split between two reads', async () => {
    const chunks = ['one\r', '\ntwo\r\n\r', '\nthree'].map((text) => Buffer.from(text));
    expect(await readLines(Readable.from(chunks)).toArray()).toEqual(['one', 'two', '', 'three']);
  });

  it('keeps CRLF and multi-byte characters whole across tiny reads of a file', async () => {
    await writeFile(at('tiny-reads.log'), 'a\r\nbé☕\r\n\r\nlast ☕');
    for (const highWaterMark of [1, 2, 3, 5]) {
      expect(await readLines(at('tiny-reads.log'), { highWaterMark }).toArray()).toEqual(['a', 'bé☕', '', 'last ☕']);
    }
  });

  it('gives no lines for empty files, plain or .gz', async () => {
    expect(await readLines(at('empty.log')).toArray()).toEqual([]);
    expect(await readLines(at('empty.log.gz')).toArray()).toEqual([]);
  });

  it('decompresses gzip by name and by magic bytes', async () => {
    expect(await readLines(at('plain.log.gz')).toArray()).toEqual(['x 1', 'y 2', 'z 3']);
    expect(await readLines(at('sniffed.bin')).toArray()).toEqual(['sniffed', 'fine']);
  });

  it('decodes UTF-8 and keeps every line across read buffers', async () => {
    expect(await readLines(at('utf8.log'), { highWaterMark: 3 }).toArray()).toEqual(['café ☕', 'naïve']);
    const all = await readLines(at('big.log.gz'), { highWaterMark: 1024 }).toArray();
    expect(all).toHaveLength(100_000);
    expect(all[0]).toBe('line 0');
    expect(all[54_321]).toBe('line 54321');
    expect(all.at(-1)).toBe('line 99999');
  });

  it('accepts file: URLs, Readables and async iterables of bytes', async () => {
    expect(await readLines(pathToFileURL(at('plain.log'))).toArray()).toEqual(['alpha', 'beta', 'gamma']);
    expect(await readLines(Readable.from([Buffer.from('a\nb'), Buffer.from('c\n')])).toArray()).toEqual(['a', 'bc']);
    async function* chunks(): AsyncGenerator<Uint8Array> {
      const zipped = gzipSync('p\nq\n');
      yield zipped.subarray(0, 1); // one byte first: the sniffing must read on
      yield zipped.subarray(1);
    }
    expect(await readLines(chunks()).toArray()).toEqual(['p', 'q']);
  });

  it('splits on a custom separator through split2, found even when split between reads, gzip or not', async () => {
    const chunks = ['a;;b;', ';c;;', ';d'].map((text) => Buffer.from(text));
    expect(await readLines(Readable.from(chunks), { separator: ';;' }).toArray()).toEqual(['a', 'b', 'c', ';d']);
    await writeFile(at('records.gz'), gzipSync('x=1\u001ey=2\u001e\u001ez=☕'));
    expect(await readLines(at('records.gz'), { separator: '\u001e', highWaterMark: 2 }).toArray()).toEqual(['x=1', 'y=2', '', 'z=☕']);
    // A regular expression; no \r is stripped unless the separator says so.
    expect(await readLines(at('crlf.log'), { separator: /\r?\n/ }).toArray()).toEqual(['one', 'two', '', 'three']);
    expect(await readLines(at('crlf.log'), { separator: '\n' }).toArray()).toEqual(['one\r', 'two\r', '\r', 'three']);
  });

  it('fails with an error naming a missing file', async () => {
    const missing = at('nope.log.gz');
    const error = await readLines(missing)
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect(error).toMatchObject({ path: missing, problem: 'missing' });
    expect((error as Error).message).toContain(missing);
  });

  it('fails with an error naming a .gz file that is not gzip', async () => {
    const error = await readLines(at('fake.log.gz'))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect(error).toMatchObject({ path: at('fake.log.gz'), problem: 'not-gzip' });
    expect((error as Error).message).toContain('fake.log.gz');
    expect((error as Error).message).toMatch(/not gzip/);
  });

  it('fails with an error naming a truncated gzip file', async () => {
    const error = await readLines(at('truncated.log.gz'))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect(error).toMatchObject({ path: at('truncated.log.gz'), problem: 'corrupt' });
  });

  it('fails with an error naming a path that cannot be read as a file', async () => {
    const error = await readLines(dir)
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'InputFileError', path: dir, problem: 'unreadable' });
  });

  it('opens nothing until consumed, and stops early', async () => {
    // A missing file fails only when read: building the flow does not touch the disk.
    const lazy = readLines(at('missing-but-never-read.log'));
    expect(lazy).toBeDefined();
    expect(await readLines(at('big.log.gz')).pipe(take(3)).toArray()).toEqual(['line 0', 'line 1', 'line 2']);
    let seen = 0;
    for await (const line of readLines(at('big.log.gz'))) {
      expect(line).toBe(`line ${seen}`);
      if (++seen === 5) break;
    }
    expect(seen).toBe(5);
  });

  it('destroys the byte stream when the consumer stops early', async () => {
    const source = Readable.from(
      (function* () {
        for (let i = 0; ; i++) yield Buffer.from(`line ${i}\n`);
      })(),
      { objectMode: false },
    );
    expect(await readLines(source).pipe(take(2)).toArray()).toEqual(['line 0', 'line 1']);
    await finished(source).catch(() => undefined);
    expect(source.destroyed).toBe(true);
  });

  it('stops with the signal reason when aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('enough');
    const read: string[] = [];
    const error = await readLines(at('big.log.gz'), { signal: controller.signal })
      .forEach((line) => {
        read.push(line);
        if (read.length === 10) controller.abort(reason);
      })
      .catch((e: unknown) => e);
    expect(error).toBe(reason);
    expect(read).toHaveLength(10);
  });
});

describe('lines()', () => {
  it('emits the lines of each path in turn', async () => {
    const out = await flow([at('plain.log'), at('plain.log.gz'), at('empty.log')])
      .pipe(lines())
      .toArray();
    expect(out).toEqual(['alpha', 'beta', 'gamma', 'x 1', 'y 2', 'z 3']);
  });

  it('fails naming the file that cannot be read', async () => {
    const error = await flow([at('plain.log'), at('fake.log.gz')])
      .pipe(lines())
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'InputFileError', path: at('fake.log.gz') });
  });
});
