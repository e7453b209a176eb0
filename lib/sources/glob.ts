/**
 * File paths matching glob patterns, as a lazy flow backed by fast-glob's stream.
 *
 * @packageDocumentation
 */
import type fastGlob from 'fast-glob';
import { InvalidOptionError } from '../errors.js';
import { flow, type Flow } from '../flow.js';

/**
 * Options for {@link glob}: fast-glob's own options (`cwd`, `ignore`, `absolute`, `dot`, `deep`,
 * `onlyFiles`, `followSymbolicLinks`, `caseSensitiveMatch`, `fs`, ...; see fast-glob's
 * documentation), passed through, plus `sort` and `signal`. `objectMode` and `stats` are not
 * accepted: the flow is of path strings.
 *
 * @example
 * ```ts
 * import { glob, type GlobOptions } from 'millrace';
 * const options: GlobOptions = { cwd: '/var/log/nginx', absolute: true, sort: true };
 * const paths = await glob('access.log*.gz', options).toArray();
 * ```
 * @category Sources
 */
export interface GlobOptions extends Readonly<Omit<fastGlob.Options, 'objectMode' | 'stats'>> {
  /**
   * Emit the paths sorted (by code unit), for reproducible runs. Sorting needs every path first:
   * the walk completes before the first path is emitted (paths are buffered, never file contents).
   * @defaultValue `false`: paths in the order the walk finds them
   */
  readonly sort?: boolean | undefined;
  /**
   * Aborting it stops the walk and fails the flow with the signal's reason.
   * @defaultValue none
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The paths matching glob patterns, as a lazy {@link Flow}: the directory walk starts only when
 * the flow is consumed, and stops (fast-glob's stream is destroyed) when the flow ends early,
 * fails or is aborted. Paths are relative to `cwd` unless `absolute` is set, as fast-glob returns
 * them.
 *
 * @param patterns - one pattern or several (fast-glob syntax; `!pattern` excludes)
 * @param options - fast-glob's options plus `sort` and `signal`; see {@link GlobOptions}
 * @returns a flow of matching paths (files only, unless `onlyFiles: false`)
 * @throws {@link InvalidOptionError} at once when `patterns` is not a string or an array of
 *   strings; the flow fails with fast-glob's error when the walk fails (e.g. with
 *   `suppressErrors: false` and an unreadable directory)
 * @example
 * ```ts
 * import { glob, unorderedMap, tasks } from 'millrace';
 * const logs = tasks<typeof import('./analysis.js')>(new URL('./analysis.js', import.meta.url));
 * for await (const result of glob('logs/*.gz', { sort: true }).pipe(unorderedMap(logs.analysis))) {
 *   console.log(result);
 * }
 * ```
 * @category Sources
 */
export function glob(patterns: string | readonly string[], options: GlobOptions = {}): Flow<string> {
  const list = typeof patterns === 'string' ? [patterns] : patterns;
  // Checked for JavaScript callers, through an `unknown` copy so that Array.isArray does not narrow
  // `list` to any[].
  const checked: unknown = list;
  if (!Array.isArray(checked) || list.some((pattern) => typeof pattern !== 'string')) {
    throw new InvalidOptionError('patterns', patterns, 'a glob pattern string or an array of them');
  }
  const { sort = false, signal, ...fastGlobOptions } = options;
  const source: AsyncIterable<string> = sort
    ? { [Symbol.asyncIterator]: () => sortedPaths([...list], fastGlobOptions) }
    : { [Symbol.asyncIterator]: () => new PathIterator([...list], fastGlobOptions) };
  return flow(source, signal ? { signal } : {});
}

/**
 * Reads fast-glob's stream, started on the first `next()`. `return()` destroys the stream, which
 * fast-glob propagates to its directory walkers, so an early stop ends the walk.
 */
class PathIterator implements AsyncIterator<string> {
  readonly #patterns: string[];
  readonly #options: fastGlob.Options;
  #stream: (NodeJS.ReadableStream & { destroy(): void }) | undefined;
  #iterator: AsyncIterator<string> | undefined;
  #done = false;

  constructor(patterns: string[], options: fastGlob.Options) {
    this.#patterns = patterns;
    this.#options = options;
  }

  async next(): Promise<IteratorResult<string>> {
    if (this.#done) return { done: true, value: undefined };
    if (!this.#iterator) {
      // Loaded on first use: task modules import 'millrace' in every worker, and most never glob.
      const { default: fastGlob } = await import('fast-glob');
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- return() may have run during the await
      if (this.#done) return { done: true, value: undefined };
      this.#stream = fastGlob.stream(this.#patterns, { ...this.#options, objectMode: false, stats: false }) as NodeJS.ReadableStream & {
        destroy(): void;
      };
      this.#iterator = (this.#stream as AsyncIterable<string>)[Symbol.asyncIterator]();
    }
    try {
      const result = await this.#iterator.next();
      if (result.done) this.#done = true;
      return result;
    } catch (error) {
      this.#done = true;
      this.#stream?.destroy();
      throw error;
    }
  }

  async return(): Promise<IteratorResult<string>> {
    this.#done = true;
    // Destroy first: the stream's iterator would do it too, but only once a pending read settles.
    this.#stream?.destroy();
    await this.#iterator?.return?.();
    return { done: true, value: undefined };
  }
}

async function* sortedPaths(patterns: string[], options: fastGlob.Options): AsyncGenerator<string> {
  const iterator = new PathIterator(patterns, options);
  const paths: string[] = [];
  try {
    for (;;) {
      const result = await iterator.next();
      if (result.done) break;
      paths.push(result.value);
    }
  } finally {
    await iterator.return();
  }
  // Code-unit order, not locale order: the same on every machine.
  paths.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  yield* paths;
}
