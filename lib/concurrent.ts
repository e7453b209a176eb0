/**
 * Main-thread concurrency for `map`, `filter` and `flatMap`: runs a function over up to
 * `concurrency` items at once, with per-item retries, timeouts and error reports, emitting results
 * in input order (through a bounded reorder buffer) or as they settle.
 *
 * @packageDocumentation
 */
import { checkInteger, InvalidOptionError, ItemTimeoutError, TaskError } from './errors.js';
import { checkItemPolicy, retryDelayMs, type ItemPolicy, type ItemPolicyOptions } from './engine/retry-policy.js';

/**
 * What a main-thread `map`, `filter` or `flatMap` function gets besides the item, as Node's
 * `Readable.map` passes it (`fn(item, { signal })`), with the item's position and attempt.
 *
 * @example
 * ```ts
 * import { flow, map, type ItemContext } from 'millrace';
 * const label = (word: string, { index, attempt }: ItemContext) => `${index}:${word}:${attempt}`;
 * console.log(await flow(['a', 'b']).pipe(map(label)).toArray()); // ['0:a:1', '1:b:1']
 * ```
 * @category Transforms
 */
export interface ItemContext {
  /**
   * Aborts when this call should stop: the flow is aborted, its consumer stops early (`break`,
   * `take`), the flow fails, or the call ran past `timeoutMs` (then its `reason` is an
   * {@link ItemTimeoutError}). Pass it on to `fetch`, timers, streams.
   */
  readonly signal: AbortSignal;
  /** The item's 0-based position in the operator's input. */
  readonly index: number;
  /** Which call of this item this is: 1, then 2 for the first retry, and so on. */
  readonly attempt: number;
}

/**
 * Options of `map`, `filter` and `flatMap` on the main thread: how many calls run at once, the
 * output order, and what a failing item does ({@link ItemPolicyOptions}).
 *
 * @example
 * ```ts
 * import { flow, map, type ConcurrencyOptions } from 'millrace';
 * const options: ConcurrencyOptions<string> = { concurrency: 16, ordered: false, retries: 2 };
 * const sizes = await flow(['https://example.com']).pipe(map(async (url: string) => url.length, options)).toArray();
 * ```
 * @category Transforms
 */
export interface ConcurrencyOptions<In = unknown> extends ItemPolicyOptions<In> {
  /**
   * How many calls may run at once. An item waiting out a retry's backoff, or a result waiting
   * for an earlier item (when `ordered`), holds no call: the next items run meanwhile.
   * @defaultValue `1` (one call at a time)
   */
  readonly concurrency?: number | undefined;
  /**
   * Emit results in input order; `false` emits each as it settles.
   * @defaultValue `true`
   */
  readonly ordered?: boolean | undefined;
  /**
   * How many items taken from the source may be neither running nor emitted: finished results
   * waiting for an earlier, slower item (the reorder buffer), results the consumer has not taken
   * yet, and items waiting out a retry's backoff. When it is reached the source is not read further
   * until an item is emitted. With `concurrency`, it bounds memory: at most
   * `concurrency + maxBuffered` items are held at once.
   * @defaultValue `16 × concurrency`
   */
  readonly maxBuffered?: number | undefined;
}

/** Everything {@link runItems} needs, checked when the operator is built. */
export interface ItemRunPlan<In> extends ItemPolicy<In> {
  /** Names the function in a {@link TaskError}: its `name`, or the operator's. */
  readonly task: string;
  /** Calls running at once at most. */
  readonly concurrency: number;
  /** Emit in input order. */
  readonly ordered: boolean;
  /** Items held neither running nor emitted, at most. */
  readonly maxBuffered: number;
}

/**
 * Checks the options when the operator is built, and fills in the defaults.
 *
 * @param task - what a {@link TaskError} calls the function (its `name`, or the operator's name)
 * @param options - the operator's options
 * @returns the plan for {@link runItems}
 */
export function planItems<In>(task: string, options: ConcurrencyOptions<In>): ItemRunPlan<In> {
  checkInteger('concurrency', options.concurrency, 1);
  checkInteger('maxBuffered', options.maxBuffered, 1);
  if (options.ordered !== undefined && typeof options.ordered !== 'boolean') {
    throw new InvalidOptionError('ordered', options.ordered, 'a boolean');
  }
  const concurrency = options.concurrency ?? 1;
  return {
    ...checkItemPolicy(options),
    task,
    concurrency,
    ordered: options.ordered ?? true,
    maxBuffered: options.maxBuffered ?? 16 * concurrency,
  };
}

/** What a run function returns for an item that emits nothing (a rejected `filter` item). */
export const SKIP: unique symbol = Symbol('millrace.skip');

/** One item taken from the source. */
interface Entry<In, R> {
  readonly item: In;
  readonly index: number;
  /** The attempt running now, or the next one while waiting out a backoff. */
  attempt: number;
  state: 'running' | 'backoff' | 'done' | 'dropped';
  value?: R | typeof SKIP;
  /** The running call's context: what aborts its signal. */
  call?: Call | undefined;
  /** The running call's timeout. */
  deadline?: NodeJS.Timeout | undefined;
}

/**
 * Runs `run` over the source's items under `plan`, yielding what each call returns (except
 * {@link SKIP}). A call that fails is run again after its backoff while `plan.retries` last; an
 * item that fails for good is reported to `plan.onError` and left out, or ends the iteration with
 * a {@link TaskError}. A source error ends it unchanged. The flow's `signal` aborting, or the
 * iteration ending early, aborts the signals of the calls still running and drops pending retries.
 *
 * @param source - the operator's input
 * @param signal - the flow's signal
 * @param plan - from {@link planItems}
 * @param run - called with each item and its {@link ItemContext}
 * @returns the results
 */
export function runItems<In, R>(
  source: AsyncIterable<In>,
  signal: AbortSignal,
  plan: ItemRunPlan<In>,
  run: (item: In, context: ItemContext) => R | typeof SKIP | PromiseLike<R | typeof SKIP>,
): AsyncGenerator<R> {
  // One call at a time with nothing to run again or time out: the simple loop, without a promise
  // per item for synchronous functions (the common `map(x => ...)`). Returned, not delegated to
  // with `yield*`, which would cost every item a second generator step.
  if (plan.concurrency === 1 && plan.retries === 0 && plan.timeoutMs === undefined) return runOneByOne(source, signal, plan, run);
  return new ItemRunner(source, signal, plan, run).results();
}

/** {@link runItems} one call at a time, each awaited before the next item is read. */
async function* runOneByOne<In, R>(
  source: AsyncIterable<In>,
  signal: AbortSignal,
  plan: ItemRunPlan<In>,
  run: (item: In, context: ItemContext) => R | typeof SKIP | PromiseLike<R | typeof SKIP>,
): AsyncGenerator<R> {
  const reports = new Reports();
  let index = 0;
  for await (const item of source) {
    const context: ItemContext = { signal, index: index++, attempt: 1 };
    let value: R | typeof SKIP;
    try {
      const result = run(item, context);
      value = isPromiseLike(result) ? await result : result;
    } catch (error) {
      // A call that failed because the flow stopped is no failure of its item.
      if (signal.aborted) throw signal.reason;
      const failure = new TaskError<In>({ task: plan.task, item, index: context.index, cause: error, attempts: 1 });
      if (plan.onError === 'fail') throw failure;
      reports.report(plan.onError, failure);
      reports.rethrow();
      continue;
    }
    reports.rethrow();
    if (value !== SKIP) yield value;
  }
  reports.rethrow();
}

/**
 * Hands failures to an `onError` function. One that throws ends the flow with that error; an async
 * one is not awaited (the other calls go on), but if its promise rejects the flow ends with that.
 */
class Reports {
  #failure: { error: unknown } | undefined;
  onFailure: (() => void) | undefined;

  report<In>(onError: (error: TaskError<In>) => unknown, error: TaskError<In>): void {
    let returned: unknown;
    try {
      returned = onError(error);
    } catch (thrown) {
      this.#fail(thrown);
      return;
    }
    if (isPromiseLike(returned)) returned.then(undefined, (thrown: unknown) => this.#fail(thrown));
  }

  /** Throws what a report failed with, if one did. */
  rethrow(): void {
    if (this.#failure) throw this.#failure.error;
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    this.onFailure?.();
  }
}

/**
 * {@link runItems} with several calls at once, retries or timeouts. `concurrency` bounds the calls
 * running; `maxBuffered` bounds the items held otherwise (finished and waiting for an earlier one,
 * or waiting out a backoff), so a slow or retrying item holds its place in the output, not a call.
 */
class ItemRunner<In, R> {
  readonly #source: AsyncIterable<In>;
  readonly #signal: AbortSignal;
  readonly #plan: ItemRunPlan<In>;
  readonly #run: (item: In, context: ItemContext) => R | typeof SKIP | PromiseLike<R | typeof SKIP>;
  readonly #reports = new Reports();
  /** Ordered: every item taken and not yet emitted, in input order. Unordered: finished items, in settling order. */
  readonly #queue: Entry<In, R>[] = [];
  /** Items whose backoff is over, waiting for a free call. */
  readonly #ready: Entry<In, R>[] = [];
  /** Calls running now: what a stop aborts. */
  readonly #active = new Set<Entry<In, R>>();
  /** Backoff timers: what a stop clears. */
  readonly #backoffs = new Set<NodeJS.Timeout>();
  /** Items taken from the source and neither emitted nor dropped. */
  #held = 0;
  #index = 0;
  #reading = false;
  #sourceDone = false;
  #stopped = false;
  #failure: { error: unknown } | undefined;
  #wake: (() => void) | undefined;

  constructor(
    source: AsyncIterable<In>,
    signal: AbortSignal,
    plan: ItemRunPlan<In>,
    run: (item: In, context: ItemContext) => R | typeof SKIP | PromiseLike<R | typeof SKIP>,
  ) {
    this.#source = source;
    this.#signal = signal;
    this.#plan = plan;
    this.#run = run;
    this.#reports.onFailure = this.#notify;
  }

  async *results(): AsyncGenerator<R> {
    const iterator = this.#source[Symbol.asyncIterator]();
    // The flow's signal fires on abort, on an early stop by the consumer and on a failure later in
    // the flow; this iteration may then be waiting for a call, so it must be woken, not just ended.
    const onAbort = (): void => this.#stop(this.#signal.reason);
    this.#signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        this.#rethrow();
        // Emit what is ready; ordered output waits for the oldest item.
        while (this.#queue.length > 0 && (this.#queue[0]!.state === 'done' || this.#queue[0]!.state === 'dropped')) {
          const entry = this.#queue.shift()!;
          this.#held--;
          if (entry.state === 'done' && entry.value !== SKIP) {
            yield entry.value as R;
            this.#rethrow();
          }
        }
        if (this.#sourceDone && this.#held === 0) {
          this.#reports.rethrow();
          return;
        }
        if (this.#ready.length > 0 && this.#callFree()) {
          // A synchronous call settles right here: look at its outcome before waiting.
          this.#attempt(this.#ready.shift()!);
          continue;
        }
        const buffered = this.#held - this.#active.size;
        if (!this.#reading && !this.#sourceDone && this.#callFree() && buffered < this.#plan.maxBuffered) {
          this.#read(iterator);
          continue;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      this.#signal.removeEventListener('abort', onAbort);
      // Ended early (a failure, the consumer stopped): nothing started here may outlive the flow.
      this.#stop(this.#signal.aborted ? this.#signal.reason : (this.#failure?.error ?? new DOMException('The flow stopped', 'AbortError')));
    }
  }

  /** Whether another call may start (a read under way will start one). */
  #callFree(): boolean {
    return this.#active.size + (this.#reading ? 1 : 0) < this.#plan.concurrency;
  }

  readonly #notify = (): void => {
    const resolve = this.#wake;
    this.#wake = undefined;
    resolve?.();
  };

  /** A function, not an inline test: callbacks set these while the generator is paused. */
  #rethrow(): void {
    if (this.#stopped && this.#signal.aborted) throw this.#signal.reason;
    if (this.#failure) throw this.#failure.error;
    this.#reports.rethrow();
  }

  #read(iterator: AsyncIterator<In>): void {
    this.#reading = true;
    iterator.next().then(
      (result) => {
        this.#reading = false;
        if (this.#stopped) return;
        if (result.done) this.#sourceDone = true;
        else {
          const entry: Entry<In, R> = { item: result.value, index: this.#index++, attempt: 1, state: 'running' };
          this.#held++;
          if (this.#plan.ordered) this.#queue.push(entry);
          this.#attempt(entry);
        }
        this.#notify();
      },
      (error: unknown) => {
        this.#reading = false;
        this.#sourceDone = true;
        this.#failure ??= { error };
        this.#notify();
      },
    );
  }

  /** Runs one call of an item, under its timeout. */
  #attempt(entry: Entry<In, R>): void {
    const attempt = entry.attempt;
    const call = new Call(entry.index, attempt);
    entry.state = 'running';
    entry.call = call;
    this.#active.add(entry);
    let settled = false;
    const settle = (outcome: { value: R | typeof SKIP } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(entry.deadline);
      entry.deadline = undefined;
      entry.call = undefined;
      this.#active.delete(entry);
      if (this.#stopped) return;
      if ('error' in outcome) this.#failed(entry, outcome.error);
      else {
        entry.state = 'done';
        entry.value = outcome.value;
        if (!this.#plan.ordered) this.#queue.push(entry);
      }
      this.#notify();
    };
    const { timeoutMs, task } = this.#plan;
    if (timeoutMs !== undefined) {
      entry.deadline = setTimeout(() => {
        const error = new ItemTimeoutError({ task, item: entry.item, index: entry.index, attempt, timeoutMs });
        call.abort(error);
        // Not waited for any longer: a call that ignores its signal cannot hold the flow.
        settle({ error });
      }, timeoutMs);
    }
    let result: R | typeof SKIP | PromiseLike<R | typeof SKIP>;
    try {
      result = this.#run(entry.item, call);
    } catch (error) {
      settle({ error });
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        (value) => settle({ value }),
        (error: unknown) => settle({ error }),
      );
    } else {
      settle({ value: result });
    }
  }

  /** An attempt failed: back off and run again, or the item failed for good. */
  #failed(entry: Entry<In, R>, cause: unknown): void {
    const plan = this.#plan;
    if (entry.attempt <= plan.retries) {
      const delay = retryDelayMs(entry.attempt, plan.retryDelayMs);
      entry.attempt++;
      entry.state = 'backoff';
      // The item keeps its place in the output (and in `maxBuffered`) but no call while it waits.
      const timer = setTimeout(() => {
        this.#backoffs.delete(timer);
        this.#ready.push(entry);
        this.#notify();
      }, delay);
      this.#backoffs.add(timer);
      return;
    }
    const error = new TaskError<In>({ task: plan.task, item: entry.item, index: entry.index, cause, attempts: entry.attempt });
    if (plan.onError === 'fail') {
      this.#failure ??= { error };
      return;
    }
    entry.state = 'dropped';
    // Unordered output never queues a dropped item, so it stops being held at once.
    if (!plan.ordered) this.#held--;
    this.#reports.report(plan.onError, error);
  }

  /** Aborts the running calls' signals with `reason` and drops the pending retries. */
  #stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#backoffs) clearTimeout(timer);
    this.#backoffs.clear();
    this.#ready.length = 0;
    for (const entry of this.#active) {
      clearTimeout(entry.deadline);
      entry.call?.abort(reason);
    }
    this.#active.clear();
    this.#notify();
  }
}

/**
 * The {@link ItemContext} of one call. Its signal is made on first use: most functions never look
 * at it, and an AbortSignal per call was most of the cost of a fast async `map` (3 to 4 times
 * slower). `signal` is a getter of the class, so `{ ...context }` copies `index` and `attempt`
 * only; an own getter on an object literal kept spreads whole but made each call twice as slow.
 */
class Call implements ItemContext {
  readonly index: number;
  readonly attempt: number;
  #controller: AbortController | undefined;
  #aborted: { reason: unknown } | undefined;

  constructor(index: number, attempt: number) {
    this.index = index;
    this.attempt = attempt;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#aborted.reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = { reason };
    this.#controller?.abort(reason);
  }
}

/** Whether a value must be awaited; awaiting every value would cost a microtask per item. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}
