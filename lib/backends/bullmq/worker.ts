/**
 * The remote worker: takes chunk jobs off a BullMQ queue and runs them on local worker threads
 * (the same pool and worker entry as a local flow), loading task modules from this host's copy of
 * the code. `millrace worker` is a thin command around {@link startWorker}.
 *
 * @packageDocumentation
 */
import { availableParallelism, hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import type { Job, Worker } from 'bullmq';
import { checkInteger, InvalidOptionError, MillraceError } from '../../errors.js';
import { WorkerExitError, type ChunkRequest, type ChunkResponse } from '../../backend.js';
import { createPool } from '../../pool.js';
import { CLOCK_STARTED, createStartClock, readClock } from '../../backend.js';
import { resolveCodeVersion } from './code-version.js';
import { describeEndpoint, authErrorCode, redisClientOptions, type RedisEndpoint } from './connection.js';
import { RedisAuthError } from './errors.js';
import { budgetedLog } from './log-budget.js';
import {
  checkJobData,
  checkRequest,
  DEFAULT_MAX_JOB_BYTES,
  DEFAULT_MAX_JOB_ITEMS,
  ModulePolicy,
  Refusal,
  UNPARSABLE,
} from './job-checks.js';
import {
  cancelChannel,
  encode,
  encodeFailure,
  mapModules,
  PROTOCOL,
  STARTED_PROGRESS,
  type CancelMessage,
  type JobData,
  type JobFailure,
} from './protocol.js';

/**
 * Options for {@link startWorker} (the `millrace worker` flags).
 *
 * @example
 * ```ts
 * import { startWorker, type RemoteWorkerOptions } from 'millrace';
 * const options: RemoteWorkerOptions = { connection: 'redis://10.0.0.5:6379', queue: 'logs', concurrency: 8 };
 * const worker = await startWorker(options);
 * ```
 * @category Scale-out
 */
export interface RemoteWorkerOptions {
  /** Redis: a `redis://host:port` URL or an endpoint object (`--redis`). */
  readonly connection: string | RedisEndpoint;
  /** The queue to take jobs from (`--queue`), as given to {@link bullmq}. */
  readonly queue: string;
  /**
   * Chunks run at once, each on its own worker thread (`--concurrency`).
   * @defaultValue `os.availableParallelism()`
   */
  readonly concurrency?: number | undefined;
  /**
   * The directory job module paths are relative to (`--root`): the root of this host's copy of
   * the code, matching the submitter's `root`. The worker runs only `file:` modules whose real path
   * (symlinks resolved) lies inside the root's real path: everything under it, `node_modules/`
   * included, can be named by anyone who can write to the Redis (see `allow`).
   * @defaultValue `process.cwd()`
   */
  readonly root?: string | undefined;
  /**
   * The only task modules this worker runs (`--allow`, repeatable): paths relative to `root`,
   * each optionally with `#export` to allow that export only (`src/logs.tasks.js#analysis`). A job
   * naming anything else is refused with a {@link JobRefusedError}, before anything is imported.
   * The `.js`/`.ts` twin of an allowed file is the same module.
   * @defaultValue every module under `root`
   */
  readonly allow?: readonly string[] | undefined;
  /**
   * The most items one job may carry; a job with more is refused ({@link JobRefusedError}).
   * @defaultValue `1_000_000`
   */
  readonly maxJobItems?: number | undefined;
  /**
   * The most bytes one job's encoded chunk may have (items and bound arguments, as the
   * structured-clone encoding); a bigger job is refused before it is decoded.
   * @defaultValue `67_108_864` (64 MiB)
   */
  readonly maxJobBytes?: number | undefined;
  /**
   * This host's code version (`--code-version`); jobs from another version are refused.
   * @defaultValue `$MILLRACE_CODE_VERSION`, else `name@version` of the nearest `package.json` at or above `root`
   */
  readonly codeVersion?: string | undefined;
  /**
   * How long a job's lock lasts without renewal (`--lock-ms`); a worker that dies has its jobs
   * re-run by another worker after at most about twice this long (the lock expires, then the next
   * stalled-job check, which runs this often, moves them back to the queue).
   * @defaultValue `5_000`
   */
  readonly lockDurationMs?: number | undefined;
  /**
   * How many times a job may lose its worker (the worker process died or hung holding it) and be
   * handed to another before it fails as poison (the flow sees a {@link PoisonJobError}): a job
   * that kills its worker takes down at most `maxStalledCount + 1` workers. `0` fails a job whose
   * worker was killed for any reason instead of re-running it.
   * @defaultValue `1`
   */
  readonly maxStalledCount?: number | undefined;
  /**
   * BullMQ's key prefix, as given to {@link bullmq}.
   * @defaultValue `'bull'`
   */
  readonly prefix?: string | undefined;
  /**
   * Where progress lines go (ready, refused jobs, connection trouble, draining).
   * @defaultValue `console.error`
   */
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * A running remote worker.
 *
 * @example
 * ```ts
 * import { startWorker, type RemoteWorker } from 'millrace';
 * const worker: RemoteWorker = await startWorker({ connection: 'redis://127.0.0.1:6379', queue: 'logs' });
 * process.once('SIGINT', () => void worker.close());
 * ```
 * @category Scale-out
 */
export interface RemoteWorker {
  /** The code version this worker accepts jobs for. */
  readonly codeVersion: string;
  /** Chunks running now. */
  readonly active: number;
  /** Stops taking jobs, lets the running ones finish and report, then ends the threads. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a worker that runs chunk jobs from a queue until closed; resolves once connected to Redis.
 *
 * @param options - see {@link RemoteWorkerOptions}
 * @returns the running {@link RemoteWorker}
 * @throws {@link InvalidOptionError} for a bad option, an `allow` entry that names no file under
 *   the root, or no code version; {@link RedisAuthError} when Redis refuses the credentials; a
 *   `MillraceError` when the bullmq package is not installed
 * @example
 * ```ts
 * import { startWorker } from 'millrace';
 * const worker = await startWorker({ connection: 'redis://127.0.0.1:6379', queue: 'logs', concurrency: 4 });
 * process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
 * ```
 * @category Scale-out
 */
export async function startWorker(options: RemoteWorkerOptions): Promise<RemoteWorker> {
  if (typeof options.queue !== 'string' || options.queue === '' || options.queue.includes(':')) {
    throw new InvalidOptionError('queue', options.queue, 'a non-empty queue name without ":"');
  }
  checkInteger('concurrency', options.concurrency, 1, 1024);
  checkInteger('lockDurationMs', options.lockDurationMs, 100);
  checkInteger('maxStalledCount', options.maxStalledCount, 0);
  checkInteger('maxJobItems', options.maxJobItems, 1);
  checkInteger('maxJobBytes', options.maxJobBytes, 1);
  const root = resolvePath(options.root ?? process.cwd());
  const policy = new ModulePolicy(root, options.allow);
  const limits = { maxItems: options.maxJobItems ?? DEFAULT_MAX_JOB_ITEMS, maxBytes: options.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES };
  const codeVersion = resolveCodeVersion(options.codeVersion, root);
  const concurrency = options.concurrency ?? availableParallelism();
  const lockDuration = options.lockDurationMs ?? 5_000;
  const log = options.log ?? ((line: string) => console.error(line));
  const host = `${hostname()}/${process.pid}`;
  const endpoint = describeEndpoint(options.connection);

  let bull: typeof import('bullmq');
  try {
    bull = await import('bullmq');
  } catch (cause) {
    throw new MillraceError('millrace worker needs the bullmq package: npm install bullmq', { cause });
  }
  // Chunks run on threads, not on this event loop, so lock renewals stay on time however long a
  // chunk computes (a blocked loop would let the lock lapse and the job run twice).
  // Idle threads stay a while: a restarted thread reloads its task modules and runs `setup` again.
  const pool = createPool({ threads: concurrency, idleTimeoutMs: 600_000 });
  let active = 0;
  const refusedVersions = new Set<string>();
  // One line per refused job, up to a budget: a flood of bad jobs must not flood the log.
  const refusedLog = budgetedLog(log, { perWindow: REFUSED_LINES_PER_MINUTE, windowMs: 60_000, kind: 'refused jobs' });

  const fail = (failure: JobFailure): Error => new Error(encodeFailure(failure));
  /** A job this worker will not run: failed alone, with its id, and said once here. */
  const refuse = (job: Job<unknown, string>, error: unknown): Error => {
    if (!(error instanceof Refusal)) throw error;
    refusedLog(`millrace worker: refused job ${String(job.id)}: ${error.message}`);
    return fail({ kind: 'refused', reason: error.reason, message: error.message, host });
  };

  /** The jobs running here, by id, to cancel one when the submitter asks (see the subscriber below). */
  const running = new Map<string, AbortController>();
  /** Jobs whose lock BullMQ could not renew (reported once each; forgotten in bulk past 1,000). */
  const lockLost = new Set<string>();

  const processor = async (job: Job<unknown, string>): Promise<string> => {
    // Known from the first moment, so that a cancellation arriving while the job is decoded counts.
    const jobId = String(job.id);
    const controller = new AbortController();
    running.set(jobId, controller);
    try {
      return await runJob(job, controller.signal);
    } finally {
      running.delete(jobId);
    }
  };

  const runJob = async (job: Job<unknown, string>, signal: AbortSignal): Promise<string> => {
    // Anyone who can write to this Redis can write a job: its shape, size and task modules are
    // checked before anything is decoded further or imported, and a bad job fails alone.
    let data: JobData;
    try {
      data = checkJobData(job.data);
    } catch (error) {
      throw refuse(job, error);
    }
    if (data.protocol !== PROTOCOL) {
      throw fail({
        kind: 'protocol',
        message: `the job uses millrace wire protocol ${data.protocol}, this worker speaks ${PROTOCOL}: run the same millrace version everywhere`,
        host,
      });
    }
    if (data.codeVersion !== codeVersion) {
      if (!refusedVersions.has(data.codeVersion)) {
        refusedVersions.add(data.codeVersion);
        log(
          `millrace worker: refusing jobs of code version ${JSON.stringify(data.codeVersion)}; this worker runs ${JSON.stringify(codeVersion)}`,
        );
      }
      throw fail({ kind: 'version', message: `code version mismatch`, workerVersion: codeVersion, host });
    }
    let request: ChunkRequest;
    try {
      const named = checkRequest(data.request, limits);
      const tasks = named.mode === 'call' ? [named.task] : [named.keyTask, named.foldTask];
      const urls = new Map(tasks.map((task) => [task.moduleUrl, policy.resolve(task)]));
      request = mapModules(named, (name) => urls.get(name) ?? name);
    } catch (error) {
      throw refuse(job, error);
    }
    active++;
    // The local threads stamp when the chunk's first item starts (after loading the task module);
    // the submitter hears it as the job's progress and starts the chunk's time budget then.
    const startClock = data.reportStart === true ? createStartClock() : undefined;
    const watch =
      startClock &&
      setInterval(() => {
        if (readClock(startClock, CLOCK_STARTED) === undefined) return;
        clearInterval(watch);
        job.updateProgress(STARTED_PROGRESS).catch(() => undefined);
      }, START_POLL_MS);
    let response: ChunkResponse;
    try {
      response = await pool.backend.run(request, startClock ? { signal, startClock } : { signal });
    } catch (error) {
      if (signal.aborted) throw fail({ kind: 'cancelled', message: describe(signal.reason), host });
      if (error instanceof WorkerExitError) throw fail({ kind: 'crash', message: error.message, exitCode: error.exitCode, host });
      if (isCloneError(error)) throw fail({ kind: 'clone', message: describe(error) || 'a result could not be cloned', host });
      throw fail({ kind: 'error', message: describe(error), host });
    } finally {
      clearInterval(watch);
      active--;
    }
    // Name the host in each task error, so a remote failure can be traced to its machine.
    for (const failure of response.failures) failure.error.fields['workerHost'] = host;
    return encode(response);
  };

  /**
   * BullMQ parses a job's data and options as JSON while fetching it, and a parse error there has
   * no job id and leaves the job to be fetched again and again. A field that is not JSON is
   * replaced here, so the job reaches the processor, which fails it with its id.
   */
  class CheckedWorker extends bull.Worker<unknown, string> {
    protected override createJob(raw: Parameters<Worker['createJob']>[0], jobId: string): Job<unknown, string> {
      try {
        return super.createJob(raw, jobId);
      } catch {
        const parses = (text: string | undefined): boolean => {
          try {
            JSON.parse(text ?? '{}');
            return true;
          } catch {
            return false;
          }
        };
        const bad = (['data', 'opts', 'progress', 'parent'] as const).filter((field) => !parses(raw[field]));
        const fixed = { ...raw, data: JSON.stringify({ [UNPARSABLE]: bad.join(' and ') || 'data' }) };
        if (bad.includes('opts')) fixed.opts = '{}';
        if (bad.includes('progress')) fixed.progress = '0';
        if (bad.includes('parent')) delete fixed.parent;
        return super.createJob(fixed, jobId);
      }
    }
  }

  /** Stops reconnecting once Redis refused the credentials (see redisClientOptions). */
  const refusal = { refused: false };
  const worker: Worker<unknown, string> = new CheckedWorker(options.queue, processor, {
    connection: redisClientOptions(options.connection, refusal),
    prefix: options.prefix ?? 'bull',
    concurrency,
    lockDuration,
    stalledInterval: lockDuration,
    maxStalledCount: options.maxStalledCount ?? 1,
    // Started once it listens for cancellations (below), so that none is missed.
    autorun: false,
  });
  // One line when an outage starts and one when it ends, each time; BullMQ and ioredis report
  // every failed reconnect, which would flood the log.
  let outage = false;
  let closingWorker = false;
  const outageStarts = (why: string): void => {
    if (outage || closingWorker) return;
    outage = true;
    log(`millrace worker: lost Redis at ${endpoint}: ${why} (retrying)`);
  };
  // eslint-disable-next-line prefer-const -- assigned once connected, below; read by the listener set up here first
  let client: { readonly status: string } | undefined;
  let authReported = false;
  worker.on('error', (error) => {
    // Not an outage. At start it fails startWorker (below); once running (a password rotated, an
    // ACL narrowed) it is said once, not once per retry, until the connection is ready again.
    if (authErrorCode(error) !== undefined) {
      if (client !== undefined && !authReported) {
        authReported = true;
        log(`millrace worker: ${new RedisAuthError({ endpoint, code: authErrorCode(error)!, cause: error }).message}`);
      }
      return;
    }
    const message = describe(error);
    // A lock BullMQ could not renew (or found missing when finishing a job) is not a connection
    // problem: the job's lock lapsed (Redis was away or slow for longer than --lock-ms, or lost its
    // data), so another worker may run it again.
    const lock = /could not renew lock for job (\S+)|missing lock for job (\S+?)\.(?:\s|$)/i.exec(message);
    if (lock) {
      const jobId = (lock[1] ?? lock[2])!;
      // BullMQ retries the renewal every half lock: say it once per job.
      if (lockLost.has(jobId)) return;
      if (lockLost.size >= 1_000) lockLost.clear();
      lockLost.add(jobId);
      // Its result could not be recorded without the lock: stop the work rather than finish it for nothing.
      running.get(jobId)?.abort(new DOMException(`lost the lock on job ${jobId}`, 'AbortError'));
      log(
        `millrace worker: lost the lock on job ${jobId} (it lapsed while Redis was unreachable or slow, or the job is gone); ` +
          `${running.has(jobId) ? 'cancelled it here' : 'its outcome was not recorded'}: another worker may run it again`,
      );
      return;
    }
    // During an outage, whatever fails is the outage. The main connection tells when one starts: a
    // connection error from another one (the blocking one, still reconnecting) while it is up is not one.
    if (outage) return;
    const mainDown = client === undefined || client.status !== 'ready';
    if (mainDown || isConnectionError(error)) {
      if (mainDown) outageStarts(message);
      return;
    }
    log(`millrace worker: ${message}`);
  });
  // A refused password or ACL is not an outage: fail now, with one clear error, rather than retry for ever.
  let refusedAuth: ((error: Error) => void) | undefined;
  const authRefused = new Promise<never>((_, reject) => (refusedAuth = reject));
  authRefused.catch(() => undefined);
  const onAuthError = (error: Error): void => {
    const code = authErrorCode(error);
    if (code === undefined) return;
    if (code !== 'NOPERM') refusal.refused = true;
    refusedAuth?.(new RedisAuthError({ endpoint, code, cause: error }));
  };
  worker.on('error', onAuthError);
  let ready: Awaited<ReturnType<Worker['waitUntilReady']>>;
  try {
    ready = await Promise.race([worker.waitUntilReady(), authRefused]);
  } catch (error) {
    closingWorker = true;
    // The connections end on their next reconnect attempt; BullMQ's wait for them then fails, and
    // closing after that leaves no rejection without a listener behind.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      worker.client.then(
        () => undefined,
        () => undefined,
      ),
      new Promise((resolve) => (timer = setTimeout(resolve, 5_000))),
    ]);
    clearTimeout(timer);
    await worker.close(true).catch(() => undefined);
    await pool.close();
    throw error;
  }
  client = ready;
  ready.on('close', () => outageStarts('connection closed'));
  ready.on('ready', () => {
    authReported = false;
    if (outage) log(`millrace worker: reconnected to Redis at ${endpoint}`);
    outage = false;
  });

  // Cancellations: a submitter whose chunk timed out (or whose flow ended) publishes the job id;
  // the worker running it aborts its chunk, whose task sees its signal abort. Other workers ignore it.
  // bullmq types its client loosely; the ioredis client it is can subscribe.
  const subscriber = ready.duplicate() as unknown as Subscriber;
  // Its connection trouble is the same outage as the main client's, reported there.
  subscriber.on('error', () => undefined);
  subscriber.on('message', (_channel: string, text: string) => {
    let message: CancelMessage;
    try {
      message = JSON.parse(text) as CancelMessage;
    } catch {
      return;
    }
    if (typeof message.jobId !== 'string') return;
    const reason =
      message.reason === 'timeout'
        ? new DOMException(`the submitter cancelled job ${message.jobId}: its chunk ran out of time`, 'TimeoutError')
        : new DOMException(`the submitter cancelled job ${message.jobId}: its flow ended`, 'AbortError');
    const controller = running.get(message.jobId);
    if (!controller || controller.signal.aborted) return;
    controller.abort(reason);
    log(`millrace worker: cancelled job ${message.jobId} (${message.reason === 'timeout' ? 'timeout' : 'flow ended'})`);
  });
  await subscriber.subscribe(cancelChannel(options.prefix ?? 'bull', options.queue));
  worker.run().catch((error: unknown) => worker.emit('error', error instanceof Error ? error : new Error(String(error))));

  let closing: Promise<void> | undefined;
  return {
    codeVersion,
    get active() {
      return active;
    },
    close() {
      closing ??= (async () => {
        closingWorker = true;
        await worker.close();
        subscriber.disconnect();
        await pool.close();
        refusedLog.flush();
      })();
      return closing;
    },
  };
}

/** Refused jobs said one line each, up to this many a minute; the rest are counted (see log-budget.ts). */
const REFUSED_LINES_PER_MINUTE = 20;

/** How often a running chunk's start clock is read, until its first item starts. */
const START_POLL_MS = 25;

/** The part of an ioredis client that listens on a pub/sub channel. */
interface Subscriber {
  on(event: 'message', listener: (channel: string, text: string) => void): unknown;
  on(event: 'error', listener: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

/** Whether an error is about reaching Redis (a socket that failed or closed), not about a job. */
function isConnectionError(error: unknown): boolean {
  const code = error !== null && typeof error === 'object' && 'code' in error ? String(error.code) : '';
  return (
    /^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)/.test(code) ||
    /connection is closed|stream isn't writeable|socket/i.test(describe(error))
  );
}

/** tinypool rejects with a bare `{}` when a thread's result cannot be cloned. */
function isCloneError(error: unknown): boolean {
  if (error instanceof Error) return error.name === 'DataCloneError' || /could not be cloned/i.test(error.message);
  return error !== null && typeof error === 'object' && Object.keys(error).length === 0;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
