/**
 * A partition owner: the thread that holds the keys of one hash partition of a keyed aggregation.
 * It folds the values (or combines the map side's partials) of its keys: into a
 * {@link NumberKeyTable} while the accumulators are numbers (keys found by the hash the map side
 * sent and their code units: no string built, nothing allocated per pair), else into a `Map` (keys
 * decoded). When its estimated size passes the memory budget it writes its keys as a sorted run to
 * disk and starts again (with `combine` only), and at the end it streams `[key, accumulator]`
 * batches out, merging the runs and the rest in memory (an external aggregation, as Spark's
 * `ExternalAppendOnlyMap`).
 * Runs only in an owner thread (started by owners.ts through owner-entry.mjs).
 *
 * @packageDocumentation
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, getHeapStatistics, serialize } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { resolveTask, useAliases, type TaskFunction } from '../backends/worker-side/task-modules.js';
import { serializeError } from '../backends/worker-side/serialize-error.js';
import type { TaskSpec } from '../backend.js';
import type { FromOwner, OwnerData, OwnerProblem, ToOwner } from './owner-protocol.js';
import { NumberKeyTable } from './key-table.js';
import { decodeKey } from './key-units.js';
import { batchValues, releaseBatch, resultBuffers, type PackedBatch } from './packed-batch.js';
import { compareKeys, type PartitionKey } from './partitioning.js';

/** What one entry of the map costs beyond its key's characters: the table slot, the key string's header, a boxed number. */
const ENTRY_BYTES = 96;
/** Pairs per frame of a spilled run. */
const FRAME = 4096;

class OwnerFailure extends Error {
  constructor(
    readonly problem: OwnerProblem,
    message: string,
    readonly key: PartitionKey | undefined,
    readonly error: unknown,
  ) {
    super(message);
  }
}

const data = workerData as OwnerData;
const port = parentPort!;
useAliases(data.aliases);

/** The keyed state while every accumulator is a number (from a number `initial`); else undefined. */
let table: NumberKeyTable | undefined = typeof data.initial === 'number' ? new NumberKeyTable(1 << 16) : undefined;
/** The keyed state otherwise (and once a fold gave something else than a number). */
let state = new Map<PartitionKey, unknown>();
/** The map's estimated size. */
let bytes = 0;
const budget = data.budgetBytes > 0 ? data.budgetBytes : Math.floor(getHeapStatistics().heap_size_limit / 4);
const runs: string[] = [];
const freshInitial = data.initial !== null && typeof data.initial === 'object';
const accumulatorBytes = typeof data.initial === 'number' ? 0 : freshInitial ? 2 * serialize(data.initial).length + 64 : 16;
let fold: TaskFunction | undefined;
let combine: TaskFunction | undefined;
/** The key being folded, for the error when a task throws (or where to read it: {@link keyBeingFolded}). */
let current: PartitionKey | undefined;
let currentBatch: PackedBatch | undefined;
let currentIndex = 0;
let results: Iterator<[PartitionKey, unknown]> | undefined;
let failed = false;

function send(message: FromOwner): void {
  port.postMessage(message);
}

async function load(spec: TaskSpec): Promise<TaskFunction> {
  const resolved = await resolveTask(spec);
  if ('loadError' in resolved) throw new OwnerFailure('task-failed', resolved.loadError.message, undefined, resolved.loadError.cause);
  const { fn } = resolved;
  const bound = spec.boundArgs;
  return bound.length === 0 ? fn : (...args: unknown[]) => fn(...bound, ...args);
}

function addValue(key: PartitionKey, value: unknown): void {
  current = key;
  let accumulator = state.get(key);
  if (accumulator === undefined && !state.has(key)) {
    accumulator = freshInitial ? structuredClone(data.initial) : data.initial;
    grow(key);
  }
  state.set(key, fold!(accumulator, value));
  if (bytes > budget) spill();
}

function addPartial(key: PartitionKey, partial: unknown): void {
  current = key;
  const accumulator = state.get(key);
  if (accumulator === undefined && !state.has(key)) {
    state.set(key, partial);
    grow(key);
    if (bytes > budget) spill();
  } else {
    state.set(key, combine!(accumulator, partial));
  }
}

function grow(key: PartitionKey): void {
  bytes += ENTRY_BYTES + accumulatorBytes + (typeof key === 'string' ? 2 * key.length : 0);
}

/** The key at `index` of a batch. */
function keyOf(batch: PackedBatch, index: number): PartitionKey {
  return decodeKey(batch.units, index === 0 ? 0 : batch.ends[index - 1]!, batch.ends[index]!, batch.numberKeys?.[index] === 1);
}

/** The key being folded when a task threw (decoded only then). */
function keyBeingFolded(): PartitionKey | undefined {
  return current ?? (currentBatch === undefined ? undefined : keyOf(currentBatch, currentIndex));
}

function foldIn(batches: readonly PackedBatch[]): void {
  for (const batch of batches) {
    const values = batchValues(batch);
    const start = table === undefined ? 0 : foldIntoTable(batch, values);
    if (start < batch.count) {
      const add = batch.partial ? addPartial : addValue;
      for (let i = start; i < batch.count; i++) add(keyOf(batch, i), values[i]);
    }
    // Folded (keys copied or decoded, values read): its worker may pack another batch there.
    releaseBatch(batch);
  }
  current = undefined;
  currentBatch = undefined;
}

/**
 * Folds a batch into the table; returns how many pairs it took: all, or those before the one whose
 * fold or combine gave something else than a number (the table is a `Map` from there on).
 */
function foldIntoTable(batch: PackedBatch, values: Float64Array | unknown[]): number {
  const { hashes, ends, units, numberKeys, partial } = batch;
  const initial = data.initial as number;
  currentBatch = batch;
  let start = 0;
  for (let i = 0; i < batch.count; i++) {
    const end = ends[i]!;
    currentIndex = i;
    const t = table!;
    const entry = t.entryOfUnits(hashes[i]!, units, start, end, numberKeys?.[i] === 1, initial);
    start = end;
    const value = values[i];
    const next: unknown = partial ? (t.added ? value : combine!(t.accumulator(entry), value)) : fold!(t.accumulator(entry), value);
    if (typeof next !== 'number') {
      // Exact either way: the keys so far move to a Map, this one with what its fold gave.
      state = t.toMap();
      state.set(t.keyAt(entry), next);
      bytes = 0;
      for (const key of state.keys()) grow(key);
      table = undefined;
      if (bytes > budget) spill();
      return i + 1;
    }
    t.setAccumulator(entry, next);
    if (t.added && t.bytes > budget) spill();
  }
  return batch.count;
}

/**
 * Writes the keyed state as a sorted run (length-prefixed frames of `v8.serialize([keys, accumulators])`)
 * and empties it.
 */
function spill(): void {
  if (combine === undefined) {
    throw new OwnerFailure(
      'memory-budget',
      `partition ${data.partition} holds ${table?.size ?? state.size} keys, past its memory budget of ${Math.round(budget / 2 ** 20)} MB; ` +
        'give `combine` so it can spill sorted runs to disk, or raise `memoryBudgetMb`',
      undefined,
      undefined,
    );
  }
  const path = join(data.spillDir, `partition-${data.partition}-run-${runs.length}.bin`);
  try {
    const fd = openSync(path, 'w');
    try {
      const run = memoryRun();
      while (run.key !== undefined) {
        const frameKeys: PartitionKey[] = [];
        const frameValues: unknown[] = [];
        do {
          frameKeys.push(run.key);
          frameValues.push(run.value);
        } while (run.advance() && frameKeys.length < FRAME);
        const body = serialize([frameKeys, frameValues]);
        const header = Buffer.alloc(4);
        header.writeUInt32LE(body.length);
        writeSync(fd, header);
        writeSync(fd, body);
      }
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new OwnerFailure('spill-failed', `partition ${data.partition} could not write ${path}`, undefined, error);
  }
  runs.push(path);
  table?.clear();
  state.clear();
  bytes = 0;
}

/** A sorted sequence of pairs: a spilled run read frame by frame, or the sorted rest in memory. */
interface Run {
  key: PartitionKey | undefined;
  value: unknown;
  /** Moves to the next pair; false when the run has no more. */
  advance(): boolean;
}

function fileRun(path: string): Run {
  const fd = openSync(path, 'r');
  const header = Buffer.alloc(4);
  let keys: PartitionKey[] = [];
  let values: unknown[] = [];
  let at = 0;
  const run: Run = {
    key: undefined,
    value: undefined,
    advance() {
      if (at >= keys.length) {
        if (readSync(fd, header, 0, 4, null) < 4) {
          closeSync(fd);
          run.key = undefined;
          return false;
        }
        const body = Buffer.alloc(header.readUInt32LE(0));
        let read = 0;
        while (read < body.length) read += readSync(fd, body, read, body.length - read, null);
        [keys, values] = deserialize(body) as [PartitionKey[], unknown[]];
        at = 0;
      }
      run.key = keys[at];
      run.value = values[at];
      at++;
      return true;
    },
  };
  run.advance();
  return run;
}

/** The keyed state in memory, in key order. */
function memoryRun(): Run {
  if (table !== undefined) {
    const t = table;
    const order = t.sortedEntries();
    let at = 0;
    const run: Run = {
      key: undefined,
      value: undefined,
      advance() {
        if (at >= order.length) {
          run.key = undefined;
          return false;
        }
        const entry = order[at++]!;
        run.key = t.keyAt(entry);
        run.value = t.accumulator(entry);
        return true;
      },
    };
    run.advance();
    return run;
  }
  const keys = [...state.keys()].sort(compareKeys);
  let at = 0;
  const run: Run = {
    key: undefined,
    value: undefined,
    advance() {
      run.key = keys[at];
      run.value = run.key === undefined ? undefined : state.get(run.key);
      at++;
      return run.key !== undefined;
    },
  };
  run.advance();
  return run;
}

/** The runs merged in key order, equal keys combined. */
function* merged(): Generator<[PartitionKey, unknown]> {
  const open = [...runs.map(fileRun), memoryRun()].filter((run) => run.key !== undefined);
  while (open.length > 0) {
    let smallest = open[0]!.key!;
    for (let i = 1; i < open.length; i++) if (compareKeys(open[i]!.key!, smallest) < 0) smallest = open[i]!.key!;
    let accumulator: unknown;
    let first = true;
    for (let i = 0; i < open.length; i++) {
      const run = open[i]!;
      if (run.key !== smallest) continue;
      current = smallest;
      accumulator = first ? run.value : combine!(accumulator, run.value);
      first = false;
      if (!run.advance()) open.splice(i--, 1);
    }
    current = undefined;
    yield [smallest, accumulator];
  }
}

/** How far {@link nextResults} has sent a table's entries (when it did not spill). */
let sentEntries = 0;

function nextResults(): void {
  if (runs.length === 0 && table !== undefined) {
    const to = Math.min(table.size, sentEntries + data.batchSize);
    const packed = table.packResults(sentEntries, to);
    sentEntries = to;
    port.postMessage(
      { type: 'results', keys: [], accumulators: [], packed, done: to === table.size } satisfies FromOwner,
      resultBuffers(packed),
    );
    return;
  }
  results ??= runs.length > 0 ? merged() : state.entries();
  const keys: PartitionKey[] = [];
  const accumulators: unknown[] = [];
  let done = false;
  while (keys.length < data.batchSize) {
    const next = results.next();
    if (next.done === true) {
      done = true;
      break;
    }
    keys.push(next.value[0]);
    accumulators.push(next.value[1]);
  }
  send({ type: 'results', keys, accumulators, packed: undefined, done });
}

async function handle(message: ToOwner): Promise<void> {
  switch (message.type) {
    case 'batches':
      fold ??= await load(data.fold);
      if (data.combine !== undefined) combine ??= await load(data.combine);
      foldIn(message.batches);
      send({ type: 'ack' });
      break;
    case 'end':
      send({ type: 'ready', keys: table?.size ?? state.size, runs: runs.length });
      break;
    case 'pull':
      nextResults();
      break;
  }
}

function fail(error: unknown): void {
  failed = true;
  if (error instanceof OwnerFailure) {
    send({
      type: 'failed',
      problem: error.problem,
      message: error.message,
      ...(error.key === undefined ? {} : { key: error.key }),
      ...(error.error === undefined ? {} : { error: serializeError(error.error) }),
    });
  } else {
    const key = keyBeingFolded();
    send({
      type: 'failed',
      problem: 'task-failed',
      message: `a task threw while folding key ${JSON.stringify(key)} in partition ${data.partition}`,
      ...(key === undefined ? {} : { key }),
      error: serializeError(error),
    });
  }
}

// One message at a time, in order (only the first batch awaits: it loads the tasks).
let queue = Promise.resolve();
port.on('message', (message: ToOwner) => {
  queue = queue.then(async () => {
    if (failed) return;
    try {
      await handle(message);
    } catch (error) {
      fail(error);
    }
  });
});
