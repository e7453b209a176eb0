/**
 * The checkpoint handle: where a worker-backed step records each input's result, and what says
 * which input an item is. It only holds configuration and counts; the records live in `store.ts`,
 * and the step that reads and writes them is `layer.ts`.
 *
 * @packageDocumentation
 */
import { resolve } from 'node:path';
import { InvalidOptionError } from '../errors.js';

/**
 * A function giving an item's fingerprint (what changes when the input changes).
 *
 * @example
 * ```ts
 * import type { Fingerprinter } from 'millrace';
 * const byVersion: Fingerprinter<{ id: string; version: number }> = (doc) => String(doc.version);
 * ```
 * @category Checkpoints
 */
// Checked bivariantly, like a method: a checkpoint for one item type fits options of a wider one.
export type Fingerprinter<In> = {
  /** Gives the item's fingerprint. */
  bivariant(item: In): string | Promise<string>;
}['bivariant'];

/**
 * A function giving an item's identity: items with one key are one input.
 *
 * @example
 * ```ts
 * import type { InputKey } from 'millrace';
 * const byId: InputKey<{ id: string; text: string }> = (doc) => doc.id;
 * ```
 * @category Checkpoints
 */
// Checked bivariantly, like a method (see Fingerprinter).
export type InputKey<In> = {
  /** Gives the item's key. */
  bivariant(item: In): string;
}['bivariant'];

/**
 * Options for {@link checkpoint}.
 *
 * @example
 * ```ts
 * import { checkpoint, type CheckpointOptions } from 'millrace';
 * const options: CheckpointOptions<{ id: string; text: string }> = { key: (doc) => doc.id, codeVersion: 'v2' };
 * const ckpt = checkpoint('.cache/ckpt-docs', options);
 * ```
 * @category Checkpoints
 */
export interface CheckpointOptions<In = unknown> {
  /**
   * The input's identity, for items that are neither paths nor blocks (and, when given, for those
   * too). Two items with one key are one input: the second reuses the first's result. Without it, a
   * string is a file's path, a {@link RangeBlock} its file and byte range, a {@link BytesBlock} its
   * source, offset and length; any other item fails the flow with an {@link InvalidOptionError}.
   * @defaultValue paths and blocks only
   */
  readonly key?: InputKey<In> | undefined;
  /**
   * When an input counts as changed: `'stat'` compares a file's size and modification time (a
   * rewrite of the same size within the file system's time granularity goes unseen); `'content'`
   * hashes the bytes (a file's, or a range block's own range); a function gives the fingerprint
   * itself. Items with a `key` function and no fingerprint function are fingerprinted by their
   * content (a hash of their structured clone); a {@link BytesBlock} always by its bytes.
   * @defaultValue `'stat'`
   */
  readonly fingerprint?: 'stat' | 'content' | Fingerprinter<In> | undefined;
  /**
   * The version of the task's code, part of every record's task identity: results recorded under
   * another version are never reused. Set it when a task depends on code outside its module (the
   * default only sees the module file itself), or to force a rerun.
   * @defaultValue a hash of the task module file's content (of every task module of the step)
   */
  readonly codeVersion?: string | undefined;
}

/**
 * A checkpoint: a directory where a worker-backed step records each input's result as it arrives,
 * so that a rerun with the same checkpoint sends only inputs that have no result yet (after a
 * crash), or that are new or changed (after new data came in). Made by {@link checkpoint}; pass it
 * as the `checkpoint` option of {@link parallelMap}, {@link unorderedMap}, {@link starMap} or the
 * two-tier {@link reduceBy}.
 *
 * @example
 * ```ts
 * import { checkpoint, flow, tasks, unorderedMap } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const ckpt = checkpoint('.cache/ckpt-handle', { key: String });
 * await flow([1, 2, 3]).pipe(unorderedMap(math.square, { checkpoint: ckpt })).toArray();
 * console.log(ckpt.dir.endsWith('ckpt-handle'), ckpt.computed + ckpt.resumed); // true 3
 * ```
 * @category Checkpoints
 */
export class Checkpoint<In = unknown> {
  /** The directory, absolute. */
  readonly dir: string;
  /** The options it was made with. */
  readonly options: CheckpointOptions<In>;
  #resumed = 0;
  #computed = 0;

  /**
   * Use {@link checkpoint} to make one.
   * @param dir - the directory
   * @param options - see {@link CheckpointOptions}
   */
  constructor(dir: string, options: CheckpointOptions<In> = {}) {
    if (typeof dir !== 'string' || dir === '') throw new InvalidOptionError('checkpoint', dir, 'a directory path');
    const { fingerprint, codeVersion } = options;
    const key: unknown = options.key;
    if (key !== undefined && typeof key !== 'function') throw new InvalidOptionError('key', key, 'a function (item) => string');
    if (fingerprint !== undefined && fingerprint !== 'stat' && fingerprint !== 'content' && typeof fingerprint !== 'function') {
      throw new InvalidOptionError('fingerprint', fingerprint, "'stat', 'content' or a function (item) => string");
    }
    if (codeVersion !== undefined && typeof codeVersion !== 'string') throw new InvalidOptionError('codeVersion', codeVersion, 'a string');
    this.dir = resolve(dir);
    this.options = options;
  }

  /** Inputs whose results came from the checkpoint (not sent to workers), over every run of this handle. */
  get resumed(): number {
    return this.#resumed;
  }

  /** Inputs sent to workers and recorded, over every run of this handle. */
  get computed(): number {
    return this.#computed;
  }

  /**
   * Counts an input (used by the checkpointed step).
   * @internal
   */
  count(how: 'resumed' | 'computed'): void {
    if (how === 'resumed') this.#resumed++;
    else this.#computed++;
  }
}

/**
 * Makes a {@link Checkpoint}: a directory (made when first used) where a worker-backed step records
 * each input's result, keyed by the input's identity and fingerprint and the task's identity. Run
 * the same pipeline again with it after a crash and only the inputs without a recorded result run;
 * run it again after new inputs came in and only those (and changed ones) run. One run at a time: a
 * second process is refused with a {@link CheckpointError} (`'locked'`). See the guide "Long jobs".
 *
 * @param dir - the directory; nothing else should live in it
 * @param options - see {@link CheckpointOptions}
 * @returns the handle, to pass as a step's `checkpoint` option; nothing is opened until a step runs
 * @throws {@link InvalidOptionError} for a bad `key`, `fingerprint` or `codeVersion`
 * @example
 * ```ts
 * import { checkpoint, flow, glob, tasks, unorderedMap } from 'millrace';
 * const logs = tasks<typeof import('./analysis.js')>(new URL('./analysis.js', import.meta.url));
 * const files = await glob('logs/*.log.gz', { sort: true }).toArray();
 * const ckpt = checkpoint('.cache/ckpt-logs');
 * const results = await flow(files).pipe(unorderedMap(logs.analysis, { checkpoint: ckpt })).toArray();
 * console.log(results.length === files.length); // true
 * ```
 * @category Checkpoints
 */
export function checkpoint<In = unknown>(dir: string, options: CheckpointOptions<In> = {}): Checkpoint<In> {
  return new Checkpoint(dir, options);
}
