/**
 * Task modules as a worker loads them: TypeScript through tsx, `millrace` resolved to the source
 * tree when millrace itself runs unbuilt, `setup(...setupArgs)` run once per module instance, and
 * functions found without an await once loaded. Runs in the worker.
 *
 * Two task references to one module with different `setupArgs` each get a module instance of their
 * own (the module is imported again under a query string), so each runs after its own setup.
 *
 * When the worker leaves (the pool is closed, the worker is recycled or idles out), each loaded
 * instance's `teardown()` export runs once ({@link teardownModules}).
 *
 * @packageDocumentation
 */
import { writeSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { register } from 'node:module';
import type { TaskSpec } from '../../backend.js';
import { describeError, serializeError } from './serialize-error.js';
import type { ChunkResponse } from '../../backend.js';

/** What a failed load reports (see {@link ChunkResponse.loadError}). */
export type LoadError = NonNullable<ChunkResponse['loadError']>;
/** A task ready to call. */
export type TaskFunction = (...args: unknown[]) => unknown;

const TS_MODULE = /\.(c|m)?tsx?$/;

let aliases: Readonly<Record<string, string>> | undefined;
let hooksRegistered = false;

/** Set by the attach task before any chunk runs. */
export function useAliases(value: Readonly<Record<string, string>> | undefined): void {
  aliases ??= value;
}

/**
 * Registers tsx's loader for TypeScript task modules and, when millrace runs unbuilt, an alias so
 * `import ... from 'millrace'` in a task module finds the source. (Passing `--import tsx` in
 * execArgv does not reach a worker thread's ESM loader; registering from inside the worker does.)
 */
async function registerHooks(moduleUrl: string): Promise<void> {
  if (hooksRegistered) return;
  const hasAliases = aliases !== undefined && Object.keys(aliases).length > 0;
  if (!TS_MODULE.test(new URL(moduleUrl).pathname) && !hasAliases) return;
  hooksRegistered = true;
  let tsx: { register: () => unknown };
  try {
    tsx = await import('tsx/esm/api');
  } catch (cause) {
    hooksRegistered = false;
    throw new Error(`Task module ${moduleUrl} is TypeScript: install tsx (npm install tsx) or compile it to JavaScript`, { cause });
  }
  // Already registered by the worker entry when millrace itself runs from source.
  if (!(globalThis as { [key: symbol]: unknown })[Symbol.for('millrace.tsx')]) tsx.register();
  if (hasAliases) {
    const source = `const aliases = ${JSON.stringify(aliases)};
export async function resolve(specifier, context, next) {
  // Through the chain (not shortCircuit), so tsx sees the .ts target and loads it.
  if (Object.hasOwn(aliases, specifier)) return next(aliases[specifier], context);
  return next(specifier, context);
}`;
    register(`data:text/javascript,${encodeURIComponent(source)}`);
  }
}

interface Instance {
  /** The URL it was imported from (the module's, or a copy's under a query string). */
  readonly url: string;
  readonly setupArgs: readonly unknown[];
  /** The module, once loaded and set up. */
  loading: Promise<Record<string, unknown>>;
  /** Functions found so far, by export name. */
  readonly functions: Map<string, TaskFunction>;
}

/** Module instances by module URL: one per distinct `setupArgs`. */
const instances = new Map<string, Instance[]>();
/** The last instance a task spec resolved to, so the common case is one map lookup. */
const lastInstance = new Map<string, Instance>();

function instanceFor(task: TaskSpec): Instance {
  const last = lastInstance.get(task.moduleUrl);
  if (last && (last.setupArgs === task.setupArgs || isDeepStrictEqual(last.setupArgs, task.setupArgs))) return last;
  let list = instances.get(task.moduleUrl);
  if (!list) instances.set(task.moduleUrl, (list = []));
  let instance = list.find((candidate) => isDeepStrictEqual(candidate.setupArgs, task.setupArgs));
  if (!instance) {
    // The first instance is the module itself; the others are fresh copies under a query string.
    const url = list.length === 0 ? task.moduleUrl : withQuery(task.moduleUrl, `millrace-setup=${list.length}`);
    const created: Instance = { url, setupArgs: task.setupArgs, loading: Promise.resolve({}), functions: new Map() };
    created.loading = load(url, task.setupArgs);
    // A failed load is tried again by the next chunk rather than cached forever.
    created.loading.catch(() => {
      const at = list.indexOf(created);
      if (at >= 0) list.splice(at, 1);
      if (lastInstance.get(task.moduleUrl) === created) lastInstance.delete(task.moduleUrl);
    });
    list.push(created);
    instance = created;
  }
  lastInstance.set(task.moduleUrl, instance);
  return instance;
}

function withQuery(url: string, query: string): string {
  const parsed = new URL(url);
  parsed.search = parsed.search ? `${parsed.search}&${query}` : `?${query}`;
  return parsed.href;
}

/**
 * Set by load-entry.mjs when millrace's own test run compiled the source tree: a source-tree task
 * module's compiled copy, so that it loads without tsx (undefined for a module it has no copy of).
 */
function compiledCopy(url: string): string | undefined {
  const copyOf = (globalThis as { [key: symbol]: unknown })[Symbol.for('millrace.compiledCopyOf')];
  return typeof copyOf === 'function' ? (copyOf as (url: string) => string | undefined)(url) : undefined;
}

async function load(url: string, setupArgs: readonly unknown[]): Promise<Record<string, unknown>> {
  const copy = compiledCopy(url);
  if (copy === undefined) await registerHooks(url);
  const module = (await import(copy ?? url)) as Record<string, unknown>;
  if (typeof module.setup === 'function') await (module.setup as TaskFunction)(...setupArgs);
  return module;
}

/** Whether two `setupArgs` are the same: every chunk asks, and most have none (a deep comparison of two empty arrays costs more than a trivial chunk's task). */
function sameSetupArgs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a === b || (a.length === 0 && b.length === 0) || isDeepStrictEqual(a, b);
}

/** The task's function if its module is loaded already (no await: the hot path). */
export function loadedTask(task: TaskSpec): TaskFunction | undefined {
  const last = lastInstance.get(task.moduleUrl);
  if (last === undefined || !sameSetupArgs(last.setupArgs, task.setupArgs)) return undefined;
  return last.functions.get(task.exportName);
}

/** Loads the task's module (once per instance) and finds the function, or says what went wrong. */
export async function resolveTask(task: TaskSpec): Promise<{ fn: TaskFunction } | { loadError: LoadError }> {
  const known = loadedTask(task);
  if (known) return { fn: known };
  const instance = instanceFor(task);
  let module: Record<string, unknown>;
  try {
    module = await instance.loading;
  } catch (error) {
    return {
      loadError: {
        message: `Cannot load task module ${task.moduleUrl}: ${describeError(error)}`,
        available: [],
        cause: serializeError(error),
      },
    };
  }
  const fn = module[task.exportName];
  if (typeof fn !== 'function') {
    const available = Object.keys(module).filter((name) => typeof module[name] === 'function' && name !== 'setup' && name !== 'teardown');
    return {
      loadError: {
        message: `Task module ${task.moduleUrl} has no exported function "${task.exportName}"; it exports: ${available.join(', ') || '(no functions)'}`,
        available,
      },
    };
  }
  instance.functions.set(task.exportName, fn as TaskFunction);
  return { fn: fn as TaskFunction };
}

/**
 * Runs the `teardown()` export of every module instance this worker loaded, once, in load order,
 * each awaited for at most `timeoutMs` (a teardown still running then is left behind: the worker is
 * about to be terminated). A teardown that throws, rejects or overruns is reported on stderr with
 * the module's URL; it never stops the others, and never fails the main thread. Written with a
 * synchronous write to fd 2, because the worker is terminated right after and a worker's
 * `process.stderr` is an asynchronous pipe through the main thread that would lose the line.
 */
export async function teardownModules(timeoutMs: number): Promise<void> {
  const all = [...instances.values()].flat();
  instances.clear();
  lastInstance.clear();
  for (const instance of all) {
    let module: Record<string, unknown>;
    try {
      module = await instance.loading;
    } catch {
      continue; // never loaded, never set up: nothing to tear down
    }
    if (typeof module.teardown !== 'function') continue;
    let timer: NodeJS.Timeout | undefined;
    try {
      const overrun = new Promise<'overrun'>((resolve) => {
        timer = setTimeout(() => resolve('overrun'), timeoutMs);
      });
      const outcome = await Promise.race([Promise.resolve((module.teardown as TaskFunction)()), overrun]);
      if (outcome === 'overrun') {
        report(`millrace: teardown() of task module ${instance.url} did not finish within ${timeoutMs} ms; the worker leaves anyway`);
      }
    } catch (error) {
      report(`millrace: teardown() of task module ${instance.url} failed: ${describeError(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

function report(line: string): void {
  try {
    writeSync(2, `${line}\n`);
  } catch {
    // stderr closed: nowhere left to say it
  }
}
