/**
 * Progress from inside tasks: a task calls {@link reportProgress} (bytes read of a big file, say);
 * the worker adds the amounts up and sends them at most every {@link REPORT_INTERVAL_MS}, and with
 * the chunk's answer; the backend hands them to the chunk's `onTaskProgress`; the dispatch engine
 * passes them to the `progress({ count: 'reported' })` step that follows it.
 *
 * How a stage and its `progress()` find each other: a `progress()` that counts reports *offers* a
 * listener while it opens and first reads its source ({@link offerTaskProgress}), and a worker-backed
 * stage *takes* what is offered when its engine is built ({@link takeTaskProgressListeners}). Opening
 * an operator chain runs synchronously upstream (each operator opens its source as it is opened or
 * first read), so the first engine built inside that window is the nearest worker-backed stage
 * before the `progress()`. Chosen over a registry shared by the whole flow because it links exactly
 * the stage the user placed the bar after (a flow with two worker stages reports each to its own
 * bar), needs nothing from operators in between or from the operator helper, and fails loudly (no
 * stage took the listener) rather than count nothing in silence.
 *
 * @packageDocumentation
 */
import type { BackendPhase } from './chunk-lifecycle.js';
import { InvalidOptionError } from './errors.js';

/**
 * Where the worker publishes the reporter of the chunk that is running: one holder object kept on
 * `globalThis` under a registered symbol (as for `taskSignal()`), so that the worker and a task
 * module's `import { reportProgress } from 'millrace'` share it even when they load millrace through
 * different URLs. A worker runs one chunk at a time, so the reporter is set for the whole chunk,
 * awaits included; it is unset when nobody displays the reports (then reporting costs a property read).
 */
export interface TaskProgressHolder {
  report: ((amount: number) => void) | undefined;
}

const KEY = Symbol.for('millrace.taskProgressHolder');

/** The holder shared by the worker and task modules. */
// The property is optional (absent until the first module sets it); the rule misreads `??=` on a symbol key
// under exactOptionalPropertyTypes (typescript-eslint issue 10440).
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
export const taskProgressHolder: TaskProgressHolder = ((globalThis as { [KEY]?: TaskProgressHolder })[KEY] ??= { report: undefined });

/**
 * Reports progress from inside a task: `amount` more units of work done (bytes read, lines parsed),
 * shown by a `progress({ count: 'reported' })` placed after the worker-backed step that runs the
 * task, which then moves while a chunk runs instead of only as its items come back. Cheap enough to
 * call often: the worker adds the amounts up and sends them at most every 100 ms, and the rest with
 * the chunk's answer.
 *
 * It does nothing when no such `progress()` follows the step, and outside a task call in a worker
 * (called on the main thread, in a unit test of the task), so the same task runs anywhere. Works
 * after `await`s too: a worker runs one chunk at a time. Local threads and child processes
 * (`isolation: 'process'`) carry the reports; under the BullMQ backend they are not sent (yet).
 *
 * A chunk that runs again (a retry, a crash) reports again, so the count may pass the total.
 *
 * @param amount - units done since the last report (a finite number, 0 or more)
 * @throws {@link InvalidOptionError} when `amount` is negative, not finite or not a number
 * @example
 * ```ts
 * // bytes.tasks.ts: counts the lines of a file, reporting bytes as it reads.
 * import { createReadStream } from 'node:fs';
 * import { reportProgress } from 'millrace';
 * export async function countLines(path: string): Promise<number> {
 *   let lines = 0;
 *   for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
 *     for (const byte of chunk) if (byte === 10) lines++;
 *     reportProgress(chunk.length);
 *   }
 *   return lines;
 * }
 * ```
 * @category Progress
 */
export function reportProgress(amount: number): void {
  if (!(typeof amount === 'number' && amount >= 0 && amount !== Number.POSITIVE_INFINITY)) {
    throw new InvalidOptionError('reportProgress(amount)', amount, 'a finite number >= 0');
  }
  taskProgressHolder.report?.(amount);
}

/** The most often a worker sends a chunk's progress, in milliseconds (the rest goes with the chunk's answer). */
export const REPORT_INTERVAL_MS = 100;

/**
 * How many reports a {@link ReportBatch} takes between two reads of the clock while a send waits on
 * its timer: reading the clock costs several times the rest of a report (about 60 ns against 10).
 */
export const CLOCK_EVERY = 256;

/**
 * A chunk's reports in a worker, added up: the first is sent at once (so a bar moves as soon as
 * work starts), later ones at most every `intervalMs`: when a report finds the interval over (a
 * synchronous task never lets a timer run; the clock is read every {@link CLOCK_EVERY} reports), or
 * by a timer for the last ones before a long wait. {@link take} hands the rest to the chunk's answer.
 */
export class ReportBatch {
  #pending = 0;
  #sentAt = Number.NEGATIVE_INFINITY;
  /** Reports since the clock was last read. */
  #unread = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #send: (amount: number) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;

  /**
   * @param send - posts an amount to the main thread
   * @param intervalMs - the shortest time between two sends
   * @param now - the clock (a test's)
   */
  constructor(send: (amount: number) => void, intervalMs = REPORT_INTERVAL_MS, now: () => number = () => performance.now()) {
    this.#send = send;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Adds a report (the holder's `report`). */
  readonly add = (amount: number): void => {
    this.#pending += amount;
    if (this.#timer !== undefined && ++this.#unread < CLOCK_EVERY) return;
    this.#unread = 0;
    const since = this.#now() - this.#sentAt;
    if (since >= this.#intervalMs) this.#flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#flush(), this.#intervalMs - since);
      // The chunk's answer carries what is left: the timer must not keep the worker alive.
      this.#timer.unref();
    }
  };

  /** The chunk is done: stops the timer, returns what was not sent yet. */
  take(): number {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const rest = this.#pending;
    this.#pending = 0;
    return rest;
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === 0) return;
    const amount = this.#pending;
    this.#pending = 0;
    this.#sentAt = this.#now();
    this.#send(amount);
  }
}

/** A listener offered by a `progress()` stage, and whether a worker-backed stage took it. */
interface Offer {
  readonly listener: (amount: number) => void;
  taken: boolean;
}

/** Listeners offered right now (nested when a `progress()` opens another `progress()`), innermost last. */
const offers: Offer[] = [];

/**
 * Runs `open` (the synchronous part of opening and first reading a source) while offering
 * `listener` to the worker-backed stage it builds (see the module comment).
 *
 * @returns what `open` returned, and whether a stage took the listener
 */
export function offerTaskProgress<T>(listener: (amount: number) => void, open: () => T): { readonly value: T; readonly taken: boolean } {
  const offer: Offer = { listener, taken: false };
  offers.push(offer);
  try {
    return { value: open(), taken: offer.taken };
  } finally {
    offers.splice(offers.indexOf(offer), 1);
  }
}

/**
 * Called by the dispatch engine as it is built: the listeners offered right now (every `progress()`
 * being opened, when they follow one another), each taken once; undefined when none.
 */
export function takeTaskProgressListeners(): ((amount: number) => void) | undefined {
  const open = offers.filter((offer) => !offer.taken);
  if (open.length === 0) return undefined;
  for (const offer of open) offer.taken = true;
  if (open.length === 1) return open[0]!.listener;
  const listeners = open.map((offer) => offer.listener);
  return (amount) => {
    for (const listener of listeners) listener(amount);
  };
}

/**
 * Hands what a chunk's tasks reported to its run's `onTaskProgress` (a backend calls it on each
 * report it receives). A cancelled or settled chunk's reports are dropped. A callback that throws
 * must not take a backend's message handler, and with it the process, down, so its error is
 * written to stderr and ignored.
 */
export function deliverTaskProgress(
  job: { readonly onTaskProgress: ((amount: number) => void) | undefined; readonly life: { readonly phase: BackendPhase } },
  amount: number,
): void {
  const { onTaskProgress } = job;
  if (onTaskProgress === undefined || job.life.phase === 'cancelling' || job.life.phase === 'settled') return;
  try {
    onTaskProgress(amount);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`millrace: an onTaskProgress callback threw (ignored): ${message}\n`);
  }
}
