/**
 * millrace: typed, lazy, parallel streaming map-reduce for Node.js. Python's
 * `multiprocessing.Pool` two-tier map-reduce as one pipeline expression on worker threads.
 *
 * @example
 * ```ts
 * import { flow, parallelMap, reduceBy, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * const squares = await flow([1, 2, 3]).pipe(parallelMap(math.square)).toArray(); // [1, 4, 9]
 * ```
 * @packageDocumentation
 * @module millrace
 */
export { flow, Flow, type FlowOptions, type FlowSource } from './flow.js';
export { type WriteLinesOptions, OutputFileError, type OutputFileProblem } from './sinks/write-lines.js';
export { merge } from './combine/merge.js';
export { concat } from './combine/concat.js';
export { zip } from './combine/zip.js';
export { tee, type TeeOptions, type TeeFlows } from './combine/tee.js';
export { defineOperator, pipe, type Operator, type OperatorContext } from './operator.js';
export { tasks, bind, type TaskRef, type Tasks, type TasksOptions } from './tasks.js';
export {
  WorkerExitError,
  ChunkLostError,
  ChunkSendError,
  type PoolBackend,
  type ChunkRequest,
  type ChunkResponse,
  type RunChunkOptions,
  type ChunkIdentity,
  type StartClock,
  type TaskSpec,
  type FinishedItems,
} from './backend.js';
export { createPool, sharedPool, Pool, type PoolOptions } from './pool.js';
export type { WorkerPoolOptions } from './backends/worker-pool-options.js';
export { dispatch } from './engine/dispatch.js';
export type { DispatchSpec, ParallelOptions, ErrorPolicy } from './engine/options.js';
export { formatStageStats, type StageStats } from './engine/stage-stats.js';
export type { RunAgainReason } from './chunk-lifecycle.js';
export { throughHighland } from './highland.js';
export { toTransform, type ToTransformOptions } from './node-stream.js';
export {
  MillraceError,
  TaskError,
  WorkerCrashedError,
  CloneError,
  type CloneDirection,
  TaskLoadError,
  TaskTimeoutError,
  ItemTimeoutError,
  FlowConsumedError,
  InvalidOptionError,
  PartitionOwnerError,
  type PartitionOwnerProblem,
  type WorkerCrashReason,
  type SerializedError,
} from './errors.js';
export { map } from '../operators/map.js';
export { filter } from '../operators/filter.js';
export { flatMap } from '../operators/flat-map.js';
export { type ConcurrencyOptions, type ItemContext } from './concurrent.js';
export { checkItemPolicy, retryDelayMs, type ItemErrorPolicy, type ItemPolicy, type ItemPolicyOptions } from './engine/retry-policy.js';
export { batch } from '../operators/batch.js';
export { type BatchOptions } from '../operators/batch.js';
export { take } from '../operators/take.js';
export { tap } from '../operators/tap.js';
export { reduce } from '../operators/reduce.js';
export { scan } from '../operators/scan.js';
export { drop } from '../operators/drop.js';
export { takeWhile } from '../operators/take-while.js';
export { dropWhile } from '../operators/drop-while.js';
export { distinct } from '../operators/distinct.js';
export { throttle, type ThrottleOptions } from '../operators/throttle.js';
export { topK } from '../operators/top-k.js';
export { sortBy } from '../operators/sort-by.js';
export { parallelMap, type ParallelMapOptions } from '../operators/parallel-map.js';
export { transferResult } from './transfer.js';
export { taskSignal } from './task-signal.js';
export { unorderedMap, type UnorderedMapOptions } from '../operators/unordered-map.js';
export { starMap, type StarMapOptions } from '../operators/star-map.js';
export { reduceBy, type ReduceByOptions } from '../operators/reduce-by.js';
export { aggregateByKey, type AggregateByKeyOptions, type KeyedEmit } from '../operators/aggregate-by-key.js';
export { aggregations, type KeyedAggregation, type KeyedMean } from './keyed/aggregations.js';
export { checkpoint, Checkpoint, type CheckpointOptions, type Fingerprinter, type InputKey } from './checkpoint/checkpoint.js';
export { CheckpointError, type CheckpointErrorReason } from './checkpoint/errors.js';
export { glob, type GlobOptions } from './sources/glob.js';
export {
  readBlocks,
  blockLines,
  type Block,
  type BlockInput,
  type BlockLinesOptions,
  type BytesBlock,
  type RangeBlock,
  type ReadBlocksOptions,
} from './sources/blocks.js';
export type { RecordPosition } from './sources/record-position.js';
export { readLines, lines, InputFileError, type InputFileProblem, type LineInput, type ReadLinesOptions } from './sources/lines.js';
export { Counter, type PackedCounter } from './counter.js';
export { ProgressBar, type ProgressOptions, type ProgressOutcome, type ProgressStream } from './progress.js';
export { progress } from '../operators/progress.js';
export { reportProgress } from './task-progress.js';
export { bullmq, type BullmqOptions } from './backends/bullmq/backend.js';
export { startWorker, type RemoteWorker, type RemoteWorkerOptions } from './backends/bullmq/worker.js';
export type { RedisEndpoint, RedisTlsOptions } from './backends/bullmq/connection.js';
export {
  RedisUnavailableError,
  RedisAuthError,
  CodeVersionMismatchError,
  RemoteWorkerError,
  TaskModuleOutsideRootError,
  JobRefusedError,
  PoisonJobError,
  type JobRefusal,
} from './backends/bullmq/errors.js';
export { JobAbandonedError, type JobAbandonment } from './backends/bullmq/errors.js';
