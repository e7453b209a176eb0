/**
 * Where a record came from: when a task throws while it iterates {@link blockLines}, the worker
 * names the line it was on (file, 1-based line number, byte offset), so a user can find line
 * 37,123 of their file. The iteration only counts lines (one store a line); the position is worked
 * out from the file on the error path alone.
 *
 * @packageDocumentation
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';

/**
 * Where the line a task was reading when it failed lies in its input.
 *
 * @example
 * ```ts
 * import type { RecordPosition } from 'millrace';
 * const where = (position: RecordPosition) => `${position.source}:${position.line ?? '?'} (byte ${position.byteOffset})`;
 * ```
 * @category Errors
 */
export interface RecordPosition {
  /** The input: a file's path, or a stream's label. */
  readonly source: string;
  /** The line's 1-based number in the input; undefined when the input cannot be read again (a stream). */
  readonly line: number | undefined;
  /** The line's 1-based number within its block. */
  readonly lineInBlock: number;
  /** The offset of the line's first byte in the input (in the decompressed data, for gzip). */
  readonly byteOffset: number;
}

/** The block fields a position is worked out from (a {@link RangeBlock} or a {@link BytesBlock}). */
type LocatableBlock =
  | { readonly kind: 'range'; readonly path: string; readonly start: number; readonly end: number }
  | { readonly kind: 'bytes'; readonly source: string; readonly start: number; readonly bytes: Uint8Array };

/** The line a live `blockLines` iteration is on: its block, and lines yielded before it. */
export interface LineCursor {
  readonly block: LocatableBlock;
  /** 0-based index of the line last yielded within the block (-1 before the first). */
  line: number;
  /** Lines split at `\n` (a custom separator's records are not lines of the file). */
  readonly newlines: boolean;
}

interface CursorHolder {
  current: LineCursor | undefined;
}

const KEY = Symbol.for('millrace.lineCursor');

/**
 * The cursor shared by `blockLines` (in a task module) and the worker that runs the task: on the
 * global object, so one module instance or two (the worker's and the task's `millrace`) agree.
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- absent until the first module sets it (typescript-eslint issue 10440)
export const lineCursor: CursorHolder = ((globalThis as { [KEY]?: CursorHolder })[KEY] ??= { current: undefined });

/** Where the cursor's line is, read from the input again; undefined when it cannot be told. */
export async function locate(cursor: LineCursor): Promise<RecordPosition | undefined> {
  if (cursor.line < 0) return undefined;
  const block = cursor.block;
  const source = block.kind === 'range' ? block.path : block.source;
  if (!cursor.newlines) return { source, line: undefined, lineInBlock: cursor.line + 1, byteOffset: block.start };
  try {
    const bytes = block.kind === 'bytes' ? block.bytes : readAt(block.path, block.start, block.end - block.start);
    const byteOffset = block.start + nthLineStart(bytes, cursor.line);
    const before = block.kind === 'range' ? countNewlines(block.path, block.start) : await countDecodedNewlines(source, block.start);
    return { source, line: before === undefined ? undefined : before + cursor.line + 1, lineInBlock: cursor.line + 1, byteOffset };
  } catch {
    // The input changed or vanished since: say what is still known.
    return { source, line: undefined, lineInBlock: cursor.line + 1, byteOffset: block.start };
  }
}

/** Where the `n`-th (0-based) line of `bytes` starts. */
function nthLineStart(bytes: Uint8Array, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) {
    const newline = bytes.indexOf(10, at);
    if (newline < 0) break;
    at = newline + 1;
  }
  return at;
}

function readAt(path: string, start: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    let read = 0;
    while (read < length) {
      const count = readSync(fd, buffer, read, length - read, start + read);
      if (count === 0) break;
      read += count;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Newlines in the first `end` bytes of a plain file. */
function countNewlines(path: string, end: number): number {
  const piece = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  try {
    let count = 0;
    for (let at = 0; at < end;) {
      const read = readSync(fd, piece, 0, Math.min(piece.length, end - at), at);
      if (read === 0) break;
      count += newlinesIn(piece, read);
      at += read;
    }
    return count;
  } finally {
    closeSync(fd);
  }
}

/** Newlines in the first `end` bytes of a file's (decompressed, for gzip) data; undefined for a source that is no file. */
async function countDecodedNewlines(source: string, end: number): Promise<number | undefined> {
  let gzip: boolean;
  try {
    if (!statSync(source).isFile()) return undefined;
    const head = readAt(source, 0, 2);
    gzip = head[0] === 0x1f && head[1] === 0x8b;
  } catch {
    return undefined;
  }
  if (!gzip) return countNewlines(source, end);
  let count = 0;
  let seen = 0;
  const input = createReadStream(source);
  const inflate = input.pipe(createGunzip());
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) {
      const take = Math.min(chunk.length, end - seen);
      count += newlinesIn(chunk, take);
      seen += take;
      if (seen >= end) break;
    }
  } finally {
    input.destroy();
    inflate.destroy();
  }
  return count;
}

function newlinesIn(bytes: Buffer, length: number): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at >= 0 && at < length; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}
