/**
 * The messages between the main thread and a partition owner (a thread that holds the keys of one
 * hash partition of a keyed aggregation). One type each way, so both sides read the same names.
 *
 * @packageDocumentation
 */
import type { TaskSpec } from '../backend.js';
import type { SerializedError } from '../errors.js';
import type { PackedBatch, PackedResults } from './packed-batch.js';
import type { PartitionKey } from './partitioning.js';

/** What an owner is started with (its `workerData`). */
export interface OwnerData {
  readonly partition: number;
  /** `(accumulator, value) => accumulator`, for values. */
  readonly fold: TaskSpec;
  /** `(left, right) => merged`, for partials combined on the map side and for merging spilled runs. */
  readonly combine: TaskSpec | undefined;
  readonly initial: unknown;
  /** The estimated size of the owner's keyed state past which it spills a sorted run; 0: a quarter of its heap limit. */
  readonly budgetBytes: number;
  /** Where spilled runs go (a directory of this run's own, removed by the main thread). */
  readonly spillDir: string;
  /** `millrace` as the source tree, when millrace runs unbuilt (for task modules that import it). */
  readonly aliases: Readonly<Record<string, string>> | undefined;
  /** Pairs per results message. */
  readonly batchSize: number;
}

/** Main thread to owner. */
export type ToOwner =
  /** Pairs to fold in (each batch packed on the map side). */
  | { readonly type: 'batches'; readonly batches: readonly PackedBatch[] }
  /** The input has ended: get ready to stream results out. */
  | { readonly type: 'end' }
  /** Send the next batch of results. */
  | { readonly type: 'pull' };

/** Why an owner gave up on its partition. */
export type OwnerProblem = 'task-failed' | 'memory-budget' | 'spill-failed';

/** Owner to main thread. */
export type FromOwner =
  /** One `batches` message is folded in. */
  | { readonly type: 'ack' }
  /** The input is folded in (and the spilled runs are ready to merge). */
  | { readonly type: 'ready'; readonly keys: number; readonly runs: number }
  /**
   * The next results, in key order when runs were spilled; `done` on the last. From a key table that
   * did not spill, `packed` (the keys undecoded); else the keys and accumulators as values.
   */
  | {
      readonly type: 'results';
      readonly keys: PartitionKey[];
      readonly accumulators: unknown[];
      readonly packed: PackedResults | undefined;
      readonly done: boolean;
    }
  /** The owner cannot go on; `key` is the key being folded when a task threw. */
  | {
      readonly type: 'failed';
      readonly problem: OwnerProblem;
      readonly message: string;
      readonly key?: PartitionKey;
      readonly error?: SerializedError;
    };
