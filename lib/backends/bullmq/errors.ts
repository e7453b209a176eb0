/**
 * Errors of the scale-out backend: Redis gone, a worker on another build, a worker that failed a
 * job for a reason of its own. Task errors are not here: they reach the flow as the same
 * {@link TaskError} as with local threads.
 *
 * @packageDocumentation
 */
import { MillraceError } from '../../errors.js';

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

/**
 * Redis refused the credentials (`WRONGPASS`, `NOAUTH`) or the ACL user may not run a command the
 * queue needs (`NOPERM`). Not an outage: retrying cannot help, so the flow fails at once instead of
 * waiting `redisTimeoutMs`, and `millrace worker` exits.
 *
 * @example
 * ```ts
 * import { RedisAuthError } from 'millrace';
 * const badCredentials = (error: unknown) => error instanceof RedisAuthError && error.code !== 'NOPERM';
 * ```
 * @category Errors
 */
export class RedisAuthError extends MillraceError {
  override name = 'RedisAuthError';
  /** The Redis endpoint, the password redacted (`redis://user:***@host:port/db`). */
  readonly endpoint: string;
  /** Redis's error code: `'WRONGPASS'`, `'NOAUTH'` or `'NOPERM'`. */
  readonly code: string;

  constructor(fields: { endpoint: string; code: string; cause?: unknown }) {
    const detail = fields.cause instanceof Error ? `: ${fields.cause.message}` : '';
    const what =
      fields.code === 'NOPERM'
        ? 'the ACL user lacks a permission the queue needs (grant it the commands and keys of the queue, see the scale-out guide)'
        : 'authentication failed (check the user name and password)';
    // Redis's reply error carries the command it answered, and for AUTH that is the password: keep
    // its name and message only.
    const cause = fields.cause instanceof Error ? Object.assign(new Error(fields.cause.message), { name: fields.cause.name }) : undefined;
    super(`Redis at ${fields.endpoint} refused access: ${what}${detail}`, cause === undefined ? undefined : { cause });
    this.endpoint = fields.endpoint;
    this.code = fields.code;
  }
}

/**
 * Why a worker refused a job: `'module'` (its task module is outside the worker's root or not on
 * its allow-list) or `'malformed'` (not a well-formed millrace job, or over the worker's limits).
 *
 * @example
 * ```ts
 * import type { JobRefusal } from 'millrace';
 * const fixByDeploying = (reason: JobRefusal) => reason === 'module';
 * ```
 * @category Scale-out
 */
export type JobRefusal = 'module' | 'malformed';

/**
 * A remote worker refused a job without running it: its task module is outside the worker's
 * `--root` or not on its `--allow` list (`reason` `'module'`), or the job is not a well-formed
 * millrace job (`'malformed'`: not JSON, a request of the wrong shape, too many items or bytes).
 *
 * @example
 * ```ts
 * import { JobRefusedError } from 'millrace';
 * const notAllowed = (error: unknown) => error instanceof JobRefusedError && error.reason === 'module';
 * ```
 * @category Errors
 */
export class JobRefusedError extends MillraceError {
  override name = 'JobRefusedError';
  /** The BullMQ job id. */
  readonly jobId: string;
  /** What was wrong with the job. */
  readonly reason: JobRefusal;
  /** The refusing worker's `host/pid`. */
  readonly workerHost: string | undefined;

  constructor(fields: { jobId: string; reason: JobRefusal; message: string; workerHost?: string | undefined }) {
    super(`Job ${fields.jobId} was refused${fields.workerHost === undefined ? '' : ` by worker ${fields.workerHost}`}: ${fields.message}`);
    this.jobId = fields.jobId;
    this.reason = fields.reason;
    this.workerHost = fields.workerHost;
  }
}

/**
 * A job lost its worker more often than the workers' `maxStalledCount` allows (each time the worker
 * process died or hung while holding it), so it is not handed to yet another worker: it probably
 * kills whoever runs it. Not retried by a worker; a flow's `retries` would submit it again.
 *
 * @example
 * ```ts
 * import { PoisonJobError } from 'millrace';
 * const poison = (error: unknown) => (error instanceof PoisonJobError ? error.jobId : undefined);
 * ```
 * @category Errors
 */
export class PoisonJobError extends MillraceError {
  override name = 'PoisonJobError';
  /** The BullMQ job id. */
  readonly jobId: string;
  /** BullMQ's reason (`job stalled more than allowable limit`). */
  readonly failedReason: string;

  constructor(fields: { jobId: string; failedReason: string }) {
    super(
      `Job ${fields.jobId} lost its worker more often than the workers' maxStalledCount allows (${fields.failedReason}); ` +
        'it was not handed to another worker: a job that ends its worker process would take the fleet down one by one',
    );
    this.jobId = fields.jobId;
    this.failedReason = fields.failedReason;
  }
}
