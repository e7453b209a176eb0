/**
 * An instrumented source for testing operators: it counts reads, notices when it is closed, and
 * can be endless or fail after its items.
 *
 * @packageDocumentation
 */

/**
 * Options for {@link probeSource}.
 *
 * @example
 * ```ts
 * import { probeSource, type ProbeSourceOptions } from 'millrace/testing';
 * const options: ProbeSourceOptions = { endless: true };
 * const probe = probeSource([1, 2, 3], options);
 * ```
 * @category Testing
 */
export interface ProbeSourceOptions {
  /**
   * Repeat the items forever (each read yields to the event loop first, so an operator that
   * reads greedily cannot starve timers).
   * @defaultValue `false`
   */
  readonly endless?: boolean | undefined;
  /**
   * Throw this after the last item instead of ending.
   * @defaultValue the source ends normally
   */
  readonly failWith?: unknown;
}

/**
 * An async iterable that records how it is used; see {@link probeSource}.
 *
 * @example
 * ```ts
 * import { flow, take } from 'millrace';
 * import { probeSource, type ProbeSource } from 'millrace/testing';
 * const probe: ProbeSource<number> = probeSource([1, 2, 3], { endless: true });
 * await flow(probe).pipe(take(2)).toArray();
 * console.log(probe.reads >= 2, probe.closed); // true true
 * ```
 * @category Testing
 */
export interface ProbeSource<T> extends AsyncIterable<T> {
  /** How many times `next()` was called. */
  readonly reads: number;
  /** Whether `return()` was called, or the source ended or failed by itself. */
  readonly closed: boolean;
  /** Whether `return()` was called (the consumer stopped it early). */
  readonly returned: boolean;
  /** Resolves once the source is closed (returned, ended or failed). */
  readonly whenClosed: Promise<void>;
  /** Resolves once `next()` has been called at least `count` times. */
  whenRead(count: number): Promise<void>;
}

/**
 * Makes a {@link ProbeSource} over `items`: a source that can be iterated once and reports how
 * far it was read and whether it was closed.
 *
 * @param items - the items to yield, in order
 * @param options - see {@link ProbeSourceOptions}
 * @returns the probe
 * @throws `TypeError` (when iterated) if iterated a second time, or if `endless` is set and `items`
 *   is empty
 * @example
 * ```ts
 * import { flow, map } from 'millrace';
 * import { probeSource } from 'millrace/testing';
 * const probe = probeSource([1, 2, 3]);
 * const doubled = flow(probe).pipe(map((x: number) => x * 2));
 * console.log(probe.reads); // 0: flows are lazy
 * console.log(await doubled.toArray(), probe.closed); // [2, 4, 6] true
 * ```
 * @category Testing
 */
export function probeSource<T>(items: readonly T[], options: ProbeSourceOptions = {}): ProbeSource<T> {
  return new Probe(items, options);
}

class Probe<T> implements ProbeSource<T> {
  reads = 0;
  closed = false;
  returned = false;
  readonly whenClosed: Promise<void>;
  readonly #items: readonly T[];
  readonly #options: ProbeSourceOptions;
  readonly #readWaiters: { count: number; resolve: () => void }[] = [];
  #resolveClosed!: () => void;
  #iterated = false;
  #position = 0;

  constructor(items: readonly T[], options: ProbeSourceOptions) {
    this.#items = items;
    this.#options = options;
    this.whenClosed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  whenRead(count: number): Promise<void> {
    if (this.reads >= count) return Promise.resolve();
    return new Promise((resolve) => this.#readWaiters.push({ count, resolve }));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterated) throw new TypeError('a probe source can be iterated once');
    if (this.#options.endless && this.#items.length === 0) throw new TypeError('an endless probe source needs at least one item');
    this.#iterated = true;
    return {
      next: () => this.#next(),
      return: () => {
        if (!this.closed) this.returned = true;
        this.#close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  async #next(): Promise<IteratorResult<T>> {
    this.reads++;
    for (let i = this.#readWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#readWaiters[i]!;
      if (this.reads < waiter.count) continue;
      this.#readWaiters.splice(i, 1);
      waiter.resolve();
    }
    if (this.closed) return { done: true, value: undefined };
    if (this.#options.endless) {
      await new Promise((resolve) => setImmediate(resolve));
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- return() may have run during the await
      if (this.closed) return { done: true, value: undefined };
      const value = this.#items[this.#position++ % this.#items.length] as T;
      return { done: false, value };
    }
    if (this.#position < this.#items.length) return { done: false, value: this.#items[this.#position++] as T };
    this.#close();
    if ('failWith' in this.#options) throw this.#options.failWith;
    return { done: true, value: undefined };
  }

  #close(): void {
    this.closed = true;
    this.#resolveClosed();
  }
}
