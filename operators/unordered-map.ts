/**
 * @packageDocumentation
 * `unorderedMap`: a task on every item, in worker threads, results as they finish (`Pool.imap_unordered`).
 */
import { checkpointed } from '../lib/checkpoint/layer.js';
import { dispatch } from '../lib/engine/dispatch.js';
import { checkParallelOptions, type DispatchSpec, type ParallelOptions } from '../lib/engine/options.js';
import { defineOperator, type Operator } from '../lib/operator.js';
import { taskName, taskSpec, type TaskRef } from '../lib/tasks.js';

/**
 * Options for {@link unorderedMap}.
 *
 * @example
 * ```ts
 * import type { UnorderedMapOptions } from 'millrace';
 * const options: UnorderedMapOptions = { chunkSize: 1 };
 * ```
 * @category Parallel
 */
export type UnorderedMapOptions<In = unknown> = ParallelOptions<In>;

/**
 * Runs a task on every item in worker threads, in chunks, and emits each chunk's results as soon
 * as it finishes (like Python's `Pool.imap_unordered`); no order is promised.
 *
 * @param task - a reference from {@link tasks}, taking one argument
 * @param options - chunking, bounds, pool, errors; see {@link ParallelOptions}
 * @returns an {@link Operator} from the task's argument type to its awaited result type
 * @throws {@link InvalidOptionError} for bad options, when called; the flow fails with
 *   {@link TaskError}, {@link WorkerCrashedError}, {@link TaskTimeoutError}, {@link CloneError} or
 *   {@link TaskLoadError}
 * @example
 * ```ts
 * import { flow, unorderedMap, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const squares = await flow([1, 2, 3]).pipe(unorderedMap(math.square)).toArray();
 * console.log(squares.sort((a, b) => a - b)); // [1, 4, 9]
 * ```
 * @category Parallel
 * @see {@link parallelMap} to keep input order
 */
export function unorderedMap<In, Out>(
  task: TaskRef<[In], Out>,
  options: UnorderedMapOptions<[In][In extends unknown ? 0 : never]> = {},
): Operator<In, Out> {
  checkParallelOptions(options);
  const name = taskName(task);
  const { checkpoint, ...parallel } = options;
  return defineOperator<In, Out>('unorderedMap', (source, context) => {
    const spec: DispatchSpec<In, Out> = {
      ...parallel,
      name,
      ordered: false,
      request: (items) => ({ mode: 'call', task: taskSpec(task), items }),
      outputs: (response) => response.results,
    };
    return checkpoint ? checkpointed(source, context, spec, checkpoint, { kind: 'call', tasks: [task] }) : dispatch(source, context, spec);
  });
}
