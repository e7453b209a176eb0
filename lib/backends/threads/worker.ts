/**
 * The worker side of the thread backend. tinypool runs {@link attach} as one long task per burst
 * of work; it hands us a `MessagePort` on which chunks arrive, run one at a time in arrival order,
 * and go back as responses. Runs only in worker threads.
 *
 * @packageDocumentation
 */
import { getHeapStatistics } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { threadId, type MessagePort } from 'node:worker_threads';
import type { ChunkResponse } from '../../backend.js';
import { CLOCK_FINISHED, CLOCK_TAKEN_UP, stampClock } from '../../backend.js';
import { claim } from './claims.js';
import type { AttachTask, FromWorker, RunMessage, ToWorker } from './protocol.js';
import { cancelReason, finishedSoFar, resultTransfers, runChunkReporting, uncloneableResult } from '../worker-side/run-chunk.js';
import { describeError, serializeError } from '../worker-side/serialize-error.js';
import { teardownModules, useAliases } from '../worker-side/task-modules.js';
import { taskSignalHolder } from '../../task-signal.js';

type DoneMessage = Extract<FromWorker, { type: 'done' }>;

/** The chunk being run, with the controller behind its task signal. */
let running: { readonly id: number; readonly controller: AbortController } | undefined;
/**
 * The last chunk's controller when no task took its signal (`taskSignal()`) and it did not abort:
 * nothing outside this worker can tell it from a new one, so the next chunk uses it. A new
 * `AbortController` costs ~1.5 µs, more than a trivial chunk's task.
 */
let spare: AbortController | undefined;
/** Chunks that arrived while another ran. */
const backlog: RunMessage[] = [];
/**
 * Whether {@link runNext} is working through the backlog (between two chunks it may wait for a
 * turn of the event loop, with no chunk running): a chunk that arrives then joins that loop
 * rather than starting a second one beside it.
 */
let serving = false;
/** When the worker last let its event loop turn between chunks (see {@link runNext}). */
let lastTurn = 0;
/**
 * How long chunks may run back to back without a turn of the event loop between them: a turn
 * costs a system call, which at one trivial item a chunk is a real share of the worker's time.
 */
const TURN_EVERY_MS = 1;
let port: MessagePort | undefined;
let cells: Int32Array | undefined;
/** The bound on each module's teardown (from the pool's options, with the attach task). */
let teardownTimeoutMs = 5_000;
/** Whether 'done' carries the heap's size (the pool recycles workers by memory). */
let reportHeap = false;
/** Whether this thread has been attached before (its start-up cost is counted once, on its first). */
let attachedBefore = false;

function send(message: FromWorker): void {
  port?.postMessage(message);
}

/**
 * A task that leaves a rejected promise nobody awaits must not end the worker: the crash would be
 * pinned on whatever chunk runs next, maybe another flow's. It is reported to the main thread.
 */
process.on('unhandledRejection', (reason) => {
  send({ type: 'stray-rejection', message: describeError(reason) });
});

/** Why this worker is going, told before it goes (the main thread cannot ask tinypool). */
process.on('uncaughtExceptionMonitor', (error) => {
  send({ type: 'crashing', error: serializeError(error) });
  sendFinishedSoFar();
});
process.on('exit', (code) => {
  send({ type: 'exiting', code });
  sendFinishedSoFar();
});

/** What the running chunk's items had finished, so the engine does not run them again (after the reason: see messages.ts). */
function sendFinishedSoFar(): void {
  const finished = running === undefined ? undefined : finishedSoFar();
  if (finished === undefined) return;
  try {
    send({ type: 'finished-so-far', id: running!.id, finished });
  } catch {
    // A value that cannot be cloned: the items run again, as if nothing was said.
  }
}

/** The tinypool task: serve chunks on the port until the main thread detaches us. */
export default function attach(task: AttachTask): Promise<void> {
  useAliases(task.aliases);
  cells = task.cells;
  if (task.teardownTimeoutMs !== undefined) teardownTimeoutMs = task.teardownTimeoutMs;
  reportHeap = task.reportHeap === true;
  port = task.port;
  const channel = task.port;
  return new Promise<void>((resolve) => {
    channel.on('message', (message: ToWorker) => {
      switch (message.type) {
        case 'run':
          backlog.push(message);
          if (!serving) void runNext();
          break;
        case 'runs':
          for (const run of message.runs) backlog.push(run);
          if (!serving) void runNext();
          break;
        case 'cancel':
          if (running?.id === message.id) running.controller.abort(cancelReason(message.reason));
          break;
        case 'detach':
          channel.removeAllListeners('message');
          channel.close();
          port = undefined;
          resolve();
          break;
      }
    });
    // The main thread times the start-up (from asking for a worker to this message): a worker's
    // performance.now() counts from the process's start in Node 20, not the thread's.
    send({ type: 'ready', threadId, firstAttach: !attachedBefore });
    attachedBefore = true;
  });
}

async function runNext(): Promise<void> {
  serving = true;
  lastTurn = performance.now();
  try {
    for (let message = backlog.shift(); message !== undefined; message = backlog.shift()) {
      if (!claim(cells!, message.slot, message.ticket, threadId)) {
        send({ type: 'skipped', id: message.id });
        continue;
      }
      const controller = spare ?? new AbortController();
      spare = undefined;
      taskSignalHolder.taken = false;
      running = { id: message.id, controller };
      stampClock(message.clock, CLOCK_TAKEN_UP);
      const { id } = message;
      const sendProgress = message.progress === true ? (amount: number) => send({ type: 'progress', id, amount }) : undefined;
      const { response, progress } = await runChunkReporting(message.request, message.clock, controller.signal, sendProgress);
      stampClock(message.clock, CLOCK_FINISHED);
      running = undefined;
      if (!controller.signal.aborted && !signalTaken()) spare = controller;
      reply(message, response, progress);
      // Now and then, let the event loop turn between chunks (the task module's timers and I/O, a
      // cancel or a detach on the port); not after every chunk of a batch of short ones.
      if (backlog.length > 0 && performance.now() - lastTurn >= TURN_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastTurn = performance.now();
      }
    }
  } finally {
    serving = false;
  }
}

/** Whether a task of the chunk that just ran took its signal (read after the chunk's awaits). */
function signalTaken(): boolean {
  return taskSignalHolder.taken === true;
}

function reply(message: RunMessage, response: ChunkResponse, progress: number): void {
  response.workerId = threadId;
  const transfers = resultTransfers(response, message.request.mode);
  // Optional fields set one by one: two spreads a chunk were two copies.
  const done: { -readonly [K in keyof DoneMessage]: DoneMessage[K] } = { type: 'done', id: message.id, response };
  if (reportHeap) done.heapUsed = getHeapStatistics().used_heap_size;
  if (progress > 0) done.progress = progress;
  try {
    port?.postMessage(done satisfies FromWorker, transfers);
  } catch {
    // A result that cannot be cloned (or moved): say which, as data; never a dead worker.
    done.response = uncloneableResult(response, message.request.mode);
    delete done.heapUsed;
    port?.postMessage(done satisfies FromWorker);
  }
}

/**
 * tinypool's `teardown` task, run once before tinypool ends this worker (pool closed, worker
 * recycled, idle timeout): every loaded task module's `teardown()` export. Never rejects (a
 * rejection here would be an unhandled rejection in tinypool, on the main thread).
 */
export async function teardown(): Promise<void> {
  try {
    await teardownModules(teardownTimeoutMs);
  } catch {
    // teardownModules reports each failure itself
  }
}
