/**
 * A budget for one kind of log line: a hostile or broken producer can fill a queue with jobs a
 * worker refuses, and one line per refused job would flood the worker's log (and whatever ships
 * it). The first lines of a window are said; the rest are counted and summed up in one line.
 *
 * @packageDocumentation
 */

/** How many lines of a kind a window shows, and how long a window is. */
export interface LogBudgetOptions {
  /** Lines shown per window. */
  readonly perWindow: number;
  readonly windowMs: number;
  /** What the lines are, for the summary ("refused jobs"). */
  readonly kind: string;
  /** The clock (a test's own). */
  readonly now?: () => number;
}

/** A line logger that keeps to a budget; `flush()` says what was held back (at close). */
export interface BudgetedLog {
  (line: string): void;
  flush(): void;
}

/**
 * Wraps `log` so that at most `perWindow` lines are said per window: the first line over the
 * budget says that the rest are counted, and the count is said when the window is over (at the
 * next line after it, or at `flush()`). No timer: nothing here keeps a process alive.
 */
export function budgetedLog(log: (line: string) => void, options: LogBudgetOptions): BudgetedLog {
  const now = options.now ?? Date.now;
  let windowStart = now();
  let said = 0;
  let heldBack = 0;
  const flush = (): void => {
    if (heldBack > 0)
      log(`millrace worker: ${heldBack} more ${options.kind} not shown (over ${options.perWindow} in ${options.windowMs / 1000} s)`);
    heldBack = 0;
  };
  const budgeted = (line: string): void => {
    if (now() - windowStart >= options.windowMs) {
      flush();
      windowStart = now();
      said = 0;
    }
    if (said < options.perWindow) {
      said++;
      log(line);
      return;
    }
    if (heldBack++ === 0)
      log(
        `millrace worker: more than ${options.perWindow} ${options.kind} in ${options.windowMs / 1000} s: the rest are counted, not shown`,
      );
  };
  return Object.assign(budgeted, { flush });
}
