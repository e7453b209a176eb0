/**
 * What both sides of a keyed aggregation agree on: which partition owns a key (the same answer in
 * every thread), how a batch of `[key, value]` pairs travels (packed into transferable buffers),
 * and the order of keys in sorted runs.
 *
 * @packageDocumentation
 */
import { deserialize, serialize } from 'node:v8';

/** The keys a keyed aggregation accepts: they hash the same in every thread. */
export type PartitionKey = string | number;

const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);

/**
 * The partition (0 .. partitions - 1) that owns `key`: FNV-1a over a string's UTF-16 code units; a
 * number's 64 bits mixed (with `-0` as `0` and every NaN as one, as a `Map` treats them).
 */
export function partitionOf(key: PartitionKey, partitions: number): number {
  if (partitions === 1) return 0;
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
  return (hash >>> 0) % partitions;
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

/**
 * A batch of pairs for one partition, packed so that it moves between threads without a per-pair
 * clone: string keys joined with newlines and number values in a `Float64Array` (the common case),
 * number keys and values as two `Float64Array`s, anything else `v8.serialize`d. `partial` says the
 * values are accumulators already (combined on the map side), not values to fold.
 */
export type PackedBatch =
  | { readonly kind: 'strings'; readonly count: number; readonly keys: string; readonly values: Float64Array; readonly partial: boolean }
  | {
      readonly kind: 'numbers';
      readonly count: number;
      readonly keys: Float64Array;
      readonly values: Float64Array;
      readonly partial: boolean;
    }
  | { readonly kind: 'v8'; readonly count: number; readonly data: Uint8Array; readonly partial: boolean };

/** Packs parallel arrays of keys and values (`count` long). */
export function packBatch(keys: PartitionKey[], values: unknown[], partial: boolean): PackedBatch {
  const count = keys.length;
  let numericValues = true;
  for (let i = 0; i < count; i++) {
    if (typeof values[i] !== 'number') {
      numericValues = false;
      break;
    }
  }
  if (numericValues) {
    let stringKeys = true;
    let numberKeys = true;
    for (let i = 0; i < count; i++) {
      const type = typeof keys[i];
      if (type !== 'string') stringKeys = false;
      if (type !== 'number') numberKeys = false;
    }
    if (stringKeys) {
      const joined = (keys as string[]).join('\n');
      // A key holding a newline would split in two: then the general form.
      if (count <= 1 || separators(joined) === count - 1) {
        return { kind: 'strings', count, keys: joined, values: new Float64Array(values as number[]), partial };
      }
    } else if (numberKeys) {
      return { kind: 'numbers', count, keys: Float64Array.from(keys as number[]), values: new Float64Array(values as number[]), partial };
    }
  }
  const data = serialize([keys, values]);
  // A buffer of its own, so moving it takes nothing else along (a pooled slice would).
  const own = data.byteOffset === 0 && data.buffer.byteLength === data.byteLength ? data : new Uint8Array(data);
  return { kind: 'v8', count, data: own, partial };
}

function separators(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) count++;
  return count;
}

/** A view that does not span its whole buffer, copied into one of its own (else returned as is). */
function owned<V extends Float64Array | Uint8Array>(view: V): V {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer
    ? view
    : (view.slice() as V);
}

/**
 * The batch with every view owning its whole buffer, so moving its buffers takes nothing else along:
 * a batch that came through a child process (its views deserialized into one shared buffer) is
 * copied; one packed in a worker thread is returned as is.
 */
export function ownedBatch(batch: PackedBatch): PackedBatch {
  if (batch.kind === 'strings') {
    const values = owned(batch.values);
    return values === batch.values ? batch : { ...batch, values };
  }
  if (batch.kind === 'numbers') {
    const keys = owned(batch.keys);
    const values = owned(batch.values);
    return keys === batch.keys && values === batch.values ? batch : { ...batch, keys, values };
  }
  const data = owned(batch.data);
  return data === batch.data ? batch : { ...batch, data };
}

/** The buffers of a packed batch, to transfer rather than copy. */
export function batchBuffers(batch: PackedBatch): ArrayBuffer[] {
  const views = batch.kind === 'strings' ? [batch.values] : batch.kind === 'numbers' ? [batch.keys, batch.values] : [batch.data];
  return views.map((view) => view.buffer).filter((buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer);
}

/** Calls `each(key, value)` for every pair of a packed batch, in order. */
export function unpackBatch(batch: PackedBatch, each: (key: PartitionKey, value: unknown) => void): void {
  if (batch.kind === 'strings') {
    const keys = batch.count === 0 ? [] : batch.keys.split('\n');
    const values = batch.values;
    for (let i = 0; i < batch.count; i++) each(keys[i]!, values[i]);
  } else if (batch.kind === 'numbers') {
    const { keys, values } = batch;
    for (let i = 0; i < batch.count; i++) each(keys[i]!, values[i]);
  } else {
    const [keys, values] = deserialize(batch.data) as [PartitionKey[], unknown[]];
    for (let i = 0; i < batch.count; i++) each(keys[i]!, values[i]);
  }
}
