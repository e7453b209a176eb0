/**
 * @packageDocumentation
 * `aggregateByKey`: fold `[key, value]` pairs made in the workers by key, the keyed state held by one
 * owner thread per hash partition, spilled to disk past a memory budget (Spark's `reduceByKey`).
 */
import { tmpdir } from 'node:os';
import type { WorkerPoolOptions } from '../lib/backends/worker-pool-options.js';
import { dispatch } from '../lib/engine/dispatch.js';
import { checkParallelOptions, type DispatchSpec, type ParallelOptions } from '../lib/engine/options.js';
import { checkInteger, InvalidOptionError } from '../lib/errors.js';
import type { KeyedAggregation } from '../lib/keyed/aggregations.js';
import type { ItemBatches } from '../lib/keyed/map-side.tasks.js';
import { PartitionOwners } from '../lib/keyed/owners.js';
import type { PackedBatch } from '../lib/keyed/packed-batch.js';
import { SlabLedger } from '../lib/keyed/slabs.js';
import { batchedOutput } from '../lib/keyed/batched-output.js';
import { defineOperator, type Operator, type OperatorContext } from '../lib/operator.js';
import { sharedPool } from '../lib/pool.js';
import { bind, taskName, taskSpec, tasks, type TaskRef } from '../lib/tasks.js';

/**
 * How a pairs task hands out its `[key, value]` pairs: call it once per pair (no array per pair).
 *
 * @typeParam K - the keys: strings or numbers
 * @typeParam V - the values
 * @example
 * ```ts
 * import type { KeyedEmit } from 'millrace';
 * export function wordPairs(line: string, emit: KeyedEmit<string, number>): void {
 *   for (const word of line.split(' ')) if (word !== '') emit(word, 1);
 * }
 * ```
 * @category Aggregation
 */
export type KeyedEmit<K extends string | number, V> = (key: K, value: V) => void;

/**
 * Options for {@link aggregateByKey}: its own, and those of every worker step ({@link ParallelOptions},
 * for the map side; `checkpoint` is not supported).
 *
 * @example
 * ```ts
 * import { tasks, type AggregateByKeyOptions } from 'millrace';
 * const words = tasks<typeof import('./words.tasks.js')>(new URL('./words.tasks.js', import.meta.url));
 * const options: AggregateByKeyOptions<number> = { combine: words.add, partitions: 2, memoryBudgetMb: 64 };
 * ```
 * @category Aggregation
 */
export interface AggregateByKeyOptions<A, In = unknown> extends Omit<ParallelOptions<In>, 'checkpoint'> {
  /**
   * Merges two partial accumulators of one key: lets the workers fold their pairs by key before they
   * travel (the map-side combine), and the owners spill sorted runs to disk past `memoryBudgetMb`
   * and merge them at the end. A task reference, synchronous.
   * @defaultValue none: values travel one by one, and a partition past its budget fails the flow
   */
  readonly combine?: TaskRef<[A, A], A> | undefined;
  /**
   * How many partitions the keys are hashed into, each held by an owner thread of its own.
   * @defaultValue half the pool's thread count, rounded up, when `initial` is a number (an owner's
   *   typed table folds a pair in less time than a worker makes one, and fewer threads contend for
   *   the cores); the pool's thread count otherwise
   */
  readonly partitions?: number | undefined;
  /**
   * The estimated size (keys and accumulators) in MB past which an owner spills its partition to
   * disk as a sorted run (with `combine`) or fails the flow (without).
   * @defaultValue a quarter of the owner thread's heap limit (`ownerResourceLimits.maxOldGenerationSizeMb`, or V8's default)
   */
  readonly memoryBudgetMb?: number | undefined;
  /**
   * Where spilled runs go: a fresh directory under it per run, removed when the flow ends (done,
   * failed, aborted or left with `break`).
   * @defaultValue `os.tmpdir()`
   */
  readonly tempDir?: string | undefined;
  /**
   * Heap limits of each owner thread (as the pool's `resourceLimits`).
   * @defaultValue Node's defaults
   */
  readonly ownerResourceLimits?: WorkerPoolOptions['resourceLimits'] | undefined;
  /**
   * Fold each item's pairs by key in the worker before they travel, when `combine` is given: it
   * saves the owners' work and the transfer when keys repeat within an item, and costs the workers
   * a `Map` per item when they do not. `true` always folds, `false` never does.
   * @defaultValue adaptive: one item in 16 is folded, and the items after it are folded only when
   *   its keys repeated (at most half as many keys as pairs)
   */
  readonly mapSideCombine?: boolean | undefined;
}

/** Batches of packed pairs each owner may have waiting before the main thread stops pulling work. */
const QUEUED_PER_OWNER = 2;

const mapSide = tasks<typeof import('../lib/keyed/map-side.tasks.js')>(new URL('../lib/keyed/map-side.tasks.js', import.meta.url));

/**
 * Folds the `[key, value]` pairs a task makes of each item (a block of lines, a file, a record) by
 * key, with the keyed state spread over owner threads, one per hash partition, and emits one
 * `[key, accumulator]` pair per key when the input ends (Spark's `reduceByKey`, dask.bag's `foldby`).
 *
 * The pairs task runs in the pool's workers (with the retries, timeouts, abort and errors of every
 * worker step); each key is hashed to its partition there, its pairs folded together first when
 * `combine` is given, and each partition's pairs travel packed (keys as code units with their hash)
 * to the owner of that partition: the main thread never holds per-key state. With a number
 * `initial` the owners hold their keys in typed arrays rather than a `Map` (no string per pair). Past `memoryBudgetMb` an owner spills
 * its keys to disk as a sorted run and merges the runs at the end, so the number of keys is not
 * bounded by memory. The results stream out owner by owner (in each owner's first-seen order, or in
 * key order when it spilled): sort them, or pipe them to {@link topK}, for a set order.
 *
 * Keys are strings or numbers (they must hash the same in every thread). Fold and combine are
 * synchronous task references, and must not depend on the order values come in (they come in as
 * workers finish).
 *
 * @param pairs - a task given an item and an `emit(key, value)` ({@link KeyedEmit}) that it calls per
 *   pair, or that returns its pairs (an iterable of `[key, value]`)
 * @param fold - a task `(accumulator, value) => accumulator`
 * @param initial - the first accumulator of each key (structured-cloned per key when an object)
 * @param options - `combine`, `partitions`, `memoryBudgetMb` and the worker options; see {@link AggregateByKeyOptions}
 * @returns an {@link Operator} emitting one `[key, accumulator]` pair per key
 * @throws {@link InvalidOptionError} for bad options or an `initial` that cannot be structured-cloned,
 *   when called; the flow fails with
 *   {@link TaskError} (naming the item) when the pairs task throws, as every worker step does, and
 *   with {@link PartitionOwnerError} when an owner fails (a fold throws, its partition passes the
 *   budget without `combine`) or dies
 * @example
 * ```ts
 * import { aggregateByKey, flow, tasks } from 'millrace';
 * // words.tasks.ts: `wordPairs(line, emit)` emits (word, 1) per word; `count(n, one)` and `add(a, b)` add.
 * const words = tasks<typeof import('./words.tasks.js')>(new URL('./words.tasks.js', import.meta.url));
 * const counts = await flow(['to be', 'or not to be'])
 *   .pipe(aggregateByKey(words.wordPairs, words.add, 0, { combine: words.add }))
 *   .toArray();
 * console.log(counts.sort()); // [['be', 2], ['not', 1], ['or', 1], ['to', 2]]
 * ```
 * @category Aggregation
 * @see {@link aggregations} for ready-made count, sum, min, max and mean; {@link reduceBy} for any key
 */
export function aggregateByKey<In, K extends string | number, V, A>(
  // A pairs task that only emits returns void.
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type
  pairs: TaskRef<[In, KeyedEmit<K, V>], void | Iterable<readonly [K, V]>>,
  fold: TaskRef<[A, V], A>,
  initial: A,
  options?: AggregateByKeyOptions<A, In>,
): Operator<In, [K, A]>;
/**
 * {@link aggregateByKey} with a ready-made aggregation ({@link aggregations}) or one of your own
 * ({@link KeyedAggregation}): its fold, combine and initial accumulator.
 *
 * @param pairs - a task given an item and an `emit(key, value)` that it calls per pair, or that returns its pairs
 * @param aggregation - the fold, combine and initial accumulator
 * @param options - `partitions`, `memoryBudgetMb` and the worker options; see {@link AggregateByKeyOptions}
 * @returns an {@link Operator} emitting one `[key, accumulator]` pair per key
 * @throws {@link InvalidOptionError} for bad options
 */
export function aggregateByKey<In, K extends string | number, V, A>(
  // A pairs task that only emits returns void.
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type
  pairs: TaskRef<[In, KeyedEmit<K, V>], void | Iterable<readonly [K, V]>>,
  aggregation: KeyedAggregation<V, A>,
  options?: Omit<AggregateByKeyOptions<A, In>, 'combine'>,
): Operator<In, [K, A]>;
export function aggregateByKey<In, K extends string | number, V, A>(
  pairs: TaskRef<[In, KeyedEmit<K, V>], unknown>,
  foldOrAggregation: TaskRef<[A, V], A> | KeyedAggregation<V, A>,
  initialOrOptions?: A | Omit<AggregateByKeyOptions<A, In>, 'combine'>,
  maybeOptions: AggregateByKeyOptions<A, In> = {},
): Operator<In, [K, A]> {
  let fold: TaskRef<[A, V], A>;
  let initial: A;
  let options: AggregateByKeyOptions<A, In>;
  if ('fold' in foldOrAggregation && 'combine' in foldOrAggregation) {
    fold = foldOrAggregation.fold;
    initial = foldOrAggregation.initial;
    options = { ...((initialOrOptions ?? {}) as AggregateByKeyOptions<A, In>), combine: foldOrAggregation.combine };
  } else {
    fold = foldOrAggregation;
    initial = initialOrOptions as A;
    options = maybeOptions;
  }
  const { combine, partitions, memoryBudgetMb, tempDir, ownerResourceLimits, mapSideCombine, ...parallel } = options;
  if ((parallel as ParallelOptions).checkpoint !== undefined) {
    throw new InvalidOptionError('checkpoint', (parallel as ParallelOptions).checkpoint, 'none: aggregateByKey does not record its inputs');
  }
  checkParallelOptions(parallel);
  checkInteger('partitions', partitions, 1, 1024);
  if (memoryBudgetMb !== undefined && !(memoryBudgetMb > 0 && Number.isFinite(memoryBudgetMb))) {
    throw new InvalidOptionError('memoryBudgetMb', memoryBudgetMb, 'a positive number of MB');
  }
  try {
    // It goes to every owner thread (and to the workers when they fold): a value that cannot be sent fails here.
    structuredClone(initial);
  } catch {
    throw new InvalidOptionError('initial', initial, 'a structured-cloneable value (it is sent to the owner threads)');
  }
  const name = `${taskName(pairs)} + ${taskName(fold)}${combine === undefined ? '' : ` + ${taskName(combine)}`}`;
  const pairsName = taskName(pairs);
  return defineOperator<In, [K, A]>('aggregateByKey', (source, context) => batchedOutput(run(source, context)));
  /** The work, yielding the results an owner's message at a time (handed on a batch at a time). */
  async function* run(source: AsyncIterable<In>, context: OperatorContext): AsyncGenerator<[K, A][], void, undefined> {
    const pool = parallel.pool ?? sharedPool();
    if (pool.backend.remote === true) {
      // The owners are threads of this process, and the map side's packed batches are moved buffers.
      throw new InvalidOptionError(
        'pool',
        pool.backend.constructor.name,
        'a local pool (threads or child processes): the partition owners live on this machine',
      );
    }
    const P = partitions ?? (typeof initial === 'number' ? Math.ceil(pool.threads / 2) : pool.threads);
    const foldFirst = combine !== undefined && mapSideCombine !== false;
    const task = bind(mapSide.partitionItem, {
      pairs: taskSpec(pairs),
      fold: foldFirst ? taskSpec(fold) : undefined,
      initial,
      partitions: P,
      mapSideCombine: mapSideCombine === true ? true : 'auto',
    });
    const ledger = new SlabLedger();
    const spec: DispatchSpec<In, PackedBatch[][], ItemBatches> = {
      ...parallel,
      name: pairsName,
      ordered: false,
      request: (items) => ({ mode: 'call', task: taskSpec(task), items }),
      // One output per chunk: each owner's batches of all its items, forwarded in one message.
      outputs: (response) => {
        const perOwner: PackedBatch[][] = Array.from({ length: P }, () => []);
        for (const result of response.results) {
          result.batches.forEach((batches, p) => {
            for (const batch of batches) if (batch.slab !== undefined) ledger.hold(batch.slab);
            perOwner[p]!.push(...batches);
          });
        }
        return [perOwner];
      },
    };
    const owners = await PartitionOwners.start({
      partitions: P,
      fold: taskSpec(fold),
      combine: combine === undefined ? undefined : taskSpec(combine),
      initial,
      budgetBytes: memoryBudgetMb === undefined ? 0 : Math.floor(memoryBudgetMb * 2 ** 20),
      tempDir: tempDir ?? tmpdir(),
      resourceLimits: ownerResourceLimits,
      signal: context.signal,
      name,
    });
    try {
      for await (const perOwner of dispatch(source, context, spec)) {
        perOwner.forEach((batches, p) => {
          if (batches.length > 0) owners.send(p, batches);
        });
        await owners.drained(QUEUED_PER_OWNER);
      }
      await owners.end();
      for await (const [keys, accumulators] of owners.results()) {
        const pairs: [K, A][] = new Array<[K, A]>(keys.length);
        for (let i = 0; i < keys.length; i++) pairs[i] = [keys[i] as K, accumulators[i] as A];
        yield pairs;
      }
    } finally {
      await owners.close();
      // The owner threads are gone: what they did not fold is free for the workers again.
      ledger.releaseAll();
    }
  }
}
