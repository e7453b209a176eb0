/**
 * The file sink behind {@link Flow.writeLines}: lines (or bytes) to a temporary file next to the
 * target, gzipped when asked, renamed onto the target only when the flow succeeds. A process
 * ended by a signal meanwhile (Ctrl-C, SIGTERM, SIGHUP) or by `process.exit` leaves no temporary
 * file behind, as write-file-atomic does with signal-exit.
 *
 * @packageDocumentation
 */
import { once } from 'node:events';
import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MillraceError } from '../errors.js';

/**
 * Why {@link Flow.writeLines} could not write its file: `'missing-folder'` (the folder it should
 * be in does not exist: it is not made for you, so a mistyped path is not silently created), or
 * `'unwritable'` (any other I/O error: no permission, a full disk, ...).
 *
 * @example
 * ```ts
 * import type { OutputFileProblem } from 'millrace';
 * const problem: OutputFileProblem = 'missing-folder';
 * ```
 * @category Sinks
 */
export type OutputFileProblem = 'missing-folder' | 'unwritable';

/**
 * A file could not be written by {@link Flow.writeLines}; names the file as given (not the
 * temporary file it is written under) and says why. The target is left as it was.
 *
 * @example
 * ```ts
 * import { flow, OutputFileError } from 'millrace';
 * try {
 *   await flow(['a']).writeLines('no/such/folder/out.txt');
 * } catch (error) {
 *   if (error instanceof OutputFileError) console.log(error.problem); // missing-folder
 * }
 * ```
 * @category Errors
 */
export class OutputFileError extends MillraceError {
  override name = 'OutputFileError';
  /** The file's path, as given. */
  readonly path: string;
  /** What went wrong; see {@link OutputFileProblem}. */
  readonly problem: OutputFileProblem;
  /** The I/O error's code (`'ENOENT'`, `'EACCES'`, ...), as Node's own errors carry it. */
  readonly code: string | undefined;
  /**
   * @param fields - the path as given, the problem, and the I/O error behind it
   */
  constructor(fields: { path: string; problem: OutputFileProblem; cause?: unknown }) {
    const detail = fields.cause instanceof Error ? fields.cause.message : String(fields.cause);
    super(
      fields.problem === 'missing-folder'
        ? `${fields.path}: cannot write, the folder ${dirname(fields.path)} does not exist`
        : `${fields.path}: cannot write (${detail})`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.path = fields.path;
    this.problem = fields.problem;
    const code = (fields.cause as { code?: unknown } | undefined)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** Temporary files being written in this process: removed if a signal or process.exit ends it. */
const temporaries = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeTemporaries(): void {
  for (const path of temporaries) {
    try {
      rmSync(path, { force: true });
    } catch {
      // The process is ending: nothing more can be done about it.
    }
  }
  temporaries.clear();
}

/**
 * On a signal nobody else listens for, the process is about to die by it: remove the temporaries,
 * then die by it as it would have (signal-exit's way). When the program listens too, it decides
 * (main.ts aborts its flow, whose sink discards its file; a process.exit meets the exit handler).
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  removeTemporaries();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on('exit', removeTemporaries);
}

function uninstall(): void {
  for (const signal of SIGNALS) process.off(signal, onSignal);
  process.off('exit', removeTemporaries);
}

function track(path: string): void {
  if (temporaries.size === 0) install();
  temporaries.add(path);
}

function untrack(path: string): void {
  // Only while tracked: a signal's cleanup may have cleared the set and uninstalled already.
  if (temporaries.delete(path) && temporaries.size === 0) uninstall();
}

/** The error a write of `path` fails with: the user's path, not the temporary one. */
function outputError(path: string, error: unknown): OutputFileError {
  const code = (error as NodeJS.ErrnoException).code;
  return new OutputFileError({ path, problem: code === 'ENOENT' ? 'missing-folder' : 'unwritable', cause: error });
}

/**
 * Options for {@link Flow.writeLines}.
 *
 * @example
 * ```ts
 * import { flow, type WriteLinesOptions } from 'millrace';
 * const options: WriteLinesOptions = { gzip: true, separator: '\r\n' };
 * await flow(['a', 'b']).writeLines('out.txt.gz', options);
 * ```
 * @category Sinks
 */
export interface WriteLinesOptions {
  /**
   * Compress the file with gzip.
   * @defaultValue `true` when the path ends in `.gz`, else `false`
   */
  readonly gzip?: boolean | undefined;
  /**
   * Written after every item; `''` writes the items back to back (bytes as they are).
   * @defaultValue `'\n'`
   */
  readonly separator?: string | undefined;
}

/** Bytes gathered before one write to the stream: a write per line would cost more than the line. */
const FLUSH_BYTES = 64 * 1024;

/**
 * A file being written under a temporary name in the target's directory (so the final rename
 * stays on one file system and is atomic).
 */
export class FileSink {
  readonly #path: string;
  readonly #temporary: string;
  readonly #separator: string;
  readonly #file: WriteStream;
  readonly #head: Writable;
  /** Settles when every stream has finished (or one has failed). */
  readonly #finished: Promise<void>;
  #parts: (string | Uint8Array)[] = [];
  #bytes = 0;

  constructor(path: string, options: WriteLinesOptions = {}) {
    this.#path = path;
    this.#separator = options.separator ?? '\n';
    this.#temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
    // 'wx': never write into a file someone else made under the same name.
    this.#file = createWriteStream(this.#temporary, { flags: 'wx' });
    track(this.#temporary);
    if (options.gzip ?? path.endsWith('.gz')) {
      const gzip = createGzip();
      this.#head = gzip;
      this.#finished = pipeline(gzip, this.#file);
    } else {
      this.#head = this.#file;
      this.#finished = once(this.#file, 'finish').then(() => undefined);
    }
    // Observed by commit() or discard(); until then a failure must not be an unhandled rejection.
    this.#finished.catch(() => undefined);
  }

  /** Adds one item; returns a promise when the stream wants the writer to wait (backpressure). */
  push(value: string | Uint8Array): Promise<void> | undefined {
    const flushed = this.#push(value);
    return flushed?.catch((error: unknown) => {
      throw outputError(this.#path, error);
    });
  }

  #push(value: string | Uint8Array): Promise<void> | undefined {
    this.#parts.push(value);
    this.#bytes += typeof value === 'string' ? value.length : value.byteLength;
    if (this.#separator !== '') {
      this.#parts.push(this.#separator);
      this.#bytes += this.#separator.length;
    }
    return this.#bytes >= FLUSH_BYTES ? this.#flush() : undefined;
  }

  /** Writes what is gathered and finishes the file, then renames it onto the target. */
  async commit(): Promise<void> {
    try {
      await this.#flush();
      this.#head.end();
      await this.#finished;
      if (!this.#file.closed) await once(this.#file, 'close');
      await rename(this.#temporary, this.#path);
    } catch (error) {
      throw outputError(this.#path, error);
    }
    untrack(this.#temporary);
  }

  /** Stops writing and removes the temporary file; the target is left as it was. */
  async discard(): Promise<void> {
    this.#head.destroy();
    this.#file.destroy();
    if (!this.#file.closed) await once(this.#file, 'close').catch(() => undefined);
    await rm(this.#temporary, { force: true });
    untrack(this.#temporary);
  }

  #flush(): Promise<void> | undefined {
    if (this.#parts.length === 0) return undefined;
    const parts = this.#parts;
    this.#parts = [];
    this.#bytes = 0;
    const chunk = Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)));
    if (this.#head.write(chunk)) return undefined;
    // Rejects if the stream fails instead of draining (events.once listens for 'error').
    return once(this.#head, 'drain').then(() => undefined);
  }
}
