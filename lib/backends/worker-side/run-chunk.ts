/**
 * Runs one chunk in a worker: calls the task on each item ('call', up to `concurrency` items at
 * once) or folds the items by key ('fold'). Task failures are data in the response, so the main
 * thread can name the item and keep the worker's stack.
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import type { Transferable } from 'node:worker_threads';
import type { ChunkRequest, ChunkResponse, FinishedItems, StartClock } from '../../backend.js';
import { CLOCK_STARTED, stampClock } from '../../backend.js';
import { ReportBatch, taskProgressHolder } from '../../task-progress.js';
import { taskSignalHolder as current } from '../../task-signal.js';
import { transferListOf } from '../../transfer.js';
import { lineCursor, locate } from '../../sources/record-position.js';
import { serializeError } from './serialize-error.js';
import { loadedTask, resolveTask, type TaskFunction } from './task-modules.js';

type CallRequest = Extract<ChunkRequest, { mode: 'call' }>;

/**
 * The 'call' chunk running here whose outcomes count item by item (it keeps going after a
 * failure: the flow retries or reports items), for {@link finishedSoFar}. `settled` marks the
 * positions with a value when items run several at once (their results fill slots out of order).
 */
let tracked: { readonly response: ChunkResponse; settled: Uint8Array | undefined } | undefined;

/**
 * What the running chunk's items have finished with a value, for a worker about to die (an
 * uncaught error, `process.exit()`): the engine keeps them, and runs again only the rest. Only for
 * chunks that keep going after a failure (the others fail as a whole anyway).
 */
export function finishedSoFar(): FinishedItems | undefined {
  if (tracked === undefined) return undefined;
  const { response, settled } = tracked;
  const failed = new Set(response.failures.map((failure) => failure.index));
  const positions: number[] = [];
  const results: unknown[] = [];
  const reached = settled === undefined ? response.results.length : settled.length;
  for (let i = 0; i < reached; i++) {
    if (failed.has(i) || (settled !== undefined && settled[i] === 0)) continue;
    positions.push(i);
    results.push(response.results[i]);
  }
  return positions.length === 0 ? undefined : { positions, results };
}
type FoldRequest = Extract<ChunkRequest, { mode: 'fold' }>;

/**
 * Runs a chunk; never rejects (failures are in the response). `onStart` is called when the task
 * module is loaded and the first item starts, next to the clock's stamp: a child process, whose
 * clock is not shared memory, tells the main process that way.
 */
export async function runChunk(
  request: ChunkRequest,
  clock: StartClock | undefined,
  signal: AbortSignal,
  onStart?: () => void,
): Promise<ChunkResponse> {
  const response: ChunkResponse = { results: [], failures: [], elapsedMs: 0 };
  if (request.mode === 'fold') await runFold(request, response, clock, signal, onStart);
  else await runCall(request, response, clock, signal, onStart);
  return response;
}

/**
 * Runs a chunk as {@link runChunk} does, with its tasks' `reportProgress()` calls batched to
 * `sendProgress` when someone displays them (a worker thread or a child process runs one chunk at a
 * time, so every report, awaits included, is this chunk's). Returns the response and the reported
 * amount not sent yet, which goes with the chunk's answer.
 */
export async function runChunkReporting(
  request: ChunkRequest,
  clock: StartClock | undefined,
  signal: AbortSignal,
  sendProgress: ((amount: number) => void) | undefined,
  onStart?: () => void,
): Promise<{ response: ChunkResponse; progress: number }> {
  const reports = sendProgress === undefined ? undefined : new ReportBatch(sendProgress);
  taskProgressHolder.report = reports?.add;
  try {
    const response = await runChunk(request, clock, signal, onStart);
    return { response, progress: reports?.take() ?? 0 };
  } finally {
    taskProgressHolder.report = undefined;
  }
}

/** What a running chunk's task signal aborts with when the main side cancels it. */
export function cancelReason(reason: 'abort' | 'timeout'): DOMException {
  return reason === 'timeout'
    ? new DOMException('the chunk ran out of time', 'TimeoutError')
    : new DOMException('the flow no longer wants this chunk', 'AbortError');
}

/**
 * Calls a task on one item with its bound arguments (the item spread when asked), as the current
 * task call: `taskSignal()` gives `signal` during the call's synchronous part.
 */
function caller(fn: TaskFunction, request: CallRequest, signal: AbortSignal): (item: unknown) => unknown {
  const bound = request.task.boundArgs;
  const spread = request.spread === true;
  return (item) => {
    current.signal = signal;
    lineCursor.current = undefined;
    try {
      if (spread) return bound.length === 0 ? fn(...(item as unknown[])) : fn(...bound, ...(item as unknown[]));
      return bound.length === 0 ? fn(item) : fn(...bound, item);
    } finally {
      current.signal = undefined;
    }
  };
}

/** Calls `fn` as the current task call (see {@link caller}). */
function withSignal<T>(signal: AbortSignal, call: () => T): T {
  current.signal = signal;
  try {
    return call();
  } finally {
    current.signal = undefined;
  }
}

/**
 * An item's failure as data: what the task threw and, when it threw while reading a block's lines
 * (`blockLines`), where that line is in its input (so the error can name file, line and offset).
 */
async function itemFailure(index: number, error: unknown): Promise<ChunkResponse['failures'][number]> {
  const serialized = serializeError(error);
  const cursor = lineCursor.current;
  if (cursor !== undefined) {
    lineCursor.current = undefined;
    const record = await locate(cursor);
    if (record !== undefined) serialized.record = record;
  }
  return { index, error: serialized };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

async function runCall(
  request: CallRequest,
  response: ChunkResponse,
  clock: StartClock | undefined,
  signal: AbortSignal,
  onStart: (() => void) | undefined,
): Promise<void> {
  let fn = loadedTask(request.task);
  if (fn === undefined) {
    const loading = performance.now();
    const resolved = await resolveTask(request.task);
    response.loadMs = performance.now() - loading;
    if ('loadError' in resolved) {
      response.loadError = resolved.loadError;
      return;
    }
    fn = resolved.fn;
  }
  stampClock(clock, CLOCK_STARTED);
  onStart?.();
  const call = caller(fn, request, signal);
  const { items, continueOnError } = request;
  const concurrency = Math.max(1, request.concurrency ?? 1);
  const settled = continueOnError === true && concurrency > 1 ? new Uint8Array(items.length) : undefined;
  tracked = continueOnError === true ? { response, settled } : undefined;
  // Timed after loading, so a module's load time does not make its items look slow.
  const started = performance.now();
  try {
    await runItems(fn, call, request, response, signal, concurrency, settled);
  } finally {
    tracked = undefined;
  }
  response.elapsedMs = performance.now() - started;
}

/** Runs a 'call' chunk's items, one at a time or up to `concurrency` at once; `settled` marks positions with a value. */
async function runItems(
  fn: TaskFunction,
  call: (item: unknown) => unknown,
  request: CallRequest,
  response: ChunkResponse,
  signal: AbortSignal,
  concurrency: number,
  settled: Uint8Array | undefined,
): Promise<void> {
  const { items, continueOnError } = request;
  const results = response.results;
  if (concurrency === 1 && request.spread !== true && request.task.boundArgs.length === 0) {
    // The common case, kept free of a wrapper call per item (tiny tasks: this loop is the cost).
    for (let i = 0; i < items.length; i++) {
      try {
        current.signal = signal;
        lineCursor.current = undefined;
        let value = fn(items[i]);
        current.signal = undefined;
        if (isThenable(value)) {
          response.awaited = true;
          value = await value;
          if (signal.aborted) break;
        }
        results.push(value);
      } catch (error) {
        current.signal = undefined;
        response.failures.push(await itemFailure(i, error));
        if (!continueOnError) break;
        results.push(undefined);
      }
    }
  } else if (concurrency === 1) {
    for (let i = 0; i < items.length && !signal.aborted; i++) {
      try {
        let value = call(items[i]);
        // Only await real thenables: awaiting every value costs a microtask per item.
        if (isThenable(value)) {
          response.awaited = true;
          value = await value;
        }
        results.push(value);
      } catch (error) {
        response.failures.push(await itemFailure(i, error));
        if (!continueOnError) break;
        results.push(undefined);
      }
    }
  } else {
    // A sliding window: up to `concurrency` items of the chunk wait at once; results keep their slots.
    results.length = items.length;
    let next = 0;
    let stop = false;
    const lane = async (): Promise<void> => {
      while (!stop && !signal.aborted && next < items.length) {
        const i = next++;
        try {
          let value = call(items[i]);
          if (isThenable(value)) {
            response.awaited = true;
            value = await value;
          }
          results[i] = value;
          if (settled !== undefined) settled[i] = 1;
        } catch (error) {
          response.failures.push(await itemFailure(i, error));
          if (!continueOnError) stop = true;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
    response.failures.sort((a, b) => a.index - b.index);
    if (!continueOnError && response.failures.length > 0) results.length = response.failures[0]!.index;
  }
}

async function runFold(
  request: FoldRequest,
  response: ChunkResponse,
  clock: StartClock | undefined,
  signal: AbortSignal,
  onStart: (() => void) | undefined,
): Promise<void> {
  const loads = loadedTask(request.keyTask) === undefined || loadedTask(request.foldTask) === undefined;
  const loading = performance.now();
  const keyTask = await resolveTask(request.keyTask);
  if ('loadError' in keyTask) {
    response.loadError = keyTask.loadError;
    return;
  }
  const foldTask = await resolveTask(request.foldTask);
  if (loads) response.loadMs = performance.now() - loading;
  if ('loadError' in foldTask) {
    response.loadError = foldTask.loadError;
    return;
  }
  stampClock(clock, CLOCK_STARTED);
  onStart?.();
  const key = keyTask.fn;
  const fold = foldTask.fn;
  const keyBound = request.keyTask.boundArgs;
  const foldBound = request.foldTask.boundArgs;
  const { items, initial, continueOnError } = request;
  const fresh = initial !== null && typeof initial === 'object';
  const partials = new Map<unknown, unknown>();
  const started = performance.now();
  for (let i = 0; i < items.length && !signal.aborted; i++) {
    const item = items[i];
    lineCursor.current = undefined;
    try {
      let k = withSignal(signal, () => (keyBound.length === 0 ? key(item) : key(...keyBound, item)));
      if (isThenable(k)) {
        response.awaited = true;
        k = await k;
      }
      const previous = partials.has(k) ? partials.get(k) : fresh ? structuredClone(initial) : initial;
      let accumulator = withSignal(signal, () => (foldBound.length === 0 ? fold(previous, item) : fold(...foldBound, previous, item)));
      if (isThenable(accumulator)) {
        response.awaited = true;
        accumulator = await accumulator;
      }
      partials.set(k, accumulator);
    } catch (error) {
      response.failures.push(await itemFailure(i, error));
      if (!continueOnError) break;
    }
  }
  response.results = [...partials];
  response.elapsedMs = performance.now() - started;
}

/** The buffers that results marked with `transferResult` ask to move (none: undefined). */
export function resultTransfers(response: ChunkResponse, mode: ChunkRequest['mode']): Transferable[] | undefined {
  let buffers: Set<Transferable> | undefined;
  for (const result of response.results) {
    const value: unknown = mode === 'fold' ? (result as [unknown, unknown])[1] : result;
    const list = transferListOf(value);
    if (list) for (const buffer of list) (buffers ??= new Set()).add(buffer);
  }
  return buffers ? [...buffers] : undefined;
}

/** The failure path for a response that cannot be sent: find which result, and say so as data. */
export function uncloneableResult(response: ChunkResponse, mode: ChunkRequest['mode']): ChunkResponse {
  for (let i = 0; i < response.results.length; i++) {
    try {
      structuredClone(response.results[i]);
    } catch (error) {
      const message = describeThrown(error);
      return { results: [], failures: [], elapsedMs: response.elapsedMs, cloneFailure: { index: mode === 'call' ? i : -1, message } };
    }
  }
  return {
    results: [],
    failures: [],
    elapsedMs: response.elapsedMs,
    cloneFailure: { index: -1, message: 'the response could not be sent' },
  };
}

function describeThrown(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'an error that cannot be described';
  }
}
