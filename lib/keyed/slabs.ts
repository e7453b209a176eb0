/**
 * Reusable shared memory for the map side's packed batches, one pool per worker thread. A batch
 * packed into fresh buffers is freed only when the owner thread that folded it next collects its
 * garbage, which an owner (allocating little) does rarely: a run of 8M pairs kept well over 100 MB
 * of dead batches in the workers' malloc arenas. A slab is a `SharedArrayBuffer` the batch is
 * copied into and that travels by reference; the owner marks it free once the batch is folded
 * ({@link releaseSlab}), and the worker packs a later batch into it.
 *
 * A slab whose batch is never folded (a flow aborted, an owner gone) stays marked in use: the pool
 * is capped ({@link MAX_POOL_BYTES}), and past the cap batches get buffers of their own, as in a
 * child process, where shared memory does not travel.
 *
 * @packageDocumentation
 */
import { isMainThread } from 'node:worker_threads';

/** What a slab's state word says. */
const FREE = 0;
const IN_USE = 1;
/** The most bytes of slabs one thread keeps for reuse. */
const MAX_POOL_BYTES = 48 * 2 ** 20;

/** The views of one slab, each as long as the slab's pair or unit capacity. */
export interface Slab {
  /** Word 0: {@link FREE} or {@link IN_USE}. */
  readonly state: Int32Array;
  readonly values: Float64Array;
  readonly hashes: Uint32Array;
  readonly ends: Uint32Array;
  readonly numberKeys: Uint8Array;
  readonly units: Uint16Array;
}

function slabBytes(pairs: number, units: number): number {
  return 8 + pairs * (8 + 4 + 4 + 1) + 2 * units + 8;
}

function newSlab(pairs: number, units: number): Slab {
  const memory = new SharedArrayBuffer(slabBytes(pairs, units));
  let at = 8;
  const values = new Float64Array(memory, at, pairs);
  at += 8 * pairs;
  const hashes = new Uint32Array(memory, at, pairs);
  at += 4 * pairs;
  const ends = new Uint32Array(memory, at, pairs);
  at += 4 * pairs;
  const numberKeys = new Uint8Array(memory, at, pairs);
  at += pairs + ((pairs & 1) === 0 ? 0 : 1);
  const unitsView = new Uint16Array(memory, at, units);
  return { state: new Int32Array(memory, 0, 1), values, hashes, ends, numberKeys, units: unitsView };
}

/** One thread's slabs. */
export class SlabPool {
  readonly #slabs: Slab[] = [];
  #bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of the slabs made so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * A slab for `pairs` pairs of `units` key units, marked in use: a free one of the pool, or a new
   * one while the pool is under its cap; `undefined` past the cap.
   */
  take(pairs: number, units: number): Slab | undefined {
    for (const slab of this.#slabs) {
      if (slab.values.length >= pairs && slab.units.length >= units && Atomics.compareExchange(slab.state, 0, FREE, IN_USE) === FREE) {
        slab.numberKeys.fill(0, 0, pairs);
        return slab;
      }
    }
    // Room for a full batch, with keys a quarter longer than this batch's, so one slab serves many batches.
    const capacity = Math.max(pairs, 8192);
    const unitCapacity = Math.ceil(((capacity / Math.max(1, pairs)) * units * 1.25) / 4096) * 4096;
    const bytes = slabBytes(capacity, unitCapacity);
    if (this.#bytes + bytes > this.#maxBytes) return undefined;
    const slab = newSlab(capacity, unitCapacity);
    Atomics.store(slab.state, 0, IN_USE);
    this.#slabs.push(slab);
    this.#bytes += bytes;
    return slab;
  }
}

/** This thread's pool: only worker threads share memory with the owners (a child process sends copies). */
const pool = isMainThread ? undefined : new SlabPool(MAX_POOL_BYTES);

/** A slab of this thread's pool (see {@link SlabPool.take}); `undefined` outside a worker thread. */
export function takeSlab(pairs: number, units: number): Slab | undefined {
  return pool?.take(pairs, units);
}

/** Marks a slab free for its worker to reuse (the owner calls it once the batch in it is folded). */
export function releaseSlab(state: Int32Array): void {
  Atomics.store(state, 0, FREE);
}
