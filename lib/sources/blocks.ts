/**
 * One big input cut into newline-aligned blocks for worker tasks: {@link readBlocks} on the main
 * thread, {@link blockLines} inside a task. A plain file becomes byte ranges that the worker reads
 * itself; gzip data and byte streams are read (and decompressed) on the main thread, cut after the
 * last newline, and each block's bytes move to the worker without a copy.
 *
 * @packageDocumentation
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { PassThrough, pipeline, Readable, type Duplex, type TransformOptions } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { InvalidOptionError, checkInteger } from '../errors.js';
import { flow, type Flow } from '../flow.js';
import { markTransfer } from '../transfer.js';
import { errorFor, InputFileError, labelOf } from './lines.js';
import { lineCursor, type LineCursor } from './record-position.js';

/**
 * A block that is a byte range of a plain file: the task reads bytes `[start, end)` itself
 * ({@link blockLines} does), so no data passes through the main thread. `start` is the start of a
 * line, and `end` is just after a newline (or the end of the file).
 *
 * @example
 * ```ts
 * import { blockLines, type RangeBlock } from 'millrace';
 * const block: RangeBlock = { kind: 'range', path: 'big.log', start: 0, end: 300 };
 * const count = [...blockLines(block)].length;
 * ```
 * @category Sources
 */
export interface RangeBlock {
  /** Tells a range from a {@link BytesBlock}. */
  readonly kind: 'range';
  /** The file's absolute path (the worker may run elsewhere in the process tree). */
  readonly path: string;
  /** The offset of the block's first byte. */
  readonly start: number;
  /** The offset just past the block's last byte. */
  readonly end: number;
}

/**
 * A block of bytes read (and decompressed, for gzip) on the main thread: whole lines, moved to the
 * worker without a copy where the engine transfers marked items.
 *
 * @example
 * ```ts
 * import { blockLines, type BytesBlock } from 'millrace';
 * const block: BytesBlock = { kind: 'bytes', source: 'stdin', start: 0, bytes: Buffer.from('a\nb\n') };
 * console.log([...blockLines(block)]); // ['a', 'b']
 * ```
 * @category Sources
 */
export interface BytesBlock {
  /** Tells bytes from a {@link RangeBlock}. */
  readonly kind: 'bytes';
  /** Where the bytes come from: the file's path, or the stream's label. */
  readonly source: string;
  /** The offset of the block's first byte in the (decompressed) input. */
  readonly start: number;
  /** The block's bytes: whole lines, the last one ending with a newline unless it ends the input. */
  readonly bytes: Uint8Array;
}

/**
 * One newline-aligned block of an input, as {@link readBlocks} makes them and {@link blockLines}
 * reads them: a byte range of a plain file, or bytes read on the main thread.
 *
 * @example
 * ```ts
 * import { readBlocks, type Block } from 'millrace';
 * const size = (block: Block): number => (block.kind === 'range' ? block.end - block.start : block.bytes.length);
 * for await (const block of readBlocks('big.log')) console.log(size(block));
 * ```
 * @category Sources
 */
export type Block = RangeBlock | BytesBlock;

/**
 * What {@link readBlocks} reads: a path (plain or gzip; a string with glob characters that names
 * no file is a glob pattern), a `file:` URL, a list of them, or a byte stream (a Node `Readable` in
 * byte mode, or any async iterable of `Uint8Array` chunks).
 *
 * @example
 * ```ts
 * import type { BlockInput } from 'millrace';
 * const inputs: BlockInput[] = ['big.log', 'logs/*.log.gz', ['a.log', 'b.log.gz'], process.stdin];
 * ```
 * @category Sources
 */
export type BlockInput = string | URL | readonly (string | URL)[] | Readable | AsyncIterable<Uint8Array>;

/**
 * Options for {@link readBlocks}.
 *
 * @example
 * ```ts
 * import { readBlocks, type ReadBlocksOptions } from 'millrace';
 * const options: ReadBlocksOptions = { blockSize: 4 << 20, signal: AbortSignal.timeout(60_000) };
 * const blocks = readBlocks('big.log', options);
 * ```
 * @category Sources
 */
export interface ReadBlocksOptions {
  /**
   * Bytes per block, about: a block ends at the first line end at or after this many bytes (a
   * line longer than a block makes a longer block). Without it, a plain file gets blocks of
   * 1/16 of its size within [64 KiB, 1 MiB], so a small file still spreads over the workers.
   * @defaultValue `1048576` (1 MiB), less for plain files under 16 MiB
   */
  readonly blockSize?: number | undefined;
  /**
   * Where blocks may be cut: after this string (as UTF-8 bytes) rather than after a `\n`. Pass the
   * same separator to {@link blockLines}.
   * @defaultValue `'\n'`
   */
  readonly separator?: string | undefined;
  /**
   * Aborting it stops reading and closes the file or stream.
   * @defaultValue none
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Options for {@link blockLines}.
 *
 * @example
 * ```ts
 * import { blockLines, type BlockLinesOptions } from 'millrace';
 * const options: BlockLinesOptions = { separator: '\0' };
 * const records = blockLines({ kind: 'bytes', source: 'x', start: 0, bytes: Buffer.from('a\0b\0') }, options);
 * ```
 * @category Sources
 */
export interface BlockLinesOptions {
  /**
   * Where lines end, when not at newlines: a string or a regular expression (JavaScript's
   * `String.prototype.split`). The terminator is not part of the line and no `\r` is stripped.
   * Blocks are cut after {@link ReadBlocksOptions.separator}, so a record never straddles two
   * blocks only when every such cut is also a match of this separator.
   * @defaultValue `\n`, with a `\r` before it stripped
   */
  readonly separator?: string | RegExp | undefined;
}

/** The block size when none is given and the input's size is unknown (streams, gzip). */
const DEFAULT_BLOCK_SIZE = 1 << 20;
/** The smallest automatic block of a plain file: below it, a task's fixed costs would dominate. */
const MIN_AUTO_BLOCK = 64 * 1024;
/** A plain file is cut into at least this many automatic blocks (when that keeps them >= 64 KiB). */
const AUTO_BLOCKS_PER_FILE = 16;
/** Bytes read around a nominal block end to find the next line end (log lines are far shorter). */
const BOUNDARY_WINDOW = 16 * 1024;
const GZIP_NAME = /\.gz$/i;
const NEWLINE = Buffer.from('\n');
/**
 * gunzip's options for blocks: large output chunks (fewer copies into the block), and room to
 * decompress one block ahead in the libuv pool while the workers parse.
 */
const GUNZIP_OPTIONS: ZlibOptions & TransformOptions = { chunkSize: 256 * 1024, readableHighWaterMark: DEFAULT_BLOCK_SIZE };
const FILE_HIGH_WATER_MARK = 256 * 1024;

/**
 * Cuts one big input into newline-aligned blocks, for tasks that read their lines with
 * {@link blockLines}: the fine-grained (line by line) work of one big file runs in the workers,
 * not on the main thread. A plain file becomes byte ranges ({@link RangeBlock}) that each worker
 * reads itself, so no data passes through the main thread; gzip data (sniffed as
 * {@link readLines} does) and byte streams are read and decompressed on the main thread and cut
 * after the last newline into {@link BytesBlock}s whose buffers are marked to move to the worker
 * rather than be copied. Lines never straddle two blocks; a last line without a newline is kept.
 * Memory is bounded by the blocks in flight and the longest line. `parallelMap` over blocks gives
 * the results in input order.
 *
 * @param input - a path or `file:` URL (plain or gzip), a glob pattern, a list of paths, or a byte
 *   stream; see {@link BlockInput}
 * @param options - see {@link ReadBlocksOptions}
 * @returns a lazy flow of blocks; nothing is opened until it is consumed, and stopping early or
 *   aborting closes the file or stream
 * @throws {@link InvalidOptionError} for a `blockSize` that is not a positive integer or an empty
 *   `separator`
 * @throws {@link InputFileError} when consumed, naming the file: missing, named `.gz` but not gzip,
 *   corrupt gzip data, or unreadable
 * @example
 * ```ts
 * // main.ts
 * import { readBlocks, tasks, unorderedMap } from 'millrace';
 * const t = tasks<typeof import('./tally.tasks.js')>(new URL('./tally.tasks.js', import.meta.url));
 * const errors = await readBlocks('big.log.gz')
 *   .pipe(unorderedMap(t.countErrors))
 *   .reduce((sum, n) => sum + n, 0);
 * ```
 * @category Sources
 * @see {@link blockLines} to read a block's lines in the task; {@link readLines} for lines on the
 *   main thread
 */
export function readBlocks(input: BlockInput, options: ReadBlocksOptions = {}): Flow<Block> {
  checkInteger('blockSize', options.blockSize, 1);
  if (options.separator !== undefined && (typeof options.separator !== 'string' || options.separator.length === 0)) {
    throw new InvalidOptionError('separator', options.separator, 'a non-empty string');
  }
  const source: AsyncIterable<Block> = { [Symbol.asyncIterator]: () => new BlockIterator(input, options) };
  return flow(source, options.signal ? { signal: options.signal } : {});
}

/** What the worker keeps between calls to read range blocks into: one buffer, reused. */
let scratch: Buffer | undefined;
/** A larger block (a very long line) gets a buffer of its own, so the worker does not keep it. */
const MAX_SCRATCH = 4 << 20;

/**
 * The lines of one block, in a task: decoded as UTF-8, split at `\n` with a `\r` before it
 * stripped (or at a custom separator), a last line without a newline kept. Synchronous and cheap:
 * a range block is read with synchronous file reads into a reused buffer, then decoded and split
 * a piece of ~64 KiB at a time (one `split` call each, no promise per line), so only a piece's
 * lines are alive at once.
 *
 * @param block - a block from {@link readBlocks}
 * @param options - see {@link BlockLinesOptions}
 * @returns an iterator of the block's lines, in order (spread it for an array); iterating it to
 *   the end or leaving a `for...of` early releases the read buffer
 * @throws {@link InputFileError} when a range block's file is missing or cannot be read
 * @example
 * ```ts
 * // tally.tasks.ts: a task module; the main thread pipes readBlocks(...) into unorderedMap(t.countErrors).
 * import { blockLines, type Block } from 'millrace';
 * export function countErrors(block: Block): number {
 *   let errors = 0;
 *   for (const line of blockLines(block)) if (line.includes('" 500 ')) errors++;
 *   return errors;
 * }
 * ```
 * @category Sources
 * @see {@link readBlocks}
 */
export function blockLines(block: Block, options: BlockLinesOptions = {}): IterableIterator<string> {
  const separator = options.separator;
  if (separator !== undefined) {
    // A custom separator may match across any cut the piece-wise path could make: decode at once.
    const taken = blockBytes(block);
    let records: string[];
    try {
      records = splitLines(taken.bytes.toString('utf8'), separator);
    } finally {
      taken.release();
    }
    return tracked(records, { block, line: -1, newlines: false });
  }
  return newlineLines(block);
}

/** Yields `records`, keeping the cursor on the one the task is reading (for an error's position). */
function* tracked(records: readonly string[], cursor: LineCursor): Generator<string, void, undefined> {
  let finished = false;
  try {
    for (let i = 0; i < records.length; i++) {
      cursor.line = i;
      lineCursor.current = cursor;
      yield records[i]!;
    }
    finished = true;
  } finally {
    // Read to the end: a later error is not this block's. Left early (an error or a break): the
    // cursor stays on the line the task was reading, for the worker to name.
    if (finished && lineCursor.current === cursor) lineCursor.current = undefined;
  }
}

/**
 * The lines of a block, decoded and split a piece (~64 KiB, cut after a newline) at a time: the
 * lines of one piece are garbage by the time the next is decoded, so a worker's young generation
 * does not carry (and promote) a whole block's text and lines, which grew each worker's heap by
 * tens of MB with 1 MiB blocks decoded at once (bench/, "one-big-file").
 */
function* newlineLines(block: Block): Generator<string, void, undefined> {
  const taken = blockBytes(block);
  // Which line the task is on, for an error's position (a store a line; the rest on the error path).
  const cursor: LineCursor = { block, line: -1, newlines: true };
  let finished = false;
  try {
    const bytes = taken.bytes;
    const length = bytes.length;
    let from = 0;
    while (from < length) {
      let to = from + PIECE;
      if (to >= length) to = length;
      else {
        // Cut after a newline (a newline byte is never inside a multi-byte UTF-8 character).
        const before = bytes.lastIndexOf(10, to - 1);
        if (before >= from) to = before + 1;
        else {
          const after = bytes.indexOf(10, to);
          to = after < 0 ? length : after + 1;
        }
      }
      const lines = splitLines(bytes.toString('utf8', from, to), undefined);
      from = to;
      for (let i = 0; i < lines.length; i++) {
        cursor.line++;
        lineCursor.current = cursor;
        yield lines[i]!;
      }
    }
    finished = true;
  } finally {
    taken.release();
    // As in `tracked`: only a block read to its end lets go of the cursor.
    if (finished && lineCursor.current === cursor) lineCursor.current = undefined;
  }
}

/** How much of a block {@link newlineLines} decodes at a time. */
const PIECE = 64 * 1024;

/** Whether a live {@link newlineLines} holds {@link scratch} (two interleaved iterations must not share it). */
let scratchInUse = false;

/** A block's bytes: its own for a bytes block; read into the (reused) scratch buffer for a range. */
function blockBytes(block: Block): { bytes: Buffer; release: () => void } {
  if (block.kind === 'bytes') {
    const bytes = block.bytes;
    return { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), release: () => {} };
  }
  const length = Math.max(0, block.end - block.start);
  let buffer: Buffer;
  let release = (): void => {};
  if (length > MAX_SCRATCH || scratchInUse) buffer = Buffer.allocUnsafe(length);
  else {
    if (scratch === undefined || scratch.length < length) scratch = Buffer.allocUnsafe(Math.max(length, DEFAULT_BLOCK_SIZE));
    buffer = scratch;
    scratchInUse = true;
    release = () => {
      scratchInUse = false;
    };
  }
  try {
    return { bytes: buffer.subarray(0, readRange(block, buffer, length)), release };
  } catch (error) {
    release();
    throw error;
  }
}

/** Reads a range block's bytes into `buffer` with synchronous reads; how many were read. */
function readRange(block: RangeBlock, buffer: Buffer, length: number): number {
  if (length === 0) return 0;
  let fd: number;
  try {
    fd = openSync(block.path, 'r');
  } catch (error) {
    throw errorFor(block.path, error, false);
  }
  try {
    let read = 0;
    while (read < length) {
      const count = readSync(fd, buffer, read, length - read, block.start + read);
      if (count === 0) break; // the file shrank: its lines end where it ends now
      read += count;
    }
    return read;
  } catch (error) {
    throw errorFor(block.path, error, false);
  } finally {
    closeSync(fd);
  }
}

function splitLines(text: string, separator: string | RegExp | undefined): string[] {
  if (text.length === 0) return [];
  const pieces = text.split(separator ?? '\n');
  // A text that ends with a terminator leaves an empty last piece, which is not a line.
  const terminated = pieces[pieces.length - 1] === '';
  if (terminated) pieces.pop();
  if (separator === undefined) {
    // Only a line whose `\n` was read loses its `\r`, as readLines does.
    const count = terminated ? pieces.length : pieces.length - 1;
    for (let i = 0; i < count; i++) {
      const piece = pieces[i]!;
      if (piece.charCodeAt(piece.length - 1) === 13) pieces[i] = piece.slice(0, -1);
    }
  }
  return pieces;
}

/** The blocks of one input, one at a time; `close()` settles a pending `next()`. */
interface Reader {
  next(): Promise<Block | undefined>;
  close(): Promise<void>;
}

interface Settings {
  readonly blockSize: number | undefined;
  readonly separator: Buffer;
}

/**
 * The blocks of every input in turn. `return()` closes the current file or stream at once, even
 * while a read is pending (an aborted flow does not wait for its source's read).
 */
class BlockIterator implements AsyncIterator<Block> {
  readonly #input: BlockInput;
  readonly #settings: Settings;
  #paths: AsyncIterator<string> | undefined;
  #reader: Reader | undefined;
  #started = false;
  #closed = false;

  constructor(input: BlockInput, options: ReadBlocksOptions) {
    this.#input = input;
    this.#settings = {
      blockSize: options.blockSize,
      separator: options.separator === undefined ? NEWLINE : Buffer.from(options.separator, 'utf8'),
    };
  }

  async next(): Promise<IteratorResult<Block>> {
    try {
      for (;;) {
        if (this.#closed) return { done: true, value: undefined };
        if (this.#reader === undefined) {
          const reader = await this.#nextReader();
          if (reader === undefined) {
            this.#closed = true;
            return { done: true, value: undefined };
          }
          this.#reader = reader;
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the await
          if (this.#closed) {
            await reader.close();
            continue;
          }
        }
        const block = await this.#reader.next();
        // return() may have run while the read was pending: it closed the reader already.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the await
        if (this.#closed) return { done: true, value: undefined };
        if (block !== undefined) return { done: false, value: block };
        const finished = this.#reader;
        this.#reader = undefined;
        await finished.close();
      }
    } catch (error) {
      await this.return();
      throw error;
    }
  }

  async return(): Promise<IteratorResult<Block>> {
    this.#closed = true;
    const reader = this.#reader;
    this.#reader = undefined;
    const paths = this.#paths;
    this.#paths = undefined;
    await Promise.all([reader?.close(), paths?.return?.()]);
    return { done: true, value: undefined };
  }

  async #nextReader(): Promise<Reader | undefined> {
    const input = this.#input;
    if (typeof input === 'string' || input instanceof URL || Array.isArray(input)) {
      this.#paths ??= expandPaths(typeof input === 'string' || input instanceof URL ? [input] : (input as readonly (string | URL)[]));
      const next = await this.#paths.next();
      return next.done ? undefined : new FileReader(next.value, this.#settings);
    }
    if (this.#started) return undefined;
    this.#started = true;
    const stream = input instanceof Readable ? input : Readable.from(input as AsyncIterable<Uint8Array>, { objectMode: false });
    return new StreamReader(labelOf(input as Readable), stream, this.#settings, undefined);
  }
}

/**
 * The paths of a list in order, a glob pattern expanded (sorted) where the string names no file:
 * a path such as `access[1].log` is a file, not a character class.
 */
async function* expandPaths(list: readonly (string | URL)[]): AsyncGenerator<string> {
  for (const item of list) {
    if (item instanceof URL) {
      yield item.protocol === 'file:' ? fileURLToPath(item) : item.href;
      continue;
    }
    const { default: fastGlob } = await import('fast-glob');
    if (!fastGlob.isDynamicPattern(item) || (await exists(item))) {
      yield item;
      continue;
    }
    const matches = await fastGlob(item, { onlyFiles: true });
    // A pattern that matches nothing is a mistake to report, not an empty input (a typo, the wrong folder).
    if (matches.length === 0) throw new InputFileError({ path: item, problem: 'no-match' });
    yield* matches.sort();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * One file: plain text becomes byte ranges (the main thread reads only a small window at each
 * nominal block end, to find the next line end); gzip data is read by a {@link StreamReader}.
 */
class FileReader implements Reader {
  readonly #label: string;
  readonly #path: string;
  readonly #settings: Settings;
  #handle: FileHandle | undefined;
  #opened = false;
  #inner: StreamReader | undefined;
  #size = 0;
  #blockSize = DEFAULT_BLOCK_SIZE;
  #position = 0;
  #window: Buffer | undefined;
  #closed = false;

  constructor(path: string, settings: Settings) {
    this.#label = path;
    this.#path = resolve(path);
    this.#settings = settings;
  }

  async next(): Promise<Block | undefined> {
    try {
      if (!this.#opened) {
        this.#opened = true;
        await this.#open();
      }
      if (this.#inner !== undefined) return await this.#inner.next();
      if (this.#closed || this.#position >= this.#size) return undefined;
      const start = this.#position;
      const end = await this.#lineEndAfter(start + this.#blockSize);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the await
      if (this.#closed) return undefined;
      this.#position = end;
      return { kind: 'range', path: this.#path, start, end };
    } catch (error) {
      throw errorFor(this.#label, error, false);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const handle = this.#handle;
    this.#handle = undefined;
    // FileHandle.close waits for a read in flight, then closes.
    await Promise.all([handle?.close(), this.#inner?.close()]);
  }

  async #open(): Promise<void> {
    const handle = await open(this.#path, 'r');
    if (this.#closed) {
      await handle.close();
      return;
    }
    this.#handle = handle;
    const { size } = await handle.stat();
    this.#size = size;
    // Closed meanwhile (close() closed the handle): read nothing more.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the await
    if (size === 0 || this.#closed) return; // no lines, even when named .gz
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the await
    if (this.#closed) return;
    const gzip = bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
    if (!gzip && GZIP_NAME.test(basename(this.#label))) throw new InputFileError({ path: this.#label, problem: 'not-gzip' });
    if (gzip) {
      // The read stream owns the handle from here and closes it when it ends or is destroyed.
      this.#handle = undefined;
      const stream = handle.createReadStream({ start: 0, highWaterMark: FILE_HIGH_WATER_MARK });
      // Not closed: that was checked after the last await.
      this.#inner = new StreamReader(this.#label, stream, this.#settings, true);
      return;
    }
    this.#blockSize =
      this.#settings.blockSize ?? Math.min(DEFAULT_BLOCK_SIZE, Math.max(MIN_AUTO_BLOCK, Math.ceil(size / AUTO_BLOCKS_PER_FILE)));
  }

  /** The offset just past the first separator that ends at or after `nominal` (or the file's size). */
  async #lineEndAfter(nominal: number): Promise<number> {
    const size = this.#size;
    if (nominal >= size) return size;
    const separator = this.#settings.separator;
    const handle = this.#handle;
    if (handle === undefined) return size;
    const window = (this.#window ??= Buffer.allocUnsafe(Math.max(BOUNDARY_WINDOW, 2 * separator.length)));
    let from = Math.max(this.#position, nominal - separator.length);
    while (from < size && !this.#closed) {
      const { bytesRead } = await handle.read(window, 0, window.length, from);
      const at = window.subarray(0, bytesRead).indexOf(separator);
      if (at >= 0) return from + at + separator.length;
      if (bytesRead < window.length) break; // the end of the file
      // Overlap the next window so a separator across the two is found.
      from += bytesRead - (separator.length - 1);
    }
    return size;
  }
}

/**
 * A block buffer with an `ArrayBuffer` of its own (never a slice of Node's shared pool, which moving
 * it would detach), not zero-filled: every byte a block shows is written before it is cut.
 */
function blockBuffer(size: number): Uint8Array<ArrayBuffer> {
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

/**
 * A byte stream (or a gzip file's read stream) cut into {@link BytesBlock}s on the main thread.
 * Bytes are copied once, from the stream's chunks into a block buffer of its own (so that moving
 * it to a worker detaches nothing else); when the buffer is full it is cut after its last
 * separator, and the unfinished line is carried into the next buffer. A buffer with no separator
 * grows (a line longer than a block).
 */
class StreamReader implements Reader {
  readonly #label: string;
  readonly #settings: Settings;
  readonly #blockSize: number;
  /** The raw input; for gzip data, piped into {@link #stream}. */
  readonly #raw: Readable;
  /** What bytes are read from: the raw input, or gunzip's output. */
  #stream: Readable;
  /** `true`: gzip for sure (a .gz file already sniffed); `undefined`: sniff the first bytes. */
  #gzip: boolean | undefined;
  /** The raw input is a file stream made here, whose closing is awaited. */
  readonly #ownsInput: boolean;
  #opened = false;
  #buffer: Uint8Array<ArrayBuffer>;
  #fill = 0;
  /** The offset in the (decompressed) input of the buffer's first byte. */
  #offset = 0;
  /** A chunk read but not yet copied whole into the buffer, and how much of it was. */
  #chunk: Uint8Array | undefined;
  #chunkUsed = 0;
  #ended = false;
  #failure: unknown;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(label: string, raw: Readable, settings: Settings, gzip: true | undefined) {
    this.#label = label;
    this.#raw = raw;
    this.#stream = raw;
    this.#settings = settings;
    this.#gzip = gzip;
    this.#ownsInput = gzip === true;
    this.#blockSize = settings.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.#buffer = blockBuffer(this.#blockSize);
  }

  async next(): Promise<Block | undefined> {
    try {
      if (!this.#opened) {
        this.#opened = true;
        await this.#open();
      }
      for (;;) {
        if (this.#closed) return undefined;
        if (this.#fill === this.#buffer.length) {
          const block = this.#cut();
          if (block !== undefined) return block;
          this.#grow();
        }
        let chunk = this.#chunk;
        if (chunk === undefined) {
          const read = await this.#read();
          if (read === null) {
            // The end: whatever is left is the last block (its last line may lack a newline).
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the await
            if (this.#fill === 0 || this.#closed) return undefined;
            return this.#emit(this.#fill, false);
          }
          chunk = read;
          this.#chunk = chunk;
          this.#chunkUsed = 0;
        }
        const count = Math.min(chunk.length - this.#chunkUsed, this.#buffer.length - this.#fill);
        this.#buffer.set(chunk.subarray(this.#chunkUsed, this.#chunkUsed + count), this.#fill);
        this.#fill += count;
        this.#chunkUsed += count;
        if (this.#chunkUsed === chunk.length) this.#chunk = undefined;
      }
    } catch (error) {
      throw errorFor(this.#label, error, this.#gzip === true);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#chunk = undefined;
    this.#onEvent();
    const raw = this.#raw;
    // A file's read stream (ours) closes its descriptor after destroy(): wait for that, so that a
    // closed flow has no file open. A caller's stream may never emit 'close'; it is not awaited.
    const closing = this.#ownsInput && !raw.closed ? new Promise<void>((resolve) => raw.once('close', () => resolve())) : undefined;
    if (!this.#stream.destroyed) this.#stream.destroy();
    if (!raw.destroyed) raw.destroy();
    await closing;
  }

  /** Cuts the full buffer after its last separator; undefined when it holds none. */
  #cut(): BytesBlock | undefined {
    const separator = this.#settings.separator;
    const buffer = this.#buffer;
    const at = Buffer.from(buffer.buffer, buffer.byteOffset, this.#fill).lastIndexOf(separator);
    return at < 0 ? undefined : this.#emit(at + separator.length, true);
  }

  #emit(length: number, more: boolean): BytesBlock {
    const buffer = this.#buffer;
    const tail = this.#fill - length;
    if (more) {
      const next = blockBuffer(Math.max(this.#blockSize, 2 * tail));
      next.set(buffer.subarray(length, this.#fill));
      this.#buffer = next;
    } else {
      this.#buffer = new Uint8Array(0);
    }
    this.#fill = tail;
    const block: BytesBlock = { kind: 'bytes', source: this.#label, start: this.#offset, bytes: buffer.subarray(0, length) };
    this.#offset += length;
    // The block owns its buffer: the engine may move it to the worker instead of copying it.
    return markTransfer(block, [buffer.buffer]);
  }

  #grow(): void {
    const bigger = blockBuffer(this.#buffer.length * 2);
    bigger.set(this.#buffer.subarray(0, this.#fill));
    this.#buffer = bigger;
  }

  #onEvent = (): void => {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  };

  #onError = (error: Error): void => {
    if (this.#failure === undefined && !this.#closed) this.#failure = error;
    this.#onEvent();
  };

  #onEnd = (): void => {
    this.#ended = true;
    this.#onEvent();
  };

  #listen(stream: Readable): void {
    stream.on('readable', this.#onEvent);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
  }

  /** Sniffs the first two bytes for gzip (unless known), then reads through gunzip if so. */
  async #open(): Promise<void> {
    const raw = this.#raw;
    this.#listen(raw);
    if (this.#gzip === true) {
      this.#decompress(undefined);
      return;
    }
    let head: Uint8Array | undefined;
    while (head === undefined || head.length < 2) {
      const chunk = await this.#read();
      if (chunk === null) break;
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
    }
    if (head === undefined) return;
    this.#gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    if (this.#gzip) this.#decompress(head);
    else {
      this.#chunk = head;
      this.#chunkUsed = 0;
      // Read ahead up to a block: a stream that holds one small chunk at a time (a file stream
      // holds 64 KiB) would otherwise wait for each read while blocks wait for the workers, and
      // its reads would be latency-bound (one libuv round trip per 64 KiB).
      if (!this.#ended) this.#through(new PassThrough({ highWaterMark: this.#blockSize }), undefined);
    }
  }

  /** Reads the raw input through gunzip from here, `head` (already read) first. */
  #decompress(head: Uint8Array | undefined): void {
    this.#through(createGunzip(GUNZIP_OPTIONS), head);
  }

  /** Reads the raw input through `transform` from here, `head` (already read from it) first. */
  #through(transform: Duplex, head: Uint8Array | undefined): void {
    const raw = this.#raw;
    // pipe() needs the raw stream to flow, which a 'readable' listener prevents.
    raw.off('readable', this.#onEvent);
    raw.off('end', this.#onEnd);
    if (head !== undefined) transform.write(head);
    this.#stream = pipeline(raw, transform, (error) => {
      if (error) this.#onError(error);
    });
    this.#listen(transform);
  }

  /** The next chunk of bytes, or null at the end (or once closed). */
  async #read(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#closed) return null;
      const chunk: unknown = this.#stream.read();
      if (chunk !== null) {
        if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
        if (chunk instanceof Uint8Array) {
          if (chunk.length > 0) return chunk;
          continue;
        }
        throw new InvalidOptionError('input', chunk, 'a byte stream (chunks of Uint8Array)');
      }
      // A stream may emit any value as its error: it is passed on as emitted, not wrapped.
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- see above
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}
