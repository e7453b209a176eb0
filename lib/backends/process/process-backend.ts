/**
 * Child processes (`createPool({ isolation: 'process' })`): each chunk runs in a child process, so
 * a task that crashes its process (a native addon's segfault, `process.abort()`, running out of
 * memory, `process.exit()`) fails its chunk with a {@link WorkerExitError} that says why, and the
 * main process and the pool go on.
 *
 * Why this backend forks its own children (`child_process.fork`) rather than use tinypool's
 * `runtime: 'child_process'` (checked against tinypool 2.2): tinypool's `ProcessWorker` replaces an
 * unexpected exit by a bare `Error('Worker exited unexpectedly')`, dropping the exit code and the
 * signal, so a segfault could not be named; it forks with `stdio: 'pipe'` and pipes the child's
 * output through the main process; it passes `resourceLimits` to `fork`, which ignores them; and its
 * serialization is JSON unless its `serialization` option says otherwise (Maps, Sets, typed arrays
 * and Dates would not survive JSON). Nor could the thread backend's design be reused through it:
 * that design hands each worker a `MessagePort` and shares claim cells (a `SharedArrayBuffer`) with
 * it, and neither crosses a process boundary. tinypool stays the thread pool.
 *
 * So a child is forked with Node's `'advanced'` serialization (V8's serializer: the structured
 * clone of threads), its stdout and stderr are the main process's own (a task's `console.log`
 * shows), and it runs chunks with the thread workers' own code (run-chunk.ts, task-modules.ts,
 * serialize-error.ts; see child.ts). The rules that keep the guarantees of the thread pool:
 *
 * - **A child holds at most the chunk it runs.** There is no inbox in a child and no shared memory
 *   to take a chunk back with, so a chunk is sent only to an idle child, and every chunk held by a
 *   child that dies counts as started (the engine then retries it, isolates its items under
 *   `onError`, or fails it; never runs it again for free). Chunks still queued here are never lost.
 * - **Time budgets** count from the child's word: a chunk is taken up when it is sent, and the child
 *   says when its items start and end ('started', 'finished'; only for chunks with a budget).
 * - **Cancel and timeout**: the child is told (the task's `taskSignal()` aborts); a child still
 *   holding the chunk after {@link CANCEL_GRACE_MS} is killed (SIGKILL), as a thread is terminated.
 * - **Why a child died** comes from its exit: the signal (`'SIGSEGV'`, `'SIGABRT'`), the exit code,
 *   an uncaught error it reported before going, or out of memory. V8 aborts a process out of heap
 *   from inside (SIGABRT, too late for any message), so each child asks Node to write its
 *   diagnostic report on a fatal error, into a private directory of its own (the report holds the
 *   environment); a SIGABRT exit with a report whose event says "heap out of memory" is
 *   `'out-of-memory'`, one without is `'signal'`. The directory is removed when the child goes.
 * - **Idle children never keep the main process alive**: a child and its IPC channel are unref'd
 *   while it holds no chunk; an idle child leaves after `idleTimeoutMs` (running its teardowns); a
 *   child whose main process goes away (exits, is killed) runs its teardowns and leaves by itself.
 * - **`transfer`** falls back to a copy: nothing moves between processes, so nothing is detached.
 * - **Recycling** (`maxItemsPerWorker`, `maxWorkerMemoryMb`): a retiring child finishes its chunk,
 *   runs its teardowns and leaves; its replacement is forked at once, before it has left.
 *
 * @packageDocumentation
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MillraceError, reviveError, type WorkerCrashReason } from '../../errors.js';
import {
  ChunkSendError,
  WorkerExitError,
  type ChunkRequest,
  type ChunkResponse,
  type PoolBackend,
  type RunChunkOptions,
} from '../../backend.js';
import type { WorkerPoolOptions } from '../worker-pool-options.js';
import { CLOCK_FINISHED, CLOCK_STARTED, CLOCK_TAKEN_UP, stampClock } from '../../backend.js';
import { deliverTaskProgress } from '../../task-progress.js';
import { MAX_TIMER_MS } from '../../timers.js';
import { ArrayAdmissionQueue, type AdmissionQueue } from '../admission-queue.js';
import { CANCEL_GRACE_MS } from '../cancel-grace.js';
import { workerLifecycle, type Lifecycle, type WorkerPhase } from '../../chunk-lifecycle.js';
import { settleJob, submitJob, type LocalJob } from '../job.js';
import { FATAL_REPORT, type ChildConfig, type FromChild, type ToChild } from './protocol.js';

/**
 * How long an exited child's IPC channel may take to close (its last messages, such as the uncaught
 * error it reported, arrive before the close) before its exit is dealt with anyway; and how much
 * longer than the teardown bound a leaving child may take to exit before it is killed.
 */
const CLOSE_GRACE_MS = 1_000;

/** A chunk in this backend, from `run()` to its settlement (the child that holds it knows it by `id`). */
type Job = LocalJob;

/** One child process. */
interface Child {
  /**
   * `starting`: forked, not yet listening. `ready`: serving. `retiring`: recycled, it finishes its
   * chunk and gets no more. `leaving`: told to leave, or killed; its exit is expected. `gone`: exited.
   */
  readonly life: Lifecycle<WorkerPhase>;
  readonly process: ChildProcess;
  /** The chunk it runs (at most one: see the module comment). */
  job: Job | undefined;
  nextId: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Items sent to it over its life, for `maxItemsPerWorker`. */
  itemsSent: number;
  /** The uncaught error it reported before it went. */
  crash: unknown;
  /** Its directory for a fatal-error report (told with 'ready'). */
  reportDirectory: string | undefined;
  /** Set when this backend killed it for a chunk past its cancel grace, and for what. */
  endedFor: 'timeout' | 'cancel' | undefined;
  /** Resolves once it has exited (and its exit has been dealt with). */
  readonly exited: Promise<void>;
}

/** Local child processes, one chunk at a time each. */
export class ProcessBackend implements PoolBackend {
  readonly capacity: number;
  readonly reportsStart = true;
  /** Nothing moves between processes: a chunk with `transfer` can be sent again (retries, isolation). */
  readonly copiesTransfers = true;
  readonly #queue: AdmissionQueue<Job> = new ArrayAdmissionQueue();
  readonly #children = new Set<Child>();
  readonly #entry = fileURLToPath(new URL('./child-entry.mjs', import.meta.url));
  readonly #config: ChildConfig;
  readonly #execArgv: string[];
  readonly #idleTimeoutMs: number;
  readonly #teardownTimeoutMs: number;
  readonly #maxItemsPerWorker: number | undefined;
  readonly #maxHeapBytes: number | undefined;
  #closing = false;

  constructor(options: WorkerPoolOptions, aliases: Readonly<Record<string, string>> | undefined) {
    this.capacity = options.threads ?? availableParallelism();
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.#teardownTimeoutMs = Math.min(options.teardownTimeoutMs ?? 5_000, MAX_TIMER_MS);
    this.#maxItemsPerWorker = options.maxItemsPerWorker;
    this.#maxHeapBytes = options.maxWorkerMemoryMb === undefined ? undefined : options.maxWorkerMemoryMb * 1024 * 1024;
    this.#config = {
      teardownTimeoutMs: this.#teardownTimeoutMs,
      ...(this.#maxHeapBytes !== undefined ? { reportHeap: true } : {}),
      ...(aliases ? { aliases } : {}),
    };
    this.#execArgv = [...inheritedExecArgv(process.execArgv), ...limitFlags(options.resourceLimits)];
  }

  /** Child processes alive right now. */
  get liveThreads(): number {
    let alive = 0;
    for (const child of this.#children) if (child.life.phase !== 'gone') alive++;
    return alive;
  }

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    if (this.#closing) return Promise.reject(new MillraceError('The pool is closed'));
    // `options.transferList` is not used: nothing moves between processes, the buffers are copied.
    return submitJob(
      request,
      options,
      (common) => common,
      (job) => {
        this.#queue.push(job);
        this.#pump();
      },
      (job, reason) => this.#cancel(job, reason),
    );
  }

  async close(): Promise<void> {
    this.#closing = true;
    const closed = (): MillraceError => new MillraceError('The pool was closed while this chunk was queued or running');
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) this.#settle(job, { error: closed() });
    const children = [...this.#children];
    for (const child of children) {
      const job = child.job;
      if (job !== undefined) {
        // A child in the middle of a task is killed at once, without its teardowns: the task may
        // still use what a teardown would release, and it may be stuck in synchronous code.
        this.#settle(job, { error: closed() });
        this.#kill(child);
      } else if (child.life.phase === 'starting') {
        this.#kill(child);
      } else {
        this.#letGo(child);
      }
    }
    // Each leaving child bounds its teardowns itself and is killed past that bound (see #letGo). The
    // wait keeps the process alive (an idle child is unref'd): close() resolves once all have exited.
    for (const child of children) {
      child.process.ref();
      child.process.channel?.ref();
    }
    await Promise.all(children.map((child) => child.exited));
  }

  /** Settles a job for its caller once; later outcomes are dropped. */
  #settle(job: Job, outcome: { response: ChunkResponse } | { error: unknown }): void {
    settleJob(job, outcome);
  }

  /** Hands queued chunks to idle children, forks children for the rest (up to the pool's size). */
  #pump(): void {
    if (this.#closing) return;
    // A chunk that cannot be sent leaves its child idle, so the same child is looked for again.
    for (let idle = this.#idleChild(); idle !== undefined && this.#queue.size > 0; idle = this.#idleChild()) {
      this.#send(this.#queue.shift()!, idle);
    }
    let starting = 0;
    let serving = 0;
    for (const child of this.#children) {
      if (child.life.phase === 'starting') starting++;
      if (child.life.phase === 'starting' || child.life.phase === 'ready') serving++;
    }
    for (; this.#queue.size > starting && serving < this.capacity; starting++, serving++) this.#fork();
    for (const child of this.#children) if (child.life.phase === 'ready' && child.job === undefined) this.#idle(child);
  }

  /** A child ready for a chunk (one whose channel has closed is dying: its exit is on its way). */
  #idleChild(): Child | undefined {
    for (const child of this.#children)
      if (child.life.phase === 'ready' && child.job === undefined && child.process.connected) return child;
    return undefined;
  }

  #fork(): void {
    let resolveExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      resolveExited = resolve;
    });
    const child: Child = {
      life: workerLifecycle(),
      process: fork(this.#entry, [JSON.stringify(this.#config)], {
        serialization: 'advanced',
        execArgv: this.#execArgv,
        // stdin is not shared (a task reading it would race the main process); output is.
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
      job: undefined,
      nextId: 0,
      idleTimer: undefined,
      itemsSent: 0,
      crash: undefined,
      reportDirectory: undefined,
      endedFor: undefined,
      exited,
    };
    this.#children.add(child);
    child.process.on('message', (message: FromChild) => this.#onMessage(child, message));
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let backstop: NodeJS.Timeout | undefined;
    const done = (): void => {
      if (exit === undefined || child.life.phase === 'gone') return;
      clearTimeout(backstop);
      this.#onExit(child, exit.code, exit.signal);
      resolveExited();
    };
    // 'close' comes after the exit and after the IPC channel has delivered the child's last words.
    child.process.on('exit', (code, signal) => {
      exit = { code, signal };
      backstop = setTimeout(done, CLOSE_GRACE_MS);
      backstop.unref();
    });
    child.process.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      exit ??= { code, signal };
      done();
    });
    // A send on a closed channel, or a failed spawn; a failed spawn has no exit to wait for.
    child.process.on('error', () => {
      if (child.process.pid !== undefined) return;
      exit = { code: null, signal: null };
      done();
    });
  }

  #onMessage(child: Child, message: FromChild): void {
    switch (message.type) {
      case 'ready':
        child.reportDirectory = message.reportDirectory;
        if (child.life.phase !== 'starting') return;
        child.life.move('ready');
        this.#pump();
        return;
      case 'started':
        if (child.job?.id === message.id) stampClock(child.job.clock, CLOCK_STARTED);
        return;
      case 'finished':
        if (child.job?.id === message.id) stampClock(child.job.clock, CLOCK_FINISHED);
        return;
      case 'progress':
        if (child.job?.id === message.id) deliverTaskProgress(child.job, message.amount);
        return;
      case 'done': {
        const job = child.job;
        if (job?.id !== message.id) return;
        if (message.progress !== undefined) deliverTaskProgress(job, message.progress);
        child.job = undefined;
        clearTimeout(job.graceTimer);
        if (this.#maxHeapBytes !== undefined && (message.heapUsed ?? 0) > this.#maxHeapBytes) this.#retire(child);
        if (child.life.phase === 'retiring') this.#letGo(child);
        this.#settle(job, { response: message.response });
        this.#pump();
        return;
      }
      case 'stray-rejection':
        process.stderr.write(`millrace: a task left a rejected promise unhandled in a child process (ignored): ${message.message}\n`);
        return;
      case 'crashing':
        child.crash = reviveError(message.error);
        return;
    }
  }

  #send(job: Job, child: Child): void {
    const id = child.nextId++;
    const message: ToChild = {
      type: 'run',
      id,
      request: job.request,
      timed: job.clock !== undefined,
      ...(job.onTaskProgress ? { progress: true } : {}),
    };
    try {
      // A channel that fails later (the child died) is dealt with by the child's exit.
      child.process.send(message, undefined, undefined, () => undefined);
    } catch (error) {
      // The chunk cannot be serialized (an item, a bound argument): it never left.
      this.#settle(job, { error: new ChunkSendError(error) });
      return;
    }
    clearTimeout(child.idleTimer);
    child.idleTimer = undefined;
    // A child at work keeps the main process alive, as a busy worker thread does.
    child.process.ref();
    child.process.channel?.ref();
    job.id = id;
    child.job = job;
    // Taken up at once: the child has no inbox (see the module comment).
    job.life.move('handed-over');
    job.life.move('running');
    stampClock(job.clock, CLOCK_TAKEN_UP);
    child.itemsSent += job.request.items.length;
    if (this.#maxItemsPerWorker !== undefined && child.itemsSent >= this.#maxItemsPerWorker) this.#retire(child);
  }

  /** An idle child: it no longer keeps the main process alive, and leaves after the idle timeout. */
  #idle(child: Child): void {
    if (child.idleTimer !== undefined) return;
    child.process.unref();
    child.process.channel?.unref();
    if (this.#idleTimeoutMs >= MAX_TIMER_MS) return;
    child.idleTimer = setTimeout(() => {
      child.idleTimer = undefined;
      if (child.life.phase === 'ready' && child.job === undefined) this.#letGo(child);
    }, this.#idleTimeoutMs);
    child.idleTimer.unref();
  }

  /** Recycles a child: no more chunks for it, a replacement now, and it leaves once its chunk is done. */
  #retire(child: Child): void {
    if (child.life.phase !== 'ready' || this.#closing) return;
    child.life.move('retiring');
    if (child.job === undefined) this.#letGo(child);
    // The replacement starts before the old child leaves, so throughput does not dip to wait for it.
    let serving = 0;
    for (const other of this.#children) if (other.life.phase === 'starting' || other.life.phase === 'ready') serving++;
    if (serving < this.capacity) this.#fork();
  }

  /** Asks a child to leave (it runs its teardowns, then exits); one that overruns is killed. */
  #letGo(child: Child): void {
    if (child.life.phase === 'leaving' || child.life.phase === 'gone') return;
    child.life.enter('leaving');
    clearTimeout(child.idleTimer);
    child.idleTimer = undefined;
    try {
      child.process.send({ type: 'leave' } satisfies ToChild, undefined, undefined, () => undefined);
    } catch {
      // the channel is closing: the child is going anyway
    }
    const timer = setTimeout(() => this.#kill(child), this.#teardownTimeoutMs + CLOSE_GRACE_MS);
    timer.unref();
    void child.exited.then(() => clearTimeout(timer));
  }

  /** Ends a child now (SIGKILL: synchronous JavaScript cannot be interrupted otherwise). */
  #kill(child: Child): void {
    if (child.life.phase === 'gone') return;
    child.life.enter('leaving');
    clearTimeout(child.idleTimer);
    child.idleTimer = undefined;
    child.process.kill('SIGKILL');
  }

  #cancel(job: Job, reason: unknown): void {
    const { phase } = job.life;
    if (phase === 'settled' || phase === 'cancelling') return;
    if (phase === 'queued') {
      this.#queue.remove(job);
      this.#settle(job, { error: reason });
      return;
    }
    const child = [...this.#children].find((candidate) => candidate.job === job);
    // Running: the caller hears now; the task sees its signal abort; a child that has not let the
    // chunk go after the grace period is killed.
    job.life.move('cancelling');
    job.detach();
    job.reject(reason);
    if (child === undefined) return;
    const timeout = reason instanceof DOMException && reason.name === 'TimeoutError';
    try {
      child.process.send(
        { type: 'cancel', id: job.id!, reason: timeout ? 'timeout' : 'abort' } satisfies ToChild,
        undefined,
        undefined,
        () => undefined,
      );
    } catch {
      // the channel is closing: the child is going anyway
    }
    job.graceTimer = setTimeout(() => {
      if (child.job !== job) return;
      child.endedFor = timeout ? 'timeout' : 'cancel';
      this.#kill(child);
    }, CANCEL_GRACE_MS);
    job.graceTimer.unref();
  }

  /**
   * A child has exited. One that was told to leave or was killed went as expected. Otherwise it
   * died: the chunk it held fails with it (as started); if it died before it was ever ready and no
   * other child is, the queued chunks fail as a start-up failure rather than wait forever.
   */
  #onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    const was = child.life.phase;
    child.life.enter('gone');
    this.#children.delete(child);
    clearTimeout(child.idleTimer);
    const reason = crashReason(child, code, signal);
    const job = child.job;
    child.job = undefined;
    if (this.#closing) return;
    const exitCode = code ?? undefined;
    const facts = { reason, ...(signal === null ? {} : { signal }) };
    if (job !== undefined) {
      clearTimeout(job.graceTimer);
      this.#settle(job, { error: new WorkerExitError(exitCode, child.crash, { started: true, ...facts }) });
    }
    if (was === 'starting' && ![...this.#children].some((other) => other.life.phase === 'ready')) {
      // A child that could not even start (resourceLimits too small to boot, a broken install).
      for (let queued = this.#queue.shift(); queued; queued = this.#queue.shift()) {
        this.#settle(queued, { error: new WorkerExitError(exitCode, child.crash, { started: false, startup: true, ...facts }) });
      }
      return;
    }
    this.#pump();
  }
}

/**
 * Why a child died. What this backend did itself comes first (it killed the child for a timeout or
 * a cancel); then out of memory (a fatal-error report that says so), a signal, an uncaught error
 * the child reported, and last its exit code.
 */
function crashReason(child: Child, code: number | null, signal: NodeJS.Signals | null): WorkerCrashReason {
  const outOfMemory = child.reportDirectory !== undefined && fatalReportSaysOutOfMemory(child.reportDirectory);
  if (child.endedFor !== undefined) return child.endedFor;
  if (outOfMemory) return 'out-of-memory';
  if (signal !== null) return 'signal';
  if (child.crash !== undefined) return 'uncaught-error';
  if (code !== null) return 'exit';
  return 'unknown';
}

/**
 * Reads the report a dead child's Node.js wrote on a fatal error, if any (was it out of memory?),
 * and removes the child's report directory (a child that leaves on purpose removes it itself).
 */
function fatalReportSaysOutOfMemory(directory: string): boolean {
  const file = join(directory, FATAL_REPORT);
  try {
    if (!existsSync(file)) return false;
    const report = JSON.parse(readFileSync(file, 'utf8')) as { header?: { event?: unknown } };
    return typeof report.header?.event === 'string' && /heap out of memory/i.test(report.header.event);
  } catch {
    return false;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * The main process's Node.js flags that a child inherits (as worker threads do): all but those that
 * would make it run something else (`--eval`, `--print`, `--test`, `--watch`, an interactive REPL)
 * or clash with the main process (an inspector port).
 */
function inheritedExecArgv(execArgv: readonly string[]): string[] {
  const withValue = new Set(['-e', '--eval', '-p', '--print', '-pe', '--inspect-port', '--debug-port', '--input-type']);
  const dropped = /^(--eval|--print|--inspect|--debug|--test|--watch|--input-type|--interactive$|-i$)/;
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    if (withValue.has(flag)) {
      i++;
      continue;
    }
    if (!dropped.test(flag)) kept.push(flag);
  }
  return kept;
}

/** `resourceLimits` as V8 flags for a child process (last flag wins, so these override inherited ones). */
function limitFlags(limits: WorkerPoolOptions['resourceLimits']): string[] {
  if (limits === undefined) return [];
  const flags: string[] = [];
  if (limits.maxOldGenerationSizeMb !== undefined) flags.push(`--max-old-space-size=${limits.maxOldGenerationSizeMb}`);
  // V8's young generation is three semi-spaces' worth (two semi-spaces and the new large-object space).
  if (limits.maxYoungGenerationSizeMb !== undefined) {
    flags.push(`--max-semi-space-size=${Math.max(1, Math.floor(limits.maxYoungGenerationSizeMb / 3))}`);
  }
  if (limits.stackSizeMb !== undefined) flags.push(`--stack-size=${Math.floor(limits.stackSizeMb * 1024)}`);
  return flags;
}
