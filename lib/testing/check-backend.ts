/**
 * The backend conformance kit: the promises of the backend contract (lib/backend.ts) that the
 * dispatch engine relies on, checked against any {@link PoolBackend} by sending it chunks of a
 * small task module of its own. It throws on failure and imports no test framework, as
 * {@link checkOperator} does for operators.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { ChunkRequest, ChunkResponse, PoolBackend, RunChunkOptions, TaskSpec } from '../backend.js';
import { previewValue } from '../errors.js';
import { resolveTaskModule } from '../tasks.js';
import { causedBy, ConformanceError, type BackendCheck } from './conformance.js';

/** Every check, in the order they run. */
const ALL_CHECKS: readonly BackendCheck[] = ['values', 'task-errors', 'independence', 'abort', 'abort-queued', 'capacity', 'close'];

/**
 * Options for {@link checkBackend}.
 *
 * @example
 * ```ts
 * import { createPool } from 'millrace';
 * import { checkBackend, type CheckBackendOptions } from 'millrace/testing';
 * const options: CheckBackendOptions = { checks: ['values', 'task-errors'], timeoutMs: 10_000 };
 * const result = await checkBackend(() => createPool({ threads: 2 }).backend, options);
 * console.log(result.passed); // ['values', 'task-errors']
 * ```
 * @category Testing
 */
export interface CheckBackendOptions {
  /**
   * Which checks to run.
   * @defaultValue all of them (see {@link BackendCheck})
   */
  readonly checks?: readonly BackendCheck[] | undefined;
  /**
   * How long one step of a check may wait (a run to settle, a chunk to start, `close()`) before
   * the check fails as a hang; the default leaves a test runner's 5-second default room to report it.
   * The `'capacity'` check watches the chunks running at once for a sixteenth of it (50 ms to 1 s).
   * @defaultValue `4_000`
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Where the workers load the check's task module from. A remote worker loads modules under its
   * own root (BullMQ: `millrace worker --root`), so the module must be under it: millrace
   * installed under the root holds it (`node_modules/millrace/dist/lib/testing/`), or copy
   * `backend-check.tasks.js` from there to the root (it imports Node's modules and `millrace`)
   * and give its URL here.
   * @defaultValue the module shipped beside `checkBackend` (`dist/lib/testing/backend-check.tasks.js`,
   *   or its `.ts` source when millrace runs unbuilt)
   */
  readonly taskModuleUrl?: string | URL | undefined;
  /**
   * The backend's name in failure messages.
   * @defaultValue the backend's class name
   */
  readonly name?: string | undefined;
}

/**
 * What {@link checkBackend} resolves to when every check passed.
 *
 * @example
 * ```ts
 * import { createPool } from 'millrace';
 * import { checkBackend, type CheckBackendResult } from 'millrace/testing';
 * const result: CheckBackendResult = await checkBackend(() => createPool({ threads: 2 }).backend, { checks: ['values'] });
 * console.log(result.backend, result.passed); // ThreadBackend ['values']
 * ```
 * @category Testing
 */
export interface CheckBackendResult {
  /** The backend's name. */
  readonly backend: string;
  /** The checks that ran, all passed. */
  readonly passed: readonly BackendCheck[];
}

/**
 * Checks that a backend keeps the contract the dispatch engine relies on: one result per item in
 * order, task failures as data, abort honoured (running and queued), capacity respected, `close()`
 * ending pending runs, and no run getting another's outputs. Each check sends chunks of the kit's
 * own task module through the backend; the thread, process and BullMQ backends pass it. Use it in
 * the tests of your own backend.
 *
 * The checks `'abort'`, `'abort-queued'`, `'capacity'` and `'close'` learn what runs through files
 * in a scratch directory under `os.tmpdir()`: the workers must run on this host (a remote backend's
 * workers too), or leave those checks out.
 *
 * @param factory - makes a backend; called once for the `'close'` check and once for the others
 *   (each is closed at the end)
 * @param options - which checks, the time budget, where the task module is; see {@link CheckBackendOptions}
 * @returns which checks passed
 * @throws {@link ConformanceError} (its `kind` is `'backend'`) for the first check that fails; a
 *   run that never settles fails after `timeoutMs`
 * @example
 * ```ts
 * import { createPool } from 'millrace';
 * import { checkBackend } from 'millrace/testing';
 * const result = await checkBackend(() => createPool({ threads: 2 }).backend);
 * console.log(result.passed); // ['values', 'task-errors', 'independence', 'abort', 'abort-queued', 'capacity', 'close']
 * ```
 * @category Testing
 */
export async function checkBackend(
  factory: () => PoolBackend | Promise<PoolBackend>,
  options: CheckBackendOptions = {},
): Promise<CheckBackendResult> {
  const selected = options.checks ?? ALL_CHECKS;
  const timeoutMs = options.timeoutMs ?? 4_000;
  const moduleUrl = resolveTaskModule(String(options.taskModuleUrl ?? new URL('./backend-check.tasks.js', import.meta.url)));
  const dir = mkdtempSync(join(tmpdir(), 'millrace-backend-check-'));
  let shared: PoolBackend | undefined;
  /** Backends to close at the end: the shared one, and the `'close'` check's if it failed before closing it. */
  const opened = new Set<PoolBackend>();
  let name = options.name;
  const passed: BackendCheck[] = [];
  let failure: { error: unknown } | undefined;
  const run = new Runner(moduleUrl, dir, timeoutMs);
  try {
    for (const check of ALL_CHECKS) {
      if (!selected.includes(check)) continue;
      let backend: PoolBackend;
      if (check === 'close') {
        backend = await factory();
        opened.add(backend);
      } else {
        backend = shared ??= await factory();
        opened.add(backend);
      }
      name ??= backendName(backend);
      await CHECKS[check]({ backend, check, name, run, timeoutMs, dir, closed: () => opened.delete(backend) });
      passed.push(check);
    }
  } catch (error) {
    failure = { error };
  } finally {
    // Lets go of tasks still holding (a backend that ignored an abort or a close leaves them running).
    writeFileSync(join(dir, 'release'), '');
    for (const backend of opened) {
      try {
        await within(backend.close(), timeoutMs, { check: 'close', name: name ?? 'backend', what: 'close() at the end of the checks' });
      } catch (error) {
        failure ??= { error };
      }
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  if (failure) throw failure.error;
  return { backend: name ?? 'backend', passed };
}

/** Sends the check's chunks: requests of the kit's task module, each with a chunk identity. */
class Runner {
  readonly #moduleUrl: string;
  readonly #runId = randomUUID().replaceAll('-', '');
  readonly #timeoutMs: number;
  readonly dir: string;
  #seq = 0;

  constructor(moduleUrl: string, dir: string, timeoutMs: number) {
    this.#moduleUrl = moduleUrl;
    this.dir = dir;
    this.#timeoutMs = timeoutMs;
  }

  task(exportName: string, boundArgs: readonly unknown[] = []): TaskSpec {
    return { moduleUrl: this.#moduleUrl, exportName, boundArgs, setupArgs: [] };
  }

  call(
    exportName: string,
    items: readonly unknown[],
    boundArgs: readonly unknown[] = [],
    extra: { continueOnError?: boolean } = {},
  ): ChunkRequest {
    return { mode: 'call', task: this.task(exportName, boundArgs), items, ...extra };
  }

  /** How long a holding task waits at most when nobody releases or aborts it. */
  get holdMaxMs(): number {
    return 4 * this.#timeoutMs;
  }

  /** Starts a run; its promise never rejects unhandled (it is observed through {@link settle}). */
  send(backend: PoolBackend, request: ChunkRequest, signal?: AbortSignal): Sent {
    const options: RunChunkOptions = { chunk: { runId: this.#runId, seq: this.#seq++, attempt: 1 }, ...(signal ? { signal } : {}) };
    let promise: Promise<ChunkResponse>;
    try {
      promise = backend.run(request, options);
    } catch (error) {
      promise = Promise.reject(error);
    }
    const settled = promise.then(
      (response): Outcome => ({ ok: true, response }),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
    return { settled };
  }
}

interface Sent {
  readonly settled: Promise<Outcome>;
}

type Outcome = { readonly ok: true; readonly response: ChunkResponse } | { readonly ok: false; readonly error: unknown };

interface CheckContext {
  readonly backend: PoolBackend;
  readonly check: BackendCheck;
  readonly name: string;
  readonly run: Runner;
  readonly timeoutMs: number;
  readonly dir: string;
  /** The check closed the backend itself: not to be closed again at the end. */
  readonly closed: () => void;
}

const CHECKS: Record<BackendCheck, (context: CheckContext) => Promise<void>> = {
  async values(context) {
    const { backend, run } = context;
    const doubled = await answer(context, run.send(backend, run.call('double', [1, 2, 3])), 'a call chunk');
    expectResults(context, doubled, [2, 4, 6], 'double over [1, 2, 3]');
    const values = [{ a: [1, 'x'] }, 'text', null, [1, 2], 0];
    expectResults(context, await answer(context, run.send(backend, run.call('identity', values)), 'a call chunk'), values, 'identity');
    const bound = await answer(context, run.send(backend, run.call('failOn', [1, 2], [99])), 'a chunk with a bound argument');
    expectResults(context, bound, [1, 2], 'failOn(99) over [1, 2] (a bound argument)');
    const fold: ChunkRequest = { mode: 'fold', keyTask: run.task('parity'), foldTask: run.task('add'), initial: 0, items: [1, 2, 3, 4, 5] };
    const folded = await answer(context, run.send(backend, fold), 'a fold chunk');
    const pairs = [...folded.results].sort((a, b) => String(a).localeCompare(String(b)));
    if (
      !isDeepStrictEqual(pairs, [
        ['even', 6],
        ['odd', 9],
      ])
    ) {
      fail(
        context,
        `a fold of [1..5] by parity gave ${preview(folded.results)} where [['even', 6], ['odd', 9]] (in any order) was expected`,
      );
    }
  },

  async 'task-errors'(context) {
    const { backend, run } = context;
    const failing = await answer(context, run.send(backend, run.call('failOn', [1, 2, 3], [2])), 'a chunk whose item 1 throws', 'rejected');
    expectFailure(context, failing, 'without continueOnError');
    const going = await answer(
      context,
      run.send(backend, run.call('failOn', [1, 2, 3], [2], { continueOnError: true })),
      'a chunk whose item 1 throws (continueOnError)',
      'rejected',
    );
    expectFailure(context, going, 'with continueOnError');
    if (going.results[0] !== 1 || going.results[2] !== 3) {
      fail(context, `with continueOnError the other items' results should be there: got ${preview(going.results)} for [1, <fails>, 3]`);
    }
    const missing = await answer(context, run.send(backend, run.call('noSuchTask', [1])), 'a chunk of an unknown export', 'rejected');
    if (missing.loadError === undefined) {
      fail(context, `a chunk of an export the module does not have should come back with a loadError; got ${preview(missing)}`);
    }
  },

  async independence(context) {
    const { backend, run } = context;
    // Concurrent runs, more than the capacity, of different lengths: each must get its own results.
    const count = 2 * backend.capacity + 1;
    const inputs = Array.from({ length: count }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, j) => 100 * i + j));
    const sent = inputs.map((items) => run.send(backend, run.call('double', items)));
    for (const [i, items] of inputs.entries()) {
      const response = await answer(context, sent[i]!, `run ${i + 1} of ${count} concurrent runs`);
      const expected = items.map((x) => 2 * x);
      if (isDeepStrictEqual(response.results, expected)) continue;
      const other = inputs.findIndex((its) =>
        isDeepStrictEqual(
          response.results,
          its.map((x) => 2 * x),
        ),
      );
      fail(
        context,
        other >= 0
          ? `run ${i + 1} of ${count} concurrent runs got the outputs of run ${other + 1}`
          : `run ${i + 1} of ${count} concurrent runs got ${preview(response.results)} where ${preview(expected)} was expected`,
      );
    }
    // Successive runs: the second must not get the first's (stale) outputs.
    for (const word of ['first', 'second', 'third']) {
      const response = await answer(context, run.send(backend, run.call('identity', [word])), `a run of identity(['${word}'])`);
      if (!isDeepStrictEqual(response.results, [word])) {
        fail(context, `a run of identity(['${word}']) after others got ${preview(response.results)}: outputs of another run (stale)`);
      }
    }
  },

  async abort(context) {
    const { backend, run, dir } = context;
    const reason = new Error('backend check: aborted');
    const early = run.send(backend, run.call('mark', ['early'], [dir]), AbortSignal.abort(reason));
    expectAbortRejection(
      context,
      await within(early.settled, context.timeoutMs, { ...context, what: 'a run with an already-aborted signal to reject' }),
      reason,
      'under an already-aborted signal',
    );
    if (existsSync(join(dir, 'ran-early'))) fail(context, 'a chunk sent with an already-aborted signal ran');

    const controller = new AbortController();
    const running = run.send(backend, run.call('hold', ['abort'], [dir, run.holdMaxMs]), controller.signal);
    await untilStarted(context, ['abort'], [running]);
    controller.abort(reason);
    expectAbortRejection(
      context,
      await within(running.settled, context.timeoutMs, { ...context, what: 'a running chunk to reject after its signal aborted' }),
      reason,
      'while it ran',
    );

    // The backend goes on: a worker that held the aborted chunk was freed or replaced.
    const after = await answer(context, run.send(backend, run.call('double', [21])), 'a run after an abort');
    expectResults(context, after, [42], 'double over [21] after an abort');
  },

  async 'abort-queued'(context) {
    const { backend, run, dir } = context;
    const names = Array.from({ length: backend.capacity }, (_, i) => `busy-${i}`);
    const holders = names.map((name) => run.send(backend, run.call('hold', [name], [dir, run.holdMaxMs])));
    await untilStarted(context, names, holders);
    // Every worker is busy: this chunk waits. Aborted there, it must never run.
    const reason = new Error('backend check: aborted while queued');
    const controller = new AbortController();
    const queued = run.send(backend, run.call('mark', ['queued'], [dir]), controller.signal);
    controller.abort(reason);
    expectAbortRejection(
      context,
      await within(queued.settled, context.timeoutMs, { ...context, what: 'an aborted queued chunk to reject' }),
      reason,
      'while it was queued',
    );
    writeFileSync(join(dir, 'release'), '');
    for (const holder of holders) await answer(context, holder, 'a released chunk');
    rmSync(join(dir, 'release'));
    // Chunks sent after it run and finish: had the aborted chunk stayed queued, it would have run by now.
    const later = Array.from({ length: backend.capacity }, (_, i) => run.send(backend, run.call('mark', [`later-${i}`], [dir])));
    for (const sent of later) await answer(context, sent, 'a chunk sent after the aborted one');
    if (existsSync(join(dir, 'ran-queued'))) fail(context, 'a chunk aborted while it was queued ran anyway');
  },

  async capacity(context) {
    const { backend, run, dir, timeoutMs } = context;
    const capacity = backend.capacity;
    // Workers started first, so that too many starting at once is seen together.
    const warm = Array.from({ length: 2 * capacity }, (_, i) => run.send(backend, run.call('double', [i])));
    for (const sent of warm) await answer(context, sent, 'a warm-up run');
    const counter = join(dir, 'running');
    // Each counting task stays this long (or until it sees too many): the window in which chunks
    // started beyond the capacity are seen together.
    const holdMs = Math.max(50, Math.min(1_000, Math.floor(timeoutMs / 16)));
    const samples = Array.from({ length: 2 * capacity }, (_, i) =>
      run.send(backend, run.call('sampleConcurrency', [i], [counter, capacity, holdMs])),
    );
    let most = 0;
    for (const sent of samples) {
      const response = await answer(context, sent, 'a run counting the chunks running at once');
      for (const value of response.results) if (typeof value === 'number') most = Math.max(most, value);
    }
    if (most > capacity) fail(context, `${most} chunks ran at once, with a capacity of ${capacity}`);
  },

  async close(context) {
    const { backend, run, dir, timeoutMs } = context;
    const names = Array.from({ length: backend.capacity }, (_, i) => `closing-${i}`);
    const running = names.map((name) => run.send(backend, run.call('hold', [name], [dir, run.holdMaxMs])));
    await untilStarted(context, names, running);
    const queued = run.send(backend, run.call('hold', ['closing-queued'], [dir, run.holdMaxMs]));
    context.closed();
    let closing: Promise<Outcome | { readonly ok: true; readonly response?: undefined }>;
    try {
      closing = backend.close().then(
        () => ({ ok: true }),
        (error: unknown) => ({ ok: false, error }),
      );
    } catch (error) {
      closing = Promise.resolve({ ok: false, error });
    }
    const all = [...running, queued];
    for (const [i, sent] of all.entries()) {
      const what = i < running.length ? 'a running chunk' : 'a queued chunk';
      const outcome = await within(sent.settled, timeoutMs, { ...context, what: `${what} to reject after close()` });
      if (outcome.ok) fail(context, `${what} resolved after close() instead of rejecting: ${preview(outcome.response.results)}`);
    }
    const closed = await within(closing, timeoutMs, { ...context, what: 'close() to resolve' });
    if (!closed.ok) fail(context, `close() rejected: ${describeError(closed.error)}`, closed.error);
    const late = await within(run.send(backend, run.call('double', [1])).settled, timeoutMs, {
      ...context,
      what: 'a run() after close() to reject',
    });
    if (late.ok) fail(context, 'a run() after close() resolved');
  },
};

/** Awaits a run that must resolve; a rejection fails the check (as `rejection` says, when given). */
async function answer(context: CheckContext, sent: Sent, what: string, rejection?: 'rejected'): Promise<ChunkResponse> {
  const outcome = await within(sent.settled, context.timeoutMs, { ...context, what: `${what} to settle` });
  if (outcome.ok) return outcome.response;
  const error = outcome.error;
  if (rejection === 'rejected')
    fail(context, `${what} rejected (${describeError(error)}) instead of coming back with the failure in its response`, error);
  fail(context, `${what} rejected: ${describeError(error)}`, error);
}

function expectResults(context: CheckContext, response: ChunkResponse, expected: readonly unknown[], what: string): void {
  if (response.loadError) fail(context, `${what}: the task did not load: ${response.loadError.message}`);
  if (response.failures.length > 0) fail(context, `${what}: unexpected failures ${preview(response.failures)}`);
  if (!isDeepStrictEqual(response.results, expected))
    fail(context, `${what} gave ${preview(response.results)} where ${preview(expected)} was expected`);
}

function expectFailure(context: CheckContext, response: ChunkResponse, how: string): void {
  const [first, ...others] = response.failures;
  if (first === undefined || others.length > 0) {
    fail(context, `a chunk whose item 1 throws (${how}) should report one failure, with index 1; got ${preview(response.failures)}`);
  }
  if (first.index !== 1) fail(context, `the failing item (${how}) was reported at index ${first.index}, not 1`);
  if (!first.error.message.includes('item 2 fails'))
    fail(context, `the failure (${how}) does not carry the task's error: ${preview(first.error)}`);
}

function expectAbortRejection(context: CheckContext, outcome: Outcome, reason: Error, when: string): void {
  if (outcome.ok) fail(context, `a run aborted ${when} resolved instead of rejecting`);
  if (!causedBy(outcome.error, reason)) {
    fail(context, `a run aborted ${when} rejected with ${describeError(outcome.error)} instead of the signal's reason`, outcome.error);
  }
}

/** Waits until the holding tasks named `names` have all started (their files exist). */
async function untilStarted(context: CheckContext, names: readonly string[], sent: readonly Sent[]): Promise<void> {
  const deadline = Date.now() + context.timeoutMs;
  let settled: Outcome | undefined;
  for (const one of sent) void one.settled.then((outcome) => (settled ??= outcome));
  for (;;) {
    const present = new Set(readdirSync(context.dir));
    const missing = names.filter((name) => !present.has(`started-${name}`));
    if (missing.length === 0) return;
    if (settled !== undefined) {
      fail(
        context,
        `a chunk that holds until released settled before all ${names.length} started: ${settled.ok ? preview(settled.response) : describeError(settled.error)}`,
        settled.ok ? undefined : settled.error,
      );
    }
    if (Date.now() >= deadline) {
      fail(
        context,
        `hung waiting for ${names.length} chunk(s) to start at once (the capacity) (over ${context.timeoutMs} ms); ${missing.length} did not`,
      );
    }
    // A condition, polled: the workers say through files that they started.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function fail(context: Pick<CheckContext, 'name' | 'check'>, message: string, cause?: unknown): never {
  throw new ConformanceError({
    kind: 'backend',
    operator: context.name,
    check: context.check,
    message,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Awaits `promise`, or fails the check as a hang after `timeoutMs`. */
async function within<T>(
  promise: Promise<T>,
  timeoutMs: number,
  context: { readonly name: string; readonly check: BackendCheck; readonly what: string },
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      try {
        fail(context, `hung waiting for ${context.what} (over ${timeoutMs} ms)`);
      } catch (error) {
        reject(error);
      }
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function backendName(backend: PoolBackend): string {
  const name = (backend as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'backend';
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : preview(error);
}

function preview(value: unknown): string {
  return previewValue(value, 200);
}
