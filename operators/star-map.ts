/**
 * @packageDocumentation
 * `starMap`: tuples spread into a task's arguments, in worker threads (`Pool.starmap`).
 */
import { checkpointed } from '../lib/checkpoint/layer.js';
import { dispatch } from '../lib/engine/dispatch.js';
import { checkParallelOptions, type DispatchSpec, type ParallelOptions } from '../lib/engine/options.js';
import { defineOperator, type Operator } from '../lib/operator.js';
import { taskName, taskSpec, type TaskRef } from '../lib/tasks.js';

/**
 * Options for {@link starMap}.
 *
 * @example
 * ```ts
 * import type { StarMapOptions } from 'millrace';
 * const options: StarMapOptions = { ordered: false };
 * ```
 * @category Parallel
 */
export interface StarMapOptions extends ParallelOptions {
  /**
   * Emit in input order; `false` emits chunks as they finish.
   * @defaultValue `true`
   */
  readonly ordered?: boolean | undefined;
}

/**
 * Runs a task of several parameters on tuples, spreading each tuple into the arguments (like
 * Python's `Pool.starmap`), in worker threads; results in input order by default.
 *
 * @param task - a reference from {@link tasks}; the items must be tuples of its parameters
 * @param options - see {@link StarMapOptions}
 * @returns an {@link Operator} from argument tuples to the task's awaited result type
 * @throws {@link InvalidOptionError} for bad options; the flow fails as {@link parallelMap}'s does
 * @example
 * ```ts
 * import { flow, starMap, tasks } from 'millrace';
 * // math.tasks.ts: export function add(a: number, b: number): number { return a + b; }
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const pairs: [number, number][] = [[1, 2], [3, 4]];
 * console.log(await flow(pairs).pipe(starMap(math.add)).toArray()); // [3, 7]
 * ```
 * @category Parallel
 * @see {@link parallelMap} for one-argument tasks
 */
export function starMap<Args extends unknown[], Out>(task: TaskRef<Args, Out>, options: StarMapOptions = {}): Operator<Args, Out> {
  checkParallelOptions(options);
  const name = taskName(task);
  const { ordered = true, checkpoint, ...parallel } = options;
  return defineOperator<Args, Out>('starMap', (source, context) => {
    const spec: DispatchSpec<Args, Out> = {
      ...parallel,
      name,
      ordered,
      request: (items) => ({ mode: 'call', task: taskSpec(task), items, spread: true }),
      outputs: (response) => response.results,
    };
    return checkpoint
      ? checkpointed(source, context, spec, checkpoint, { kind: 'spread', tasks: [task] })
      : dispatch(source, context, spec);
  });
}
