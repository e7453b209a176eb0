/**
 * Typed references to the functions a task module exports. A reference is plain data (a module URL,
 * an export name, bound arguments), so it can be sent to a worker thread or another host; the types
 * ride along so operators infer their input and output from it.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { taskSignature } from './backend.js';
import { InvalidOptionError } from './errors.js';

/**
 * A reference to one exported function of a task module, callable in a worker.
 *
 * @typeParam Args - the parameters still to be supplied (after any {@link bind})
 * @typeParam Result - what the function returns, awaited
 * @remarks
 * Task arguments and results cross threads by structured clone: plain data, arrays, `Map`, `Set`,
 * `Date` and typed arrays work; a `Buffer` arrives as a plain `Uint8Array` (wrap it with
 * `Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)` to get a `Buffer` back without
 * copying), a `Map` subclass comes back as a plain `Map`, class instances lose their prototype, and
 * functions cannot cross at all (a {@link CloneError} names the item).
 * @example
 * ```ts
 * import { tasks, type TaskRef } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const square: TaskRef<[number], number> = math.square;
 * ```
 * @category Pools and tasks
 */
export interface TaskRef<Args extends unknown[], Result> {
  /** The task module's URL (`file:` URL), as given to {@link tasks}. */
  readonly moduleUrl: string;
  /** The exported function's name. */
  readonly exportName: string;
  /** Leading arguments bound with {@link bind}, sent once per chunk rather than with every item. */
  readonly boundArgs: readonly unknown[];
  /** Arguments for the module's `setup` export, run once per worker before its first task. */
  readonly setupArgs: readonly unknown[];
  /** @internal Type-only carrier of the signature; never present at run time. */
  readonly [taskSignature]?: (...args: Args) => Result;
}

/** A task reference of any signature (what the engine needs: where the function is). */
export type AnyTaskRef = Pick<TaskRef<never[], unknown>, 'moduleUrl' | 'exportName' | 'boundArgs' | 'setupArgs'>;

/** The plain data a worker needs to find and call a task. */
export function taskSpec(task: AnyTaskRef): {
  moduleUrl: string;
  exportName: string;
  boundArgs: readonly unknown[];
  setupArgs: readonly unknown[];
} {
  return {
    moduleUrl: resolveTaskModule(task.moduleUrl),
    exportName: task.exportName,
    boundArgs: task.boundArgs,
    setupArgs: task.setupArgs,
  };
}

/** Any function a task module may export. */
type AnyFunction = (...args: never[]) => unknown;

/**
 * The typed references {@link tasks} returns for a module type `M`: one per exported function.
 *
 * @example
 * ```ts
 * import { tasks, type Tasks } from 'millrace';
 * type MathTasks = Tasks<typeof import('./math.tasks.js')>;
 * const math: MathTasks = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * ```
 * @category Pools and tasks
 */
export type Tasks<M> = {
  readonly [K in keyof M as K extends 'setup' ? never : M[K] extends AnyFunction ? K : never]: M[K] extends (...args: infer A) => infer R
    ? TaskRef<A, Awaited<R>>
    : never;
};

/**
 * Options for {@link tasks}.
 *
 * @example
 * ```ts
 * import { tasks, type TasksOptions } from 'millrace';
 * const options: TasksOptions = { setupArgs: ['en-US'] };
 * const text = tasks<typeof import('./text.tasks.js')>(new URL('./text.tasks.js', import.meta.url), options);
 * ```
 * @category Pools and tasks
 */
export interface TasksOptions {
  /**
   * Arguments passed to the module's optional `setup` export, which each worker runs once before its
   * first task from this module (as `Pool(initializer=..., initargs=...)` does).
   * @defaultValue `[]`
   */
  readonly setupArgs?: readonly unknown[] | undefined;
}

/**
 * Makes typed references to the functions exported by a task module; nothing is loaded until a
 * reference is first run.
 *
 * @param moduleUrl - the module, usually `new URL('./x.tasks.js', import.meta.url)`. Written the
 *   TypeScript way (`.js`), it also finds `x.tasks.ts` when only the source exists (under tsx or
 *   vitest); `.ts` task modules are loaded in the workers through tsx.
 * @param options - see {@link TasksOptions}
 * @returns an object with one {@link TaskRef} per exported function (not thenable, so it can be
 *   returned from an async function)
 * @remarks
 * A task module is any ES module whose exports are functions, sync or async. An optional export
 * named `setup` runs once per worker before the module's first task there; one named `teardown`
 * runs once per worker when the worker leaves (the pool is closed, the worker is recycled or idles
 * out), bounded by `createPool({ teardownTimeoutMs })`, its errors reported on stderr.
 * @example
 * ```ts
 * // math.tasks.ts: export function square(x: number): number { return x * x; }
 * import { flow, parallelMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * console.log(await flow([1, 2, 3]).pipe(parallelMap(math.square)).toArray()); // [1, 4, 9]
 * ```
 * @category Pools and tasks
 */
export function tasks<M>(moduleUrl: URL | string, options: TasksOptions = {}): Tasks<M> {
  const href = typeof moduleUrl === 'string' ? toFileHref(moduleUrl) : moduleUrl.href;
  const setupArgs = options.setupArgs ?? [];
  const references = new Map<string, AnyTaskRef>();
  // A Proxy so the exports need not be known on the main thread (the module is loaded only in
  // workers). It answers nothing for `then` and symbols: a reference object must not look
  // thenable, or `return math` from an async function would try to call `math.then`.
  return new Proxy(Object.create(null) as Tasks<M>, {
    get(_target, property) {
      if (typeof property !== 'string' || property === 'then' || property === 'toJSON') return undefined;
      let reference = references.get(property);
      if (!reference) {
        reference = Object.freeze({ moduleUrl: href, exportName: property, boundArgs: [], setupArgs });
        references.set(property, reference);
      }
      return reference;
    },
    has(_target, property) {
      return typeof property === 'string' && property !== 'then';
    },
  });
}

/**
 * Binds leading arguments to a task reference, as `functools.partial` does: the bound values are
 * sent once per chunk, not with every item.
 *
 * @param task - the reference to bind
 * @param args - values for the task's first parameters
 * @returns a reference that takes the remaining parameters
 * @example
 * ```ts
 * import { bind, flow, parallelMap, tasks } from 'millrace';
 * // math.tasks.ts: export function scale(factor: number, x: number): number { return factor * x; }
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * console.log(await flow([1, 2]).pipe(parallelMap(bind(math.scale, 10))).toArray()); // [10, 20]
 * ```
 * @category Pools and tasks
 */
export function bind<Bound extends unknown[], Rest extends unknown[], Result>(
  task: TaskRef<[...Bound, ...Rest], Result>,
  ...args: Bound
): TaskRef<Rest, Result> {
  const { moduleUrl, exportName, setupArgs } = task;
  return Object.freeze({ moduleUrl, exportName, setupArgs, boundArgs: [...task.boundArgs, ...args] });
}

/** `module#export`, the name errors use for a task; throws {@link InvalidOptionError} for a non-reference. */
export function taskName(task: AnyTaskRef): string {
  // Operators call this when built, so a plain function (JavaScript callers) fails clearly there.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- untyped callers can pass anything
  if (task === null || typeof task !== 'object' || typeof task.moduleUrl !== 'string' || typeof task.exportName !== 'string') {
    throw new InvalidOptionError('task', task, 'a task reference from tasks(url); functions cannot be sent to worker threads');
  }
  const module = task.moduleUrl.startsWith('file:') ? shortPath(task.moduleUrl) : task.moduleUrl;
  return `${module}#${task.exportName}`;
}

function shortPath(href: string): string {
  const path = fileURLToPath(href);
  const cwd = process.cwd();
  return path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path;
}

function toFileHref(specifier: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return specifier;
  return new URL(specifier, `file://${process.cwd()}/`).href;
}

const resolvedModules = new Map<string, string>();

/**
 * The URL the workers should import: the `.js` URL when it exists, else its TypeScript source
 * (`.ts`, `.mts`) when that exists, so `./x.js` works both compiled and from source.
 */
export function resolveTaskModule(moduleUrl: string): string {
  const cached = resolvedModules.get(moduleUrl);
  if (cached !== undefined) return cached;
  let resolved = moduleUrl;
  if (moduleUrl.startsWith('file:')) {
    const path = fileURLToPath(moduleUrl);
    if (!existsSync(path)) {
      const candidates = path.endsWith('.js') ? [path.slice(0, -3) + '.ts'] : path.endsWith('.mjs') ? [path.slice(0, -4) + '.mts'] : [];
      const found = candidates.find((candidate) => existsSync(candidate));
      if (found !== undefined) resolved = pathToFileURL(found).href;
    }
  }
  resolvedModules.set(moduleUrl, resolved);
  return resolved;
}
