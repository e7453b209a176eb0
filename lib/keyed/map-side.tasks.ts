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
  /** The fold, to fold each item's pairs by key before they travel (then the owners combine partials). */
  readonly fold: TaskSpec | undefined;
  readonly initial: unknown;
  readonly partitions: number;
  /** Fold on the map side always (`true`), or while it pays (`'auto'`: see {@link partitionItem}). */
  readonly mapSideCombine: true | 'auto';
}

/** One item's pairs: packed batches per partition (an empty list where it has none). */
export interface ItemBatches {
  readonly batches: PackedBatch[][];
}

/** Pairs per packed batch: short-lived arrays, so the pairs of a big item do not outlive a scavenge. */
const BATCH_PAIRS = 4096;
/** Under `'auto'`, one item in this many is folded to measure whether folding pays. */
const SAMPLE_EVERY = 16;

/** Under `'auto'`, per pairs task: items seen, and whether the last sample said folding pays. */
const adaptive = new Map<string, { items: number; fold: boolean }>();

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
 * so the engine names the item. With a fold, the pairs are folded by key first; under `'auto'` only
 * while it pays: one item in {@link SAMPLE_EVERY} is folded, and when its keys were mostly distinct
 * (more than half), the next items are sent unfolded (the owners fold them as values).
 */
export async function partitionItem(spec: MapSideSpec, item: unknown): Promise<ItemBatches> {
  const pairs = await task(spec.pairs);
  const P = spec.partitions;
  let foldHere = spec.fold !== undefined;
  let state: { items: number; fold: boolean } | undefined;
  if (foldHere && spec.mapSideCombine === 'auto') {
    const id = `${spec.pairs.moduleUrl}#${spec.pairs.exportName}`;
    state = adaptive.get(id);
    if (state === undefined) adaptive.set(id, (state = { items: 0, fold: true }));
    foldHere = state.items++ % SAMPLE_EVERY === 0 || state.fold;
  }
  const batches: PackedBatch[][] = Array.from({ length: P }, () => []);
  let emit: (key: unknown, value: unknown) => void;
  let finish: () => void;
  let emitted = 0;
  if (!foldHere) {
    const pending = new PartitionBatches(batches, false);
    emit = (key, value) => {
      checkKey(key);
      pending.add(partitionOf(key, P), key, value);
    };
    finish = () => pending.flush();
  } else {
    const fold = await task(spec.fold!);
    const initial = spec.initial;
    const fresh = initial !== null && typeof initial === 'object';
    // One Map for the item; each distinct key is hashed to its partition once, at the end.
    const partial = new Map<PartitionKey, unknown>();
    emit = (key, value) => {
      checkKey(key);
      emitted++;
      let accumulator = partial.get(key);
      if (accumulator === undefined && !partial.has(key)) accumulator = fresh ? structuredClone(initial) : initial;
      partial.set(key, fold(accumulator, value));
    };
    finish = () => {
      const pending = new PartitionBatches(batches, true);
      for (const [key, accumulator] of partial) pending.add(partitionOf(key, P), key, accumulator);
      pending.flush();
      if (state !== undefined && emitted > 0) state.fold = partial.size <= emitted / 2;
    };
  }
  let returned = pairs(item, emit);
  if (isThenable(returned)) returned = await returned;
  if (returned !== undefined) for (const [key, value] of returned as Iterable<readonly [unknown, unknown]>) emit(key, value);
  finish();
  const buffers = batches.flatMap((list) => list.flatMap(batchBuffers));
  return markTransfer({ batches }, buffers);
}

/**
 * Each partition's pairs, packed {@link BATCH_PAIRS} at a time into `batches[p]` (so a big item's
 * pair arrays die young); `folded`: the values are accumulators, not raw values.
 */
class PartitionBatches {
  readonly #batches: PackedBatch[][];
  readonly #folded: boolean;
  readonly #keys: PartitionKey[][];
  readonly #values: unknown[][];

  constructor(batches: PackedBatch[][], folded: boolean) {
    this.#batches = batches;
    this.#folded = folded;
    this.#keys = Array.from({ length: batches.length }, () => []);
    this.#values = Array.from({ length: batches.length }, () => []);
  }

  add(p: number, key: PartitionKey, value: unknown): void {
    const keys = this.#keys[p]!;
    keys.push(key);
    this.#values[p]!.push(value);
    if (keys.length === BATCH_PAIRS) this.#pack(p);
  }

  /** Packs what is left of every partition. */
  flush(): void {
    for (let p = 0; p < this.#keys.length; p++) if (this.#keys[p]!.length > 0) this.#pack(p);
  }

  #pack(p: number): void {
    this.#batches[p]!.push(packBatch(this.#keys[p]!, this.#values[p]!, this.#folded));
    this.#keys[p] = [];
    this.#values[p] = [];
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
