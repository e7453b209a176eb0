import { describe, expect, it } from 'vitest';
import { NumberKeyTable } from '../../lib/keyed/key-table.js';
import { decodeKey, NUMBER_KEY_UNITS, numberUnits } from '../../lib/keyed/key-units.js';
import { BatchBuilder, batchValues, ownedBatch, unpackResults, type PackedBatch } from '../../lib/keyed/packed-batch.js';
import { compareKeys, hashKey, partitionOf, type PartitionKey } from '../../lib/keyed/partitioning.js';

/** The keys of a packed batch, decoded. */
function keysOf(batch: PackedBatch): PartitionKey[] {
  const keys: PartitionKey[] = [];
  for (let i = 0; i < batch.count; i++) {
    keys.push(decodeKey(batch.units, i === 0 ? 0 : batch.ends[i - 1]!, batch.ends[i]!, batch.numberKeys?.[i] === 1));
  }
  return keys;
}

const KEYS: PartitionKey[] = [
  '',
  'a',
  'user42',
  'ünïcode',
  'a longer key than twelve units',
  '\ud800 lone surrogate',
  'x\ny',
  0,
  1,
  -1,
  3.5,
  2 ** 40,
  NaN,
  Infinity,
];

describe('key units', () => {
  it('decode to the same key, strings (any code unit) and numbers (-0 as 0, NaN as NaN)', () => {
    for (const key of KEYS) {
      if (typeof key === 'number') expect(decodeKey(numberUnits(key).slice(), 0, NUMBER_KEY_UNITS, true)).toBe(key);
      else {
        const units = Uint16Array.from({ length: key.length }, (_, i) => key.charCodeAt(i));
        expect(decodeKey(units, 0, units.length, false)).toBe(key);
      }
    }
    expect(Object.is(decodeKey(numberUnits(-0).slice(), 0, NUMBER_KEY_UNITS, true), 0)).toBe(true);
  });

  it('hashKey agrees with partitionOf, and -0 hashes as 0', () => {
    for (const key of KEYS) expect(partitionOf(key, 7)).toBe(hashKey(key) % 7);
    expect(hashKey(-0)).toBe(hashKey(0));
  });
});

describe('BatchBuilder', () => {
  it('packs string and number keys with their hashes; number values as a Float64Array', () => {
    const builder = new BatchBuilder();
    for (const key of KEYS) builder.addKey(hashKey(key), key, 1.5);
    const batch = builder.take(false);
    expect(batch.count).toBe(KEYS.length);
    expect(keysOf(batch)).toEqual(KEYS);
    expect([...batch.hashes]).toEqual(KEYS.map(hashKey));
    expect(batch.values).toBeInstanceOf(Float64Array);
    expect([...batchValues(batch)]).toEqual(KEYS.map(() => 1.5));
    expect(builder.count).toBe(0);
  });

  it('serializes the values once one is not a number, keeping those before it', () => {
    const builder = new BatchBuilder();
    builder.addKey(hashKey('a'), 'a', 1);
    builder.addKey(hashKey('b'), 'b', { n: 2 });
    builder.addKey(hashKey('c'), 'c', 3);
    const batch = builder.take(true);
    expect(batch.partial).toBe(true);
    expect(batch.numberKeys).toBeUndefined();
    expect(batch.values).not.toBeInstanceOf(Float64Array);
    expect(batchValues(batch)).toEqual([1, { n: 2 }, 3]);
  });

  it('grows past its first arrays, and starts again empty after take', () => {
    const builder = new BatchBuilder();
    const keys = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? i : `key-${i}-${'x'.repeat(i % 20)}`));
    keys.forEach((key, i) => builder.addKey(hashKey(key), key, i));
    const batch = builder.take(false);
    expect(keysOf(batch)).toEqual(keys);
    expect([...batchValues(batch)]).toEqual(keys.map((_, i) => i));
    builder.addKey(hashKey('z'), 'z', 1);
    expect(keysOf(builder.take(false))).toEqual(['z']);
  });

  it('gives views a buffer of their own (ownedBatch copies only views that share one)', () => {
    const builder = new BatchBuilder();
    builder.addKey(hashKey('a'), 'a', 1);
    const batch = builder.take(false);
    expect(ownedBatch(batch)).toBe(batch);
    const shared = new ArrayBuffer(64);
    const sliced = { ...batch, values: new Float64Array(shared, 8, 1) };
    expect(ownedBatch(sliced).values.buffer).not.toBe(shared);
  });
});

describe('NumberKeyTable', () => {
  it('finds each key again, adds a new one with the initial value, in the order they came', () => {
    const table = new NumberKeyTable(16);
    const keys = Array.from({ length: 20_000 }, (_, i) => (i % 5 === 0 ? i / 4 : `k${i}`));
    for (let round = 0; round < 2; round++) {
      keys.forEach((key, i) => {
        const entry = table.entryOfKey(hashKey(key), key, 100);
        expect(table.added).toBe(round === 0);
        expect(entry).toBe(i);
        table.setAccumulator(entry, table.accumulator(entry) + 1);
      });
    }
    expect(table.size).toBe(keys.length);
    expect([...table.toMap()]).toEqual(keys.map((key) => [key, 102]));
  });

  it('hashes a key itself as hashKey does (one pass over a short string), finding the same entry', () => {
    const table = new NumberKeyTable();
    const keys = [...KEYS, 'eight ch', 'nine char', '\u00ff\u0100'];
    const entries = keys.map((key) => table.entryOfOwnHash(key, 0));
    keys.forEach((key, i) => {
      expect(table.entryOfKey(hashKey(key), key, 0)).toBe(entries[i]);
      expect(table.added).toBe(false);
    });
    const seen = new Map<number, number>();
    table.forEachEntry((entry, hash) => seen.set(entry, hash));
    keys.forEach((key, i) => expect(seen.get(entries[i]!)).toBe(hashKey(key)));
  });

  it('tells keys of one hash apart by their units, and a number from the string of the same units', () => {
    const table = new NumberKeyTable();
    const clash = 12345;
    const a = table.entryOfKey(clash, 'ab', 0);
    const b = table.entryOfKey(clash, 'ba', 0);
    const c = table.entryOfKey(clash, 'abc', 0);
    const units = numberUnits(7).slice();
    const asString = String.fromCharCode(...units);
    const n = table.entryOfUnits(clash, units, 0, NUMBER_KEY_UNITS, true, 0);
    const s = table.entryOfKey(clash, asString, 0);
    expect(new Set([a, b, c, n, s]).size).toBe(5);
    expect(table.entryOfKey(clash, 'ba', 0)).toBe(b);
    expect(table.entryOfKey(clash, 7, 0)).toBe(n);
    expect(table.keyAt(n)).toBe(7);
    expect(table.keyAt(s)).toBe(asString);
  });

  it('finds a key from packed units as from the JS value (the owner and the map side agree)', () => {
    const builder = new BatchBuilder();
    for (const key of KEYS) builder.addKey(hashKey(key), key, 0);
    const batch = builder.take(false);
    const table = new NumberKeyTable();
    KEYS.forEach((key) => table.entryOfKey(hashKey(key), key, 0));
    for (let i = 0; i < batch.count; i++) {
      const entry = table.entryOfUnits(
        batch.hashes[i]!,
        batch.units,
        i === 0 ? 0 : batch.ends[i - 1]!,
        batch.ends[i]!,
        batch.numberKeys?.[i] === 1,
        0,
      );
      expect(table.added).toBe(false);
      expect(entry).toBe(i);
    }
  });

  it('sorts its entries as compareKeys does: numbers by value, then strings by code units', () => {
    const table = new NumberKeyTable();
    const keys: PartitionKey[] = ['b', 'a', 'ab', '', 10, -2, 3.5, 'B', '\uffff', 'é', 0, 'a\u0000'];
    for (const key of keys) table.entryOfKey(hashKey(key), key, 0);
    const order = [...table.sortedEntries()].map((entry) => table.keyAt(entry));
    expect(order).toEqual([...keys].sort(compareKeys));
  });

  it('packs results and copies keys of any length, inline or in its arena', () => {
    const table = new NumberKeyTable();
    const keys: PartitionKey[] = ['short', 'exactly8', 'nine char', 'a key of many more units than a record holds', 42, ''];
    keys.forEach((key, i) => table.setAccumulator(table.entryOfKey(hashKey(key), key, 0), i));
    const packed = table.packResults(1, keys.length);
    expect(unpackResults(packed)).toEqual(keys.slice(1));
    expect([...packed.accumulators]).toEqual([1, 2, 3, 4, 5]);
    const builder = new BatchBuilder();
    table.forEachEntry((entry, hash) => builder.addEntry(hash, table, entry, table.accumulator(entry)));
    const batch = builder.take(true);
    expect(keysOf(batch).sort(compareKeys)).toEqual([...keys].sort(compareKeys));
    expect([...batch.hashes].sort()).toEqual(keys.map(hashKey).sort());
  });

  it('counts its bytes, and is empty after clear (its keys found as new)', () => {
    const table = new NumberKeyTable();
    table.entryOfKey(hashKey('abc'), 'abc', 0);
    expect(table.bytes).toBeGreaterThan(6);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.bytes).toBe(0);
    table.entryOfKey(hashKey('abc'), 'abc', 0);
    expect(table.added).toBe(true);
  });
});
