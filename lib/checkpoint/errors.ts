/**
 * The one error a checkpoint fails with: it is held by another run, or what it holds cannot be
 * trusted. Never a wrong result: a checkpoint that fails its checks is refused, not read.
 *
 * @packageDocumentation
 */
import { MillraceError } from '../errors.js';

/**
 * Why a {@link CheckpointError} was thrown: `'locked'` another run (process) holds the checkpoint;
 * `'foreign'` the directory holds files that are not a millrace checkpoint (or one of a newer
 * format); `'damaged'` a record fails its checksum or shape check where a crash cannot have left it
 * (a torn last record, what a kill mid-write leaves, is dropped with a warning instead).
 *
 * @example
 * ```ts
 * import type { CheckpointErrorReason } from 'millrace';
 * const retryable = (reason: CheckpointErrorReason): boolean => reason === 'locked';
 * ```
 * @category Errors
 */
export type CheckpointErrorReason = 'locked' | 'foreign' | 'damaged';

/**
 * A checkpoint cannot be used: another run holds it, or its files are not (or no longer) a
 * millrace checkpoint. The message names the directory and the file, and says what to do.
 *
 * @example
 * ```ts
 * import { checkpoint, CheckpointError, flow, tasks, unorderedMap } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * try {
 *   await flow([1, 2]).pipe(unorderedMap(math.square, { checkpoint: checkpoint('.cache/ckpt-errors', { key: String }) })).toArray();
 * } catch (error) {
 *   if (error instanceof CheckpointError && error.reason === 'locked') console.error(`in use by process ${error.pid}`);
 * }
 * ```
 * @category Errors
 */
export class CheckpointError extends MillraceError {
  override name = 'CheckpointError';
  /** What is wrong; see {@link CheckpointErrorReason}. */
  readonly reason: CheckpointErrorReason;
  /** The checkpoint's directory, as given. */
  readonly dir: string;
  /** The file that failed its check (the lock, the format file, the record log). */
  readonly path: string;
  /** `'locked'`: the process that holds the lock. */
  readonly pid: number | undefined;
  /** `'damaged'`: the byte offset of the first record that failed its check. */
  readonly offset: number | undefined;
  constructor(fields: {
    reason: CheckpointErrorReason;
    dir: string;
    path: string;
    message: string;
    pid?: number | undefined;
    offset?: number | undefined;
    cause?: unknown;
  }) {
    super(`checkpoint ${fields.dir}: ${fields.message}`, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.reason = fields.reason;
    this.dir = fields.dir;
    this.path = fields.path;
    this.pid = fields.pid;
    this.offset = fields.offset;
  }
}
