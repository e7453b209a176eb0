/**
 * The map side of a keyed aggregation, a task module millrace runs in the pool's workers: it calls
 * the user's pairs task on an item, hashes each key to its partition, folds values of one key
 * together when a `combine` is given (the map-side combine), and returns one packed batch per
 * partition, marked so that its buffers move to the main thread without a copy.
 *
 * @packageDocumentation
 */
import type { TaskSpec } from '../backend.js';
import { loadedTask, resolveTask, type TaskFunction } from '../backends/worker-side/task-modules.js';
import { markTransfer } from '../transfer.js';
import { batchBuffers, packBatch, partitionOf, type PackedBatch, type PartitionKey } from './partitioning.js';

/** What the operator binds before the item: the user's tasks and the partition count. */
export interface MapSideSpec {
  readonly pairs: TaskSpec;
  /** Set to fold on the map side (with the fold task, then the owner combines partials). */
  readonly fold: TaskSpec | undefined;
  readonly initial: unknown;
  readonly partitions: number;
}

/** One item's pairs: a packed batch per partition (`null` where it has none). */
export interface ItemBatches {
  readonly batches: (PackedBatch | null)[];
}

/** The task's function, with its bound arguments in front (loaded once per worker). */
async function task(spec: TaskSpec): Promise<TaskFunction> {
  let fn = loadedTask(spec);
  if (fn === undefined) {
    const resolved = await resolveTask(spec);
    if ('loadError' in resolved) throw new Error(resolved.loadError.message);
    fn = resolved.fn;
  }
  const bound = spec.boundArgs;
  const call = fn;
  return bound.length === 0 ? call : (...args: unknown[]) => call(...bound, ...args);
}

function checkKey(key: unknown): asserts key is PartitionKey {
  if (typeof key !== 'string' && typeof key !== 'number') {
    throw new TypeError(`a key must be a string or a number (it is hashed to its owner in every thread), not ${typeof key}`);
  }
}

/**
 * Runs the pairs task on one item and packs its pairs by partition. Throws what the task throws,
 * so the engine names the item.
 */
export async function partitionItem(spec: MapSideSpec, item: unknown): Promise<ItemBatches> {
  const pairs = await task(spec.pairs);
  const P = spec.partitions;
  if (spec.fold === undefined) {
    const keys: PartitionKey[][] = Array.from({ length: P }, () => []);
    const values: unknown[][] = Array.from({ length: P }, () => []);
    const emit = (key: unknown, value: unknown): void => {
      checkKey(key);
      const p = partitionOf(key, P);
      keys[p]!.push(key);
      values[p]!.push(value);
    };
    let returned = pairs(item, emit);
    if (isThenable(returned)) returned = await returned;
    if (returned !== undefined) for (const [key, value] of returned as Iterable<readonly [unknown, unknown]>) emit(key, value);
    return pack(keys.map((k, p) => (k.length === 0 ? null : packBatch(k, values[p]!, false))));
  }
  const fold = await task(spec.fold);
  const initial = spec.initial;
  const fresh = initial !== null && typeof initial === 'object';
  const partials: Map<PartitionKey, unknown>[] = Array.from({ length: P }, () => new Map<PartitionKey, unknown>());
  const emit = (key: unknown, value: unknown): void => {
    checkKey(key);
    const partial = partials[partitionOf(key, P)]!;
    let accumulator = partial.get(key);
    if (accumulator === undefined && !partial.has(key)) accumulator = fresh ? structuredClone(initial) : initial;
    partial.set(key, fold(accumulator, value));
  };
  let returned = pairs(item, emit);
  if (isThenable(returned)) returned = await returned;
  if (returned !== undefined) for (const [key, value] of returned as Iterable<readonly [unknown, unknown]>) emit(key, value);
  return pack(partials.map((partial) => (partial.size === 0 ? null : packBatch([...partial.keys()], [...partial.values()], true))));
}

function pack(batches: (PackedBatch | null)[]): ItemBatches {
  const buffers = batches.flatMap((batch) => (batch === null ? [] : batchBuffers(batch)));
  return markTransfer({ batches }, buffers);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
