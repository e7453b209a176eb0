/**
 * What both sides of a keyed aggregation agree on: the hash of a key and so the partition that
 * owns it (the same answer in every thread), and the order of keys in sorted runs.
 *
 * @packageDocumentation
 */

/** The keys a keyed aggregation accepts: they hash the same in every thread. */
export type PartitionKey = string | number;

const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);

/**
 * A key's 32-bit hash: FNV-1a over a string's UTF-16 code units; a number's 64 bits mixed (with
 * `-0` as `0` and every NaN as one, as a `Map` treats them). The map side computes it once per
 * pair and sends it along, so the owners never hash a key again.
 */
export function hashKey(key: PartitionKey): number {
  let hash: number;
  if (typeof key === 'string') {
    hash = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  } else {
    FLOAT[0] = key === 0 ? 0 : Number.isNaN(key) ? NaN : key;
    hash = Math.imul(WORDS[0]! ^ Math.imul(WORDS[1]!, 0x9e3779b1), 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
  }
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** The partition (0 .. partitions - 1) that owns a key of this {@link hashKey}. */
export function partitionOfHash(hash: number, partitions: number): number {
  return partitions === 1 ? 0 : hash % partitions;
}

/** The partition (0 .. partitions - 1) that owns `key`. */
export function partitionOf(key: PartitionKey, partitions: number): number {
  return partitionOfHash(hashKey(key), partitions);
}

/** Keys in sorted runs: numbers before strings, numbers by value, strings by UTF-16 code units. */
export function compareKeys(a: PartitionKey, b: PartitionKey): number {
  if (typeof a === 'number') {
    if (typeof b !== 'number') return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
