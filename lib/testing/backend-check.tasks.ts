/**
 * The task module {@link checkBackend} sends through the backend under test: tiny functions whose
 * results say what happened in the worker. Where a check must know that a chunk is running, or how
 * many run at once, the tasks tell through files in a scratch directory the check names (a bound
 * argument), so the same module works in a thread, a child process or a remote worker on the same
 * host.
 *
 * It is a task module like a user's: compiled to `dist/lib/testing/backend-check.tasks.js`, and
 * loaded from `lib/testing/backend-check.tasks.ts` when millrace runs from source. It imports
 * `millrace` by name, as task modules do, so a copy of it under a remote worker's root works where
 * millrace is installed.
 *
 * @packageDocumentation
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { taskSignal } from 'millrace';

/** Twice the item. */
export function double(x: number): number {
  return x * 2;
}

/** The item itself. */
export function identity(x: unknown): unknown {
  return x;
}

/** The item, or an `Error` thrown for the `marked` one (its message names the item). */
export function failOn(marked: number, x: number): number {
  if (x === marked) throw new Error(`backend check: item ${x} fails`);
  return x;
}

/** The key of a fold: `'even'` or `'odd'`. */
export function parity(x: number): string {
  return x % 2 === 0 ? 'even' : 'odd';
}

/** The fold: adds the item to the accumulator. */
export function add(sum: number, x: number): number {
  return sum + x;
}

/** Records that item `x` ran (the file `ran-<x>` in `dir`); returns the item. */
export function mark(dir: string, x: string): string {
  writeFileSync(join(dir, `ran-${x}`), '');
  return x;
}

/**
 * Says it started (the file `started-<x>` in `dir`), then waits until the file `release` exists,
 * its task signal aborts, or `maxMs` passed (so a backend that never cancels it does not keep a
 * worker for ever). Returns how it ended.
 */
export async function hold(dir: string, maxMs: number, x: string): Promise<'released' | 'aborted' | 'gave-up'> {
  const signal = taskSignal();
  writeFileSync(join(dir, `started-${x}`), '');
  const until = Date.now() + maxMs;
  for (;;) {
    if (signal.aborted) return 'aborted';
    if (existsSync(join(dir, 'release'))) return 'released';
    if (Date.now() >= until) return 'gave-up';
    await pause(signal);
  }
}

/**
 * Counts the items running at once across workers: registers a file in `dir` for as long as it
 * runs, and samples how many there are until it sees more than `capacity`, or `holdMs` passed.
 * Returns the most it saw.
 */
export async function sampleConcurrency(dir: string, capacity: number, holdMs: number, x: number): Promise<number> {
  const signal = taskSignal();
  mkdirSync(dir, { recursive: true });
  const mine = join(dir, `${process.pid}-${x}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(mine, '');
  let most = 0;
  try {
    const until = Date.now() + holdMs;
    for (;;) {
      most = Math.max(most, readdirSync(dir).length);
      if (most > capacity || Date.now() >= until || signal.aborted) return most;
      await pause(signal);
    }
  } finally {
    rmSync(mine, { force: true });
  }
}

/** Five milliseconds, or less when the signal aborts. */
function pause(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, 5);
    signal.addEventListener('abort', done, { once: true });
  });
}
