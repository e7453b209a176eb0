/**
 * The scale-out backend: runs each chunk as one BullMQ job on Redis, executed by `millrace worker`
 * processes on any number of hosts, and brings the result back into the flow. The dispatch engine
 * above it is the same as for local threads, so ordering, retries, error reporting and the
 * in-flight bound do not change. `bullmq` is an optional peer dependency, imported only when this
 * backend is created.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobsOptions, Queue, QueueEvents } from 'bullmq';
import { checkInteger, InvalidOptionError, MillraceError } from '../../errors.js';
import {
  ChunkLostError,
  WorkerExitError,
  type ChunkRequest,
  type ChunkResponse,
  type PoolBackend,
  type RunChunkOptions,
  type StartClock,
} from '../../backend.js';
import { resolveCodeVersion } from './code-version.js';
import { authErrorCode, describeEndpoint, redisClientOptions, type RedisEndpoint } from './connection.js';
import {
  CodeVersionMismatchError,
  JobAbandonedError,
  JobRefusedError,
  PoisonJobError,
  RedisAuthError,
  RedisUnavailableError,
  RemoteWorkerError,
  TaskModuleOutsideRootError,
  type JobAbandonment,
} from './errors.js';
import {
  cancelChannel,
  decode,
  decodeFailure,
  encode,
  mapModules,
  PROTOCOL,
  requestTaskName,
  STARTED_PROGRESS,
  toRootRelative,
  type CancelMessage,
  type JobData,
} from './protocol.js';
import { CLOCK_STARTED, CLOCK_TAKEN_UP, readClock, stampClock } from '../../backend.js';
import { MAX_TIMER_MS } from '../../timers.js';

/**
 * Options for {@link bullmq}.
 *
 * @example
 * ```ts
 * import { bullmq, type BullmqOptions } from 'millrace';
 * const options: BullmqOptions = { connection: 'redis://10.0.0.5:6379', queue: 'logs', capacity: 16 };
 * const backend = bullmq(options);
 * ```
 * @category Scale-out
 */
export interface BullmqOptions {
  /** Redis: a `redis://[user:password@]host:port[/db]` URL (`rediss://` for TLS) or an endpoint object. */
  readonly connection: string | RedisEndpoint;
  /** The queue name, shared with the workers (`millrace worker --queue NAME`); no `:`. */
  readonly queue: string;
  /**
   * How many chunks the workers run at once, all hosts together (the sum of their
   * `--concurrency`). Flows keep up to twice this many chunks in flight by default.
   * @defaultValue `4`
   */
  readonly capacity?: number | undefined;
  /**
   * The version of the task code; a worker with another version refuses the job
   * ({@link CodeVersionMismatchError}). A release tag or a commit hash works well.
   * @defaultValue `$MILLRACE_CODE_VERSION`, else `name@version` of the nearest `package.json` at or above `root`
   */
  readonly codeVersion?: string | undefined;
  /**
   * The directory task modules are named relative to: a job names `src/x.tasks.js`, and each
   * worker loads it from its own `--root`. Task modules must be under it.
   * @defaultValue `process.cwd()`
   */
  readonly root?: string | URL | undefined;
  /**
   * How long Redis may be unreachable (at start, or lost mid-run) before the chunks waiting on it
   * fail with a {@link RedisUnavailableError}; also the most `close()` waits for Redis.
   * @defaultValue `10_000`
   */
  readonly redisTimeoutMs?: number | undefined;
  /**
   * BullMQ's key prefix.
   * @defaultValue `'bull'`
   */
  readonly prefix?: string | undefined;
  /**
   * How often chunks still waiting for a result are checked in Redis. A chunk whose job vanished
   * without a result reaching the flow (removed by hand, or its completion event trimmed away
   * before it was read) is queued again after two checks, so it is never waited on forever.
   * @defaultValue `5_000`
   */
  readonly recheckMs?: number | undefined;
  /**
   * How long chunks may wait with no worker taking any job of the queue before the backend says so
   * once with `process.emitWarning` (a `MillraceUnservedQueueWarning` naming the queue and the
   * `millrace worker` command that serves it). The flow keeps waiting (bound it with a `signal`).
   * `Infinity` never warns.
   * @defaultValue `30_000`
   */
  readonly unservedWarningMs?: number | undefined;
  /**
   * How many failed jobs (infrastructure failures only: task errors complete their job) BullMQ
   * keeps for inspection; completed jobs are always removed once their result is delivered.
   * @defaultValue `0`
   */
  readonly keepFailedJobs?: number | undefined;
}

/**
 * Creates a backend that runs chunks on BullMQ workers over Redis; pass it to
 * {@link createPool} and use the pool like a local one.
 *
 * @param options - see {@link BullmqOptions}
 * @returns a {@link PoolBackend}; close it through its pool
 * @throws {@link InvalidOptionError} for a bad queue name, connection, capacity or timeout, or
 *   when no code version can be found (a connection's password is shown as `***`). Chunks fail with
 *   {@link RedisAuthError} at once when Redis refuses the credentials or the ACL, with
 *   {@link JobRefusedError} when a worker refuses the job, with {@link PoisonJobError} when the job
 *   lost its worker too often
 * @remarks
 * Start workers with `npx millrace worker --redis redis://host:port --queue NAME` on each host,
 * from the root of an installed copy of the same code. Each chunk is one job (id
 * `<run>-<sequence>`); execution is at least once (a worker killed mid-chunk has the chunk re-run
 * by another), emission exactly once. Task errors reach the flow as the usual {@link TaskError}
 * with the remote stack. A chunk's `timeoutMs` counts from when its first item starts on a worker
 * (time queued in Redis is not counted). A cancelled chunk (its timeout ran out, or its flow ended) has
 * its job removed if it still waits, else cancelled on its worker, whose task sees its signal
 * abort ({@link JobAbandonedError} says which). See the scale-out guide.
 * @example
 * ```ts
 * import { bullmq, createPool, flow, parallelMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * await using pool = createPool({ backend: bullmq({ connection: 'redis://127.0.0.1:6379', queue: 'math', capacity: 8 }) });
 * console.log(await flow([1, 2, 3]).pipe(parallelMap(math.square, { pool, chunkSize: 500 })).toArray());
 * ```
 * @category Scale-out
 */
export function bullmq(options: BullmqOptions): PoolBackend {
  return new BullmqBackend(options);
}

interface Pending {
  resolve(response: ChunkResponse): void;
  reject(error: unknown): void;
  /** Settles when the job is in Redis (or failed to get there). */
  added: Promise<unknown> | undefined;
  detach(): void;
  /** What was queued, to queue it again if the job vanishes. */
  readonly data: JobData;
  /** A worker took the job up (its 'active' event): the queue is served. */
  taken: boolean;
  /** Consecutive rechecks that found no job and no result. */
  missing: number;
  /** Where the job going active and the chunk's start on its worker are stamped (the engine's deadline reads it). */
  readonly startClock: StartClock | undefined;
}

/** How an abandoned job ended, as far as the events tell. */
interface Abandonment {
  readonly outcome: JobAbandonment;
  readonly workerHost?: string;
}

/** The longest an abandoned chunk waits to hear that its worker cancelled it (never more than redisTimeoutMs). */
const CANCEL_ACK_MS = 5_000;

/** The parts of an ioredis client the liveness watchdog needs. */
interface WatchedClient {
  readonly status: string;
  on(event: 'ready' | 'close', listener: () => void): unknown;
}

/** Keep flows' jobs apart; BullMQ ids may not contain ':'. */
function newRunId(): string {
  return `${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
}

class BullmqBackend implements PoolBackend {
  readonly capacity: number;
  /**
   * A chunk's budget counts from when its first item starts on a worker (the job's progress), not
   * while its job waits in Redis; the job going active starts the engine's module-loading allowance.
   */
  readonly reportsStart = true;
  /** Its workers are other processes, on other machines. */
  readonly remote = true;
  readonly #queueName: string;
  readonly #prefix: string;
  readonly #root: string;
  readonly #codeVersion: string;
  readonly #endpoint: string;
  readonly #connection: ReturnType<typeof redisClientOptions>;
  readonly #redisTimeoutMs: number;
  readonly #removeOnFail: NonNullable<JobsOptions['removeOnFail']>;
  readonly #recheckMs: number;
  #recheckTimer: NodeJS.Timeout | undefined;
  #rechecking = false;
  readonly #started: Promise<Queue>;
  readonly #pending = new Map<string, Pending>();
  /** Abandoned jobs whose end is not known yet, by id: how to report it. */
  readonly #abandoning = new Map<string, (abandonment: Abandonment) => void>();
  /** Job ids for callers that give no chunk identity: one run id for the backend's life. */
  readonly #anonymousRun = { id: newRunId(), next: 0 };
  /** Job removals and cancellations in progress; close() waits for them (bounded) so a finished flow leaves no waiting job. */
  readonly #removals = new Set<Promise<unknown>>();
  #queue: Queue | undefined;
  #events: QueueEvents | undefined;
  #closed = false;
  /** Connections not ready; 'start' until the first connection is made. */
  readonly #down = new Set<unknown>(['start']);
  #downTimer: NodeJS.Timeout | undefined;
  #unavailable: RedisUnavailableError | RedisAuthError | undefined;
  #lastError: unknown;
  /** Redis refused the credentials or the ACL: permanent, every chunk fails with it at once. */
  #authFailed: RedisAuthError | undefined;
  /** Stops the connections' reconnecting once the credentials were refused. */
  readonly #refusal = { refused: false };
  readonly #unservedWarningMs: number;
  #unservedTimer: NodeJS.Timeout | undefined;
  /** A worker took some job of the queue since the unserved timer was armed. */
  #servedSinceArmed = false;
  #warnedUnserved = false;

  constructor(options: BullmqOptions) {
    if (typeof options.queue !== 'string' || options.queue === '' || options.queue.includes(':')) {
      throw new InvalidOptionError('queue', options.queue, 'a non-empty queue name without ":"');
    }
    checkInteger('capacity', options.capacity, 1);
    checkInteger('keepFailedJobs', options.keepFailedJobs, 0);
    for (const option of ['redisTimeoutMs', 'recheckMs', 'unservedWarningMs'] as const) {
      const value = options[option];
      if (value !== undefined && !(value > 0)) throw new InvalidOptionError(option, value, 'a positive number of milliseconds');
    }
    this.capacity = options.capacity ?? 4;
    this.#queueName = options.queue;
    this.#prefix = options.prefix ?? 'bull';
    this.#root =
      options.root === undefined
        ? process.cwd()
        : resolvePath(typeof options.root === 'string' ? options.root : fileURLToPath(options.root));
    this.#codeVersion = resolveCodeVersion(options.codeVersion, this.#root);
    this.#endpoint = describeEndpoint(options.connection);
    this.#connection = redisClientOptions(options.connection, this.#refusal);
    this.#redisTimeoutMs = options.redisTimeoutMs ?? 10_000;
    this.#removeOnFail = options.keepFailedJobs ? { count: options.keepFailedJobs } : true;
    this.#recheckMs = options.recheckMs ?? 5_000;
    this.#unservedWarningMs = options.unservedWarningMs ?? 30_000;
    this.#armWatchdog();
    this.#started = this.#start();
    // Failures surface through run() (each chunk rejects with the start's error); a start that
    // failed (no bullmq package) has no connection for the watchdog to wait on.
    this.#started.catch(() => this.#up('start'));
  }

  async #start(): Promise<Queue> {
    let bull: typeof import('bullmq');
    try {
      bull = await import('bullmq');
    } catch (cause) {
      throw new MillraceError('The BullMQ backend needs the bullmq package: npm install bullmq', { cause });
    }
    if (this.#closed) throw new MillraceError('The pool is closed');
    const common = { connection: this.#connection, prefix: this.#prefix };
    const queue = new bull.Queue(this.#queueName, common);
    this.#queue = queue;
    queue.on('error', (error) => this.#onRedisError(error));
    const client = await queue.client;
    this.#watch(client);
    // Read events from the stream's current end, fixed now, before any job of ours exists: the
    // default ('$' at the time of the first XREAD) could miss a result that arrives first.
    const lastEventId = await lastStreamId(client, queue.keys.events ?? `${this.#prefix}:${this.#queueName}:events`);
    // close() sets #closed before it looks for connections to end: none may be opened after that.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run during the awaits above
    if (this.#closed) throw new MillraceError('The pool is closed');
    const events = new bull.QueueEvents(this.#queueName, { ...common, ...(lastEventId !== undefined ? { lastEventId } : {}) });
    this.#events = events;
    events.on('error', (error) => this.#onRedisError(error));
    events.on('completed', ({ jobId, returnvalue }) => this.#onCompleted(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => this.#onFailed(jobId, failedReason));
    events.on('active', ({ jobId }) => this.#onActive(jobId));
    events.on('progress', ({ jobId, data }) => {
      if (data === STARTED_PROGRESS) this.#onStarted(jobId);
    });
    this.#watch(await events.client);
    this.#up('start');
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run during the await above
    if (this.#closed) throw new MillraceError('The pool is closed');
    return queue;
  }

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    const { signal } = options;
    if (this.#closed) return Promise.reject(new MillraceError('The pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#authFailed) return Promise.reject(this.#authFailed);
    if (this.#unavailable) return Promise.reject(this.#unavailable);
    let data: JobData;
    try {
      const remote = mapModules(request, (moduleUrl) => {
        const name = toRootRelative(moduleUrl, this.#root);
        if (name === undefined) throw new TaskModuleOutsideRootError({ moduleUrl, root: this.#root });
        return name;
      });
      // Throws a DataCloneError for an item that cannot be sent, which the engine pins on the item.
      data = {
        protocol: PROTOCOL,
        codeVersion: this.#codeVersion,
        task: requestTaskName(remote),
        request: encode(remote),
        ...(options.startClock ? { reportStart: true } : {}),
      };
    } catch (error) {
      return Promise.reject(error);
    }
    const jobId = this.#jobId(options);
    return new Promise<ChunkResponse>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#pending.get(jobId) !== pending) return;
        this.#pending.delete(jobId);
        pending.detach();
        const reason: unknown = signal?.reason;
        void this.#abandon(jobId, pending, reason).then(({ outcome, workerHost }) =>
          reject(new JobAbandonedError({ jobId, outcome, workerHost, cause: reason })),
        );
      };
      const pending: Pending = {
        resolve,
        reject,
        added: undefined,
        detach: () => signal?.removeEventListener('abort', onAbort),
        data,
        taken: false,
        missing: 0,
        startClock: options.startClock,
      };
      this.#pending.set(jobId, pending);
      this.#armUnserved();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#add(jobId, pending);
      this.#recheckTimer ??= setInterval(() => void this.#recheck(), this.#recheckMs).unref();
    });
  }

  #add(jobId: string, pending: Pending): void {
    const { data } = pending;
    pending.added = this.#started
      .then((queue) => queue.add(data.task, data, { jobId, attempts: 1, removeOnComplete: true, removeOnFail: this.#removeOnFail }))
      .catch((error: unknown) => {
        const code = authErrorCode(error);
        if (code !== undefined) this.#refusedAuth(code, error);
        this.#settle(jobId, {
          error:
            this.#authFailed ??
            (error instanceof MillraceError
              ? error
              : new MillraceError(`Could not queue job ${jobId} on ${this.#endpoint} (queue ${this.#queueName}): ${describe(error)}`, {
                  cause: error,
                })),
        });
      });
  }

  /**
   * The safety net under the event stream: a job that is gone from Redis while its chunk still
   * waits had its result (or failure) lost on the way; the run fails with a ChunkLostError and the
   * engine sends the chunk again (at-least-once), as it does every run again. Two misses
   * in a row, because a result can be in the stream, not yet read, just after its job is removed.
   */
  async #recheck(): Promise<void> {
    if (this.#pending.size === 0) {
      clearInterval(this.#recheckTimer);
      this.#recheckTimer = undefined;
      return;
    }
    const queue = this.#queue;
    if (this.#rechecking || !queue || this.#down.size > 0) return;
    this.#rechecking = true;
    try {
      for (const [jobId, pending] of [...this.#pending]) {
        await pending.added;
        if (this.#pending.get(jobId) !== pending) continue;
        const state = await queue.getJobState(jobId);
        if (this.#pending.get(jobId) !== pending) continue;
        if (state === 'failed' || state === 'completed') {
          // Only when BullMQ keeps finished jobs (keepFailedJobs): the event was missed, the job is there.
          const job = await queue.getJob(jobId);
          if (job && state === 'failed') this.#onFailed(jobId, job.failedReason);
          else if (job) this.#onCompleted(jobId, job.returnvalue);
        } else if (state === 'active') {
          // Its 'active' event may have been missed (trimmed from the stream, or during an outage).
          pending.missing = 0;
          this.#onActive(jobId);
        } else if (state === 'unknown') {
          // Gone: the engine runs the chunk again (reason 'lost'), under a new job id, and counts it.
          if (++pending.missing >= 2)
            this.#settle(jobId, { error: new ChunkLostError(`job ${jobId} is gone from Redis before its result came back`) });
        } else {
          pending.missing = 0;
        }
      }
    } catch {
      // Redis trouble: the watchdog deals with it; check again next time.
    } finally {
      this.#rechecking = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#downTimer);
    clearInterval(this.#recheckTimer);
    clearTimeout(this.#unservedTimer);
    // One budget for all of close(): Redis may be gone, and each step below would wait for it.
    const deadline = Date.now() + this.#redisTimeoutMs;
    const left = (): number => Math.max(0, deadline - Date.now());
    const closed = new MillraceError('The pool is closed');
    for (const [jobId, pending] of [...this.#pending]) {
      this.#settle(jobId, { error: closed });
      void this.#abandon(jobId, pending, closed);
    }
    const connected = !this.#down.has('start');
    // While Redis is lost, removals and cancellations wait in ioredis's offline queue for a Redis
    // that may not come back: not worth the wait.
    if (this.#down.size === 0) await withTimeout(Promise.allSettled([...this.#removals]), left());
    const lost = connected && this.#down.size > 0;
    const end = async (connection: Queue | QueueEvents | undefined): Promise<void> => {
      if (!connection) return;
      // Refused credentials: the client stops reconnecting on its next attempt, and BullMQ's wait
      // for it to be ready then fails; close after that (closing while BullMQ still waits leaves it a
      // rejection without a listener: an unhandled rejection).
      if (this.#refusal.refused) {
        await withTimeout(
          connection.client.then(
            () => undefined,
            () => undefined,
          ),
          left(),
        );
        await withTimeout(
          connection.close().catch(() => undefined),
          left(),
        );
        return;
      }
      // close() stops BullMQ's own loops and sends QUIT, which waits for Redis. When Redis is lost,
      // the socket is dropped at once: BullMQ's disconnect() waits for an 'end' event that ioredis
      // does not send while it waits between reconnection attempts.
      const closing = connection.close().then(
        () => true,
        () => true,
      );
      // A connection refused for good (credentials) rejects its client: nothing to disconnect then.
      const client = (ms: number) =>
        withTimeout(
          connection.client.catch(() => undefined),
          ms,
        );
      if (lost) (await client(left()))?.disconnect();
      // Out of time: drop the connection rather than leave it reconnecting (and the process alive).
      if ((await withTimeout(closing, left())) === undefined) (await client(0))?.disconnect();
    };
    await Promise.all([end(this.#events), end(this.#queue)]);
  }

  /**
   * `<run>-<sequence>` from the engine's chunk identity (a retry gets its own id, so a late copy of
   * the failed attempt cannot stand in for it). Callers that give none share one run id per
   * backend, numbered in call order: signals cannot key runs, since each chunk has its own.
   */
  #jobId(options: RunChunkOptions): string {
    const chunk = options.chunk;
    if (chunk) return `${chunk.runId}-${chunk.seq}${chunk.attempt > 1 ? `-r${chunk.attempt}` : ''}`;
    return `${this.#anonymousRun.id}-${this.#anonymousRun.next++}`;
  }

  /**
   * A worker took the job up: time queued in Redis is over, and the chunk's task module loads (the
   * engine allows loading a generous while, then counts the chunk's budget from its start).
   */
  #onActive(jobId: string): void {
    // Any job of the queue, ours or another flow's: a worker serves it.
    this.#servedSinceArmed = true;
    this.#warnedUnserved = false;
    const pending = this.#pending.get(jobId);
    if (pending) pending.taken = true;
    const clock = pending?.startClock;
    if (clock && readClock(clock, CLOCK_TAKEN_UP) === undefined) stampClock(clock, CLOCK_TAKEN_UP);
  }

  /** The chunk's first item started on its worker: its time budget counts from now. */
  #onStarted(jobId: string): void {
    const clock = this.#pending.get(jobId)?.startClock;
    if (!clock || readClock(clock, CLOCK_STARTED) !== undefined) return;
    if (readClock(clock, CLOCK_TAKEN_UP) === undefined) stampClock(clock, CLOCK_TAKEN_UP);
    stampClock(clock, CLOCK_STARTED);
  }

  /**
   * Stops a job whose chunk no longer waits for it: removes it if it still waits in Redis, else
   * asks the workers (pub/sub) to cancel it, and resolves with what happened, as far as can be
   * known within a bounded wait: the worker running it reports the cancellation as the job's
   * failure, and a job that ends otherwise (or no word at all) says so.
   */
  #abandon(jobId: string, pending: Pending, reason: unknown): Promise<Abandonment> {
    let report!: (abandonment: Abandonment) => void;
    const known = new Promise<Abandonment>((resolve) => (report = resolve));
    this.#abandoning.set(jobId, report);
    const timeout = reason instanceof DOMException && reason.name === 'TimeoutError';
    const sent = (async () => {
      await pending.added;
      const queue = await this.#started;
      if ((await queue.remove(jobId)) === 1) {
        report({ outcome: 'removed' });
        return;
      }
      // bullmq types its client loosely; the ioredis client it is can publish.
      const client = (await queue.client) as unknown as { publish(channel: string, text: string): Promise<number> };
      const message: CancelMessage = { jobId, reason: timeout ? 'timeout' : 'abort' };
      // No subscriber at all: no worker (of this millrace version) can hear it.
      if ((await client.publish(cancelChannel(this.#prefix, this.#queueName), JSON.stringify(message))) === 0)
        report({ outcome: 'unreachable' });
    })().catch(() => report({ outcome: 'unreachable' }));
    this.#removals.add(sent);
    void sent.finally(() => this.#removals.delete(sent));
    return withTimeout(known, Math.min(this.#redisTimeoutMs, CANCEL_ACK_MS), true).then((abandonment) => {
      this.#abandoning.delete(jobId);
      return abandonment ?? { outcome: 'unreachable' };
    });
  }

  /** Settles a run() promise once; later outcomes for the job (a duplicate delivery) are dropped. */
  #settle(jobId: string, outcome: { response: ChunkResponse } | { error: unknown }): void {
    const pending = this.#pending.get(jobId);
    if (!pending) return;
    this.#pending.delete(jobId);
    pending.detach();
    if ('response' in outcome) pending.resolve(outcome.response);
    else pending.reject(outcome.error);
  }

  #onCompleted(jobId: string, returnvalue: unknown): void {
    this.#abandoning.get(jobId)?.({ outcome: 'finished' });
    if (!this.#pending.has(jobId)) return;
    let response: unknown;
    try {
      response = typeof returnvalue === 'string' ? decode(returnvalue) : undefined;
    } catch (error) {
      response = error;
    }
    if (!isChunkResponse(response)) {
      this.#settle(jobId, {
        error: new RemoteWorkerError({
          jobId,
          message: 'the worker returned something that is not a millrace chunk result (is a non-millrace worker consuming this queue?)',
        }),
      });
      return;
    }
    this.#settle(jobId, { response });
  }

  #onFailed(jobId: string, failedReason: string): void {
    const failure = decodeFailure(failedReason);
    const abandoned = this.#abandoning.get(jobId);
    if (abandoned) abandoned(failure?.kind === 'cancelled' ? { outcome: 'cancelled', workerHost: failure.host } : { outcome: 'finished' });
    if (!this.#pending.has(jobId)) return;
    let error: unknown;
    if (failure === undefined) {
      // BullMQ's own reasons; a job that stalled too often lost its worker each time: it is not
      // handed to yet another worker, and not as a crash the engine would isolate item by item.
      error = /stalled/i.test(failedReason)
        ? new PoisonJobError({ jobId, failedReason })
        : new RemoteWorkerError({ jobId, message: failedReason });
    } else if (failure.kind === 'refused') {
      error = new JobRefusedError({ jobId, reason: failure.reason, message: failure.message, workerHost: failure.host });
    } else if (failure.kind === 'version') {
      error = new CodeVersionMismatchError({
        jobVersion: this.#codeVersion,
        workerVersion: failure.workerVersion,
        workerHost: failure.host,
      });
    } else if (failure.kind === 'crash') {
      error = new WorkerExitError(failure.exitCode, new Error(`${failure.message} (worker ${failure.host})`));
    } else if (failure.kind === 'cancelled') {
      // Cancelled by another submitter's request (a job id reused?): not this chunk's doing.
      error = new RemoteWorkerError({ jobId, message: `the job was cancelled: ${failure.message}`, workerHost: failure.host });
    } else if (failure.kind === 'clone') {
      // The engine recognises this and re-runs the chunk to find the offending result.
      error = Object.assign(new Error(failure.message), { name: 'DataCloneError' });
    } else {
      error = new RemoteWorkerError({ jobId, message: failure.message, workerHost: failure.host });
    }
    this.#settle(jobId, { error });
  }

  /** A connection's error: a refused password or ACL fails every chunk at once; anything else is kept for the outage message. */
  #onRedisError(error: unknown): void {
    this.#lastError = error;
    const code = authErrorCode(error);
    if (code !== undefined) this.#refusedAuth(code, error);
  }

  #refusedAuth(code: string, cause: unknown): void {
    if (this.#authFailed || this.#closed) return;
    const error = new RedisAuthError({ endpoint: this.#endpoint, code, cause });
    this.#authFailed = error;
    // NOPERM comes on a connection that works (for other commands): it stays up. A refused login
    // stops reconnecting, so BullMQ's wait for a ready client ends before close() (closing while it
    // waits leaves BullMQ a rejection without a listener).
    if (code !== 'NOPERM') this.#refusal.refused = true;
    clearTimeout(this.#downTimer);
    this.#downTimer = undefined;
    for (const jobId of [...this.#pending.keys()]) this.#settle(jobId, { error });
  }

  /**
   * Watches for a queue nobody serves: when chunks wait and no worker took any job of the queue
   * for `unservedWarningMs`, says so once (until a worker shows up), naming the command that starts
   * one. Unref'd and cleared on close, so it never keeps the process alive.
   */
  #armUnserved(): void {
    if (this.#unservedTimer || this.#closed || !Number.isFinite(this.#unservedWarningMs)) return;
    this.#servedSinceArmed = false;
    this.#unservedTimer = setTimeout(
      () => {
        this.#unservedTimer = undefined;
        if (this.#closed || this.#pending.size === 0) return;
        const running = [...this.#pending.values()].some((pending) => pending.taken);
        if (!this.#servedSinceArmed && !running && !this.#warnedUnserved && !this.#authFailed && this.#down.size === 0) {
          this.#warnedUnserved = true;
          const waiting = this.#pending.size;
          process.emitWarning(
            `No worker has taken any job of queue ${JSON.stringify(this.#queueName)} on ${this.#endpoint} for ${this.#unservedWarningMs} ms ` +
              `(${waiting} chunk${waiting === 1 ? '' : 's'} waiting); start one with: ` +
              `npx millrace worker --redis ${this.#endpoint} --queue ${this.#queueName}` +
              `${this.#prefix === 'bull' ? '' : ` --prefix ${this.#prefix}`} (the flow keeps waiting)`,
            { type: 'MillraceUnservedQueueWarning', code: 'MILLRACE_UNSERVED_QUEUE' },
          );
        }
        this.#armUnserved();
      },
      Math.min(this.#unservedWarningMs, MAX_TIMER_MS),
    );
    this.#unservedTimer.unref();
  }

  #watch(client: WatchedClient): void {
    client.on('close', () => this.#markDown(client));
    client.on('ready', () => this.#up(client));
    if (client.status !== 'ready') this.#markDown(client);
  }

  #markDown(client: unknown): void {
    this.#down.add(client);
    this.#armWatchdog();
  }

  #up(client: unknown): void {
    this.#down.delete(client);
    if (this.#down.size > 0) return;
    clearTimeout(this.#downTimer);
    this.#downTimer = undefined;
    this.#unavailable = undefined;
  }

  /** While a connection is down, chunks wait at most redisTimeoutMs (ioredis alone would wait forever). */
  #armWatchdog(): void {
    if (this.#downTimer || this.#unavailable || this.#closed) return;
    this.#downTimer = setTimeout(() => {
      this.#downTimer = undefined;
      if (this.#down.size === 0) return;
      const error = new RedisUnavailableError({ endpoint: this.#endpoint, waitedMs: this.#redisTimeoutMs, cause: this.#lastError });
      this.#unavailable = error;
      for (const jobId of [...this.#pending.keys()]) this.#settle(jobId, { error });
    }, this.#redisTimeoutMs);
    // An idle backend waiting for Redis must not keep the process alive.
    this.#downTimer.unref();
  }
}

/** The id of the newest entry of a stream, `0-0` for an empty stream, undefined if unknown. */
async function lastStreamId(client: unknown, key: string): Promise<string | undefined> {
  const raw = client as {
    xrevrange?: (key: string, end: string, start: string, count: 'COUNT', n: number) => Promise<[string, string[]][]>;
  };
  if (typeof raw.xrevrange !== 'function') return undefined;
  const entries = await raw.xrevrange(key, '+', '-', 'COUNT', 1);
  return entries[0]?.[0] ?? '0-0';
}

function isChunkResponse(value: unknown): value is ChunkResponse {
  return (
    value !== null &&
    typeof value === 'object' &&
    'results' in value &&
    Array.isArray(value.results) &&
    'failures' in value &&
    Array.isArray(value.failures)
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Resolves when `promise` settles or after `ms`, whichever comes first; never rejects on timeout.
 * `unref`: the wait alone does not keep the process alive.
 */
async function withTimeout<T>(promise: Promise<T>, ms: number, unref = false): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
        if (unref) timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
