/**
 * The map side of a keyed aggregation, a task module millrace runs in the pool's workers: it calls
 * the user's pairs task on an item, hashes each key (the hash picks its partition and travels with
 * it, so the owner does not hash again), folds values of one key together when a `combine` is given
 * (the map-side combine), and returns packed batches per partition, marked so that their buffers
 * move to the main thread without a copy.
 *
 * @packageDocumentation
 */
import type { TaskSpec } from '../backend.js';
import { loadedTask, resolveTask, type TaskFunction } from '../backends/worker-side/task-modules.js';
import { markTransfer } from '../transfer.js';
import { NumberKeyTable } from './key-table.js';
import { BatchBuilder, batchBuffers, releaseBatch, type PackedBatch } from './packed-batch.js';
import { hashKey, partitionOfHash, type PartitionKey } from './partitioning.js';

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

/** Pairs per packed batch: an owner acknowledges a message of them at a time. */
const BATCH_PAIRS = 8192;
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
 * Runs the pairs task on one item and packs its pairs by partition, each key with its hash. Throws
 * what the task throws, so the engine names the item. With a fold, the pairs are folded by key
 * first; under `'auto'` only while it pays: one item in {@link SAMPLE_EVERY} is folded, and when
 * its keys were mostly distinct (more than half), the next items are sent unfolded (the owners fold
 * them as values).
 */
export async function partitionItem(spec: MapSideSpec, item: unknown): Promise<ItemBatches> {
  const pairs = await task(spec.pairs);
  let foldHere = spec.fold !== undefined;
  let state: { items: number; fold: boolean } | undefined;
  if (foldHere && spec.mapSideCombine === 'auto') {
    const id = `${spec.pairs.moduleUrl}#${spec.pairs.exportName}`;
    state = adaptive.get(id);
    if (state === undefined) adaptive.set(id, (state = { items: 0, fold: true }));
    foldHere = state.items++ % SAMPLE_EVERY === 0 || state.fold;
  }
  const out = new PartitionBatches(spec.partitions, foldHere);
  let emit: (key: unknown, value: unknown) => void;
  let finish: () => void;
  if (!foldHere) {
    emit = (key, value) => {
      checkKey(key);
      out.addKey(hashKey(key), key, value);
    };
    finish = () => undefined;
  } else {
    const combiner = new ItemCombiner(await task(spec.fold!), spec.initial);
    emit = (key, value) => {
      checkKey(key);
      combiner.add(key, value);
    };
    finish = () => {
      if (state !== undefined && combiner.pairs > 0) state.fold = combiner.keys <= combiner.pairs / 2;
      combiner.flushTo(out);
    };
  }
  try {
    let returned = pairs(item, emit);
    if (isThenable(returned)) returned = await returned;
    if (returned !== undefined) for (const [key, value] of returned as Iterable<readonly [unknown, unknown]>) emit(key, value);
    finish();
  } catch (error) {
    // The item fails (and may run again): the batches it packed so far go nowhere, their slabs back to the pool.
    out.abandon();
    throw error;
  }
  const batches = out.finish();
  const buffers = batches.flatMap((list) => list.flatMap(batchBuffers));
  return markTransfer({ batches }, buffers);
}

/**
 * Tables of finished items, for the next item's combine (their arrays already grown); kept for the
 * worker's life, so few (a worker runs one item at a time unless `concurrency` says otherwise).
 */
const spareTables: NumberKeyTable[] = [];
const MAX_SPARE_TABLES = 2;

/**
 * One item's pairs folded by key: in a {@link NumberKeyTable} while the accumulators are numbers
 * (no string or boxed number per key), in a `Map` otherwise (from the start when `initial` is not
 * a number, or from the first fold that gives something else).
 */
class ItemCombiner {
  readonly #fold: TaskFunction;
  readonly #initial: unknown;
  readonly #fresh: boolean;
  #table: NumberKeyTable | undefined;
  #map: Map<PartitionKey, unknown> | undefined;
  /** Pairs folded. */
  pairs = 0;

  constructor(fold: TaskFunction, initial: unknown) {
    this.#fold = fold;
    this.#initial = initial;
    this.#fresh = initial !== null && typeof initial === 'object';
    if (typeof initial === 'number') {
      this.#table = spareTables.pop() ?? new NumberKeyTable();
      this.#table.clear();
    } else {
      this.#map = new Map();
    }
  }

  /** Distinct keys folded. */
  get keys(): number {
    return this.#table?.size ?? this.#map!.size;
  }

  add(key: PartitionKey, value: unknown): void {
    this.pairs++;
    const table = this.#table;
    if (table !== undefined) {
      const entry = table.entryOfOwnHash(key, this.#initial as number);
      const next: unknown = this.#fold(table.accumulator(entry), value);
      if (typeof next === 'number') {
        table.setAccumulator(entry, next);
        return;
      }
      // The fold gave something else: a Map from here on (what was folded so far comes along).
      this.#map = table.toMap();
      this.#map.set(key, next);
      this.#release();
      return;
    }
    const map = this.#map!;
    let accumulator = map.get(key);
    if (accumulator === undefined && !map.has(key)) accumulator = this.#fresh ? structuredClone(this.#initial) : this.#initial;
    map.set(key, this.#fold(accumulator, value));
  }

  /** Hands every key's accumulator to its partition (each distinct key hashed once). */
  flushTo(out: PartitionBatches): void {
    const table = this.#table;
    if (table !== undefined) {
      table.forEachEntry((entry, hash) => out.addEntry(hash, table, entry, table.accumulator(entry)));
      this.#release();
    } else {
      for (const [key, accumulator] of this.#map!) out.addKey(hashKey(key), key, accumulator);
    }
  }

  #release(): void {
    if (this.#table !== undefined && spareTables.length < MAX_SPARE_TABLES) spareTables.push(this.#table);
    this.#table = undefined;
  }
}

/**
 * Builders of finished items, reused by the next: a builder's arrays live as long as an item takes,
 * long enough to be promoted, and a worker's old generation is collected rarely, so a builder per
 * item held tens of MB of dead buffers per worker.
 */
const spareBuilders: BatchBuilder[] = [];
const MAX_SPARE_BUILDERS = 16;

/**
 * Each partition's pairs, packed {@link BATCH_PAIRS} at a time; `folded`: the values are
 * accumulators, not raw values.
 */
class PartitionBatches {
  readonly #partitions: number;
  readonly #folded: boolean;
  readonly #builders: BatchBuilder[];
  readonly #batches: PackedBatch[][];

  constructor(partitions: number, folded: boolean) {
    this.#partitions = partitions;
    this.#folded = folded;
    this.#builders = Array.from({ length: partitions }, () => spareBuilders.pop() ?? new BatchBuilder());
    this.#batches = Array.from({ length: partitions }, () => []);
  }

  addKey(hash: number, key: PartitionKey, value: unknown): void {
    const p = partitionOfHash(hash, this.#partitions);
    const builder = this.#builders[p]!;
    builder.addKey(hash, key, value);
    if (builder.count === BATCH_PAIRS) this.#batches[p]!.push(builder.take(this.#folded));
  }

  addEntry(hash: number, table: NumberKeyTable, entry: number, value: unknown): void {
    const p = partitionOfHash(hash, this.#partitions);
    const builder = this.#builders[p]!;
    builder.addEntry(hash, table, entry, value);
    if (builder.count === BATCH_PAIRS) this.#batches[p]!.push(builder.take(this.#folded));
  }

  /** Releases the slabs of the batches packed so far (the item failed: they will not travel). */
  abandon(): void {
    for (const list of this.#batches) for (const batch of list) releaseBatch(batch);
  }

  /** Every partition's batches, the last partly filled ones included; the builders go back to the spares. */
  finish(): PackedBatch[][] {
    this.#builders.forEach((builder, p) => {
      if (builder.count > 0) this.#batches[p]!.push(builder.take(this.#folded));
      if (spareBuilders.length < MAX_SPARE_BUILDERS) spareBuilders.push(builder);
    });
    return this.#batches;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
