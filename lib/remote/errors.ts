/**
 * Errors of the scale-out backend: Redis gone, a worker on another build, a worker that failed a
 * job for a reason of its own. Task errors are not here: they reach the flow as the same
 * {@link TaskError} as with local threads.
 *
 * @packageDocumentation
 */
import { MillraceError } from '../errors.js';

/**
 * Redis could not be reached (at start) or was lost (mid-run) for longer than the backend's
 * `redisTimeoutMs`; the chunks waiting on it fail with this error instead of waiting forever.
 *
 * @example
 * ```ts
 * import { RedisUnavailableError } from 'millrace';
 * const redisDown = (error: unknown) => error instanceof RedisUnavailableError;
 * ```
 * @category Errors
 */
export class RedisUnavailableError extends MillraceError {
  override name = 'RedisUnavailableError';
  /** The Redis endpoint, without credentials (`redis://host:port/db`). */
  readonly endpoint: string;
  /** How long the backend waited, in milliseconds. */
  readonly waitedMs: number;

  constructor(fields: { endpoint: string; waitedMs: number; cause?: unknown }) {
    const reason = fields.cause instanceof Error ? ` (last error: ${fields.cause.message})` : '';
    super(
      `Redis at ${fields.endpoint} was unreachable for ${fields.waitedMs} ms; the chunks waiting on it failed${reason}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.endpoint = fields.endpoint;
    this.waitedMs = fields.waitedMs;
  }
}

/**
 * A remote worker runs another build of the task code than the submitting process, and refused the
 * job rather than mix results of two builds.
 *
 * @example
 * ```ts
 * import { CodeVersionMismatchError } from 'millrace';
 * function explain(error: unknown): string {
 *   return error instanceof CodeVersionMismatchError ? `redeploy ${error.workerHost}: it runs ${error.workerVersion}` : String(error);
 * }
 * ```
 * @category Errors
 */
export class CodeVersionMismatchError extends MillraceError {
  override name = 'CodeVersionMismatchError';
  /** The submitting process's code version (the job's). */
  readonly jobVersion: string;
  /** The refusing worker's code version. */
  readonly workerVersion: string;
  /** The refusing worker's host name and process id (`host/pid`). */
  readonly workerHost: string;

  constructor(fields: { jobVersion: string; workerVersion: string; workerHost: string }) {
    super(
      `Worker ${fields.workerHost} runs code version ${JSON.stringify(fields.workerVersion)} but the job was submitted with ${JSON.stringify(fields.jobVersion)}; ` +
        'deploy the same build on every host (or set the same MILLRACE_CODE_VERSION / --code-version)',
    );
    this.jobVersion = fields.jobVersion;
    this.workerVersion = fields.workerVersion;
    this.workerHost = fields.workerHost;
  }
}

/**
 * A remote worker or the queue failed a job for a reason other than the task itself (task errors
 * come back as {@link TaskError}); the message is the worker's or BullMQ's.
 *
 * @example
 * ```ts
 * import { RemoteWorkerError } from 'millrace';
 * const fromWorker = (error: unknown) => (error instanceof RemoteWorkerError ? error.workerHost : undefined);
 * ```
 * @category Errors
 */
export class RemoteWorkerError extends MillraceError {
  override name = 'RemoteWorkerError';
  /** The worker's `host/pid`, when the worker reported it. */
  readonly workerHost: string | undefined;
  /** The BullMQ job id (`runId-seq`). */
  readonly jobId: string;

  constructor(fields: { message: string; jobId: string; workerHost?: string | undefined }) {
    super(`Job ${fields.jobId} failed${fields.workerHost === undefined ? '' : ` on worker ${fields.workerHost}`}: ${fields.message}`);
    this.workerHost = fields.workerHost;
    this.jobId = fields.jobId;
  }
}

/**
 * A task module lies outside the scale-out root, so it cannot be named relative to it for remote
 * hosts to load from their own copy of the code.
 *
 * @example
 * ```ts
 * import { TaskModuleOutsideRootError } from 'millrace';
 * const misplaced = (error: unknown) => (error instanceof TaskModuleOutsideRootError ? error.moduleUrl : undefined);
 * ```
 * @category Errors
 */
export class TaskModuleOutsideRootError extends MillraceError {
  override name = 'TaskModuleOutsideRootError';
  /** The module's URL on the submitting host. */
  readonly moduleUrl: string;
  /** The root directory it should be under. */
  readonly root: string;

  constructor(fields: { moduleUrl: string; root: string }) {
    super(
      `Task module ${fields.moduleUrl} is outside the scale-out root ${fields.root}: remote workers load task modules by their path relative to the root (set the backend's root option)`,
    );
    this.moduleUrl = fields.moduleUrl;
    this.root = fields.root;
  }
}

/**
 * What became of an abandoned job: `'removed'` (it still waited in Redis, and no worker will take
 * it up), `'cancelled'` (its worker got the cancellation: the task's signal aborted and the job's
 * slot is free), `'finished'` (it finished before the cancellation arrived; the result is dropped),
 * `'unreachable'` (neither: Redis or the worker could not be reached, or the worker does not listen
 * for cancellations, so the job may run to its end and hold its slot until then).
 *
 * @example
 * ```ts
 * import type { JobAbandonment } from 'millrace';
 * const mayStillRun = (outcome: JobAbandonment) => outcome === 'unreachable';
 * ```
 * @category Scale-out
 */
export type JobAbandonment = 'removed' | 'cancelled' | 'finished' | 'unreachable';

/**
 * A chunk's job was abandoned because its chunk was cancelled (its `timeoutMs` ran out, or its flow
 * ended); the message and {@link JobAbandonedError.outcome} say whether the job was also stopped.
 *
 * @example
 * ```ts
 * import { JobAbandonedError } from 'millrace';
 * const stillRunning = (error: unknown) => error instanceof JobAbandonedError && error.outcome === 'unreachable';
 * ```
 * @category Errors
 */
export class JobAbandonedError extends MillraceError {
  override name = 'JobAbandonedError';
  /** The BullMQ job id (`runId-seq`). */
  readonly jobId: string;
  /** What became of the job. */
  readonly outcome: JobAbandonment;
  /** The `host/pid` of the worker that cancelled it (outcome `'cancelled'`). */
  readonly workerHost: string | undefined;

  constructor(fields: { jobId: string; outcome: JobAbandonment; workerHost?: string | undefined; cause?: unknown }) {
    const what: Record<JobAbandonment, string> = {
      removed: 'abandoned before any worker took it up (removed from the queue)',
      cancelled: `abandoned and cancelled on worker ${fields.workerHost ?? '(unknown)'}`,
      finished: 'abandoned; it had already finished on its worker (its result was dropped)',
      unreachable: 'abandoned; the worker could not be reached (the job may run to its end, holding its slot)',
    };
    super(`Job ${fields.jobId} was ${what[fields.outcome]}`, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.jobId = fields.jobId;
    this.outcome = fields.outcome;
    this.workerHost = fields.workerHost;
  }
}
