/**
 * @packageDocumentation
 * `progress`: show how many items have passed, or how much work the tasks report, live on a terminal.
 */
import { InvalidOptionError, MillraceError } from '../lib/errors.js';
import type { Operator } from '../lib/operator.js';
import { defineOperator } from '../lib/operator.js';
import { ProgressBar, type ProgressOptions } from '../lib/progress.js';
import { offerTaskProgress } from '../lib/task-progress.js';

/**
 * Passes items through unchanged while showing progress on stderr (or `options.stream`): on a
 * terminal a live bar with the items done (of `total` when given), the rate, the elapsed time and
 * an ETA, redrawn at most four times a second, and ended on a fresh line by Ctrl-C; otherwise (a
 * log, CI) a line every `logIntervalMs` (10 s) while the flow runs and a summary line when it
 * completes (nothing at all with `summary: false`). Without `total` it shows the count and the
 * rate. Place it after the step whose completions you want to count, e.g. after `unorderedMap`
 * to count finished files.
 *
 * Several `progress()` steps of a flow (or of flows running at once) on one terminal draw one line
 * each, in pipeline order, named by their `label`; off a terminal each prints its own lines.
 *
 * With `count: 'reported'` it counts what the tasks of the worker-backed step right before it
 * report with {@link reportProgress} (bytes read, say) instead of items, so the bar moves while a
 * chunk runs. That step must come before it with only main-thread steps (`map`, `filter`, another
 * `progress()`) in between; the flow fails with a {@link MillraceError} saying so otherwise.
 *
 * @param options - see {@link ProgressOptions}
 * @returns an {@link Operator} that passes every item on as it comes
 * @throws {@link InvalidOptionError} when called with a negative `total`, a non-positive `intervalMs` or `logIntervalMs`,
 *   or a `count` other than `'items'` and `'reported'`
 * @example
 * ```ts
 * import { flow, glob, progress, unorderedMap, tasks } from 'millrace';
 * const logs = tasks<typeof import('./analysis.js')>(new URL('./analysis.js', import.meta.url));
 * // Walk the directory once: the paths give the total, then the flow runs over them.
 * const files = await glob('logs/*.gz').toArray();
 * const results = await flow(files)
 *   .pipe(
 *     progress({ total: files.length, label: 'sent', unit: 'files' }),
 *     unorderedMap(logs.analysis),
 *     progress({ total: files.length, label: 'analysed', unit: 'files' }),
 *   )
 *   .toArray();
 * ```
 * @see {@link ProgressBar} to count something other than a flow's items
 * @category Progress
 */
export function progress<T>(options: ProgressOptions = {}): Operator<T, T> {
  // Built now so bad options fail where the pipeline is written, not when it runs.
  new ProgressBar(options);
  const count: unknown = options.count ?? 'items';
  if (count !== 'items' && count !== 'reported') throw new InvalidOptionError('count', count, "'items' or 'reported'");
  const operator: Operator<T, T> = (source, context) => {
    // Created as the flow's steps are put together (upstream first), not when they start (downstream
    // first): bars line up on a terminal in creation order, so a flow's bars show in pipeline order.
    const bar = new ProgressBar(options);
    return defineOperator<T, T>('progress', count === 'items' ? countItems(bar) : countReports(bar))(source, context);
  };
  Object.defineProperty(operator, 'name', { value: 'progress' });
  return operator;
}

function countItems<T>(bar: ProgressBar): (source: AsyncIterable<T>) => AsyncGenerator<T> {
  return async function* (source) {
    bar.start();
    let outcome: 'done' | 'stopped' = 'stopped';
    try {
      for await (const item of source) {
        bar.tick();
        yield item;
      }
      outcome = 'done';
    } finally {
      bar.stop(outcome);
    }
  };
}

function countReports<T>(bar: ProgressBar): (source: AsyncIterable<T>) => AsyncGenerator<T> {
  return async function* (source) {
    bar.start();
    let outcome: 'done' | 'stopped' = 'stopped';
    try {
      const iterator = source[Symbol.asyncIterator]();
      // Opening and first reading the source builds the stages before this one, synchronously: the
      // nearest worker-backed one takes the listener (see lib/task-progress.ts).
      const { value: first, taken } = offerTaskProgress(
        (amount: number) => bar.tick(amount),
        () => iterator.next(),
      );
      if (!taken) {
        first.catch(() => undefined); // the source is closed as this step fails; its read does not matter
        throw new MillraceError(
          "progress({ count: 'reported' }) counts what the tasks of a worker-backed step report, so it must follow one " +
            '(parallelMap, unorderedMap, starMap, reduceBy, or a custom operator built on dispatch), with only main-thread steps between',
        );
      }
      for (let result = await first; result.done !== true; result = await iterator.next()) yield result.value;
      outcome = 'done';
    } finally {
      bar.stop(outcome);
    }
  };
}
