/**
 * The operator conformance kit: the contract every millrace operator keeps (lazy, closes its
 * source when stopped early, passes errors through, obeys abort), checked against any operator.
 * It throws on failure and imports no test framework, so it runs under vitest, jest, mocha,
 * `node:test` or a plain script.
 *
 * @packageDocumentation
 */
import { isDeepStrictEqual } from 'node:util';
import { MillraceError, previewValue } from '../errors.js';
import { flow } from '../flow.js';
import type { Operator } from '../operator.js';
import { probeSource } from './probe-source.js';

/**
 * The checks {@link checkOperator} runs:
 * - `'laziness'`: applying the operator and creating an iterator reads nothing;
 * - `'values'`: consuming the operator over the sample input finishes (and matches `expected`),
 *   and so does consuming it over an empty input, without an error;
 * - `'early-termination'`: a consumer that stops early gets the source closed;
 * - `'errors'`: an error thrown by the source reaches the consumer unchanged;
 * - `'abort'`: aborting mid-stream rejects with the signal's reason and closes the source, and an
 *   already-aborted signal rejects before anything is read.
 *
 * @example
 * ```ts
 * import type { ConformanceCheck } from 'millrace/testing';
 * const fast: ConformanceCheck[] = ['laziness', 'errors'];
 * ```
 * @category Testing
 */
export type ConformanceCheck = 'laziness' | 'values' | 'early-termination' | 'errors' | 'abort';

/**
 * The checks {@link checkBackend} runs on a {@link millrace!PoolBackend}:
 * - `'values'`: a `'call'` chunk gives one result per item, in order (bound arguments passed, any
 *   structured-cloneable value carried), and a `'fold'` chunk one `[key, partial]` pair per key;
 * - `'task-errors'`: a throwing item comes back as a failure with its index (the run resolves; with
 *   `continueOnError` the other items' results are there), an unknown export as a `loadError`;
 * - `'abort'`: a run whose signal is already aborted rejects with its reason; aborting a running
 *   chunk's signal makes its run reject promptly with the reason (or an error caused by it), and
 *   the backend still runs chunks afterwards;
 * - `'abort-queued'`: a chunk aborted while it waits for a free worker rejects and never runs;
 * - `'capacity'`: at most {@link millrace!PoolBackend.capacity} chunks run at once;
 * - `'close'`: `close()` resolves and rejects every pending run, running or queued, and a later
 *   `run()` rejects;
 * - `'independence'`: concurrent and successive runs each get their own outputs (none mixed up,
 *   none stale).
 *
 * @example
 * ```ts
 * import type { BackendCheck } from 'millrace/testing';
 * const quick: BackendCheck[] = ['values', 'task-errors', 'independence'];
 * ```
 * @category Testing
 */
export type BackendCheck = 'values' | 'task-errors' | 'abort' | 'abort-queued' | 'capacity' | 'close' | 'independence';

/** Every check, in the order they run. */
const ALL_CHECKS: readonly ConformanceCheck[] = ['laziness', 'values', 'early-termination', 'errors', 'abort'];

/** The default `timeoutMs`: below vitest's and jest's default test timeout (5 s). */
const DEFAULT_TIMEOUT_MS = 4_000;

/**
 * Options for {@link checkOperator}.
 *
 * @example
 * ```ts
 * import { map } from 'millrace';
 * import { checkOperator, type ConformanceOptions } from 'millrace/testing';
 * const options: ConformanceOptions<number, number> = { input: [1, 2, 3], expected: [2, 4, 6] };
 * await checkOperator(() => map((x: number) => x * 2), options);
 * ```
 * @category Testing
 */
export interface ConformanceOptions<In, Out> {
  /**
   * Sample input the operator accepts, at least one item; the operator must read all of it (the
   * `'errors'` check throws after the last item). The endless checks repeat it.
   */
  readonly input: readonly In[];
  /**
   * The outputs the operator must produce for `input`, compared with `util.isDeepStrictEqual`.
   * @defaultValue not compared: `'values'` only checks that consumption finishes
   */
  readonly expected?: readonly Out[] | undefined;
  /**
   * Compare `expected` as a multiset, for operators that promise no order.
   * @defaultValue `false`
   */
  readonly unordered?: boolean | undefined;
  /**
   * Whether the operator can emit before its input ends. `false` for aggregations (`reduce`,
   * `reduceBy`): `'early-termination'` then stops the consumer while the operator is still
   * reading, instead of after its first output.
   * @defaultValue `true`
   */
  readonly emitsBeforeEnd?: boolean | undefined;
  /**
   * Which checks to run.
   * @defaultValue all of them (see {@link ConformanceCheck})
   */
  readonly checks?: readonly ConformanceCheck[] | undefined;
  /**
   * How long one check may wait for something to happen before it fails as a hang, with a
   * {@link ConformanceError} naming the check. The default fits inside the default test timeout
   * of vitest and jest (5 s), so a hanging operator is reported by the kit, not as the runner's
   * "test timed out"; raise both for a slow operator.
   * @defaultValue `4_000`
   */
  readonly timeoutMs?: number | undefined;
  /**
   * The operator's name in failure messages.
   * @defaultValue the operator function's `name` (set by `defineOperator`)
   */
  readonly name?: string | undefined;
}

/**
 * What {@link checkOperator} resolves to when every check passed.
 *
 * @example
 * ```ts
 * import { take } from 'millrace';
 * import { checkOperator, type ConformanceResult } from 'millrace/testing';
 * const result: ConformanceResult = await checkOperator(() => take(10), { input: [1, 2] });
 * console.log(result.passed); // ['laziness', 'values', 'early-termination', 'errors', 'abort']
 * ```
 * @category Testing
 */
export interface ConformanceResult {
  /** The operator's name. */
  readonly operator: string;
  /** The checks that ran, all passed. */
  readonly passed: readonly ConformanceCheck[];
}

/**
 * An operator broke the operator contract, or a backend the backend contract; names the operator
 * (or backend) and the check.
 *
 * @example
 * ```ts
 * import { ConformanceError } from 'millrace/testing';
 * const failedCheck = (error: unknown) => (error instanceof ConformanceError ? error.check : undefined);
 * ```
 * @category Testing
 */
export class ConformanceError extends MillraceError {
  override name = 'ConformanceError';
  /** The operator's name (for {@link checkBackend}: the backend's). */
  readonly operator: string;
  /** What was checked: an operator ({@link checkOperator}) or a backend ({@link checkBackend}). */
  readonly kind: 'operator' | 'backend';
  /** The check that failed: a {@link ConformanceCheck} for an operator, a {@link BackendCheck} for a backend. */
  readonly check: ConformanceCheck | BackendCheck;

  constructor(
    fields:
      | { operator: string; check: ConformanceCheck; message: string; cause?: unknown; kind?: 'operator' }
      | { operator: string; check: BackendCheck; message: string; cause?: unknown; kind: 'backend' },
  ) {
    const kind = fields.kind ?? 'operator';
    super(
      `${kind} ${fields.operator} fails '${fields.check}': ${fields.message}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.operator = fields.operator;
    this.kind = kind;
    this.check = fields.check;
  }
}

/**
 * Checks that an operator keeps the contract of millrace operators: it is lazy, it closes its
 * source when its consumer stops early, source errors pass through, and abort works. Use it in
 * the tests of your own operators; every built-in operator passes it.
 *
 * @param factory - makes a fresh operator (each check needs its own)
 * @param options - sample input, expected output, and which checks; see {@link ConformanceOptions}
 * @returns which checks passed
 * @throws {@link ConformanceError} for the first check that fails (a hang counts as a failure
 *   after `timeoutMs`); `TypeError` when `input` is empty
 * @example
 * ```ts
 * import { defineOperator } from 'millrace';
 * import { checkOperator } from 'millrace/testing';
 * const double = () =>
 *   defineOperator<number, number>('double', async function* (source) {
 *     for await (const x of source) yield x * 2;
 *   });
 * await checkOperator(double, { input: [1, 2, 3], expected: [2, 4, 6] }); // throws if it misbehaves
 * ```
 * @category Testing
 */
export async function checkOperator<In, Out>(
  factory: () => Operator<In, Out>,
  options: ConformanceOptions<In, Out>,
): Promise<ConformanceResult> {
  if (options.input.length === 0) throw new TypeError('checkOperator needs at least one input item');
  const operator = options.name ?? (factory().name || 'anonymous operator');
  const context: CheckContext<In, Out> = { factory, options, operator, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  const selected = options.checks ?? ALL_CHECKS;
  const passed: ConformanceCheck[] = [];
  for (const check of ALL_CHECKS) {
    if (!selected.includes(check)) continue;
    await CHECKS[check](context);
    passed.push(check);
  }
  return { operator, passed };
}

interface CheckContext<In, Out> {
  readonly factory: () => Operator<In, Out>;
  readonly options: ConformanceOptions<In, Out>;
  readonly operator: string;
  readonly timeoutMs: number;
}

type Check = <In, Out>(context: CheckContext<In, Out>) => Promise<void>;

const CHECKS: Record<ConformanceCheck, Check> = {
  async laziness({ factory, options, operator }) {
    const probe = probeSource(options.input);
    const iterator = flow(probe).pipe(factory())[Symbol.asyncIterator]();
    // Absence of reads can only be observed over a window: give eager work several turns.
    await turns(10);
    const reads = probe.reads;
    await iterator.return?.();
    if (reads > 0) fail(operator, 'laziness', `it read the source ${reads} time(s) before anything was consumed`);
  },

  async values({ factory, options, operator, timeoutMs }) {
    const probe = probeSource(options.input);
    const outputs = await within(flow(probe).pipe(factory()).toArray(), timeoutMs, operator, 'values', 'consuming the sample input');
    if (!probe.closed) fail(operator, 'values', 'it finished without reading its input to the end');
    // Empty input is the classic edge case: it must finish, and without an error.
    const empty = probeSource(options.input.slice(0, 0));
    try {
      await within(flow(empty).pipe(factory()).toArray(), timeoutMs, operator, 'values', 'consuming an empty input');
    } catch (error) {
      if (error instanceof ConformanceError) throw error;
      fail(operator, 'values', `it failed on empty input: ${describe(error)}`, error);
    }
    if (options.expected === undefined) return;
    const same = options.unordered ? sameMultiset(outputs, options.expected) : isDeepStrictEqual(outputs, options.expected);
    if (!same) {
      fail(
        operator,
        'values',
        `it produced ${preview(outputs)} where ${preview(options.expected)} was expected${options.unordered ? ' (in any order)' : ''}`,
      );
    }
  },

  async 'early-termination'({ factory, options, operator, timeoutMs }) {
    const probe = probeSource(options.input, { endless: true });
    const iterator = flow(probe).pipe(factory())[Symbol.asyncIterator]();
    if (options.emitsBeforeEnd ?? true) {
      const first = await within(iterator.next(), timeoutMs, operator, 'early-termination', 'its first output over an endless source');
      if (first.done) fail(operator, 'early-termination', 'it ended over an endless source without emitting anything');
      await within(Promise.resolve(iterator.return?.()), timeoutMs, operator, 'early-termination', 'return() after the first output');
    } else {
      const pending = iterator.next().then(
        () => undefined,
        () => undefined,
      );
      await within(probe.whenRead(options.input.length + 1), timeoutMs, operator, 'early-termination', 'reading the source');
      await within(Promise.resolve(iterator.return?.()), timeoutMs, operator, 'early-termination', 'return() while it was reading');
      await within(pending, timeoutMs, operator, 'early-termination', 'the pending next() to settle after return()');
    }
    await within(probe.whenClosed, timeoutMs, operator, 'early-termination', 'the source to be closed after the consumer stopped');
  },

  async errors({ factory, options, operator, timeoutMs }) {
    const failure = new Error('conformance: the source failed');
    const probe = probeSource(options.input, { failWith: failure });
    let outcome: { error: unknown } | undefined;
    try {
      await within(flow(probe).pipe(factory()).toArray(), timeoutMs, operator, 'errors', 'consuming a failing source');
    } catch (error) {
      if (error instanceof ConformanceError) throw error;
      outcome = { error };
    }
    if (!outcome) fail(operator, 'errors', 'the source threw after its last item, but consumption succeeded');
    if (!causedBy(outcome.error, failure)) {
      fail(operator, 'errors', `the source's error did not reach the consumer (got ${describe(outcome.error)})`, outcome.error);
    }
  },

  async abort({ factory, options, operator, timeoutMs }) {
    // Mid-stream: abort while the operator is busy on an endless source.
    const controller = new AbortController();
    const reason = new Error('conformance: aborted');
    const probe = probeSource(options.input, { endless: true });
    const consumed = flow(probe, { signal: controller.signal })
      .pipe(factory())
      .forEach(() => undefined);
    const settled = consumed.then(
      () => ({ error: undefined, ok: true }),
      (error: unknown) => ({ error, ok: false }),
    );
    await within(probe.whenRead(options.input.length + 1), timeoutMs, operator, 'abort', 'reading the source');
    controller.abort(reason);
    const result = await within(settled, timeoutMs, operator, 'abort', 'consumption to end after abort()');
    if (result.ok) fail(operator, 'abort', 'consumption succeeded after abort()');
    if (result.error !== reason)
      fail(operator, 'abort', `it rejected with ${describe(result.error)} instead of the signal's reason`, result.error);
    await within(probe.whenClosed, timeoutMs, operator, 'abort', 'the source to be closed after abort()');

    // Already aborted: the operator, called directly, must reject before reading anything.
    const early = new AbortController();
    early.abort(reason);
    const untouched = probeSource(options.input);
    let rejected: { error: unknown } | undefined;
    try {
      await within(
        factory()(untouched, { signal: early.signal })[Symbol.asyncIterator]().next(),
        timeoutMs,
        operator,
        'abort',
        'next() under an aborted signal',
      );
    } catch (error) {
      if (error instanceof ConformanceError) throw error;
      rejected = { error };
    }
    if (!rejected) fail(operator, 'abort', 'next() under an already-aborted signal did not reject');
    if (!causedBy(rejected.error, reason))
      fail(operator, 'abort', `under an already-aborted signal it rejected with ${describe(rejected.error)}`, rejected.error);
    if (untouched.reads > 0) fail(operator, 'abort', 'it read the source although its signal was already aborted');
  },
};

function fail(operator: string, check: ConformanceCheck, message: string, cause?: unknown): never {
  throw new ConformanceError({ operator, check, message, ...(cause === undefined ? {} : { cause }) });
}

/** Awaits `promise`, or fails the check as a hang after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, operator: string, check: ConformanceCheck, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ConformanceError({
            operator,
            check,
            message: `hung waiting for ${what} (over ${timeoutMs} ms; a slow operator needs a larger timeoutMs)`,
          }),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets the event loop run `count` times (timers, I/O, immediates). */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Whether `error` is `expected` or has it somewhere in its `cause` chain. */
export function causedBy(error: unknown, expected: unknown): boolean {
  const seen = new Set<unknown>();
  // The assertion is needed (`current` is `{} | null` there, which has no `cause`); the rule misreads it.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- see above
  for (let current = error; current !== undefined && !seen.has(current); current = (current as { cause?: unknown } | null)?.cause) {
    if (current === expected) return true;
    seen.add(current);
  }
  return false;
}

function sameMultiset(actual: readonly unknown[], expected: readonly unknown[]): boolean {
  if (actual.length !== expected.length) return false;
  const unmatched = [...expected];
  for (const value of actual) {
    const at = unmatched.findIndex((candidate) => isDeepStrictEqual(candidate, value));
    if (at < 0) return false;
    unmatched.splice(at, 1);
  }
  return true;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : preview(error);
}

function preview(value: unknown): string {
  return previewValue(value, 200);
}
