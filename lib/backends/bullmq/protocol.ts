/**
 * The wire format between a submitting host and remote workers: what a job carries, what a worker
 * sends back, and how task modules are named so that each host loads its own copy of the code.
 * Nothing here imports a queue library; both sides of the BullMQ backend share it.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deserialize, serialize } from 'node:v8';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- ChunkResponse is named by a {@link} below
import type { ChunkRequest, ChunkResponse, TaskSpec } from '../../backend.js';

/** Bumped when the job or result layout changes, so old workers refuse new jobs clearly. */
export const PROTOCOL = 1;

/** What one job carries (BullMQ stores it as JSON). */
export interface JobData {
  /** The wire format's version ({@link PROTOCOL}). */
  readonly protocol: number;
  /** The submitting host's code version; a worker with another one refuses the job. */
  readonly codeVersion: string;
  /** `module#export` relative to the root, for people reading the queue. */
  readonly task: string;
  /** The {@link ChunkRequest}, v8-serialized (the structured-clone algorithm) and base64-encoded. */
  readonly request: string;
  /**
   * Report when the chunk's first item starts (its task module loaded), as the job progress
   * {@link STARTED_PROGRESS}: the submitter counts the chunk's `timeoutMs` from then.
   */
  readonly reportStart?: boolean;
}

/** The job progress a worker reports when a chunk's first item starts (see {@link JobData.reportStart}). */
export const STARTED_PROGRESS = 'millrace:started';

/**
 * Why a worker failed a job, as the JSON text of BullMQ's `failedReason`: infrastructure problems
 * only, since task errors travel inside a successful {@link ChunkResponse}.
 */
export type JobFailure =
  | { readonly kind: 'version'; readonly message: string; readonly workerVersion: string; readonly host: string }
  | { readonly kind: 'protocol'; readonly message: string; readonly host: string }
  | { readonly kind: 'refused'; readonly reason: 'module' | 'malformed'; readonly message: string; readonly host: string }
  | { readonly kind: 'crash'; readonly message: string; readonly exitCode: number | undefined; readonly host: string }
  | { readonly kind: 'clone'; readonly message: string; readonly host: string }
  /** The job was cancelled through {@link cancelChannel}: its chunk's task saw its signal abort. */
  | { readonly kind: 'cancelled'; readonly message: string; readonly host: string }
  | { readonly kind: 'error'; readonly message: string; readonly host: string };

/**
 * The Redis pub/sub channel on which a submitter asks the workers of a queue to cancel a running
 * job; the worker running it aborts the task's signal and fails the job as `'cancelled'`.
 */
export function cancelChannel(prefix: string, queue: string): string {
  return `${prefix}:${queue}:millrace:cancel`;
}

/** A cancellation request, as published on {@link cancelChannel} (JSON). */
export interface CancelMessage {
  readonly jobId: string;
  /** Why: the chunk's `timeoutMs` ran out, or its flow ended. */
  readonly reason: 'timeout' | 'abort';
}

/**
 * Encodes a value with the structured-clone algorithm (as worker threads do), so `Map`, `Set`,
 * `Date`, `BigInt`, typed arrays and `undefined` survive the trip through Redis, unlike JSON.
 */
export function encode(value: unknown): string {
  return serialize(value).toString('base64');
}

/** The inverse of {@link encode}. */
export function decode(text: string): unknown {
  return deserialize(Buffer.from(text, 'base64'));
}

/** The JSON text a worker fails a job with. */
export function encodeFailure(failure: JobFailure): string {
  return JSON.stringify({ millrace: failure });
}

/** Reads a `failedReason`: a {@link JobFailure}, or undefined for a reason BullMQ wrote itself. */
export function decodeFailure(reason: string): JobFailure | undefined {
  if (!reason.startsWith('{"millrace":')) return undefined;
  try {
    const parsed: unknown = JSON.parse(reason);
    if (parsed !== null && typeof parsed === 'object' && 'millrace' in parsed) return parsed.millrace as JobFailure;
  } catch {
    // Not ours after all.
  }
  return undefined;
}

/**
 * A module URL as a job names it: a path relative to the root (POSIX separators) for a file under
 * it, or the URL unchanged when it is not a `file:` URL. Undefined for a file outside the root.
 */
export function toRootRelative(moduleUrl: string, root: string): string | undefined {
  if (!moduleUrl.startsWith('file:')) return moduleUrl;
  const path = relative(root, fileURLToPath(moduleUrl));
  if (path === '' || path.startsWith('..') || isAbsolute(path)) return undefined;
  return sep === '/' ? path : path.split(sep).join('/');
}

/**
 * The URL a worker imports for a root-relative module name. When the exact file is missing, the
 * other flavour (`.js` / `.ts`) is tried, so a host running compiled code finds `x.js` for a job
 * submitted from source as `x.ts`, and the other way round.
 */
export function fromRootRelative(name: string, root: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(name)) return name;
  const path = resolve(root, name);
  if (!existsSync(path)) {
    const twin = path.endsWith('.ts') ? `${path.slice(0, -3)}.js` : path.endsWith('.js') ? `${path.slice(0, -3)}.ts` : undefined;
    if (twin !== undefined && existsSync(twin)) return pathToFileURL(twin).href;
  }
  return pathToFileURL(path).href;
}

/** Applies `map` to the module URL of every task in a request. */
export function mapModules(request: ChunkRequest, map: (moduleUrl: string) => string): ChunkRequest {
  const task = (spec: TaskSpec): TaskSpec => ({ ...spec, moduleUrl: map(spec.moduleUrl) });
  return request.mode === 'call'
    ? { ...request, task: task(request.task) }
    : { ...request, keyTask: task(request.keyTask), foldTask: task(request.foldTask) };
}

/** `module#export` of a request's (first) task. */
export function requestTaskName(request: ChunkRequest): string {
  const task = request.mode === 'call' ? request.task : request.foldTask;
  return `${task.moduleUrl}#${task.exportName}`;
}
