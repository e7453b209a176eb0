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
import { reviveError, type WorkerCrashReason } from '../../errors.js';
import {
  WorkerExitError,
  type ChunkRequest,
  type ChunkResponse,
  type FinishedItems,
  type PoolBackend,
  type RunChunkOptions,
} from '../../backend.js';
import type { WorkerPoolOptions } from '../worker-pool-options.js';
import { CLOCK_FINISHED, CLOCK_STARTED, CLOCK_TAKEN_UP, stampClock } from '../../backend.js';
import { deliverTaskProgress } from '../../task-progress.js';
import { MAX_TIMER_MS } from '../../timers.js';
import { finishedBy, newSlot, WorkerSlots, type Slot, type SlotJob, type WorkerKind } from '../worker-slots.js';
import { FATAL_REPORT, type ChildConfig, type FromChild, type ToChild } from './protocol.js';

/**
 * How long an exited child's IPC channel may take to close (its last messages, such as the uncaught
 * error it reported, arrive before the close) before its exit is dealt with anyway; and how much
 * longer than the teardown bound a leaving child may take to exit before it is killed.
 */
const CLOSE_GRACE_MS = 1_000;

/** A chunk in this backend, from `run()` to its settlement (the child that holds it knows it by `id`). */
type Job = SlotJob<Child>;

/**
 * One child process: its slot in the scheduler's table (`starting`: forked, not yet listening;
 * `ready`: serving; `retiring`: recycled, it finishes its chunk and gets no more; `leaving`: told to
 * leave, or killed, its exit expected; `gone`: exited), holding at most one chunk (see the module
 * comment).
 */
interface Child extends Slot<Job> {
  readonly process: ChildProcess;
  idleTimer: NodeJS.Timeout | undefined;
  /** The uncaught error it reported before it went. */
  crash: unknown;
  /** Its directory for a fatal-error report (told with 'ready'). */
  reportDirectory: string | undefined;
  /** Resolves once it has exited (and its exit has been dealt with). */
  readonly exited: Promise<void>;
  /** What its running chunk's items had finished, as it said going ('finished-so-far'). */
  finished: { readonly id: number; readonly finished: FinishedItems } | undefined;
}

/** Local child processes, one chunk at a time each, scheduled by {@link WorkerSlots}. */
export class ProcessBackend implements PoolBackend {
  readonly capacity: number;
  readonly reportsStart = true;
  /** Nothing moves between processes: a chunk with `transfer` can be sent again (retries, isolation). */
  readonly copiesTransfers = true;
  readonly #slots: WorkerSlots<Job, Child>;
  readonly #entry = fileURLToPath(new URL('./child-entry.mjs', import.meta.url));
  readonly #config: ChildConfig;
  readonly #execArgv: string[];
  readonly #idleTimeoutMs: number;
  readonly #teardownTimeoutMs: number;
  readonly #maxHeapBytes: number | undefined;

  constructor(options: WorkerPoolOptions, aliases: Readonly<Record<string, string>> | undefined) {
    this.capacity = options.threads ?? availableParallelism();
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.#teardownTimeoutMs = Math.min(options.teardownTimeoutMs ?? 5_000, MAX_TIMER_MS);
    this.#maxHeapBytes = options.maxWorkerMemoryMb === undefined ? undefined : options.maxWorkerMemoryMb * 1024 * 1024;
    this.#slots = new WorkerSlots(this.#kind, this.capacity, options.maxItemsPerWorker);
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
    for (const child of this.#slots.slots) if (child.life.phase !== 'gone') alive++;
    return alive;
  }

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    // `options.transferList` is not used: nothing moves between processes, the buffers are copied.
    return this.#slots.submit(request, options, (common) => common);
  }

  async close(): Promise<void> {
    const children = [...this.#slots.slots];
    this.#slots.close(
      (child) => child.jobs.size > 0,
      (child, busy) => {
        // A child in the middle of a task is killed at once, without its teardowns: the task may
        // still use what a teardown would release, and it may be stuck in synchronous code.
        if (busy || child.life.phase === 'starting') this.#kill(child);
        else this.#letGo(child);
      },
    );
    // Each leaving child bounds its teardowns itself and is killed past that bound (see #letGo). The
    // wait keeps the process alive (an idle child is unref'd): close() resolves once all have exited.
    for (const child of children) {
      child.process.ref();
      child.process.channel?.ref();
    }
    await Promise.all(children.map((child) => child.exited));
  }

  /** What the scheduler asks of child processes (see {@link WorkerKind}). */
  readonly #kind: WorkerKind<Job, Child> = {
    startsStandby: false,
    start: () => this.#fork(),
    // A child whose channel has closed is dying: its exit is on its way.
    reachable: (child) => child.process.connected,
    // No inbox in a child: a chunk goes only to an idle one.
    canWaitBehind: () => false,
    post: (job, child, id) => {
      const message: ToChild = {
        type: 'run',
        id,
        request: job.request,
        timed: job.clock !== undefined,
        ...(job.onTaskProgress ? { progress: true } : {}),
      };
      // Throws when the chunk cannot be serialized (an item, a bound argument): it never left. A
      // channel that fails later (the child died) is dealt with by the child's exit.
      child.process.send(message, undefined, undefined, () => undefined);
      return true;
    },
    sent: (job) => {
      // Taken up at once: the child has no inbox (see the module comment).
      job.life.move('running');
      stampClock(job.clock, CLOCK_TAKEN_UP);
    },
    // No shared memory to take a chunk back with: every chunk a child holds counts as started.
    withdraw: () => false,
    released: () => undefined,
    tellCancel: (job, child, why) => {
      try {
        child.process.send({ type: 'cancel', id: job.id!, reason: why } satisfies ToChild, undefined, undefined, () => undefined);
      } catch {
        // the channel is closing: the child is going anyway
      }
    },
    end: (child) => this.#kill(child),
    letGo: (child) => this.#letGo(child),
    rest: (child) => this.#idle(child),
    work: (child) => {
      clearTimeout(child.idleTimer);
      child.idleTimer = undefined;
      // A child at work keeps the main process alive, as a busy worker thread does.
      child.process.ref();
      child.process.channel?.ref();
    },
  };

  #fork(): Child {
    let resolveExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      resolveExited = resolve;
    });
    const child: Child = {
      ...newSlot<Job>(false),
      process: fork(this.#entry, [JSON.stringify(this.#config)], {
        serialization: 'advanced',
        execArgv: this.#execArgv,
        // stdin is not shared (a task reading it would race the main process); output is.
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
      idleTimer: undefined,
      crash: undefined,
      reportDirectory: undefined,
      exited,
      finished: undefined,
    };
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
    return child;
  }

  #onMessage(child: Child, message: FromChild): void {
    switch (message.type) {
      case 'ready':
        child.reportDirectory = message.reportDirectory;
        if (child.life.phase !== 'starting') return;
        child.life.move('ready');
        this.#slots.pump();
        return;
      case 'started':
        stampClock(child.jobs.get(message.id)?.clock, CLOCK_STARTED);
        return;
      case 'finished':
        stampClock(child.jobs.get(message.id)?.clock, CLOCK_FINISHED);
        return;
      case 'progress': {
        const job = child.jobs.get(message.id);
        if (job !== undefined) deliverTaskProgress(job, message.amount);
        return;
      }
      case 'done': {
        const job = child.jobs.get(message.id);
        if (job === undefined) return;
        if (message.progress !== undefined) deliverTaskProgress(job, message.progress);
        this.#slots.answered(child, message.id, job, message.response, message.heapUsed, this.#maxHeapBytes);
        return;
      }
      case 'stray-rejection':
        process.stderr.write(`millrace: a task left a rejected promise unhandled in a child process (ignored): ${message.message}\n`);
        return;
      case 'crashing':
        child.crash = reviveError(message.error);
        return;
      case 'finished-so-far':
        child.finished = { id: message.id, finished: message.finished };
        return;
    }
  }

  /** An idle child: it no longer keeps the main process alive, and leaves after the idle timeout. */
  #idle(child: Child): void {
    if (child.idleTimer !== undefined) return;
    child.process.unref();
    child.process.channel?.unref();
    if (this.#idleTimeoutMs >= MAX_TIMER_MS) return;
    child.idleTimer = setTimeout(() => {
      child.idleTimer = undefined;
      if (child.life.phase === 'ready' && child.jobs.size === 0) this.#letGo(child);
    }, this.#idleTimeoutMs);
    child.idleTimer.unref();
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

  /**
   * A child has exited. One that was told to leave or was killed went as expected. Otherwise it
   * died: the chunk it held fails with it (as started); if it died before it was ever ready and no
   * other child is, the queued chunks fail as a start-up failure rather than wait forever.
   */
  #onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    const wasStarting = child.life.phase === 'starting';
    clearTimeout(child.idleTimer);
    const reason = crashReason(child, code, signal);
    const exitCode = code ?? undefined;
    const facts = { reason, ...(signal === null ? {} : { signal }) };
    this.#slots.died(
      child,
      wasStarting,
      (job) =>
        new WorkerExitError(exitCode, child.crash, {
          started: true,
          ...facts,
          finished: finishedBy(child.finished, job.id),
        }),
      () => false,
      () => new WorkerExitError(exitCode, child.crash, { started: false, startup: true, ...facts }),
    );
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
