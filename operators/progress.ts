/**
 * @packageDocumentation
 * `progress`: show how many items have passed, live on a terminal.
 */
import { defineOperator, type Operator } from '../lib/operator.js';
import { ProgressBar, type ProgressOptions } from '../lib/progress.js';

/**
 * Passes items through unchanged while showing progress on stderr (or `options.stream`): on a
 * terminal a live bar with the items done (of `total` when given), the rate, the elapsed time and
 * an ETA, redrawn at most four times a second, and ended on a fresh line by Ctrl-C; otherwise (a
 * log, CI) a line every `logIntervalMs` (10 s) while the flow runs and a summary line when it
 * completes (nothing at all with `summary: false`). Without `total` it shows the count and the
 * rate. Place it after the step whose completions you want to count, e.g. after `unorderedMap`
 * to count finished files.
 *
 * @param options - see {@link ProgressOptions}
 * @returns an {@link Operator} that passes every item on as it comes
 * @throws {@link InvalidOptionError} when called with a negative `total` or a non-positive `intervalMs` or `logIntervalMs`
 * @example
 * ```ts
 * import { flow, glob, progress, unorderedMap, tasks } from 'millrace';
 * const logs = tasks<typeof import('./analysis.js')>(new URL('./analysis.js', import.meta.url));
 * // Walk the directory once: the paths give the total, then the flow runs over them.
 * const files = await glob('logs/*.gz').toArray();
 * const results = await flow(files)
 *   .pipe(unorderedMap(logs.analysis), progress({ total: files.length, unit: 'files' }))
 *   .toArray();
 * ```
 * @see {@link ProgressBar} to count something other than a flow's items
 * @category Progress
 */
export function progress<T>(options: ProgressOptions = {}): Operator<T, T> {
  // Built now so bad options fail where the pipeline is written, not when it runs.
  new ProgressBar(options);
  return defineOperator<T, T>('progress', async function* (source) {
    const bar = new ProgressBar(options);
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
  });
}
