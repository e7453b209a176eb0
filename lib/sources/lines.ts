/**
 * Text lines from files or byte streams, gzip decompressed transparently, decoded and split a chunk
 * at a time (a file is never held in memory whole). Usable on the main thread and inside task modules.
 *
 * @packageDocumentation
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { PassThrough, pipeline, Readable, type TransformOptions } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import split2 from 'split2';
import { MillraceError } from '../errors.js';
import { flow, type Flow } from '../flow.js';
import { defineOperator, type Operator } from '../operator.js';
import { batchReady, DONE, pullBatch, type Batch, type BatchIterator, type BatchPull } from '../batch-pull.js';

/**
 * Why a file could not be read as lines: `'missing'` (no such file), `'no-match'` (a pattern that
 * matches no file), `'not-gzip'` (named `.gz`
 * but without the gzip magic bytes), `'corrupt'` (gzip data that fails to decompress),
 * `'unreadable'` (any other I/O error: a directory, no permission, ...).
 *
 * @example
 * ```ts
 * import type { InputFileProblem } from 'millrace';
 * const problem: InputFileProblem = 'missing';
 * ```
 * @category Sources
 */
export type InputFileProblem = 'missing' | 'no-match' | 'not-gzip' | 'corrupt' | 'unreadable';

/**
 * A file (or byte stream) could not be read as text lines; names the file and says why.
 *
 * @example
 * ```ts
 * import { readLines, InputFileError } from 'millrace';
 * try {
 *   for await (const line of readLines('access.log.gz')) console.log(line);
 * } catch (error) {
 *   if (error instanceof InputFileError && error.problem === 'missing') console.error(`no file ${error.path}`);
 * }
 * ```
 * @category Errors
 */
export class InputFileError extends MillraceError {
  /** Always `'InputFileError'`; survives a trip through a worker, unlike the class. */
  override name = 'InputFileError';
  /** The file's path as given (or the stream's label). */
  readonly path: string;
  /** What went wrong; see {@link InputFileProblem}. */
  readonly problem: InputFileProblem;

  constructor(fields: { path: string; problem: InputFileProblem; cause?: unknown }) {
    // A missing "file" that is a pattern was meant for something that expands patterns.
    const hint =
      fields.problem === 'missing' && /[*?[{]/.test(fields.path)
        ? ' (readLines reads one file: for every file a pattern matches, use readBlocks(pattern), or glob(pattern) with flatMap(lines))'
        : '';
    super(
      `${fields.path}: ${describeProblem(fields.problem, fields.cause)}${hint}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.path = fields.path;
    this.problem = fields.problem;
  }
}

function describeProblem(problem: InputFileProblem, cause: unknown): string {
  const detail = cause instanceof Error ? cause.message : '';
  switch (problem) {
    case 'missing':
      return 'no such file';
    case 'no-match':
      return 'no file matches this pattern';
    case 'not-gzip':
      return 'named .gz but not gzip data (no gzip magic bytes 1f 8b at its start)';
    case 'corrupt':
      return `gzip data is corrupt or truncated (${detail})`;
    case 'unreadable':
      return `cannot be read (${detail})`;
  }
}

/**
 * Options for {@link readLines} and {@link lines}.
 *
 * @example
 * ```ts
 * import { readLines, type ReadLinesOptions } from 'millrace';
 * const options: ReadLinesOptions = { highWaterMark: 1 << 20, signal: AbortSignal.timeout(5_000) };
 * const count = (await readLines('legacy.log', options).toArray()).length;
 * ```
 * @category Sources
 */
export interface ReadLinesOptions {
  /**
   * Bytes read from the file at a time.
   * @defaultValue `262144` (256 KiB)
   */
  readonly highWaterMark?: number | undefined;
  /**
   * Where lines end, when not at newlines: a string or a regular expression, split by split2 as
   * the bytes stream in (a separator split between two reads is still found). The terminator is
   * not part of the line; no `\r` is stripped.
   * @defaultValue `\n`, with a `\r` before it stripped (the fastest path: each decoded chunk is split
   *   in one call)
   */
  readonly separator?: string | RegExp | undefined;
  /**
   * Aborting it stops reading and closes the file (only for {@link readLines}; {@link lines} uses
   * its flow's signal).
   * @defaultValue none
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * What {@link readLines} reads: a file path or `file:` URL, or a byte stream (a Node `Readable`
 * or any async iterable of `Uint8Array` chunks).
 *
 * @example
 * ```ts
 * import { createReadStream } from 'node:fs';
 * import type { LineInput } from 'millrace';
 * const inputs: LineInput[] = ['a.log', new URL('file:///var/log/b.log.gz'), createReadStream('c.log')];
 * ```
 * @category Sources
 */
export type LineInput = string | URL | Readable | AsyncIterable<Uint8Array>;

const GZIP_NAME = /\.gz$/i;

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
/**
 * gunzip's options: larger output chunks than its 16 KiB default (fewer, larger splits), and room to
 * decompress ahead of the reader in the libuv pool while lines are parsed. zlib streams take
 * stream options, though `ZlibOptions` does not list them.
 */
const GUNZIP_OPTIONS: ZlibOptions & TransformOptions = { chunkSize: 64 * 1024, readableHighWaterMark: 256 * 1024 };

/**
 * Reads the UTF-8 text lines of a file or byte stream as a lazy {@link Flow}. Gzip data is decompressed
 * transparently: a file named `.gz` must start with the gzip magic bytes; any other input is
 * sniffed for them. Lines end at `\n` or `\r\n` (the terminator is not part of the line); a last
 * line without a newline is still a line; an empty input has no lines. Memory use is bounded by
 * the read buffer and the longest line, whatever the file's size.
 *
 * @param input - a file path, a `file:` URL, a Node `Readable` of bytes, or any async iterable of
 *   `Uint8Array` chunks
 * @param options - see {@link ReadLinesOptions}
 * @returns a flow of lines; nothing is opened until it is consumed, and stopping early closes the
 *   file
 * @throws {@link InputFileError} when consumed, naming the file: it is missing (`'missing'`), is
 *   named `.gz` but is not gzip (`'not-gzip'`), holds corrupt gzip data (`'corrupt'`), or cannot
 *   be read (`'unreadable'`)
 * @example
 * ```ts
 * import { readLines } from 'millrace';
 * let errors = 0;
 * for await (const line of readLines('logs/access.log.gz')) if (line.includes('" 500 ')) errors++;
 * console.log(errors);
 * ```
 * @category Sources
 * @see {@link lines} for the operator form over a flow of paths
 */
export function readLines(input: LineInput, options: ReadLinesOptions = {}): Flow<string> {
  const source: AsyncIterable<string> = { [Symbol.asyncIterator]: () => openLines(input, options) };
  return flow(source, options.signal ? { signal: options.signal } : {});
}

/**
 * An operator from file paths to the text lines of each file, in order, read as
 * {@link readLines} does (gzip decompressed transparently).
 *
 * @param options - see {@link ReadLinesOptions} (`signal` is ignored: the flow's signal applies)
 * @returns an {@link Operator} from paths (or `file:` URLs) to lines
 * @throws {@link InputFileError} through the flow, naming the file that failed
 * @example
 * ```ts
 * import { glob, lines, filter } from 'millrace';
 * const errors = await glob('logs/*.log.gz', { sort: true })
 *   .pipe(lines(), filter((line) => line.includes(' 500 ')))
 *   .toArray();
 * ```
 * @category Sources
 * @see {@link readLines} for one file or stream
 */
export function lines(options: Omit<ReadLinesOptions, 'signal'> = {}): Operator<string | URL, string> {
  return defineOperator<string | URL, string>('lines', async function* (paths) {
    for await (const path of paths) {
      const iterator = openLines(path, options);
      try {
        for (;;) {
          const result = await iterator.next();
          if (result.done) break;
          yield result.value;
        }
      } finally {
        await iterator.return?.();
      }
    }
  });
}

/** The label errors use for an input (also readBlocks'). */
export function labelOf(input: LineInput): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.protocol === 'file:' ? fileURLToPath(input) : input.href;
  const path = (input as { path?: unknown }).path;
  return typeof path === 'string' ? path : Buffer.isBuffer(path) ? path.toString() : 'byte stream';
}

/** The error to report for a failure reading `label`: an {@link InputFileError} where it says why (also readBlocks'). */
export function errorFor(label: string, error: unknown, gzip: boolean): unknown {
  if (error instanceof InputFileError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return new InputFileError({ path: label, problem: 'missing', cause: error });
  if (gzip && typeof code === 'string' && code.startsWith('Z_'))
    return new InputFileError({ path: label, problem: 'corrupt', cause: error });
  if (code === 'ERR_STREAM_PREMATURE_CLOSE') return error;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new InputFileError({ path: label, problem: 'unreadable', cause: error });
  return error;
}

/** What a line iterator holds before its first read. */
const NO_LINES: readonly string[] = Object.freeze([]);

/**
 * The line iterator over one input: the first chunk is read to sniff the gzip magic bytes, then the
 * bytes flow through gunzip (for gzip data) in one stream pipeline, and each chunk read from it is
 * decoded (a streaming UTF-8 decoder: a character split between chunks is kept whole) and split on
 * `\n` into an array of lines, the unfinished last piece carried into the next chunk. A string
 * split per chunk costs about half of a line splitter that pushes each line through a stream
 * buffer, and the array is what {@link pullBatch} hands over: a sink takes a chunk's lines in one
 * call. Only one chunk's lines are held at a time; the next chunk is read when they are taken.
 * A custom `separator` goes through split2 instead, one line per read: the general splitter.
 */
class LineIterator implements BatchIterator<string> {
  readonly #input: LineInput;
  readonly #options: ReadLinesOptions;
  readonly #label: string;
  /** The bytes lines are decoded from (gunzip's output for gzip data). */
  #stream: Readable | undefined;
  #bytes: AsyncIterator<Uint8Array> | undefined;
  #opening: Promise<void> | undefined;
  readonly #decoder = new StringDecoder('utf8');
  /** The lines of the last chunk, and how many of them were handed over. */
  #lines: readonly string[] = NO_LINES;
  #taken = 0;
  /** The start of a line whose end has not been read yet. */
  #partial = '';
  #gzip = false;
  /** Lines come out of split2 one per read (a custom separator). */
  #splitter = false;
  #ended = false;
  #failure: unknown;
  #done = false;
  #wake: (() => void) | undefined;

  /** A pull hands over only lines already decoded; more are read only when none are left. */
  readonly [batchReady] = true;

  constructor(input: LineInput, options: ReadLinesOptions) {
    this.#input = input;
    this.#options = options;
    this.#label = labelOf(input);
  }

  next(): Promise<IteratorResult<string>> {
    if (this.#taken < this.#lines.length) return Promise.resolve({ done: false, value: this.#lines[this.#taken++]! });
    return this.#fill().then((more): IteratorResult<string> =>
      more ? { done: false, value: this.#lines[this.#taken++]! } : { done: true, value: undefined },
    );
  }

  [pullBatch](max: number): BatchPull<string> {
    if (this.#taken < this.#lines.length) return this.#take(max);
    return this.#fill().then((more) => (more ? this.#take(max) : DONE));
  }

  async return(): Promise<IteratorResult<string>> {
    this.#done = true;
    this.#lines = NO_LINES;
    await this.#close();
    return { done: true, value: undefined };
  }

  /** Up to `max` of the decoded lines: the whole array when it fits, as most pulls ask. */
  #take(max: number): Batch<string> {
    const lines = this.#lines;
    const from = this.#taken;
    if (from === 0 && lines.length <= max) {
      this.#taken = lines.length;
      return { items: lines, done: false };
    }
    const to = Math.min(lines.length, from + max);
    this.#taken = to;
    return { items: lines.slice(from, to), done: false };
  }

  /** Reads until there are lines to hand over (true) or the input has ended (false). */
  async #fill(): Promise<boolean> {
    try {
      for (;;) {
        if (this.#done) return false;
        const stream = this.#stream;
        if (stream === undefined) {
          this.#opening ??= this.#open();
          await this.#opening;
          continue;
        }
        const chunk: unknown = stream.read();
        if (chunk !== null) {
          if (this.#splitter) {
            this.#lines = [chunk as string];
            this.#taken = 0;
            return true;
          }
          if (this.#split(this.#decoder.write(chunk as Buffer))) return true;
          continue;
        }
        // A stream may emit any value as its error: it is passed on as emitted, not wrapped.
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- see above
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#ended) {
          this.#done = true;
          // A last line without a newline is still a line.
          const last = this.#partial + this.#decoder.end();
          this.#partial = '';
          if (last.length === 0) return false;
          this.#lines = [last];
          this.#taken = 0;
          return true;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } catch (error) {
      this.#done = true;
      this.#lines = NO_LINES;
      await this.#close();
      throw errorFor(this.#label, error, this.#gzip);
    }
  }

  /**
   * Splits decoded text (after the carried partial line) into lines; whether there were any. A
   * `\r` is stripped only from a line whose `\n` has been read, so a CRLF split between two
   * chunks is still one terminator.
   */
  #split(text: string): boolean {
    const pieces = (this.#partial + text).split('\n');
    this.#partial = pieces.pop()!;
    const count = pieces.length;
    if (count === 0) return false;
    for (let i = 0; i < count; i++) {
      const piece = pieces[i]!;
      if (piece.charCodeAt(piece.length - 1) === 13) pieces[i] = piece.slice(0, -1);
    }
    this.#lines = pieces;
    this.#taken = 0;
    return true;
  }

  #onEvent = (): void => {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  };

  async #close(): Promise<void> {
    const stream = this.#stream;
    const bytes = this.#bytes;
    this.#bytes = undefined;
    this.#onEvent();
    // Destroying the last stream of the pipeline destroys the others, closing the file.
    if (stream && !stream.destroyed) stream.destroy();
    else if (bytes) await bytes.return?.();
  }

  async #open(): Promise<void> {
    const input = this.#input;
    const isFile = typeof input === 'string' || input instanceof URL;
    const raw: AsyncIterable<Uint8Array> = isFile
      ? createReadStream(input, { highWaterMark: this.#options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK })
      : input;
    const bytes = raw[Symbol.asyncIterator]();
    this.#bytes = bytes;
    const first = await bytes.next();
    if (first.done || first.value.length === 0) {
      // Nothing to decode: an empty input has no lines (even when named .gz).
      this.#done = true;
      await this.#close();
      return;
    }
    let head = first.value;
    if (head.length < 2) {
      // One byte is not enough to tell; read one more chunk.
      const second = await bytes.next();
      if (!second.done) head = Buffer.concat([head, second.value]);
    }
    this.#gzip = head[0] === 0x1f && head[1] === 0x8b;
    if (!this.#gzip && isFile && GZIP_NAME.test(basename(this.#label))) {
      throw new InputFileError({ path: this.#label, problem: 'not-gzip' });
    }
    if (this.#done) {
      // return() was called while opening.
      await this.#close();
      return;
    }
    const restored = Readable.from(prepend(head, bytes), { objectMode: false });
    // Readable.from's stream owns `bytes` from here: destroying the pipeline calls its return().
    this.#bytes = undefined;
    const onDone = (error: Error | null | undefined): void => {
      if (error && this.#failure === undefined && !this.#done) this.#failure = error;
      this.#onEvent();
    };
    // Plain text goes through a PassThrough too: a failure of either stream then reaches the pipeline's
    // callback, and destroying the last stream of the pipeline closes them all.
    const separator = this.#options.separator;
    let stream: Readable;
    if (separator !== undefined) {
      // split2 decodes UTF-8 across reads and finds a separator split between two of them.
      this.#splitter = true;
      stream = this.#gzip
        ? pipeline(restored, createGunzip(GUNZIP_OPTIONS), split2(separator), onDone)
        : pipeline(restored, split2(separator), onDone);
    } else {
      stream = this.#gzip
        ? pipeline(restored, createGunzip(GUNZIP_OPTIONS), onDone)
        : pipeline(restored, new PassThrough({ highWaterMark: this.#options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK }), onDone);
    }
    // The pipeline's callback may come after gunzip's own error event: listen to it directly too.
    stream.on('error', onDone);
    stream.on('readable', this.#onEvent);
    stream.on('end', () => {
      this.#ended = true;
      this.#onEvent();
    });
    this.#stream = stream;
  }
}

function openLines(input: LineInput, options: ReadLinesOptions): BatchIterator<string> {
  return new LineIterator(input, options);
}

async function* prepend(head: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield head;
    for (;;) {
      const result = await rest.next();
      if (result.done) return;
      yield result.value;
    }
  } finally {
    await rest.return?.();
  }
}
