/**
 * How a batch of `[key, value]` pairs for one partition travels between threads: in typed arrays
 * (no clone per pair) over a worker's slab of shared memory (slabs.ts), or over buffers of their
 * own that move, each key as its code units with the hash the map side computed, so an owner finds
 * its entry without building a string or hashing again. Values that are all numbers (the common
 * case) travel as a `Float64Array`, any others `v8.serialize`d. The owners' results from a key
 * table come back the same way ({@link PackedResults}).
 *
 * @packageDocumentation
 */
import { deserialize, serialize } from 'node:v8';
import { decodeKey, NUMBER_KEY_UNITS, numberUnits } from './key-units.js';
import type { PartitionKey } from './partitioning.js';
import { releaseSlab, takeSlab, type SlabLease } from './slabs.js';

/**
 * A batch of pairs for one partition. `partial` says the values are accumulators already
 * (combined on the map side), not values to fold.
 */
export interface PackedBatch {
  readonly count: number;
  /** Each key's {@link hashKey}. */
  readonly hashes: Uint32Array;
  /** Where each key's units end in `units` (each starts where the one before ended). */
  readonly ends: Uint32Array;
  /** The keys' code units, one after another (see key-units.ts). */
  readonly units: Uint16Array;
  /** 1 where the key is a number; `undefined` when none is (no array for the common case). */
  readonly numberKeys: Uint8Array | undefined;
  /** The values: a `Float64Array` when all are numbers, else `v8.serialize` of the array of them. */
  readonly values: Float64Array | Uint8Array;
  readonly partial: boolean;
  /**
   * The lease on the worker's slab the views lie in (see slabs.ts), for the owner to release once
   * the batch is folded; `undefined` when the batch has buffers of its own.
   */
  readonly slab: SlabLease | undefined;
}

/** The values of a batch as an indexable list. */
export function batchValues(batch: PackedBatch): Float64Array | unknown[] {
  return batch.values instanceof Float64Array ? batch.values : (deserialize(batch.values) as unknown[]);
}

/** Where keys are held as units (a key table): what a {@link BatchBuilder} copies a key from. */
export interface KeyUnitsSource {
  lengthOf(entry: number): number;
  isNumber(entry: number): boolean;
  /** Copies the entry's units into `target` at `at`; returns where they end. */
  copyUnits(entry: number, target: Uint16Array, at: number): number;
}

/**
 * Collects pairs of one partition and hands them out as {@link PackedBatch}es; its arrays grow as
 * needed and are reused from one batch to the next.
 */
export class BatchBuilder {
  #count = 0;
  #hashes = new Uint32Array(256);
  #ends = new Uint32Array(256);
  #units = new Uint16Array(2048);
  #unitCount = 0;
  #numberKeys: Uint8Array | undefined;
  #numbers = new Float64Array(256);
  /** Set once a value is not a number: every value so far, and the rest. */
  #others: unknown[] | undefined;

  /** Pairs collected since the last {@link take}. */
  get count(): number {
    return this.#count;
  }

  /** Adds a pair whose key is a JS value (hashed by the caller). */
  addKey(hash: number, key: PartitionKey, value: unknown): void {
    if (typeof key === 'string') {
      const length = key.length;
      const at = this.#reserve(length);
      const units = this.#units;
      for (let i = 0; i < length; i++) units[at + i] = key.charCodeAt(i);
      this.#push(hash, false, value);
    } else {
      this.addUnits(hash, numberUnits(key), 0, NUMBER_KEY_UNITS, true, value);
    }
  }

  /** Adds a pair whose key is `units[start..end)`. */
  addUnits(hash: number, units: Uint16Array, start: number, end: number, isNumber: boolean, value: unknown): void {
    const at = this.#reserve(end - start);
    this.#units.set(units.subarray(start, end), at);
    this.#push(hash, isNumber, value);
  }

  /** Adds a pair whose key is an entry of a key table. */
  addEntry(hash: number, source: KeyUnitsSource, entry: number, value: unknown): void {
    const at = this.#reserve(source.lengthOf(entry));
    source.copyUnits(entry, this.#units, at);
    this.#push(hash, source.isNumber(entry), value);
  }

  /**
   * The pairs so far as a batch, copied into a slab of shared memory (slabs.ts) or, without one, into
   * buffers of their own (moved away whole); the builder starts again.
   */
  take(partial: boolean): PackedBatch {
    const count = this.#count;
    const units = this.#unitCount;
    const others = this.#others === undefined ? undefined : ownBytes(serialize(this.#others));
    const leased = takeSlab(count, units);
    let batch: PackedBatch;
    if (leased !== undefined) {
      const { slab, lease } = leased;
      slab.hashes.set(this.#hashes.subarray(0, count));
      slab.ends.set(this.#ends.subarray(0, count));
      slab.units.set(this.#units.subarray(0, units));
      if (this.#numberKeys !== undefined) slab.numberKeys.set(this.#numberKeys.subarray(0, count));
      if (others === undefined) slab.values.set(this.#numbers.subarray(0, count));
      batch = {
        count,
        hashes: slab.hashes.subarray(0, count),
        ends: slab.ends.subarray(0, count),
        units: slab.units.subarray(0, units),
        numberKeys: this.#numberKeys === undefined ? undefined : slab.numberKeys.subarray(0, count),
        values: others ?? slab.values.subarray(0, count),
        partial,
        slab: { state: slab.state, lease },
      };
    } else {
      batch = {
        count,
        hashes: this.#hashes.slice(0, count),
        ends: this.#ends.slice(0, count),
        units: this.#units.slice(0, units),
        numberKeys: this.#numberKeys?.slice(0, count),
        values: others ?? this.#numbers.slice(0, count),
        partial,
        slab: undefined,
      };
    }
    this.#count = 0;
    this.#unitCount = 0;
    this.#numberKeys = undefined;
    this.#others = undefined;
    return batch;
  }

  /** Room for `length` more units; returns where they go. */
  #reserve(length: number): number {
    const at = this.#unitCount;
    if (at + length > this.#units.length) {
      const units = new Uint16Array(Math.max(2 * this.#units.length, at + length));
      units.set(this.#units.subarray(0, at));
      this.#units = units;
    }
    this.#unitCount = at + length;
    return at;
  }

  #push(hash: number, isNumber: boolean, value: unknown): void {
    const i = this.#count;
    if (i === this.#hashes.length) this.#grow();
    this.#hashes[i] = hash;
    this.#ends[i] = this.#unitCount;
    if (isNumber) {
      this.#numberKeys ??= new Uint8Array(this.#hashes.length);
      this.#numberKeys[i] = 1;
    }
    if (this.#others !== undefined) this.#others.push(value);
    else if (typeof value === 'number') this.#numbers[i] = value;
    else {
      this.#others = Array.from(this.#numbers.subarray(0, i));
      this.#others.push(value);
    }
    this.#count = i + 1;
  }

  #grow(): void {
    const size = 2 * this.#hashes.length;
    this.#hashes = grown(this.#hashes, new Uint32Array(size));
    this.#ends = grown(this.#ends, new Uint32Array(size));
    this.#numbers = grown(this.#numbers, new Float64Array(size));
    if (this.#numberKeys !== undefined) this.#numberKeys = grown(this.#numberKeys, new Uint8Array(size));
  }
}

function grown<V extends Uint32Array | Float64Array | Uint8Array>(old: V, bigger: V): V {
  bigger.set(old);
  return bigger;
}

/** Bytes in a buffer of their own, so moving it takes nothing else along (a pooled slice would). */
function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.buffer.byteLength === data.byteLength ? data : new Uint8Array(data);
}

/**
 * A view that does not span its whole buffer, copied into one of its own (else returned as is); a
 * view of a slab (shared memory, which travels by reference) as is.
 */
function owned<V extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(view: V): V {
  if (view.buffer instanceof SharedArrayBuffer) return view;
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer
    ? view
    : (view.slice() as V);
}

/** Marks the batch's slab free for reuse, once the batch is folded (no-op for a batch with buffers of its own). */
export function releaseBatch(batch: PackedBatch): void {
  if (batch.slab !== undefined) releaseSlab(batch.slab);
}

/**
 * The batch with every view owning its whole buffer, so moving its buffers takes nothing else along:
 * a batch that came through a child process (its views deserialized into one shared buffer) is
 * copied; one packed in a worker thread is returned as is.
 */
export function ownedBatch(batch: PackedBatch): PackedBatch {
  const hashes = owned(batch.hashes);
  const ends = owned(batch.ends);
  const units = owned(batch.units);
  const numberKeys = batch.numberKeys === undefined ? undefined : owned(batch.numberKeys);
  const values = owned(batch.values);
  return hashes === batch.hashes &&
    ends === batch.ends &&
    units === batch.units &&
    numberKeys === batch.numberKeys &&
    values === batch.values
    ? batch
    : { ...batch, hashes, ends, units, numberKeys, values };
}

/** The buffers of a packed batch, to transfer rather than copy (a slab's shared memory is not among them). */
export function batchBuffers(batch: PackedBatch): ArrayBuffer[] {
  const views = [batch.hashes, batch.ends, batch.units, batch.values, ...(batch.numberKeys === undefined ? [] : [batch.numberKeys])];
  return views.map((view) => view.buffer).filter((buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer);
}

/**
 * Results of a key table (keys and number accumulators) as they travel back to the main thread:
 * the keys' units as the table holds them, so the owner builds no string; the main thread, which
 * hands the keys on as strings anyway, decodes them ({@link unpackResults}).
 */
export interface PackedResults {
  readonly count: number;
  /** Where each key's units end in `units`. */
  readonly ends: Uint32Array;
  readonly units: Uint16Array;
  /** 1 where the key is a number; `undefined` when none is. */
  readonly numberKeys: Uint8Array | undefined;
  readonly accumulators: Float64Array;
}

/** The buffers of packed results, to transfer. */
export function resultBuffers(results: PackedResults): ArrayBuffer[] {
  const views = [results.ends, results.units, results.accumulators, ...(results.numberKeys === undefined ? [] : [results.numberKeys])];
  return views.map((view) => view.buffer).filter((buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer);
}

/** The keys of packed results, decoded. */
export function unpackResults(results: PackedResults): PartitionKey[] {
  const keys = new Array<PartitionKey>(results.count);
  const { ends, units, numberKeys } = results;
  let start = 0;
  for (let i = 0; i < results.count; i++) {
    const end = ends[i]!;
    keys[i] = decodeKey(units, start, end, numberKeys?.[i] === 1);
    start = end;
  }
  return keys;
}
