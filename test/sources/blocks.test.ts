import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockLines,
  createPool,
  InputFileError,
  InvalidOptionError,
  parallelMap,
  readBlocks,
  readLines,
  unorderedMap,
  tap,
  tasks,
  type Block,
  type BlockLinesOptions,
  type BlockInput,
  type ReadBlocksOptions,
} from 'millrace';
import { transferListOf } from '../../lib/transfer.js';

const blockTasks = tasks<typeof import('../fixtures/blocks.tasks.js')>(new URL('../fixtures/blocks.tasks.js', import.meta.url));

let dir: string;
const at = (name: string): string => join(dir, name);
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-blocks-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A new file holding `data`, with a fresh name (property runs write many). */
async function fileWith(data: Uint8Array | string, suffix = '.log'): Promise<string> {
  const path = at(`f${fileCount++}${suffix}`);
  await writeFile(path, data);
  return path;
}

/** blockLines' lines as an array. */
function linesIn(block: Block, options?: BlockLinesOptions): string[] {
  return [...blockLines(block, options)];
}

/** The lines readBlocks + blockLines give, read on this thread. */
async function linesOf(input: BlockInput, options: ReadBlocksOptions = {}): Promise<string[]> {
  const blocks = await readBlocks(input, options).toArray();
  return blocks.flatMap((block) => linesIn(block));
}

/** A byte-mode Readable that delivers `data` in pieces of `sizes` (cycled), at least one byte each. */
function chunked(data: Uint8Array, sizes: readonly number[] = [1]): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    pieces.push(Buffer.from(data.subarray(offset, offset + size)));
    offset += size;
  }
  return Readable.from(pieces, { objectMode: false });
}

/** The bytes of a block: read from the file for a range, as they are for bytes. */
async function bytesOf(block: Block): Promise<Buffer> {
  if (block.kind === 'bytes') return Buffer.from(block.bytes);
  const { readFile } = await import('node:fs/promises');
  return (await readFile(block.path)).subarray(block.start, block.end);
}

/** The descriptors of this process that point at `path`. */
function openDescriptorsOf(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // The descriptor readdir used is gone by now.
    }
  }
  return count;
}

describe('readBlocks + blockLines', () => {
  it('reads a plain file as byte ranges and gzip or a stream as bytes, with the same lines', async () => {
    const text = 'alpha\r\nbeta\n\ngamma ☕\nlast';
    const expected = ['alpha', 'beta', '', 'gamma ☕', 'last'];
    const plain = await fileWith(text);
    const zipped = await fileWith(gzipSync(text), '.log.gz');
    const plainBlocks = await readBlocks(plain, { blockSize: 4 }).toArray();
    expect(plainBlocks.every((block) => block.kind === 'range')).toBe(true);
    expect(plainBlocks.flatMap((block) => linesIn(block))).toEqual(expected);
    const gzipBlocks = await readBlocks(zipped, { blockSize: 4 }).toArray();
    expect(gzipBlocks.every((block) => block.kind === 'bytes')).toBe(true);
    expect(gzipBlocks.flatMap((block) => linesIn(block))).toEqual(expected);
    expect(await linesOf(chunked(Buffer.from(text), [3]), { blockSize: 4 })).toEqual(expected);
    expect(await readLines(plain).toArray()).toEqual(expected);
  });

  it('cuts every block after a newline: blocks concatenate to the input, and each but the last ends with \\n', async () => {
    const text = 'a\nbb\nccc\ndddd\neeeee\nffffff';
    for (const input of [await fileWith(text), await fileWith(gzipSync(text), '.gz')]) {
      const blocks = await readBlocks(input, { blockSize: 3 }).toArray();
      const bytes = await Promise.all(blocks.map(bytesOf));
      expect(Buffer.concat(bytes).toString()).toBe(text);
      for (const piece of bytes.slice(0, -1)) expect(piece.at(-1)).toBe(10);
      let offset = 0;
      for (const [i, block] of blocks.entries()) {
        expect(block.start).toBe(offset);
        offset += bytes[i]!.length;
      }
    }
  });

  it('gives the lines readLines gives, for CRLF, multi-byte characters and long lines at every boundary (property)', async () => {
    const piece = fc.constantFrom('a', 'é', '☕', '😀', '\r', '\n', '\r\n', 'xyzxyzxyzxyzxyzxyzxyz');
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 60 }).map((pieces) => pieces.join('')),
        fc.integer({ min: 1, max: 24 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
        async (text, blockSize, sizes) => {
          const expected = await readLines(Readable.from([Buffer.from(text)])).toArray();
          const bytes = Buffer.from(text);
          expect(await linesOf(await fileWith(bytes), { blockSize })).toEqual(expected);
          expect(await linesOf(await fileWith(gzipSync(bytes), '.gz'), { blockSize })).toEqual(expected);
          expect(await linesOf(chunked(bytes, sizes), { blockSize })).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps a line longer than a block whole, in one block', async () => {
    const long = '☕'.repeat(5000);
    const text = `short\n${long}\nafter\n${long}`;
    for (const input of [await fileWith(text), await fileWith(gzipSync(text), '.gz')]) {
      const blocks = await readBlocks(input, { blockSize: 1000 }).toArray();
      expect(blocks.flatMap((block) => linesIn(block))).toEqual(['short', long, 'after', long]);
      expect(blocks.some((block) => linesIn(block).includes(long))).toBe(true);
    }
    expect(await linesOf(chunked(Buffer.from(text), [100]), { blockSize: 1000 })).toEqual(['short', long, 'after', long]);
  });

  it('gives no blocks for an empty input, plain, .gz or a stream', async () => {
    expect(await readBlocks(await fileWith('')).toArray()).toEqual([]);
    expect(await readBlocks(await fileWith('', '.log.gz')).toArray()).toEqual([]);
    expect(await readBlocks(await fileWith(gzipSync(''), '.gz')).toArray()).toEqual([]);
    expect(await readBlocks(Readable.from([], { objectMode: false })).toArray()).toEqual([]);
  });

  it('keeps a last line without newline, and reads a file of one line', async () => {
    for (const [text, expected] of [
      ['only one line', ['only one line']],
      ['one line\n', ['one line']],
      ['\n', ['']],
      ['x', ['x']],
      ['a\nlast\r', ['a', 'last\r']],
    ] as const) {
      expect(await linesOf(await fileWith(text), { blockSize: 2 })).toEqual(expected);
      expect(await linesOf(await fileWith(gzipSync(text), '.gz'), { blockSize: 2 })).toEqual(expected);
      expect(await linesOf(chunked(Buffer.from(text)), { blockSize: 2 })).toEqual(expected);
      expect(await readLines(Readable.from([Buffer.from(text)])).toArray()).toEqual(expected);
    }
  });

  it('reads across a gzip member boundary (two concatenated members) split mid-line and mid-character', async () => {
    const text = 'first line\nsecond ☕ line\nthird\n';
    const cut = text.indexOf('☕') + 1; // inside the UTF-8 bytes of ☕
    const bytes = Buffer.from(text);
    const members = Buffer.concat([gzipSync(bytes.subarray(0, cut)), gzipSync(bytes.subarray(cut))]);
    const expected = ['first line', 'second ☕ line', 'third'];
    expect(await linesOf(await fileWith(members, '.log.gz'))).toEqual(expected);
    expect(await linesOf(await fileWith(members, '.log.gz'), { blockSize: 5 })).toEqual(expected);
    expect(await linesOf(chunked(members, [7]), { blockSize: 5 })).toEqual(expected);
  });

  it('reads a Readable that delivers one byte at a time, plain or gzip (sniffed)', async () => {
    const text = 'héllo\r\nwörld ☕\n😀 end';
    const expected = ['héllo', 'wörld ☕', '😀 end'];
    expect(await linesOf(chunked(Buffer.from(text)))).toEqual(expected);
    expect(await linesOf(chunked(Buffer.from(text)), { blockSize: 1 })).toEqual(expected);
    expect(await linesOf(chunked(gzipSync(text)), { blockSize: 3 })).toEqual(expected);
    async function* bytes(): AsyncGenerator<Uint8Array> {
      for (const byte of Buffer.from(text)) yield new Uint8Array([byte]);
    }
    expect(await linesOf(bytes(), { blockSize: 2 })).toEqual(expected);
  });

  it('splits at a custom separator', async () => {
    const text = 'a\nb;c;;d☕;e';
    const expected = ['a\nb', 'c', '', 'd☕', 'e'];
    for (const input of [await fileWith(text), await fileWith(gzipSync(text), '.gz')]) {
      const blocks = await readBlocks(input, { blockSize: 1, separator: ';' }).toArray();
      expect(blocks.length).toBeGreaterThan(1);
      expect(blocks.flatMap((block) => linesIn(block, { separator: ';' }))).toEqual(expected);
    }
    const multi = 'one<|>two ☕<|><|>three';
    const blocks = await readBlocks(await fileWith(multi), { blockSize: 2, separator: '<|>' }).toArray();
    expect(blocks.flatMap((block) => linesIn(block, { separator: /<\|>/ }))).toEqual(['one', 'two ☕', '', 'three']);
  });

  it('reads a list of paths, a glob pattern and file: URLs in order', async () => {
    const sub = at('many');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(sub);
    await writeFile(join(sub, 'b.log'), 'b1\nb2\n');
    await writeFile(join(sub, 'a.log.gz'), gzipSync('a1\na2'));
    await writeFile(join(sub, 'c[1].log'), 'c1\n');
    expect(await linesOf([join(sub, 'b.log'), pathToFileURL(join(sub, 'a.log.gz'))])).toEqual(['b1', 'b2', 'a1', 'a2']);
    expect(await linesOf(join(sub, '[ab].log*'))).toEqual(['a1', 'a2', 'b1', 'b2']);
    // A name with glob characters that is a file is read as that file.
    expect(await linesOf(join(sub, 'c[1].log'))).toEqual(['c1']);
  });

  it('fails with InputFileError naming the file: missing, not gzip though .gz, corrupt', async () => {
    await expect(readBlocks(at('no-such.log')).toArray()).rejects.toMatchObject({ name: 'InputFileError', problem: 'missing' });
    const fake = await fileWith('plain text\n', '.log.gz');
    await expect(readBlocks(fake).toArray()).rejects.toMatchObject({ name: 'InputFileError', problem: 'not-gzip', path: fake });
    const zipped = gzipSync(Array.from({ length: 20_000 }, (_, i) => `entry ${i * 7919}`).join('\n'));
    const truncated = await fileWith(zipped.subarray(0, zipped.length >> 1), '.log.gz');
    const failure = await readBlocks(truncated).toArray().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InputFileError);
    expect(failure).toMatchObject({ problem: 'corrupt', path: truncated });
    expect(openDescriptorsOf(truncated)).toBe(0);
    expect(() => linesIn({ kind: 'range', path: at('gone.log'), start: 0, end: 10 })).toThrow(InputFileError);
    expect(() => linesIn({ kind: 'range', path: at('gone.log'), start: 0, end: 10 }, { separator: ';' })).toThrow(InputFileError);
  });

  it('rejects a bad blockSize or separator', () => {
    expect(() => readBlocks('x.log', { blockSize: 0 })).toThrow(InvalidOptionError);
    expect(() => readBlocks('x.log', { blockSize: 1.5 })).toThrow(InvalidOptionError);
    expect(() => readBlocks('x.log', { separator: '' })).toThrow(InvalidOptionError);
  });

  it('marks each bytes block with its own buffer to move (the engine transfers marked items); a range carries none', async () => {
    const text = 'one\ntwo\nthree\nfour\n';
    const blocks = await readBlocks(await fileWith(gzipSync(text), '.gz'), { blockSize: 5 }).toArray();
    const buffers = new Set<unknown>();
    for (const block of blocks) {
      if (block.kind !== 'bytes') throw new Error('expected bytes');
      expect(transferListOf(block)).toEqual([block.bytes.buffer]);
      buffers.add(block.bytes.buffer);
      // Not enumerable: a structured clone or a spread leaves the mark behind.
      expect(Object.keys(block)).toEqual(['kind', 'source', 'start', 'bytes']);
    }
    expect(buffers.size).toBe(blocks.length);
    const [range] = await readBlocks(await fileWith(text)).toArray();
    expect(transferListOf(range)).toBeUndefined();
  });

  it('reads blocks of more than one piece, and two range blocks iterated in turn, each whole', async () => {
    const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} ☕${i % 5 === 0 ? '\r' : ''}`);
    const text = lines.join('\n');
    const expected = lines.map((line, i) => (i < lines.length - 1 && line.endsWith('\r') ? line.slice(0, -1) : line));
    const path = await fileWith(text);
    const blocks = await readBlocks(path, { blockSize: 200_000 }).toArray();
    expect(blocks.length).toBeGreaterThan(2);
    expect(blocks.flatMap((block) => linesIn(block))).toEqual(expected);
    // Interleaved: each iterator must keep its own bytes (the read buffer is reused only when free).
    const [a, b] = [blockLines(blocks[0]!), blockLines(blocks[1]!)];
    const fromA: string[] = [];
    const fromB: string[] = [];
    for (;;) {
      const nextA = a.next();
      const nextB = b.next();
      if (!nextA.done) fromA.push(nextA.value);
      if (!nextB.done) fromB.push(nextB.value);
      if (nextA.done && nextB.done) break;
    }
    expect([...fromA, ...fromB]).toEqual(expected.slice(0, fromA.length + fromB.length));
    // A line longer than a piece stays whole.
    const long = 'x'.repeat(200_000);
    expect(linesIn({ kind: 'bytes', source: 'long', start: 0, bytes: Buffer.from(`a\n${long}\r\nb`) })).toEqual(['a', long, 'b']);
  });

  it('sizes the blocks of a plain file to 1/16 of it within [64 KiB, 1 MiB] unless blockSize is given', async () => {
    const line = `${'x'.repeat(99)}\n`;
    const sizes = async (path: string, options: ReadBlocksOptions = {}): Promise<number[]> =>
      (await readBlocks(path, options).toArray()).map((block) => (block.kind === 'range' ? block.end - block.start : -1));
    const twoMiB = await fileWith(line.repeat((2 << 20) / 100));
    const blocks = await sizes(twoMiB);
    expect(blocks.length).toBeGreaterThanOrEqual(16);
    expect(blocks.length).toBeLessThanOrEqual(17);
    for (const size of blocks.slice(0, -1)) expect(size).toBeGreaterThanOrEqual(128 << 10);
    expect(await sizes(await fileWith(line.repeat(1000)))).toHaveLength(2); // 100 KB: 64 KiB blocks
    expect((await sizes(twoMiB, { blockSize: 1 << 20 })).length).toBe(2);
  });

  it('opens nothing until consumed', async () => {
    const path = await fileWith('a\nb\n');
    const blocks = readBlocks(path);
    expect(openDescriptorsOf(path)).toBe(0);
    expect((await blocks.toArray()).length).toBe(1);
  });
});

describe('readBlocks: closing', () => {
  const big = Array.from({ length: 20_000 }, (_, i) => `line ${i} of the file`).join('\n');

  it('closes the file when the consumer stops early (plain and gzip)', async () => {
    for (const path of [await fileWith(big), await fileWith(gzipSync(big), '.log.gz')]) {
      let seen = 0;
      for await (const block of readBlocks(path, { blockSize: 1024 })) {
        expect(linesIn(block).length).toBeGreaterThan(0);
        expect(openDescriptorsOf(path)).toBe(1);
        if (++seen === 2) break;
      }
      expect(seen).toBe(2);
      expect(openDescriptorsOf(path)).toBe(0);
    }
  });

  it('closes the file when aborted mid-read, and rejects with the reason', async () => {
    for (const path of [await fileWith(big), await fileWith(gzipSync(big), '.log.gz')]) {
      const controller = new AbortController();
      const reason = new Error('stop');
      let seen = 0;
      const reading = readBlocks(path, { blockSize: 1024, signal: controller.signal }).forEach(() => {
        if (++seen === 3) controller.abort(reason);
      });
      await expect(reading).rejects.toBe(reason);
      expect(seen).toBe(3);
      // The reader closes without waiting for the read in flight; its handle closes after it.
      await new Promise((resolve) => setImmediate(resolve));
      await expect.poll(() => openDescriptorsOf(path)).toBe(0);
    }
  });

  it('destroys a stream that never ends, on break and on abort while a read waits', async () => {
    const stalled = (): Readable => new Readable({ read() {} });
    const first = stalled();
    first.push('a\nb\n');
    first.push(Buffer.alloc(64, 120));
    for await (const block of readBlocks(first, { blockSize: 2 })) {
      expect(linesIn(block)).toEqual(['a']);
      break;
    }
    expect(first.destroyed).toBe(true);

    const second = stalled();
    second.push('x\n');
    const controller = new AbortController();
    const reason = new Error('stop waiting');
    const reading = readBlocks(second, { signal: controller.signal }).toArray();
    // Nothing more will come: the read waits until the abort.
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    await expect(reading).rejects.toBe(reason);
    expect(second.destroyed).toBe(true);
  });
});

describe('readBlocks in workers', () => {
  const lines = Array.from({ length: 3000 }, (_, i) => `${i % 7 === 0 ? 'needle' : 'hay'} ${i} ☕${i % 3 === 0 ? '\r' : ''}`);
  const text = `${lines.join('\n')}\n`;
  const expected = lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));

  it('parallelMap over range and bytes blocks gives every line in input order', async () => {
    await using pool = createPool({ threads: 2 });
    const inputs: [string, () => BlockInput][] = [
      ['range', () => at('workers.log')],
      ['bytes', () => at('workers.log.gz')],
      ['bytes', () => chunked(Buffer.from(text), [1000])],
    ];
    await writeFile(at('workers.log'), text);
    await writeFile(at('workers.log.gz'), gzipSync(text));
    for (const [kind, input] of inputs) {
      const results = await readBlocks(input(), { blockSize: 4096 }).pipe(parallelMap(blockTasks.described, { pool })).toArray();
      expect(results.length).toBeGreaterThan(5);
      expect(results.every((result) => result.kind === kind)).toBe(true);
      expect(results.flatMap((result) => result.lines)).toEqual(expected);
    }
  });

  it('moves bytes blocks to the workers: the buffers on the main thread are detached after the run', async () => {
    await using pool = createPool({ threads: 2 });
    const seen: Block[] = [];
    const results = await readBlocks(chunked(Buffer.from(text), [1000]), { blockSize: 4096 })
      .pipe(
        tap((block: Block) => {
          seen.push(block);
        }),
        parallelMap(blockTasks.lines, { pool }),
      )
      .toArray();
    expect(results.flat()).toEqual(expected);
    expect(seen.length).toBeGreaterThan(5);
    for (const block of seen) expect(block.kind === 'bytes' && block.bytes.byteLength).toBe(0);
  });

  it('unorderedMap over blocks counts what a serial pass counts', async () => {
    await using pool = createPool({ threads: 2 });
    const serial = expected.filter((line) => line.includes('needle')).length;
    const plain = await fileWith(text);
    const zipped = await fileWith(gzipSync(text), '.gz');
    for (const input of [plain, zipped]) {
      const total = await readBlocks(input, { blockSize: 2048 })
        .pipe(unorderedMap(blockTasks.countMatching, { pool }))
        .reduce((sum, count) => sum + count, 0);
      expect(total).toBe(serial);
    }
    expect(openDescriptorsOf(plain)).toBe(0);
  });
});
