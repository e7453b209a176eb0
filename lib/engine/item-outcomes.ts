/**
 * Each item's outcome within one chunk: its value once a run gave one, or its last failure. The
 * user's unit is the item, the chunk only how items travel, so runs of a chunk add to one record:
 * a run again carries only the items still without a value, and a success is kept, never run again.
 *
 * @packageDocumentation
 */
import type { ChunkResponse, FinishedItems } from '../backend.js';
import type { SerializedError } from '../errors.js';

/** One item's failure: its index within the chunk and what its task threw. */
export interface ItemFailure {
  readonly index: number;
  readonly error: SerializedError;
}

/**
 * The outcomes of a chunk's items. `'call'` chunks keep one value per item, in item order; `'fold'`
 * chunks keep the `[key, partial]` pairs of every run (a partial folds the run's successful items;
 * pairs of one key from several runs are merged like pairs from several chunks).
 */
export class ItemOutcomes {
  readonly #mode: 'call' | 'fold';
  readonly #size: number;
  /** 'call': the value of each item that has one (see #done). */
  readonly #values: unknown[];
  /** 'call' and 'fold': 1 for an item that has its outcome for good (a value, or dropped after a crash report). */
  readonly #done: Uint8Array;
  /** 'fold': the pairs of every run. */
  readonly #pairs: unknown[] = [];
  /** The last failure of each item that has no value yet. */
  readonly #failures = new Map<number, SerializedError>();
  /** Items reported as crashed: neither emitted nor reported again. */
  readonly #dropped = new Set<number>();

  constructor(mode: 'call' | 'fold', size: number) {
    this.#mode = mode;
    this.#size = size;
    this.#values = mode === 'call' ? new Array<unknown>(size) : [];
    this.#done = new Uint8Array(size);
  }

  /** Every item's index, for a chunk's first run. */
  static all(size: number): readonly number[] {
    return Array.from({ length: size }, (_, i) => i);
  }

  /**
   * Records a run that carried `ran` (item indices within the chunk, in the order they were sent)
   * and returns how many of them failed. Failure indices in the response are positions in `ran`.
   * An item the run did not reach (a fail-fast run stops at its first failure) stays pending.
   */
  record(ran: readonly number[], response: ChunkResponse): number {
    const failed = new Set<number>();
    for (const failure of response.failures) {
      const index = ran[failure.index];
      if (index === undefined) continue;
      failed.add(failure.index);
      this.#failures.set(index, failure.error);
    }
    if (this.#mode === 'fold') {
      for (const pair of response.results) this.#pairs.push(pair);
      // A fold's partials cover every item of the run that did not fail.
      ran.forEach((index, position) => {
        if (!failed.has(position)) this.#succeed(index);
      });
    } else {
      const reached = Math.min(ran.length, response.results.length);
      for (let position = 0; position < reached; position++) {
        if (failed.has(position)) continue;
        const index = ran[position]!;
        this.#values[index] = response.results[position];
        this.#succeed(index);
      }
    }
    return failed.size;
  }

  /**
   * Records what a run's items had finished, with a value, when its worker died (`positions` are
   * positions in `ran`, as a response's are); 'call' chunks only. Returns how many of `ran` are
   * still without an outcome.
   */
  recordFinished(ran: readonly number[], finished: FinishedItems): number {
    if (this.#mode === 'call') {
      finished.positions.forEach((position, k) => {
        const index = ran[position];
        if (index === undefined || this.#done[index] === 1) return;
        this.#values[index] = finished.results[k];
        this.#succeed(index);
      });
    }
    let left = 0;
    for (const index of ran) if (this.#done[index] === 0) left++;
    return left;
  }

  #succeed(index: number): void {
    this.#done[index] = 1;
    this.#failures.delete(index);
  }

  /** Gives up on items reported as crashed: they are not emitted, and their failures not reported again. */
  drop(indices: readonly number[]): void {
    for (const index of indices) {
      this.#done[index] = 1;
      this.#dropped.add(index);
      this.#failures.delete(index);
    }
  }

  /** The items still without an outcome (to run again), in item order. */
  pending(): number[] {
    const pending: number[] = [];
    for (let i = 0; i < this.#size; i++) if (this.#done[i] === 0) pending.push(i);
    return pending;
  }

  /** Failures of items that never got a value, in item order (what to report, or the first to fail with). */
  failures(): ItemFailure[] {
    return [...this.#failures].map(([index, error]) => ({ index, error })).sort((a, b) => a.index - b.index);
  }

  /**
   * What the chunk gives its spec's `outputs` once settled: a response whose results are the
   * successes (values in item order, or every pair), and the items they belong to.
   */
  settled<In>(items: readonly In[], last: ChunkResponse): { response: ChunkResponse; items: readonly In[] } {
    const failed = (index: number): boolean => this.#failures.has(index) || this.#dropped.has(index);
    const allOk = this.#failures.size === 0 && this.#dropped.size === 0;
    if (this.#mode === 'fold') {
      return { response: { ...last, results: this.#pairs, failures: [] }, items: allOk ? items : items.filter((_, i) => !failed(i)) };
    }
    if (allOk) return { response: { ...last, results: this.#values, failures: [] }, items };
    const results: unknown[] = [];
    const kept: In[] = [];
    for (let i = 0; i < this.#size; i++) {
      if (failed(i)) continue;
      results.push(this.#values[i]);
      kept.push(items[i]!);
    }
    return { response: { ...last, results, failures: [] }, items: kept };
  }
}
