/**
 * The child side of the process backend: one child process runs one chunk at a time, sent over its
 * IPC channel, with the thread workers' own code (run-chunk.ts, task-modules.ts,
 * serialize-error.ts), so a chunk runs here exactly as in a worker thread. Runs only in child
 * processes started by process-backend.ts (through child-entry.mjs).
 *
 * @packageDocumentation
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { ChunkResponse } from '../../backend.js';
import { cancelReason, finishedSoFar, runChunkReporting, uncloneableResult } from '../worker-side/run-chunk.js';
import { describeError, serializeError } from '../worker-side/serialize-error.js';
import { teardownModules, useAliases } from '../worker-side/task-modules.js';
import { FATAL_REPORT, type ChildConfig, type FromChild, type ToChild } from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
useAliases(config.aliases);

/**
 * Out of memory ends the process from inside V8 (an abort, SIGABRT), too late for any message: the
 * report Node writes on a fatal error is how the main process tells it from a plain abort(). The
 * report holds the environment, so it goes to a directory of this child's own (mode 0700, under
 * the temp directory), which the main process reads and removes when the child dies, and the child
 * removes when it leaves. Node versions that can leave the environment out of it do.
 */
const reportDirectory = mkdtempSync(join(tmpdir(), 'millrace-child-'));
process.report.reportOnFatalError = true;
process.report.directory = reportDirectory;
process.report.filename = FATAL_REPORT;
if ('excludeEnv' in process.report) (process.report as { excludeEnv: boolean }).excludeEnv = true;

/** The chunk being run, with the controller behind its task signal. */
let running: { readonly id: number; readonly controller: AbortController } | undefined;
/** Chunks sent while one runs: never, as the main process sends one at a time, but never lose one. */
const backlog: Extract<ToChild, { type: 'run' }>[] = [];
/** From the process's start to when it is ready (its start-up cost), told once, with its first answer. */
let startupMs: number | undefined = performance.now();
let leaving = false;

/** Sends a message; false when it could not be serialized (the caller says what instead). */
function send(message: FromChild): boolean {
  if (!process.connected) return true;
  try {
    // The callback keeps a send that fails later (the channel closed) from becoming an 'error' event.
    process.send!(message, undefined, undefined, () => undefined);
    return true;
  } catch {
    return false;
  }
}

/**
 * A task that leaves a rejected promise nobody awaits must not end the child: the crash would be
 * pinned on whatever chunk runs next, maybe another flow's. It is reported to the main process.
 */
process.on('unhandledRejection', (reason) => {
  send({ type: 'stray-rejection', message: describeError(reason) });
});

/**
 * Why this child is going, told before it goes (an IPC write of this size leaves at once); then,
 * on its own, what the running chunk's items had finished (bigger: it may not leave in time, and
 * then those items run again, as if nothing was said).
 */
process.on('uncaughtExceptionMonitor', (error) => {
  send({ type: 'crashing', error: serializeError(error) });
  const finished = running === undefined ? undefined : finishedSoFar();
  if (finished !== undefined) send({ type: 'finished-so-far', id: running!.id, finished });
});

process.on('message', (message: ToChild) => {
  switch (message.type) {
    case 'run':
      backlog.push(message);
      if (running === undefined) void runNext();
      return;
    case 'cancel':
      if (running?.id === message.id) running.controller.abort(cancelReason(message.reason));
      return;
    case 'leave':
      void leave();
      return;
  }
});

// The main process is gone (it exited, or was killed): stop and leave rather than live on orphaned.
process.on('disconnect', () => {
  running?.controller.abort(new DOMException('the main process is gone', 'AbortError'));
  void leave();
});

/** Runs the task modules' teardowns (each bounded), then exits. */
async function leave(): Promise<void> {
  if (leaving) return;
  leaving = true;
  try {
    await teardownModules(config.teardownTimeoutMs);
  } catch {
    // teardownModules reports each failure itself
  }
  rmSync(reportDirectory, { recursive: true, force: true });
  process.exit(0);
}

async function runNext(): Promise<void> {
  for (let message = backlog.shift(); message !== undefined; message = backlog.shift()) {
    const controller = new AbortController();
    const { id, timed } = message;
    running = { id, controller };
    const sendProgress = message.progress === true ? (amount: number) => send({ type: 'progress', id, amount }) : undefined;
    const onStart = timed ? () => send({ type: 'started', id }) : undefined;
    const { response, progress } = await runChunkReporting(message.request, undefined, controller.signal, sendProgress, onStart);
    running = undefined;
    if (timed) send({ type: 'finished', id });
    reply(id, message.request.mode, response, progress);
  }
}

function reply(id: number, mode: 'call' | 'fold', response: ChunkResponse, progress: number): void {
  response.workerId = process.pid;
  if (startupMs !== undefined) {
    response.startupMs = startupMs;
    startupMs = undefined;
  }
  const heap = {
    ...(config.reportHeap === true ? { heapUsed: getHeapStatistics().used_heap_size } : {}),
    ...(progress > 0 ? { progress } : {}),
  };
  // Results marked with transferResult are copied: nothing moves between processes.
  if (!send({ type: 'done', id, response, ...heap })) {
    // A result that cannot be serialized: say which, as data; never a dead child.
    send({ type: 'done', id, response: uncloneableResult(response, mode), ...heap });
  }
}

send({ type: 'ready', pid: process.pid, reportDirectory });
