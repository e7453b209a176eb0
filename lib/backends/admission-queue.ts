/**
 * The chunks waiting for a worker, first come first served, behind the four operations the
 * backend needs (piscina keeps its task queue behind a small interface in the same way).
 *
 * @packageDocumentation
 */

/** A first-in, first-out queue that can also drop an entry from the middle (a cancelled chunk). */
export interface AdmissionQueue<T> {
  readonly size: number;
  push(entry: T): void;
  /** Puts an entry back at the head (a chunk taken back from a busy worker keeps its turn). */
  unshift(entry: T): void;
  shift(): T | undefined;
  /** The entry at the head, left there. */
  peek(): T | undefined;
  remove(entry: T): boolean;
}

/** An array-backed {@link AdmissionQueue}: the queue is short (bounded by the flows' in-flight limits). */
export class ArrayAdmissionQueue<T> implements AdmissionQueue<T> {
  readonly #entries: T[] = [];

  get size(): number {
    return this.#entries.length;
  }

  push(entry: T): void {
    this.#entries.push(entry);
  }

  unshift(entry: T): void {
    this.#entries.unshift(entry);
  }

  shift(): T | undefined {
    return this.#entries.shift();
  }

  peek(): T | undefined {
    return this.#entries[0];
  }

  remove(entry: T): boolean {
    const at = this.#entries.indexOf(entry);
    if (at < 0) return false;
    this.#entries.splice(at, 1);
    return true;
  }
}
