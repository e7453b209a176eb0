// The worker entry: runs one chunk of a task per call. Plain JavaScript (not TypeScript) so the
// same file serves the unbuilt source tree and dist/ (the build copies it). It must not import
// anything of millrace's own: it is loaded into fresh threads and processes.
import { register } from 'node:module';
import { performance } from 'node:perf_hooks';
import { threadId, workerData } from 'node:worker_threads';

/** @type {Map<string, Promise<Record<string, unknown>>>} */
const modules = new Map();
let hooksRegistered = false;

const TS_MODULE = /\.(c|m)?tsx?$/;

/**
 * Registers the module hooks a TypeScript task module needs: tsx's loader, and (when millrace
 * itself runs unbuilt) an alias so `import ... from 'millrace'` in a task module finds the source.
 * Passing `--import tsx` in execArgv does not reach worker threads' ESM loader; registering the
 * hooks from inside the worker does.
 */
async function registerHooks(moduleUrl) {
  if (hooksRegistered) return;
  const aliases = (workerData && workerData.millraceAliases) || readAliasesFromProcessState();
  const needsTsx = TS_MODULE.test(new URL(moduleUrl).pathname) || (aliases && Object.keys(aliases).length > 0);
  if (!needsTsx) return;
  hooksRegistered = true;
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch (cause) {
    throw Object.assign(new Error(`Task module ${moduleUrl} is TypeScript: install tsx (npm install tsx) or compile it to JavaScript`), { cause });
  }
  tsx.register();
  if (aliases && Object.keys(aliases).length > 0) {
    const source = `const aliases = ${JSON.stringify(aliases)};
export async function resolve(specifier, context, next) {
  // Resolve the alias through the chain (not shortCircuit) so tsx sees the .ts target and loads it.
  if (Object.hasOwn(aliases, specifier)) return next(aliases[specifier], context);
  return next(specifier, context);
}`;
    register(`data:text/javascript,${encodeURIComponent(source)}`);
  }
}

function readAliasesFromProcessState() {
  const data = readStateData();
  return data && data.millraceAliases;
}

/** The pool's workerData as tinypool passes it on (its own `workerData` is a pair). */
function readStateData() {
  const state = process.__tinypool_state__;
  return state && state.workerData;
}

function loadModule(moduleUrl, setupArgs) {
  let loading = modules.get(moduleUrl);
  if (!loading) {
    loading = (async () => {
      await registerHooks(moduleUrl);
      const module = await import(moduleUrl);
      if (typeof module.setup === 'function') await module.setup(...(setupArgs || []));
      return module;
    })();
    modules.set(moduleUrl, loading);
    // A failed load is retried by the next chunk rather than cached forever.
    loading.catch(() => modules.delete(moduleUrl));
  }
  return loading;
}

/** What a module exports that is callable, for "did you mean" messages. */
function functionExports(module) {
  return Object.keys(module).filter((name) => typeof module[name] === 'function' && name !== 'setup');
}

/** Task functions already loaded, by module URL then export name: found without an await. */
const loaded = new Map();

function loadedTask(task) {
  const exports = loaded.get(task.moduleUrl);
  return exports === undefined ? undefined : exports.get(task.exportName);
}

async function resolveTask(task) {
  const known = loadedTask(task);
  if (known !== undefined) return { fn: known };
  let module;
  try {
    module = await loadModule(task.moduleUrl, task.setupArgs);
  } catch (error) {
    return { loadError: { message: `Cannot load task module ${task.moduleUrl}: ${describe(error)}`, available: [], cause: serializeError(error) } };
  }
  const fn = module[task.exportName];
  if (typeof fn === 'function') {
    let exports = loaded.get(task.moduleUrl);
    if (exports === undefined) loaded.set(task.moduleUrl, (exports = new Map()));
    exports.set(task.exportName, fn);
  }
  if (typeof fn !== 'function') {
    const available = functionExports(module);
    return {
      loadError: {
        message: `Task module ${task.moduleUrl} has no exported function "${task.exportName}"; it exports: ${available.join(', ') || '(no functions)'}`,
        available,
      },
    };
  }
  return { fn };
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

/** An error as plain data that survives structured clone with its name, stack and own fields. */
function serializeError(error, depth = 0) {
  if (!(error instanceof Error)) {
    let text;
    try {
      text = error === undefined ? 'undefined' : typeof error === 'string' ? JSON.stringify(error) : JSON.stringify(error) ?? String(error);
    } catch {
      text = String(error);
    }
    return { name: 'NonErrorThrown', message: `the task threw a non-Error value: ${text}`, fields: { value: cloneableOrUndefined(error) } };
  }
  // Errors are user objects: a property read may throw (a getter, a Proxy). A field that cannot
  // be read is dropped; the error still crosses as a task failure, never as a dead worker.
  const read = (key) => {
    try {
      return error[key];
    } catch {
      return undefined;
    }
  };
  const fields = {};
  let keys = [];
  try {
    keys = Object.keys(error);
  } catch {
    // a Proxy that refuses to list its keys: no fields
  }
  for (const key of keys) {
    if (key === 'cause') continue;
    const value = cloneableOrUndefined(read(key));
    if (value !== undefined) fields[key] = value;
  }
  const name = read('name');
  const message = read('message');
  const stack = read('stack');
  const result = {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : safeString(message),
    stack: typeof stack === 'string' ? stack : undefined,
    fields,
  };
  const cause = read('cause');
  if (cause !== undefined && depth < 4) result.cause = serializeError(cause, depth + 1);
  return result;
}

function safeString(value) {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function cloneableOrUndefined(value) {
  if (value === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof value)) return value;
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  try {
    return structuredClone(value);
  } catch {
    return undefined;
  }
}

/** The cells a thread pool shares with its workers (see ThreadBackend in lib/pool.ts), if any. */
const cells = readStateData()?.millraceCells;
/** A chunk the main thread cancelled before this worker took it up: nobody waits for this. */
const SKIPPED = { results: [], failures: [], elapsedMs: 0 };
/** Chunks that arrived while another ran: a worker runs one chunk at a time, in arrival order. */
const backlog = [];
let busy = false;

/**
 * Runs a chunk. `request.mode` is 'call' (one result per item; `spread` spreads tuple items into
 * arguments) or 'fold' (a two-tier reduceBy: fold the chunk by key and return the partial folds).
 * Failures come back as data, not as a rejection, so the main thread can name the item and keep
 * the worker's stack; tinypool would otherwise flatten them.
 *
 * The pool hands a worker its next chunk while the current one runs (so no item waits for a round
 * trip); that chunk waits here, and only counts as started (for timeouts, and for a crash) once
 * it is taken up.
 */
export default function runChunk(request) {
  if (busy || backlog.length > 0) return new Promise((resolve, reject) => backlog.push({ request, resolve, reject }));
  return runInTurn(request);
}

async function runInTurn(request) {
  busy = true;
  try {
    if (!takeUp(request)) return SKIPPED;
    return await runTakenUp(request);
  } finally {
    busy = false;
    // After tinypool has posted this chunk's response (its continuation runs first), not before:
    // the main thread gets each result as soon as it exists.
    if (backlog.length > 0) setImmediate(runNext);
  }
}

function runNext() {
  if (busy) return;
  const next = backlog.shift();
  if (next) runInTurn(next.request).then(next.resolve, next.reject);
}

/**
 * Claims the chunk in shared memory: its cell goes from its ticket to `-threadId`; a cell that no
 * longer holds the ticket means the main thread cancelled it (or reused its slot). A request that
 * came without a slot (another backend, a process) always runs.
 */
function takeUp(request) {
  if (cells === undefined || typeof request.slot !== 'number') return true;
  return Atomics.compareExchange(cells, request.slot, request.ticket, -threadId) === request.ticket;
}

async function runTakenUp(request) {
  const response = { results: [], failures: [], elapsedMs: 0 };
  stampStart(request, 0);
  if (request.mode === 'fold') {
    await runFold(request, response);
  } else {
    await runCall(request, response);
  }
  stampStart(request, 2);
  if (request.checkClone) findUncloneableResult(response);
  return withTransfers(response, request.mode);
}

/** Where `transferResult` (lib/transfer.ts) keeps a result's transfer list. */
const TRANSFER = Symbol.for('millrace.transfer');
/** @type {undefined | ((value: object) => object)} */
let move;

/**
 * Results marked with `transferResult` move their buffers to the main thread instead of being
 * copied: the response goes back wrapped the way tinypool's worker recognises (`Tinypool.move`
 * on an object carrying its transfer list and value), loaded only when a chunk moves something.
 */
function withTransfers(response, mode) {
  let buffers;
  for (const result of response.results) {
    const value = mode === 'fold' ? result[1] : result;
    const list = value !== null && typeof value === 'object' ? value[TRANSFER] : undefined;
    if (list) for (const buffer of list) (buffers ??= new Set()).add(buffer);
  }
  // Synchronous unless something moves: a promise here costs a microtask hop per chunk.
  return buffers ? moved(response, buffers) : response;
}

async function moved(response, buffers) {
  if (!move) {
    const { Tinypool } = await import('tinypool');
    move = (value) => Tinypool.move(value);
  }
  return move({ [Symbol.for('Tinypool.transferable')]: [...buffers], [Symbol.for('Tinypool.valueOf')]: response });
}

async function runCall(request, response) {
  let fn = loadedTask(request.task);
  if (fn === undefined) {
    const resolved = await resolveTask(request.task);
    if (resolved.loadError) {
      response.loadError = resolved.loadError;
      return;
    }
    fn = resolved.fn;
  }
  stampStart(request);
  const bound = request.task.boundArgs;
  const { items, spread, continueOnError } = request;
  const results = response.results;
  // Timed after loading, so a module's load time does not make its items look slow.
  const started = performance.now();
  for (let i = 0; i < items.length; i++) {
    try {
      const item = items[i];
      let value;
      if (spread) value = bound.length === 0 ? fn(...item) : fn(...bound, ...item);
      else value = bound.length === 0 ? fn(item) : fn(...bound, item);
      // Only await real thenables: awaiting every value costs a microtask per item.
      if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
        response.awaited = true;
        value = await value;
      }
      results.push(value);
    } catch (error) {
      response.failures.push({ index: i, error: serializeError(error) });
      if (!continueOnError) break;
      results.push(undefined);
    }
  }
  response.elapsedMs = performance.now() - started;
}

async function runFold(request, response) {
  const keyTask = await resolveTask(request.keyTask);
  if (keyTask.loadError) {
    response.loadError = keyTask.loadError;
    return;
  }
  const foldTask = await resolveTask(request.foldTask);
  if (foldTask.loadError) {
    response.loadError = foldTask.loadError;
    return;
  }
  stampStart(request);
  const key = keyTask.fn;
  const fold = foldTask.fn;
  const keyBound = request.keyTask.boundArgs;
  const foldBound = request.foldTask.boundArgs;
  const { items, initial, continueOnError } = request;
  const fresh = initial !== null && typeof initial === 'object';
  const partials = new Map();
  const started = performance.now();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    try {
      let k = keyBound.length === 0 ? key(item) : key(...keyBound, item);
      if (k !== null && typeof k === 'object' && typeof k.then === 'function') {
        response.awaited = true;
        k = await k;
      }
      let accumulator = partials.has(k) ? partials.get(k) : fresh ? structuredClone(initial) : initial;
      accumulator = foldBound.length === 0 ? fold(accumulator, item) : fold(...foldBound, accumulator, item);
      if (accumulator !== null && typeof accumulator === 'object' && typeof accumulator.then === 'function') {
        response.awaited = true;
        accumulator = await accumulator;
      }
      partials.set(k, accumulator);
    } catch (error) {
      response.failures.push({ index: i, error: serializeError(error) });
      if (!continueOnError) break;
    }
  }
  response.results = [...partials];
  response.elapsedMs = performance.now() - started;
}

/**
 * Tells the main thread, through shared memory, that the chunk was taken up (cell 0), that its
 * task is loaded and running (cell 1), so its timeout counts from then, or that its items are done
 * (cell 2), so it no longer can time out (see lib/chunk-deadline.ts). A clock that crossed a
 * process boundary is a copy, not shared memory: writing it is harmless.
 */
function stampStart(request, cell = 1) {
  const clock = request.startClock;
  if (clock && clock.cell instanceof Int32Array && cell < clock.cell.length) Atomics.store(clock.cell, cell, Math.max(1, Date.now() - clock.origin + 1));
}

/** The failure path for a result that cannot be cloned: find which one, and say so as data. */
function findUncloneableResult(response) {
  for (let i = 0; i < response.results.length; i++) {
    try {
      structuredClone(response.results[i]);
    } catch (error) {
      response.results = [];
      response.cloneFailure = { index: i, message: describe(error) };
      return;
    }
  }
}
