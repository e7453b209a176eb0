/**
 * The file sink behind {@link Flow.writeLines}: lines (or bytes) to a temporary file next to the
 * target, gzipped when asked, renamed onto the target only when the flow succeeds.
 *
 * @packageDocumentation
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

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
    await this.#flush();
    this.#head.end();
    await this.#finished;
    if (!this.#file.closed) await once(this.#file, 'close');
    await rename(this.#temporary, this.#path);
  }

  /** Stops writing and removes the temporary file; the target is left as it was. */
  async discard(): Promise<void> {
    this.#head.destroy();
    this.#file.destroy();
    if (!this.#file.closed) await once(this.#file, 'close').catch(() => undefined);
    await rm(this.#temporary, { force: true });
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
