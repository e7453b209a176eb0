/**
 * The only module that imports highland. highland streams are not async-iterable, their typings
 * are loose, and a highland consumer that stops early does not tell its source (highland issues
 * 172 and 691); this module converts at the boundary so none of that leaks into flows.
 *
 * highland is loaded on first use, not with millrace: every worker thread imports millrace (its
 * task modules do), and most never touch highland, whose load was a fifth of millrace's.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import type highlandModule from 'highland';
import type { Operator } from './operator.js';

type Highland = typeof highlandModule;
let loaded: Highland | undefined;

/** highland itself, loaded (synchronously: it is CommonJS) the first time a conversion needs it. */
function highland(): Highland {
  return (loaded ??= createRequire(import.meta.url)('highland') as Highland);
}

// The published .d.ts files must type-check without `@types/highland` (a dev dependency: a
// consumer who never touches highland should not need it), yet a consumer who has it should get
// highland's full `Stream` from `toHighland()`. So millrace declares the part of highland's global
// `Highland.Stream` it relies on; with `@types/highland` present the declarations merge (same name,
// same type parameter, identical members), without it this is the whole type.
declare global {
  // A namespace because `@types/highland` declares `Highland` as one: only that merges.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Highland {
    /** The end-of-stream marker (highland's `nil`), as `@types/highland` declares it. */
    interface Nil {
      Highland_NIL: Nil;
    }
    /** A highland stream: the members millrace uses; `@types/highland` adds the rest. */
    interface Stream<R> {
      pull(f: (err: Error, x: R | Highland.Nil) => void): void;
      destroy(): void;
    }
  }
}

/**
 * A highland stream, typed as much as highland's own typings allow: with `@types/highland` installed
 * it is highland's full `Stream<T>`; without it, the members millrace needs (`pull`, `destroy`).
 */
export type HighlandStream<T> = Highland.Stream<T>;

/** Whether a value is a highland stream (checked before async-iterability: they are not). */
export function isHighlandStream(value: unknown): value is HighlandStream<unknown> {
  // highland's own test (`_.isStream`), without loading highland: a stream it made carries this mark.
  return typeof value === 'object' && value !== null && Boolean((value as { __HighlandStream__?: unknown }).__HighlandStream__);
}

/**
 * Reads a highland stream as an async iterable, pulling one value at a time; stopping early
 * destroys the highland stream.
 */
export function fromHighland<T>(stream: HighlandStream<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let ended = false;
      return {
        next(): Promise<IteratorResult<T>> {
          if (ended) return Promise.resolve({ done: true, value: undefined });
          return new Promise((resolve, reject) => {
            stream.pull((error, value) => {
              // Typed `Error` by highland's typings, but highland passes null/undefined for "no error".
              // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
              if (error) {
                ended = true;
                reject(error);
              } else if (highland().isNil(value)) {
                ended = true;
                resolve({ done: true, value: undefined });
              } else {
                resolve({ done: false, value });
              }
            });
          });
        },
        async return(): Promise<IteratorResult<T>> {
          if (!ended) {
            ended = true;
            stream.destroy();
          }
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * Wraps an async iterable as a highland stream that reads one value each time highland asks for
 * one, so nothing is read before the stream is consumed (a Node stream in between would read
 * ahead as soon as highland attached to it). Destroying the highland stream closes the iterable
 * (its `return()` runs), which stops a flow and everything it started.
 */
export function toHighlandStream<T>(iterable: AsyncIterable<T>): HighlandStream<T> {
  // Opened now (a flow is claimed by its sink at once); nothing is read until highland pulls.
  const iterator = iterable[Symbol.asyncIterator]();
  let finished = false;
  const h = highland();
  const stream = h<T>((push, next) => {
    iterator.next().then(
      (result) => {
        if (finished) return; // destroyed while the read was pending
        if (result.done) {
          finished = true;
          push(null, h.nil);
        } else {
          push(null, result.value);
          // `finished` is set by the destructor, which the push can run; TS cannot see that.
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
          if (!finished) next(); // the push may have ended the stream (a take() reached its count)
        }
      },
      (error: unknown) => {
        if (finished) return;
        finished = true;
        push(error as Error); // passed through as thrown, even when not an Error
        // A consumer that stops on the error has ended the stream already.
        const internals = stream as unknown as HighlandInternals;
        if (!internals.ended && !internals._nil_pushed) push(null, h.nil);
      },
    );
  });
  (stream as unknown as HighlandInternals)._destructors.push(() => {
    if (finished) return;
    finished = true;
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  });
  closeWhenAbandoned(stream);
  return stream;
}

/**
 * highland does not tell a stream that its last consumer stopped early (`take`, `slice`, a
 * destroyed consumer: highland issues 172 and 691), so the flow behind it would stay open. Destroy
 * such a stream (which closes the flow), and give every stream derived from it (`map`, `filter`,
 * ... are all made with `consume`) the same rule, so a stop further down reaches the flow too.
 * `pull` also removes its consumer, but without ending it, so that is left alone.
 */
function closeWhenAbandoned<T>(stream: HighlandStream<T>): void {
  const internals = stream as unknown as HighlandInternals;
  const removeConsumer = internals._removeConsumer;
  const consume = internals.consume;
  internals._removeConsumer = function (consumer) {
    removeConsumer.call(this, consumer);
    const stoppedEarly = consumer.ended === true || consumer._nil_pushed === true;
    if (stoppedEarly && !this.ended && !this._nil_pushed && this._consumers.length === 0) stream.destroy();
  };
  internals.consume = function (handler) {
    const derived = consume.call(this, handler);
    closeWhenAbandoned(derived);
    return derived;
  };
}

/** The highland 2 internals the early-stop fix relies on (not in its typings). */
interface HighlandInternals {
  readonly ended: boolean;
  readonly _nil_pushed: boolean;
  readonly _consumers: readonly unknown[];
  // Function-typed properties, not methods: they are saved and re-called with `.call(this, ...)`.
  _removeConsumer: (this: HighlandInternals, consumer: { readonly ended?: boolean; readonly _nil_pushed?: boolean }) => void;
  consume: (this: HighlandInternals, handler: unknown) => HighlandStream<unknown>;
  /** Run when the stream ends or is destroyed (highland 2's stand-in for `onDestroy`). */
  readonly _destructors: (() => void)[];
}

/**
 * Adapts an operator for highland's `.through()`: `stream.through(throughHighland(op))`.
 *
 * @param operator - any millrace operator
 * @param signal - aborts the operator's work when fired
 * @returns a function from a highland stream to a highland stream
 * @example
 * ```ts
 * import highland from 'highland';
 * import { map, throughHighland } from 'millrace';
 * highland([1, 2, 3]).through(throughHighland(map((x: number) => x * 10))).toArray((xs) => console.log(xs));
 * ```
 * @category Authoring
 */
export function throughHighland<In, Out>(
  operator: Operator<In, Out>,
  signal?: AbortSignal,
): (stream: HighlandStream<In>) => HighlandStream<Out> {
  return (stream) => {
    // The caller's signal is the operator's own (no listener to leak on a long-lived signal); a
    // highland consumer that stops destroys the stream, which closes the operator instead.
    return toHighlandStream(operator(fromHighland(stream), { signal: signal ?? new AbortController().signal }));
  };
}
