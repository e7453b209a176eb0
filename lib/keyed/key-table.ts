/**
 * A hash table from keys to number accumulators over typed arrays: open addressing on the hashes
 * the map side computed, keys held as code units in one arena, accumulators in a `Float64Array`.
 * It holds a key in about 20 bytes plus its units (a `Map<string, number>` entry costs several
 * times that in V8's heap), allocates nothing per pair, and builds no string until a key is read
 * out ({@link NumberKeyTable.keyAt}). For numeric accumulators only: the owners and the map side's
 * combine fall back to a `Map` when a fold gives anything else.
 *
 * @packageDocumentation
 */
import { decodeKey, NUMBER_KEY_UNITS, numberUnits } from './key-units.js';
import type { PackedResults } from './packed-batch.js';
import { compareKeys, type PartitionKey } from './partitioning.js';

/** The flag on an entry's length that says its key is a number. */
const NUMBER_FLAG = 0x80000000;
/** An estimate of a slot's and an entry's bytes, before the key's units: see {@link NumberKeyTable.bytes}. */
const BYTES_PER_ENTRY = 2 * 8 + 4 * 4 + 8;

export class NumberKeyTable {
  /** Entries held (0 .. size - 1, in the order their keys came). */
  size = 0;
  /** Whether the last lookup added its key (with the initial accumulator). */
  added = false;
  /** Each entry's accumulator. Re-read it after every lookup: the array is replaced as it grows. */
  accumulators: Float64Array;
  /** Each entry's key hash. */
  hashes: Uint32Array;
  /** The keys' code units, one after another. */
  units: Uint16Array;
  #unitCount = 0;
  /** Per entry: where its units start, and their count (with {@link NUMBER_FLAG} for a number key). */
  #spans: Uint32Array;
  /** Per slot: entry + 1 (0: empty) and the entry's hash, side by side so a probe reads one line. */
  #slots: Uint32Array;
  /** 32 - log2(slot count): the top bits of the mixed hash pick the slot. */
  #shift: number;

  constructor(entries = 1024) {
    const capacity = Math.max(16, 2 ** Math.ceil(Math.log2(entries)));
    this.accumulators = new Float64Array(capacity);
    this.hashes = new Uint32Array(capacity);
    this.#spans = new Uint32Array(2 * capacity);
    this.units = new Uint16Array(8 * capacity);
    const slots = 2 * capacity;
    this.#slots = new Uint32Array(2 * slots);
    this.#shift = 32 - Math.log2(slots);
  }

  /** The estimated bytes held: what the memory budget is counted against. */
  get bytes(): number {
    return this.size * BYTES_PER_ENTRY + 2 * this.#unitCount;
  }

  /**
   * The entry of the key `units[start..end)` (a number's words when `isNumber`) of this hash,
   * added with `initial` when absent ({@link added} says which).
   */
  entryOfUnits(hash: number, units: Uint16Array, start: number, end: number, isNumber: boolean, initial: number): number {
    const length = (end - start) | (isNumber ? NUMBER_FLAG : 0);
    const slots = this.#slots;
    const mask = slots.length - 2;
    // The owner's keys share their hash modulo the partition count: mix, and take the top bits.
    let i = (Math.imul(hash, 0x9e3779b1) >>> this.#shift) << 1;
    for (;;) {
      const slot = slots[i]!;
      if (slot === 0) break;
      if (slots[i + 1] === hash) {
        const entry = slot - 1;
        const spans = this.#spans;
        if (spans[2 * entry + 1] === length >>> 0) {
          const own = this.units;
          let at = spans[2 * entry]!;
          let k = start;
          while (k < end && own[at] === units[k]) {
            at++;
            k++;
          }
          if (k === end) {
            this.added = false;
            return entry;
          }
        }
      }
      i = (i + 2) & mask;
    }
    return this.#add(i, hash, length, units, start, end, initial);
  }

  /** {@link entryOfUnits} for a key as a JS value (the map side's combine). */
  entryOfKey(hash: number, key: PartitionKey, initial: number): number {
    if (typeof key === 'number') return this.entryOfUnits(hash, numberUnits(key), 0, NUMBER_KEY_UNITS, true, initial);
    const length = key.length;
    const slots = this.#slots;
    const mask = slots.length - 2;
    let i = (Math.imul(hash, 0x9e3779b1) >>> this.#shift) << 1;
    for (;;) {
      const slot = slots[i]!;
      if (slot === 0) break;
      if (slots[i + 1] === hash) {
        const entry = slot - 1;
        const spans = this.#spans;
        if (spans[2 * entry + 1] === length) {
          const own = this.units;
          const at = spans[2 * entry]!;
          let k = 0;
          while (k < length && own[at + k] === key.charCodeAt(k)) k++;
          if (k === length) {
            this.added = false;
            return entry;
          }
        }
      }
      i = (i + 2) & mask;
    }
    const entry = this.#add(i, hash, length, undefined, 0, 0, initial);
    const own = this.units;
    const at = this.#spans[2 * entry]!;
    for (let k = 0; k < length; k++) own[at + k] = key.charCodeAt(k);
    return entry;
  }

  /** Where an entry's key units start in {@link units}. */
  startOf(entry: number): number {
    return this.#spans[2 * entry]!;
  }

  /** Where an entry's key units end in {@link units}. */
  endOf(entry: number): number {
    return this.#spans[2 * entry]! + (this.#spans[2 * entry + 1]! & ~NUMBER_FLAG);
  }

  /** Whether an entry's key is a number. */
  isNumber(entry: number): boolean {
    return (this.#spans[2 * entry + 1]! & NUMBER_FLAG) !== 0;
  }

  /** An entry's key as a JS value (a string is built here). */
  keyAt(entry: number): PartitionKey {
    return decodeKey(this.units, this.startOf(entry), this.endOf(entry), this.isNumber(entry));
  }

  /** The entries in key order ({@link compareKeys}): numbers by value, then strings by code units. */
  sortedEntries(): Uint32Array {
    const order = new Uint32Array(this.size);
    for (let i = 0; i < order.length; i++) order[i] = i;
    return order.sort((a, b) => this.#compare(a, b));
  }

  /** Entries `from` .. `to` - 1 as {@link PackedResults} (arrays of their own: one copy of their units, no string). */
  packResults(from: number, to: number): PackedResults {
    const count = Math.max(0, to - from);
    const base = count === 0 ? 0 : this.startOf(from);
    const ends = new Uint32Array(count);
    let numberKeys: Uint8Array | undefined;
    for (let i = 0; i < count; i++) {
      const entry = from + i;
      ends[i] = this.endOf(entry) - base;
      if (this.isNumber(entry)) (numberKeys ??= new Uint8Array(count))[i] = 1;
    }
    // Entries' units lie one after another in the arena, in entry order.
    const units = this.units.slice(base, count === 0 ? 0 : this.endOf(to - 1));
    return { count, ends, units, numberKeys, accumulators: this.accumulators.slice(from, from + count) };
  }

  /** The entries as a `Map`, in the order their keys came (for a fold that stops giving numbers). */
  toMap(): Map<PartitionKey, unknown> {
    const map = new Map<PartitionKey, unknown>();
    for (let entry = 0; entry < this.size; entry++) map.set(this.keyAt(entry), this.accumulators[entry]);
    return map;
  }

  /** Empties the table, keeping its arrays. */
  clear(): void {
    this.size = 0;
    this.#unitCount = 0;
    this.#slots.fill(0);
  }

  #compare(a: number, b: number): number {
    if (this.isNumber(a) || this.isNumber(b)) return compareKeys(this.keyAt(a), this.keyAt(b));
    const units = this.units;
    let i = this.startOf(a);
    let j = this.startOf(b);
    const aEnd = this.endOf(a);
    const bEnd = this.endOf(b);
    for (; i < aEnd && j < bEnd; i++, j++) {
      const d = units[i]! - units[j]!;
      if (d !== 0) return d;
    }
    return aEnd - i - (bEnd - j);
  }

  #add(slot: number, hash: number, length: number, units: Uint16Array | undefined, start: number, end: number, initial: number): number {
    const entry = this.size;
    if (entry === this.accumulators.length) this.#growEntries();
    const count = length & ~NUMBER_FLAG;
    if (this.#unitCount + count > this.units.length) this.#growUnits(this.#unitCount + count);
    const at = this.#unitCount;
    if (units !== undefined) this.units.set(units.subarray(start, end), at);
    this.#unitCount = at + count;
    this.#spans[2 * entry] = at;
    this.#spans[2 * entry + 1] = length;
    this.hashes[entry] = hash;
    this.accumulators[entry] = initial;
    this.size = entry + 1;
    this.#slots[slot] = entry + 1;
    this.#slots[slot + 1] = hash;
    this.added = true;
    // At most half the slots in use, so probes stay short.
    if (2 * this.size > this.#slots.length / 2) this.#rehash();
    return entry;
  }

  #growEntries(): void {
    const capacity = 2 * this.accumulators.length;
    const accumulators = new Float64Array(capacity);
    accumulators.set(this.accumulators);
    this.accumulators = accumulators;
    const hashes = new Uint32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const spans = new Uint32Array(2 * capacity);
    spans.set(this.#spans);
    this.#spans = spans;
  }

  #growUnits(needed: number): void {
    const units = new Uint16Array(Math.max(2 * this.units.length, needed));
    units.set(this.units.subarray(0, this.#unitCount));
    this.units = units;
  }

  /** Twice the slots, every entry placed again by its stored hash (no key is compared). */
  #rehash(): void {
    const slots = new Uint32Array(2 * this.#slots.length);
    this.#shift -= 1;
    const mask = slots.length - 2;
    for (let entry = 0; entry < this.size; entry++) {
      const hash = this.hashes[entry]!;
      let i = (Math.imul(hash, 0x9e3779b1) >>> this.#shift) << 1;
      while (slots[i] !== 0) i = (i + 2) & mask;
      slots[i] = entry + 1;
      slots[i + 1] = hash;
    }
    this.#slots = slots;
  }
}
