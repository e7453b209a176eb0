/**
 * Reusable shared memory for the map side's packed batches, one pool per worker thread. A batch
 * packed into fresh buffers is freed only when the owner thread that folded it next collects its
 * garbage, which an owner (allocating little) does rarely: a run of 8M pairs kept well over 100 MB
 * of dead batches in the workers' malloc arenas. A slab is a `SharedArrayBuffer` the batch is
 * copied into and that travels by reference; the owner releases it once the batch is folded
 * ({@link releaseSlab}), and the worker packs a later batch into it.
 *
 * Each taking of a slab is a lease with its own number, written in the slab's state word: a release
 * names its lease, so a late one (the main thread releasing what a closed run left behind) never
 * frees a slab that a later batch holds. A slab whose batch never reaches an owner or the main
 * thread (a chunk still running when its flow was aborted) stays leased: the pool is capped
 * ({@link MAX_POOL_BYTES}), and past the cap batches get buffers of their own, as in a child
 * process, where shared memory does not travel.
 *
 * @packageDocumentation
 */
import { isMainThread } from 'node:worker_threads';

/** A slab's state word when free; else the number of the lease that holds it. */
const FREE = 0;
/**
 * The most bytes of slabs one thread keeps for reuse (a run of 1M keys used ~10 MB a worker). The
 * slabs stay with the worker for its life, for the next keyed run.
 */
const MAX_POOL_BYTES = 32 * 2 ** 20;

/** A batch's hold on a slab: the slab's state word and the lease's number. */
export interface SlabLease {
  readonly state: Int32Array;
  readonly lease: number;
}

/** The views of one slab, each as long as the slab's pair or unit capacity. */
export interface Slab {
  /** Word 0: {@link FREE} or the lease holding it. */
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
  #nextLease = 1;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of the slabs made so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * A slab for `pairs` pairs of `units` key units, leased: a free one of the pool, or a new one
   * while the pool is under its cap; `undefined` past the cap.
   */
  take(pairs: number, units: number): { slab: Slab; lease: number } | undefined {
    const lease = this.#nextLease;
    this.#nextLease = lease === 0x7fffffff ? 1 : lease + 1;
    for (const slab of this.#slabs) {
      if (slab.values.length >= pairs && slab.units.length >= units && Atomics.compareExchange(slab.state, 0, FREE, lease) === FREE) {
        slab.numberKeys.fill(0, 0, pairs);
        return { slab, lease };
      }
    }
    // Room for a full batch, with keys a quarter longer than this batch's, so one slab serves many batches.
    const capacity = Math.max(pairs, 8192);
    const unitCapacity = Math.ceil(((capacity / Math.max(1, pairs)) * units * 1.25) / 4096) * 4096;
    const bytes = slabBytes(capacity, unitCapacity);
    if (this.#bytes + bytes > this.#maxBytes) return undefined;
    const slab = newSlab(capacity, unitCapacity);
    Atomics.store(slab.state, 0, lease);
    this.#slabs.push(slab);
    this.#bytes += bytes;
    return { slab, lease };
  }
}

/** This thread's pool: only worker threads share memory with the owners (a child process sends copies). */
const pool = isMainThread ? undefined : new SlabPool(MAX_POOL_BYTES);

/** A slab of this thread's pool (see {@link SlabPool.take}); `undefined` outside a worker thread. */
export function takeSlab(pairs: number, units: number): { slab: Slab; lease: number } | undefined {
  return pool?.take(pairs, units);
}

/**
 * Frees a slab for its worker to reuse, if this lease still holds it (the owner, once the batch in
 * it is folded; the main thread, for batches a closed run left unfolded).
 */
export function releaseSlab(lease: SlabLease): void {
  Atomics.compareExchange(lease.state, 0, lease.lease, FREE);
}

/**
 * The leases of a run's batches, held on the main thread so that what a run leaves unfolded (an
 * abort, a `break`, a failed owner) is released when it closes, and the workers' pools do not keep
 * those slabs leased for good. Leases their owner released already are dropped now and then.
 */
export class SlabLedger {
  #leases: SlabLease[] = [];
  #sweepAt = 4096;

  hold(lease: SlabLease): void {
    this.#leases.push(lease);
    if (this.#leases.length >= this.#sweepAt) {
      this.#leases = this.#leases.filter((held) => Atomics.load(held.state, 0) === held.lease);
      this.#sweepAt = Math.max(4096, 2 * this.#leases.length);
    }
  }

  /** Releases every lease still held (call it once no owner can read the slabs: their threads ended). */
  releaseAll(): void {
    for (const lease of this.#leases) releaseSlab(lease);
    this.#leases = [];
  }
}
