/**
 * What a remote worker checks before it runs a job, because anyone who can write to the Redis can
 * write a job: the job's shape and size ({@link checkJob}), and which task modules it may load
 * ({@link ModulePolicy}): only files whose real path lies inside the worker's real `--root`, and
 * only those of its allow-list when it has one. Nothing here imports a queue library.
 *
 * @packageDocumentation
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidOptionError } from '../../errors.js';
import type { ChunkRequest, TaskSpec } from '../../backend.js';
import { decode, type JobData } from './protocol.js';

/** The most items a job may carry, unless the worker says otherwise (`maxJobItems`). */
export const DEFAULT_MAX_JOB_ITEMS = 1_000_000;
/** The most bytes a job's encoded chunk may have, unless the worker says otherwise (`maxJobBytes`): 64 MiB. */
export const DEFAULT_MAX_JOB_BYTES = 64 * 1024 * 1024;
/** Longer module paths and export names are not written by a millrace producer. */
const MAX_NAME_LENGTH = 4_096;
/** How many items of a `call` chunk may run at once on one thread (a producer sends a few). */
const MAX_ITEM_CONCURRENCY = 1_000_000;

/** A job the worker will not run, and why; becomes the job's failure (kind `'refused'`). */
export class Refusal extends Error {
  override name = 'Refusal';
  constructor(
    readonly reason: 'module' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

/** The field BullMQ's job data is replaced with when it is not JSON (see the worker's `createJob`). */
export const UNPARSABLE = 'millrace:unparsable';

/** A job's data, checked: a {@link JobData} whose request decodes to a well-formed chunk. */
export interface CheckedJob {
  readonly data: JobData;
  /** The decoded request, task modules still named as the job names them. */
  readonly request: ChunkRequest;
}

/** The limits a worker applies to each job. */
export interface JobLimits {
  readonly maxItems: number;
  readonly maxBytes: number;
}

/**
 * Checks a job's data and decodes its request, or throws a {@link Refusal} (`'malformed'`) saying
 * what is wrong. Bounded work: the size is checked before anything is decoded. The protocol and
 * code version are compared by the caller, which reports them as errors of their own.
 */
export function checkJobData(data: unknown): JobData {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Refusal('malformed', 'the job data is not an object');
  const record = data as Record<string, unknown>;
  if (typeof record[UNPARSABLE] === 'string') throw new Refusal('malformed', `the job's ${record[UNPARSABLE]} is not JSON`);
  if (typeof record['protocol'] !== 'number') throw new Refusal('malformed', 'the job has no numeric protocol: not a millrace chunk job');
  if (typeof record['codeVersion'] !== 'string') throw new Refusal('malformed', 'the job has no codeVersion string');
  if (typeof record['request'] !== 'string') throw new Refusal('malformed', 'the job has no encoded request string');
  if (record['reportStart'] !== undefined && typeof record['reportStart'] !== 'boolean') {
    throw new Refusal('malformed', 'the job has a reportStart that is not a boolean');
  }
  return data as JobData;
}

/** Decodes and checks a job's request within the limits, or throws a {@link Refusal} (`'malformed'`). */
export function checkRequest(encoded: string, limits: JobLimits): ChunkRequest {
  // base64: 4 characters for 3 bytes.
  const bytes = Math.floor((encoded.length * 3) / 4);
  if (bytes > limits.maxBytes) {
    throw new Refusal('malformed', `the chunk has ${bytes} bytes, more than this worker's limit of ${limits.maxBytes} (maxJobBytes)`);
  }
  let request: unknown;
  try {
    request = decode(encoded);
  } catch (error) {
    throw new Refusal(
      'malformed',
      `the chunk cannot be decoded (different Node.js versions?): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (request === null || typeof request !== 'object') throw new Refusal('malformed', 'the chunk is not an object');
  const chunk = request as Record<string, unknown>;
  const items = chunk['items'];
  if (!Array.isArray(items)) throw new Refusal('malformed', 'the chunk has no items array');
  if (items.length > limits.maxItems) {
    throw new Refusal(
      'malformed',
      `the chunk has ${items.length} items, more than this worker's limit of ${limits.maxItems} (maxJobItems)`,
    );
  }
  for (const flag of ['continueOnError', 'checkClone', 'spread'] as const) {
    if (chunk[flag] !== undefined && typeof chunk[flag] !== 'boolean')
      throw new Refusal('malformed', `the chunk's ${flag} is not a boolean`);
  }
  if (chunk['mode'] === 'call') {
    checkTask(chunk['task'], 'task');
    const concurrency = chunk['concurrency'];
    if (
      concurrency !== undefined &&
      !(Number.isInteger(concurrency) && (concurrency as number) >= 1 && (concurrency as number) <= MAX_ITEM_CONCURRENCY)
    ) {
      throw new Refusal('malformed', `the chunk's concurrency is not an integer from 1 to ${MAX_ITEM_CONCURRENCY}`);
    }
  } else if (chunk['mode'] === 'fold') {
    if (chunk['spread'] !== undefined) throw new Refusal('malformed', 'a fold chunk has no spread');
    checkTask(chunk['keyTask'], 'keyTask');
    checkTask(chunk['foldTask'], 'foldTask');
  } else {
    throw new Refusal('malformed', 'the chunk mode is neither "call" nor "fold"');
  }
  return request as ChunkRequest;
}

function checkTask(value: unknown, what: string): asserts value is TaskSpec {
  if (value === null || typeof value !== 'object') throw new Refusal('malformed', `the chunk's ${what} is not an object`);
  const task = value as Record<string, unknown>;
  for (const field of ['moduleUrl', 'exportName'] as const) {
    const text = task[field];
    if (typeof text !== 'string' || text === '' || text.length > MAX_NAME_LENGTH) {
      throw new Refusal('malformed', `the chunk's ${what}.${field} is not a string of 1 to ${MAX_NAME_LENGTH} characters`);
    }
  }
  for (const field of ['boundArgs', 'setupArgs'] as const) {
    if (!Array.isArray(task[field])) throw new Refusal('malformed', `the chunk's ${what}.${field} is not an array`);
  }
}

/**
 * Which task modules a worker loads: files under the real path of its root, and of those only the
 * allow-listed ones when there is a list.
 */
export class ModulePolicy {
  /** The root's real path (symlinks resolved). */
  readonly root: string;
  /** Allowed modules by real path: the allowed export names, or `undefined` for any export. */
  readonly #allow: Map<string, Set<string> | undefined> | undefined;

  /**
   * @param root - the worker's `--root`
   * @param allow - `path/relative/to/root.js` or `path.js#export` entries; undefined: every module under the root
   * @throws {@link InvalidOptionError} for a root that is not a directory, or an entry that names no file under it
   */
  constructor(root: string, allow: readonly string[] | undefined) {
    let real: string;
    try {
      real = realpathSync(root);
    } catch {
      throw new InvalidOptionError('root', root, 'an existing directory');
    }
    if (!statSync(real).isDirectory()) throw new InvalidOptionError('root', root, 'an existing directory');
    this.root = real;
    if (allow === undefined) return;
    this.#allow = new Map();
    for (const entry of allow) {
      if (typeof entry !== 'string' || entry === '') throw new InvalidOptionError('allow', entry, 'module paths relative to the root');
      const hash = entry.lastIndexOf('#');
      const path = hash < 0 ? entry : entry.slice(0, hash);
      const exportName = hash < 0 ? undefined : entry.slice(hash + 1);
      let file: string;
      try {
        file = this.#locate(path);
      } catch (error) {
        throw new InvalidOptionError('allow', entry, `a module path relative to the root ${real} (${(error as Error).message})`);
      }
      const exports = this.#allow.get(file);
      if (exportName === undefined || exportName === '') this.#allow.set(file, undefined);
      else if (!this.#allow.has(file)) this.#allow.set(file, new Set([exportName]));
      else exports?.add(exportName);
    }
  }

  /**
   * The `file:` URL to import for a task as a job names it (a path relative to the root), or a
   * {@link Refusal} (`'module'`). Decided before anything is imported.
   */
  resolve(task: TaskSpec): string {
    let file: string;
    try {
      file = this.#locate(task.moduleUrl);
    } catch (error) {
      throw new Refusal('module', `task module ${JSON.stringify(task.moduleUrl)} is refused: ${(error as Error).message}`);
    }
    if (this.#allow !== undefined) {
      if (!this.#allow.has(file)) {
        throw new Refusal(
          'module',
          `task module ${JSON.stringify(task.moduleUrl)} is refused: it is not on this worker's allow-list (--allow)`,
        );
      }
      const exports = this.#allow.get(file);
      if (exports !== undefined && !exports.has(task.exportName)) {
        throw new Refusal(
          'module',
          `task ${JSON.stringify(`${task.moduleUrl}#${task.exportName}`)} is refused: that export is not on this worker's allow-list (--allow)`,
        );
      }
    }
    return pathToFileURL(file).href;
  }

  /** The real path of a module named relative to the root, or throws saying why it is not one. */
  #locate(name: string): string {
    if (name.includes('\0')) throw new Error('its name contains a NUL character');
    // Any scheme (node:, data:, http:, file:...) and Windows drive letters: jobs name files relative to the root, nothing else.
    if (/^[a-z][a-z0-9+.-]*:/i.test(name)) throw new Error('only files under the worker root are run, not URLs or built-in modules');
    if (isAbsolute(name) || name.startsWith('/') || name.startsWith('\\'))
      throw new Error('an absolute path; jobs name files relative to the root');
    const path = resolve(this.root, name);
    // A job submitted from source names x.ts; a host running compiled code has x.js, and the other way round.
    let candidate = path;
    if (!existsSync(path)) {
      const twin = path.endsWith('.ts') ? `${path.slice(0, -3)}.js` : path.endsWith('.js') ? `${path.slice(0, -3)}.ts` : undefined;
      if (twin !== undefined && existsSync(twin)) candidate = twin;
    }
    let real: string;
    try {
      real = realpathSync(candidate);
    } catch {
      throw new Error(`no such file under the worker root ${this.root}`);
    }
    // The real path, symlinks resolved, and the separator: `<root>x` is a sibling, not inside.
    if (!real.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new Error(`it lies outside the worker root ${this.root} (symlinks resolved)`);
    }
    if (!statSync(real).isFile()) throw new Error('not a file');
    return real;
  }
}
