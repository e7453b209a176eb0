/**
 * A hash table from keys to number accumulators over typed arrays: open addressing on the hashes
 * the map side computed, each entry a 32-byte record (its accumulator, its key's length, and the
 * key's first 8 code units inline; a longer key's units in an arena). A lookup touches one slot and
 * one record, not a `Map` bucket, a key string and a boxed number; the table holds a short key in
 * under 60 bytes (a `Map<string, number>` entry costs several times that in V8's heap), allocates
 * nothing per pair, and builds no string until a key is read out ({@link NumberKeyTable.keyAt}).
 * For numeric accumulators only: the owners and the map side's combine fall back to a `Map` when a
 * fold gives anything else.
 *
 * @packageDocumentation
 */
import { decodeKey, NUMBER_KEY_UNITS, numberUnits } from './key-units.js';
import type { PackedResults } from './packed-batch.js';
import { compareKeys, hashKey, type PartitionKey } from './partitioning.js';

/** The flag on an entry's length that says its key is a number. */
const NUMBER_FLAG = 0x80000000;
/** 32-bit words a record: accumulator (2), length and flag, arena start, 4 words of inline units. */
const RECORD = 8;
/** Code units held inline in a record. */
const INLINE_UNITS = 8;

/** The probe key's inline words, packed once per lookup (module-level: no allocation). */
const probe = new Uint32Array(4);

export class NumberKeyTable {
  /** Entries held (0 .. size - 1, in the order their keys came). */
  size = 0;
  /** Whether the last lookup added its key (with the initial accumulator). */
  added = false;
  /** The records, as words and (word pairs 0-1) as the accumulator. */
  #records: Uint32Array;
  #floats: Float64Array;
  /** The units of keys longer than {@link INLINE_UNITS}. */
  #arena: Uint16Array;
  #arenaCount = 0;
  /** Per slot: entry + 1 (0: empty) and the entry's hash, side by side so a probe reads one line. */
  #slots: Uint32Array;
  /** 32 - log2(slot count): the top bits of the mixed hash pick the slot. */
  #shift: number;

  constructor(entries = 1024) {
    const capacity = Math.max(16, 2 ** Math.ceil(Math.log2(entries)));
    this.#records = new Uint32Array(RECORD * capacity);
    this.#floats = new Float64Array(this.#records.buffer);
    this.#arena = new Uint16Array(1024);
    const slots = 2 * capacity;
    this.#slots = new Uint32Array(2 * slots);
    this.#shift = 32 - Math.log2(slots);
  }

  /** The estimated bytes held: what the memory budget is counted against. */
  get bytes(): number {
    // A record, two slots (at most half are in use) and the long keys' units.
    return this.size * (4 * RECORD + 16) + 2 * this.#arenaCount;
  }

  /** An entry's accumulator. */
  accumulator(entry: number): number {
    return this.#floats[entry * (RECORD / 2)]!;
  }

  setAccumulator(entry: number, value: number): void {
    this.#floats[entry * (RECORD / 2)] = value;
  }

  /**
   * The entry of the key `units[start..end)` (a number's words when `isNumber`) of this hash,
   * added with `initial` when absent ({@link added} says which).
   */
  entryOfUnits(hash: number, units: Uint16Array, start: number, end: number, isNumber: boolean, initial: number): number {
    const count = end - start;
    const length = (count | (isNumber ? NUMBER_FLAG : 0)) >>> 0;
    packProbe(units, start, count);
    const entry = this.#find(hash, length, units, start, end);
    if (entry >= 0) {
      this.added = false;
      return entry;
    }
    return this.#add(~entry, hash, length, units, start, end, initial);
  }

  /** {@link entryOfUnits} for a key as a JS value (the map side's combine). */
  entryOfKey(hash: number, key: PartitionKey, initial: number): number {
    if (typeof key === 'number') return this.entryOfUnits(hash, numberUnits(key), 0, NUMBER_KEY_UNITS, true, initial);
    const count = key.length;
    if (count > INLINE_UNITS) {
      const units = scratchUnits(count);
      for (let i = 0; i < count; i++) units[i] = key.charCodeAt(i);
      return this.entryOfUnits(hash, units, 0, count, false, initial);
    }
    probe[0] = probe[1] = probe[2] = probe[3] = 0;
    for (let i = 0; i < count; i++) probe[i >> 1]! |= key.charCodeAt(i) << ((i & 1) << 4);
    const entry = this.#find(hash, count, undefined, 0, 0);
    if (entry >= 0) {
      this.added = false;
      return entry;
    }
    return this.#add(~entry, hash, count, undefined, 0, 0, initial);
  }

  /**
   * {@link entryOfKey} hashing the key itself ({@link hashKey}'s hash): a short string is hashed
   * and packed in one pass over its characters (the map side's combine, once per pair).
   */
  entryOfOwnHash(key: PartitionKey, initial: number): number {
    if (typeof key !== 'string' || key.length > INLINE_UNITS) return this.entryOfKey(hashKey(key), key, initial);
    const count = key.length;
    probe[0] = probe[1] = probe[2] = probe[3] = 0;
    let hash = 0x811c9dc5;
    for (let i = 0; i < count; i++) {
      const unit = key.charCodeAt(i);
      hash = Math.imul(hash ^ unit, 0x01000193);
      probe[i >> 1]! |= unit << ((i & 1) << 4);
    }
    hash = (hash ^ (hash >>> 16)) >>> 0;
    const entry = this.#find(hash, count, undefined, 0, 0);
    if (entry >= 0) {
      this.added = false;
      return entry;
    }
    return this.#add(~entry, hash, count, undefined, 0, 0, initial);
  }

  /** An entry's key length in code units. */
  lengthOf(entry: number): number {
    return this.#records[entry * RECORD + 2]! & ~NUMBER_FLAG;
  }

  /** Whether an entry's key is a number. */
  isNumber(entry: number): boolean {
    return (this.#records[entry * RECORD + 2]! & NUMBER_FLAG) !== 0;
  }

  /** Copies an entry's key units into `target` at `at`; returns where they end. */
  copyUnits(entry: number, target: Uint16Array, at: number): number {
    const count = this.lengthOf(entry);
    if (count > INLINE_UNITS) {
      const start = this.#records[entry * RECORD + 3]!;
      target.set(this.#arena.subarray(start, start + count), at);
    } else {
      const base = entry * RECORD + 4;
      for (let i = 0; i < count; i++) target[at + i] = (this.#records[base + (i >> 1)]! >>> ((i & 1) << 4)) & 0xffff;
    }
    return at + count;
  }

  /** An entry's key as a JS value (a string is built here). */
  keyAt(entry: number): PartitionKey {
    const count = this.lengthOf(entry);
    const units = scratchUnits(count);
    this.copyUnits(entry, units, 0);
    return decodeKey(units, 0, count, this.isNumber(entry));
  }

  /** Calls `each(entry, hash)` for every entry, in no set order (the map side hands its entries on). */
  forEachEntry(each: (entry: number, hash: number) => void): void {
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i += 2) if (slots[i] !== 0) each(slots[i]! - 1, slots[i + 1]!);
  }

  /** The entries in key order ({@link compareKeys}): numbers by value, then strings by code units. */
  sortedEntries(): Uint32Array {
    const order = new Uint32Array(this.size);
    for (let i = 0; i < order.length; i++) order[i] = i;
    return order.sort((a, b) => this.#compare(a, b));
  }

  /** Entries `from` .. `to` - 1 as {@link PackedResults} (arrays of their own: their units, no string). */
  packResults(from: number, to: number): PackedResults {
    const count = Math.max(0, to - from);
    const ends = new Uint32Array(count);
    let unitCount = 0;
    for (let i = 0; i < count; i++) ends[i] = unitCount += this.lengthOf(from + i);
    const units = new Uint16Array(unitCount);
    const accumulators = new Float64Array(count);
    let numberKeys: Uint8Array | undefined;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const entry = from + i;
      at = this.copyUnits(entry, units, at);
      accumulators[i] = this.accumulator(entry);
      if (this.isNumber(entry)) (numberKeys ??= new Uint8Array(count))[i] = 1;
    }
    return { count, ends, units, numberKeys, accumulators };
  }

  /** The entries as a `Map`, in the order their keys came (for a fold that stops giving numbers). */
  toMap(): Map<PartitionKey, unknown> {
    const map = new Map<PartitionKey, unknown>();
    for (let entry = 0; entry < this.size; entry++) map.set(this.keyAt(entry), this.accumulator(entry));
    return map;
  }

  /** Empties the table, keeping its arrays. */
  clear(): void {
    this.size = 0;
    this.#arenaCount = 0;
    this.#slots.fill(0);
  }

  /**
   * The entry of the key in {@link probe} (and, past its inline units, `units[start + 8 ..end)`), or
   * `~slot` of the empty slot where it would go.
   */
  #find(hash: number, length: number, units: Uint16Array | undefined, start: number, end: number): number {
    const slots = this.#slots;
    const records = this.#records;
    const mask = slots.length - 2;
    // The owner's keys share their hash modulo the partition count: mix, and take the top bits.
    let i = (Math.imul(hash, 0x9e3779b1) >>> this.#shift) << 1;
    for (;;) {
      const slot = slots[i]!;
      if (slot === 0) return ~i;
      if (slots[i + 1] === hash) {
        const r = (slot - 1) * RECORD;
        if (
          records[r + 2] === length &&
          records[r + 4] === probe[0] &&
          records[r + 5] === probe[1] &&
          records[r + 6] === probe[2] &&
          records[r + 7] === probe[3] &&
          (units === undefined || end - start <= INLINE_UNITS || this.#sameTail(records[r + 3]!, units, start, end))
        ) {
          return slot - 1;
        }
      }
      i = (i + 2) & mask;
    }
  }

  /** Whether a long key's units past the inline ones equal `units[start + 8 .. end)`. */
  #sameTail(arenaStart: number, units: Uint16Array, start: number, end: number): boolean {
    const arena = this.#arena;
    for (let k = start + INLINE_UNITS, at = arenaStart + INLINE_UNITS; k < end; k++, at++) if (arena[at] !== units[k]) return false;
    return true;
  }

  #compare(a: number, b: number): number {
    if (this.isNumber(a) || this.isNumber(b)) return compareKeys(this.keyAt(a), this.keyAt(b));
    const aLength = this.lengthOf(a);
    const bLength = this.lengthOf(b);
    for (let i = 0; i < aLength && i < bLength; i++) {
      const d = this.#unitAt(a, i) - this.#unitAt(b, i);
      if (d !== 0) return d;
    }
    return aLength - bLength;
  }

  #unitAt(entry: number, i: number): number {
    if (this.lengthOf(entry) > INLINE_UNITS) return this.#arena[this.#records[entry * RECORD + 3]! + i]!;
    return (this.#records[entry * RECORD + 4 + (i >> 1)]! >>> ((i & 1) << 4)) & 0xffff;
  }

  /** Adds the key in {@link probe} (its units at `units[start..end)` when longer than the inline ones). */
  #add(slot: number, hash: number, length: number, units: Uint16Array | undefined, start: number, end: number, initial: number): number {
    const entry = this.size;
    if ((entry + 1) * RECORD > this.#records.length) this.#growRecords();
    const r = entry * RECORD;
    const records = this.#records;
    records[r + 2] = length;
    records[r + 4] = probe[0]!;
    records[r + 5] = probe[1]!;
    records[r + 6] = probe[2]!;
    records[r + 7] = probe[3]!;
    const count = end - start;
    if (units !== undefined && count > INLINE_UNITS) {
      if (this.#arenaCount + count > this.#arena.length) this.#growArena(this.#arenaCount + count);
      records[r + 3] = this.#arenaCount;
      this.#arena.set(units.subarray(start, end), this.#arenaCount);
      this.#arenaCount += count;
    } else {
      records[r + 3] = 0;
    }
    this.#floats[entry * (RECORD / 2)] = initial;
    this.size = entry + 1;
    this.#slots[slot] = entry + 1;
    this.#slots[slot + 1] = hash;
    this.added = true;
    // At most half the slots in use, so probes stay short.
    if (2 * this.size > this.#slots.length / 2) this.#rehash();
    return entry;
  }

  #growRecords(): void {
    const records = new Uint32Array(2 * this.#records.length);
    records.set(this.#records);
    this.#records = records;
    this.#floats = new Float64Array(records.buffer);
  }

  #growArena(needed: number): void {
    const arena = new Uint16Array(Math.max(2 * this.#arena.length, needed));
    arena.set(this.#arena.subarray(0, this.#arenaCount));
    this.#arena = arena;
  }

  /** Twice the slots, every entry placed again by its hash (kept in its old slot: no key is compared). */
  #rehash(): void {
    const old = this.#slots;
    const slots = new Uint32Array(2 * old.length);
    this.#shift -= 1;
    const mask = slots.length - 2;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      const hash = old[j + 1]!;
      let i = (Math.imul(hash, 0x9e3779b1) >>> this.#shift) << 1;
      while (slots[i] !== 0) i = (i + 2) & mask;
      slots[i] = old[j]!;
      slots[i + 1] = hash;
    }
    this.#slots = slots;
  }
}

/** Packs the first {@link INLINE_UNITS} units of `units[start..start + count)` into {@link probe}. */
function packProbe(units: Uint16Array, start: number, count: number): void {
  probe[0] = probe[1] = probe[2] = probe[3] = 0;
  const inline = count < INLINE_UNITS ? count : INLINE_UNITS;
  for (let i = 0; i < inline; i++) probe[i >> 1]! |= units[start + i]! << ((i & 1) << 4);
}

let scratch = new Uint16Array(256);
/** A scratch array of at least `count` units (reused: valid until the next call). */
function scratchUnits(count: number): Uint16Array {
  if (scratch.length < count) scratch = new Uint16Array(2 * count);
  return scratch;
}
