/**
 * @packageDocumentation
 * `parallelMap`: a task on every item, in worker threads, results in input order (`Pool.imap`).
 */
import { checkpointed } from '../lib/checkpoint/layer.js';
import { dispatch } from '../lib/engine/dispatch.js';
import { checkParallelOptions, type DispatchSpec, type ParallelOptions } from '../lib/engine/options.js';
import { defineOperator, type Operator } from '../lib/operator.js';
import { taskName, taskSpec, type TaskRef } from '../lib/tasks.js';

/**
 * Options for {@link parallelMap}.
 *
 * @example
 * ```ts
 * import type { ParallelMapOptions } from 'millrace';
 * const options: ParallelMapOptions = { chunkSize: 1, retries: 2 };
 * ```
 * @category Parallel
 */
export type ParallelMapOptions<In = unknown> = ParallelOptions<In>;

/**
 * Runs a task on every item in worker threads, in chunks, and emits the results in input order
 * (like Python's `Pool.imap`). A slow item holds back later results, but not later work beyond
 * the in-flight bound.
 *
 * @param task - a reference from {@link tasks}, taking one argument
 * @param options - chunking, bounds, pool, errors; see {@link ParallelOptions}
 * @returns an {@link Operator} from the task's argument type to its awaited result type
 * @throws {@link InvalidOptionError} for bad options, when called; the flow fails with
 *   {@link TaskError} (naming task, item and index, with the worker's stack as `cause`),
 *   {@link WorkerCrashedError}, {@link TaskTimeoutError}, {@link CloneError} or {@link TaskLoadError}
 * @example
 * ```ts
 * import { flow, parallelMap, tasks } from 'millrace';
 * // math.tasks.ts: export function square(x: number): number { return x * x; }
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * console.log(await flow([1, 2, 3]).pipe(parallelMap(math.square)).toArray()); // [1, 4, 9]
 * ```
 * @category Parallel
 * @see {@link unorderedMap} when order does not matter (faster with uneven items)
 */
export function parallelMap<In, Out>(
  task: TaskRef<[In], Out>,
  options: ParallelMapOptions<[In][In extends unknown ? 0 : never]> = {},
): Operator<In, Out> {
  checkParallelOptions(options);
  const name = taskName(task);
  const { checkpoint, ...parallel } = options;
  return defineOperator<In, Out>('parallelMap', (source, context) => {
    const spec: DispatchSpec<In, Out> = {
      ...parallel,
      name,
      ordered: true,
      request: (items) => ({ mode: 'call', task: taskSpec(task), items }),
      outputs: (response) => response.results,
    };
    return checkpoint ? checkpointed(source, context, spec, checkpoint, { kind: 'call', tasks: [task] }) : dispatch(source, context, spec);
  });
}
