/**
 * The operator type and the one helper every operator, built-in or user-written, is made with.
 *
 * @packageDocumentation
 */
import { batchReady, DONE, isBatch, isBatchReady, pullBatch, pullFrom, type BatchIterator, type BatchPull } from './batch-pull.js';

/**
 * What an operator is given besides its input: the flow's abort signal, which fires when the flow
 * is aborted, when its consumer stops early (`break`, `take`), or when a later step fails.
 *
 * @example
 * ```ts
 * import type { OperatorContext } from 'millrace';
 * const context: OperatorContext = { signal: new AbortController().signal };
 * ```
 * @category Authoring
 */
export interface OperatorContext {
  /** Aborts when the flow ends early for any reason; its `reason` says why. */
  readonly signal: AbortSignal;
}

/**
 * A step of a pipeline: turns an async iterable of `In` into an async iterable of `Out`.
 * Make one with {@link defineOperator}; use it with `flow(...).pipe(op)` or {@link pipe}.
 *
 * @example
 * ```ts
 * import { flow, map, type Operator } from 'millrace';
 * const double: Operator<number, number> = map((x: number) => x * 2);
 * console.log(await flow([1, 2]).pipe(double).toArray()); // [2, 4]
 * ```
 * @category Authoring
 */
export interface Operator<In, Out> {
  (source: AsyncIterable<In>, context: OperatorContext): AsyncIterable<Out>;
}

/**
 * Defines an operator from a transformation of async iterables; every built-in operator is written
 * with it, so user operators are exactly as capable.
 *
 * @param name - the operator's name, for errors and debugging
 * @param transform - typically an `async function*` that reads `source` with `for await` and
 *   yields outputs. It need not handle cancellation: the helper checks the abort signal before
 *   running, makes a pending read of `source` reject with the signal's reason as soon as the flow
 *   is aborted, and closes `source` (calls its `return()`, which destroys streams and stops
 *   walks) when the transformation ends early, fails, or its consumer stops.
 * @returns the {@link Operator}
 * @example
 * ```ts
 * import { defineOperator, flow } from 'millrace';
 * // Emits the running total of its input.
 * const runningTotal = () =>
 *   defineOperator<number, number>('runningTotal', async function* (source) {
 *     let total = 0;
 *     for await (const x of source) yield (total += x);
 *   });
 * console.log(await flow([1, 2, 3]).pipe(runningTotal()).toArray()); // [1, 3, 6]
 * ```
 * @category Authoring
 */
export function defineOperator<In, Out>(
  name: string,
  transform: (source: AsyncIterable<In>, context: OperatorContext) => AsyncIterable<Out>,
): Operator<In, Out> {
  const operator: Operator<In, Out> = (source, context) => ({
    [Symbol.asyncIterator]: () => new OperatorIterator(source, context, transform),
  });
  Object.defineProperty(operator, 'name', { value: name });
  return operator;
}

/**
 * Composes operators into one, left to right, with the types flowing through.
 *
 * @param op1 - the first step; each further step (`op2` to `op8`) takes what the one before emits
 * @returns an {@link Operator} from the first step's input to the last step's output
 * @example
 * ```ts
 * import { filter, flow, map, pipe } from 'millrace';
 * const evenSquares = pipe(filter((x: number) => x % 2 === 0), map((x: number) => x * x));
 * console.log(await flow([1, 2, 3, 4]).pipe(evenSquares).toArray()); // [4, 16]
 * ```
 * @category Authoring
 */
export function pipe<A, B>(op1: Operator<A, B>): Operator<A, B>;
export function pipe<A, B, C>(op1: Operator<A, B>, op2: Operator<B, C>): Operator<A, C>;
export function pipe<A, B, C, D>(op1: Operator<A, B>, op2: Operator<B, C>, op3: Operator<C, D>): Operator<A, D>;
export function pipe<A, B, C, D, E>(op1: Operator<A, B>, op2: Operator<B, C>, op3: Operator<C, D>, op4: Operator<D, E>): Operator<A, E>;
export function pipe<A, B, C, D, E, F>(
  op1: Operator<A, B>,
  op2: Operator<B, C>,
  op3: Operator<C, D>,
  op4: Operator<D, E>,
  op5: Operator<E, F>,
): Operator<A, F>;
export function pipe<A, B, C, D, E, F, G>(
  op1: Operator<A, B>,
  op2: Operator<B, C>,
  op3: Operator<C, D>,
  op4: Operator<D, E>,
  op5: Operator<E, F>,
  op6: Operator<F, G>,
): Operator<A, G>;
export function pipe<A, B, C, D, E, F, G, H>(
  op1: Operator<A, B>,
  op2: Operator<B, C>,
  op3: Operator<C, D>,
  op4: Operator<D, E>,
  op5: Operator<E, F>,
  op6: Operator<F, G>,
  op7: Operator<G, H>,
): Operator<A, H>;
export function pipe<A, B, C, D, E, F, G, H, I>(
  op1: Operator<A, B>,
  op2: Operator<B, C>,
  op3: Operator<C, D>,
  op4: Operator<D, E>,
  op5: Operator<E, F>,
  op6: Operator<F, G>,
  op7: Operator<G, H>,
  op8: Operator<H, I>,
): Operator<A, I>;
export function pipe(...operators: Operator<never, unknown>[]): Operator<never, unknown> {
  return (source, context) => composeOperators(source, operators, context);
}

/** Applies operators in order. */
export function composeOperators(
  source: AsyncIterable<unknown>,
  operators: readonly Operator<never, unknown>[],
  context: OperatorContext,
): AsyncIterable<unknown> {
  let current = source;
  // Each step's input is the previous step's output; the overloads of `pipe` check that.
  for (const operator of operators) current = (operator as Operator<unknown, unknown>)(current, context);
  return current;
}

/** The rejecters of the reads pending on each signal; one abort listener per signal serves them all. */
const pendingReads = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

function readsPendingOn(signal: AbortSignal): Set<(reason: unknown) => void> {
  let pending = pendingReads.get(signal);
  if (!pending) {
    const rejecters = new Set<(reason: unknown) => void>();
    signal.addEventListener(
      'abort',
      () => {
        for (const reject of rejecters) reject(signal.reason);
        rejecters.clear();
      },
      { once: true },
    );
    pendingReads.set(signal, rejecters);
    pending = rejecters;
  }
  return pending;
}

/**
 * Races a read against the abort signal, so an abort is felt at once even mid-read. Not
 * `Promise.race` against one shared abort promise: every race leaves a reaction on that promise
 * until the signal fires, so a long flow leaked a closure per read (and spent most of its time
 * in the garbage collector).
 */
export function abortable<T>(read: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // The read may have aborted the flow itself (a source whose next() fires the signal) and will
    // then reject too; nobody awaits it any more, so keep that from being an unhandled rejection.
    read.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  const pending = readsPendingOn(signal);
  return new Promise<T>((resolve, reject) => {
    pending.add(reject);
    read.then(
      (value) => {
        pending.delete(reject);
        resolve(value);
      },
      (error: unknown) => {
        pending.delete(reject);
        reject(error);
      },
    );
  });
}

/**
 * The source as an operator's transform sees it: opened on first read, reads abortable, and
 * closed (its `return()` called once) when the operator is done with it.
 */
class GuardedSource<T> implements AsyncIterable<T>, BatchIterator<T> {
  #iterator: AsyncIterator<T> | undefined;
  #closed = false;
  readonly #source: AsyncIterable<T>;
  readonly #signal: AbortSignal;

  constructor(source: AsyncIterable<T>, signal: AbortSignal) {
    this.#source = source;
    this.#signal = signal;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.#closed) return { done: true, value: undefined };
    try {
      // Checked before the read starts: an aborted flow must not pull one more item.
      if (this.#signal.aborted) throw this.#signal.reason;
      this.#iterator ??= this.#source[Symbol.asyncIterator]();
      const result = await abortable(this.#iterator.next(), this.#signal);
      if (result.done) this.#closed = true;
      return result;
    } catch (error) {
      // An abort leaves the source mid-read: close it without waiting for that read.
      if (this.#signal.aborted) void this.return();
      else this.#closed = true; // the source failed, so it has finished itself
      throw error;
    }
  }

  /** {@link next}, many items at a time when the source can hand them over (one abort race a batch). */
  [pullBatch](max: number): BatchPull<T> {
    if (this.#closed) return DONE;
    let pull: BatchPull<T>;
    try {
      if (this.#signal.aborted) throw this.#signal.reason;
      this.#iterator ??= this.#source[Symbol.asyncIterator]();
      pull = pullFrom(this.#iterator, max);
    } catch (error) {
      throw this.#failed(error);
    }
    if (isBatch(pull)) {
      if (pull.done) this.#closed = true;
      return pull;
    }
    return abortable(pull, this.#signal).then(
      (batch) => {
        if (batch.done) this.#closed = true;
        return batch;
      },
      (error: unknown) => {
        throw this.#failed(error);
      },
    );
  }

  /** After a failed read, as in {@link next}; returns the error to rethrow. */
  #failed(error: unknown): unknown {
    if (this.#signal.aborted) void this.return();
    else this.#closed = true;
    return error;
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.#closed) {
      this.#closed = true;
      const iterator = this.#iterator;
      if (iterator?.return) {
        // A source that is mid-read may only settle its return() after that read; do not let
        // teardown wait on it, but do surface nothing from a source that fails while closing.
        await Promise.race([Promise.resolve(iterator.return()).catch(() => undefined), settleSoon()]);
      }
    }
    return { done: true, value: undefined };
  }
}

/** A short grace period for a source's asynchronous teardown before moving on. */
function settleSoon(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class OperatorIterator<In, Out> implements BatchIterator<Out> {
  readonly #input: GuardedSource<In>;
  readonly #signal: AbortSignal;
  readonly #output: AsyncIterator<Out>;
  #done = false;

  constructor(
    source: AsyncIterable<In>,
    context: OperatorContext,
    transform: (source: AsyncIterable<In>, context: OperatorContext) => AsyncIterable<Out>,
  ) {
    this.#signal = context.signal;
    this.#input = new GuardedSource(source, context.signal);
    this.#output = transform(this.#input, context)[Symbol.asyncIterator]();
  }

  async next(): Promise<IteratorResult<Out>> {
    if (this.#done) return { done: true, value: undefined };
    try {
      // Checked before the transform runs, so an aborted flow starts no work.
      if (this.#signal.aborted) throw this.#signal.reason;
      const result = await abortable(this.#output.next(), this.#signal);
      if (result.done) await this.#finish();
      return result;
    } catch (error) {
      await this.#finish();
      throw error;
    }
  }

  /** Whether a batch of the transform's output is work already done (see {@link batchReady}). */
  get [batchReady](): boolean {
    return isBatchReady(this.#output);
  }

  /** {@link next}, many outputs at a time when the transform can hand them over (the engine does). */
  [pullBatch](max: number): BatchPull<Out> {
    if (this.#done) return DONE;
    let pull: BatchPull<Out>;
    try {
      if (this.#signal.aborted) throw this.#signal.reason;
      pull = pullFrom(this.#output, max);
    } catch (error) {
      return this.#finish().then(() => Promise.reject(error));
    }
    if (isBatch(pull)) return pull.done ? this.#finish().then(() => pull) : pull;
    return abortable(pull, this.#signal).then(
      async (batch) => {
        if (batch.done) await this.#finish();
        return batch;
      },
      async (error: unknown) => {
        await this.#finish();
        throw error;
      },
    );
  }

  async return(): Promise<IteratorResult<Out>> {
    if (!this.#done) {
      try {
        // The transform is normally paused at a yield here; if it is mid-await, do not wait on it.
        await Promise.race([Promise.resolve(this.#output.return?.()).catch(() => undefined), settleSoon()]);
      } finally {
        await this.#finish();
      }
    }
    return { done: true, value: undefined };
  }

  async #finish(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#input.return();
  }
}
