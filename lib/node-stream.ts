/**
 * Operators as Node streams: {@link toTransform} wraps any operator in an object-mode `Transform`,
 * so it drops into `stream.pipeline(...)` code that already exists.
 *
 * @packageDocumentation
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Operator } from './operator.js';

/**
 * Options for {@link toTransform}.
 *
 * @example
 * ```ts
 * import { map, toTransform, type ToTransformOptions } from 'millrace';
 * const options: ToTransformOptions = { signal: AbortSignal.timeout(60_000), highWaterMark: 64 };
 * const upper = toTransform(map((s: string) => s.toUpperCase()), options);
 * ```
 * @category Authoring
 */
export interface ToTransformOptions {
  /**
   * Aborting it destroys the stream with the signal's reason (and so stops the operator).
   * @defaultValue none
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Objects buffered on each side of the stream before backpressure applies.
   * @defaultValue `16` (Node's object-mode default)
   */
  readonly highWaterMark?: number | undefined;
}

/**
 * Wraps an operator as a Node object-mode `Transform`: written chunks are the operator's input,
 * its outputs are readable. Backpressure holds both ways (the operator pulls input only as it
 * needs it, and stops pulling while the readable side is full), and destroying the stream, or an
 * error on either side, stops the operator: its source is closed and its work in flight cancelled.
 * An operator that stops reading early (`take`) ends the readable side after its last output; a
 * write after that destroys the stream once those outputs are read, so an endless upstream is not
 * read forever (a `pipeline` then rejects with Node's error for a stage that ended early): prefer
 * `take` in a flow.
 *
 * @param operator - any operator, built-in or made with {@link defineOperator}
 * @param options - see {@link ToTransformOptions}
 * @returns a new `Transform`; like a flow, it runs the operator once
 * @throws nothing itself; an operator failure destroys the stream with that error (so
 *   `pipeline` rejects with it), e.g. a {@link TaskError} from a worker-backed operator
 * @example
 * ```ts
 * import { Readable, Writable } from 'node:stream';
 * import { pipeline } from 'node:stream/promises';
 * import { parallelMap, tasks, toTransform } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const results: number[] = [];
 * await pipeline(
 *   Readable.from([1, 2, 3]),
 *   toTransform(parallelMap(math.square)),
 *   new Writable({ objectMode: true, write: (x: number, _encoding, done) => { results.push(x); done(); } }),
 * );
 * console.log(results); // [1, 4, 9]
 * ```
 * @category Authoring
 */
export function toTransform<In, Out>(operator: Operator<In, Out>, options: ToTransformOptions = {}): Transform {
  return new OperatorTransform(operator, options);
}

/** A written chunk the operator has not pulled yet, with the write callback to release then. */
interface Pending<In> {
  readonly item: In;
  readonly callback: TransformCallback;
}

class OperatorTransform<In, Out> extends Transform {
  readonly #operator: Operator<In, Out>;
  readonly #controller = new AbortController();
  readonly #signal: AbortSignal | undefined;
  #started = false;
  #inputEnded = false;
  /** The operator closed its source early (e.g. `take`): later writes are dropped, not queued. */
  #inputClosed = false;
  #pending: Pending<In> | undefined;
  /** The operator is waiting for input. */
  #wantInput: (() => void) | undefined;
  /** The output pump is waiting for the readable side to drain. */
  #wantOutput: (() => void) | undefined;
  #flushed: TransformCallback | undefined;
  #outputDone = false;
  #iterator: AsyncIterator<Out> | undefined;

  constructor(operator: Operator<In, Out>, options: ToTransformOptions) {
    super({
      objectMode: true,
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
    });
    this.#operator = operator;
    this.#signal = options.signal;
    if (options.signal?.aborted) this.destroy(toError(options.signal.reason));
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => {
    this.destroy(toError(this.#signal?.reason));
  };

  override _transform(item: In, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#inputClosed) {
      // The operator wants no more input (take): rather than read an endless upstream forever,
      // hold this write (backpressure) until every output has been read, then end the stream.
      const stop = (): void => {
        callback();
        this.destroy();
      };
      if (this.readableEnded) stop();
      else this.once('end', stop);
      return;
    }
    // The write completes when the operator pulls the item: that is the input backpressure.
    this.#pending = { item, callback };
    this.#start();
    this.#wake('input');
  }

  override _flush(callback: TransformCallback): void {
    this.#inputEnded = true;
    if (this.#outputDone) {
      callback();
      return;
    }
    this.#flushed = callback;
    this.#start();
    this.#wake('input');
  }

  override _read(size: number): void {
    this.#wake('output');
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (!this.#controller.signal.aborted) this.#controller.abort(error ?? new Error('the stream was destroyed'));
    const iterator = this.#iterator;
    this.#pending = undefined;
    this.#wake('input');
    this.#wake('output');
    if (!iterator?.return) {
      callback(error);
      return;
    }
    // Let the operator close its source and cancel its work before the stream reports closed.
    Promise.resolve(iterator.return()).then(
      () => callback(error),
      () => callback(error),
    );
  }

  #wake(side: 'input' | 'output'): void {
    const wake = side === 'input' ? this.#wantInput : this.#wantOutput;
    if (side === 'input') this.#wantInput = undefined;
    else this.#wantOutput = undefined;
    wake?.();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#iterator = this.#operator(this.#input(), { signal: this.#controller.signal })[Symbol.asyncIterator]();
    void this.#pump(this.#iterator);
  }

  /** The operator's source: the written chunks, one at a time, as the operator asks for them. */
  #input(): AsyncIterable<In> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<In>> => {
          for (;;) {
            if (this.destroyed) return { done: true, value: undefined };
            const pending = this.#pending;
            if (pending) {
              this.#pending = undefined;
              pending.callback();
              return { done: false, value: pending.item };
            }
            if (this.#inputEnded || this.#inputClosed) return { done: true, value: undefined };
            await new Promise<void>((resolve) => {
              this.#wantInput = resolve;
            });
          }
        },
        return: async (): Promise<IteratorResult<In>> => {
          // The operator stopped reading early (take, say): the rest of the input is not wanted.
          this.#inputClosed = true;
          this.#pending?.callback();
          this.#pending = undefined;
          return { done: true, value: undefined };
        },
      }),
    };
  }

  async #pump(iterator: AsyncIterator<Out>): Promise<void> {
    try {
      for (;;) {
        const result = await iterator.next();
        if (this.destroyed) return;
        if (result.done) break;
        if (!this.push(result.value)) {
          await new Promise<void>((resolve) => {
            this.#wantOutput = resolve;
          });
        }
      }
      this.#outputDone = true;
      this.#signal?.removeEventListener('abort', this.#onAbort);
      const flushed = this.#flushed;
      this.#flushed = undefined;
      if (flushed) flushed();
      // The operator ended before its input did (take): end the readable side now. (Not destroyed:
      // that was checked after the last await.)
      else this.push(null);
    } catch (error) {
      if (!this.destroyed) this.destroy(toError(error));
    }
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}
