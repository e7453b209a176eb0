/**
 * Error classes thrown by millrace. Every error is a class with fields, so callers can inspect what
 * failed instead of parsing messages.
 *
 * @packageDocumentation
 */
import type { RecordPosition } from './sources/record-position.js';

/**
 * The base class of every error millrace throws itself.
 *
 * @example
 * ```ts
 * import { flow, MillraceError } from 'millrace';
 * try {
 *   await flow([1]).toArray();
 * } catch (error) {
 *   if (error instanceof MillraceError) console.error('millrace failed:', error.message);
 * }
 * ```
 * @category Errors
 */
export class MillraceError extends Error {
  /** The class's name, as `error.name` and stack traces show it (each subclass sets its own). */
  override name = 'MillraceError';
}

/** A short, safe description of a value for error messages (never the whole value). */
export function previewValue(value: unknown, maxLength = 120): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'function') text = `[Function ${value.name || 'anonymous'}]`;
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (typeof value === 'symbol') text = value.toString();
  else if (value instanceof Map) text = `Map(${value.size})`;
  else if (value instanceof Set) text = `Set(${value.size})`;
  else {
    try {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JSON.stringify(undefined) is undefined
      text = JSON.stringify(value) ?? String(value);
    } catch {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a null-prototype object has no constructor
      const name = (value as object | null)?.constructor?.name;
      text = name ? `[object ${name}]` : String(value);
    }
    // A class instance says what it is: JSON alone would hide that it is not plain data.
    const name = className(value);
    if (name !== undefined && !text.startsWith('[object')) text = `${name} ${text}`;
  }
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

function className(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === null || prototype === Object.prototype) return undefined;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * Which task failed on which item, with the worker's original error as `cause`.
 *
 * @remarks
 * `cause` is an `Error` rebuilt from what the worker threw: its `name`, `message`, `stack`, own
 * enumerable plain-data fields and `cause` survive the thread boundary. The standard classes come
 * back as themselves (`cause instanceof RangeError`; an `AggregateError` with its `errors`); any
 * other class (your own `class QuotaError extends Error`) comes back as an `Error` whose `name` is
 * the class's. A thrown non-Error value (a string, `undefined`) becomes an `Error` whose message
 * describes it, with the raw value in `cause.value`.
 *
 * The TaskError's own `stack` opens on the worker's frames, so the first frame a reader sees (in
 * `console.error(error)` or an uncaught-error report) is the task's; millrace's main-thread frames
 * follow a `--- main thread (millrace) ---` line. When the task called a method that does not
 * exist (`x.method is not a function`) on an item that was a class instance, the message adds that
 * class instances reach workers without their prototype (structured clone copies fields only).
 *
 * For a main-thread `map`, `filter` or `flatMap`, `task` is the function's name (or the operator's),
 * `cause` is exactly what the function threw (the last attempt's), and `Item` is the flow's item
 * type, so an `onError` function reads `error.item` typed.
 *
 * @typeParam Item - the type of the failing item (`unknown` where it is not known)
 * @example
 * ```ts
 * import { flow, parallelMap, tasks, TaskError } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * try {
 *   await flow([1, -1]).pipe(parallelMap(math.sqrtStrict)).toArray();
 * } catch (error) {
 *   if (error instanceof TaskError) console.error(error.task, error.index, error.itemPreview, error.cause);
 * }
 * ```
 * @category Errors
 */
export class TaskError<Item = unknown> extends MillraceError {
  override name = 'TaskError';
  /** The task, as `module#export` (for a main-thread `map`, `filter` or `flatMap`: the function's name, or the operator's). */
  readonly task: string;
  /** The failing item itself (the value the main thread sent). */
  readonly item: Item;
  /** A short, safe text rendering of the item, for logs. */
  readonly itemPreview: string;
  /** The item's 0-based position in the operator's input. */
  readonly index: number;
  /** How many times the item was run (1 without retries; for a main-thread function, the item's calls). */
  readonly attempts: number;
  /**
   * Where the line the task was reading lies in its input, when it threw while iterating
   * {@link blockLines} (the item is then a block): its file, 1-based line number and byte offset.
   */
  readonly record: RecordPosition | undefined;

  /**
   * @param fields - `cause`: what the task threw (a main-thread function may throw a non-Error
   *   value; the message then describes it); `record`: where the line being read lies (blockLines)
   */
  constructor(fields: {
    task: string;
    item: Item;
    index: number;
    cause: unknown;
    attempts?: number | undefined;
    record?: RecordPosition | undefined;
  }) {
    const itemPreview = previewValue(fields.item);
    const cause = fields.cause;
    const reason = cause instanceof Error ? cause.message : `threw ${previewValue(cause)}`;
    const hint = cause instanceof Error ? prototypeHint(fields.item, cause) : '';
    const record = fields.record;
    const at =
      record === undefined
        ? ''
        : ` at ${record.source}${record.line === undefined ? `, line ${record.lineInBlock} of the block` : `:${record.line}`} (byte offset ${record.byteOffset})`;
    super(`Task ${fields.task} failed on item #${fields.index} (${itemPreview})${at}: ${reason}${hint}`, { cause });
    this.task = fields.task;
    this.item = fields.item;
    this.itemPreview = itemPreview;
    this.index = fields.index;
    this.attempts = fields.attempts ?? 1;
    this.record = record;
    const stack = leadWithTaskFrames(`${this.name}: ${this.message}`, this.stack, cause instanceof Error ? cause.stack : undefined);
    if (stack !== undefined) this.stack = stack;
  }
}

/** The line between the worker's frames and the main thread's in a {@link TaskError}'s stack. */
const MAIN_THREAD_FRAMES = '    --- main thread (millrace) ---';

/**
 * A TaskError's stack: its own message line, then the frames of the worker's error (the user's
 * task frame on top), then the main thread's frames where millrace received the failure. Those
 * last frames are always millrace's own (the failure arrives as a message from the worker), so a
 * reader, `console.error` and an uncaught-error report would otherwise open on millrace's internals.
 */
function leadWithTaskFrames(header: string, own: string | undefined, cause: string | undefined): string | undefined {
  const causeFrames = framesOf(cause);
  if (causeFrames === undefined) return own;
  const ownFrames = framesOf(own);
  return `${header}\n${causeFrames}${ownFrames === undefined ? '' : `\n${MAIN_THREAD_FRAMES}\n${ownFrames}`}`;
}

/** The `    at ...` lines of a V8 stack (everything after its message, which may span lines). */
function framesOf(stack: string | undefined): string | undefined {
  const start = stack?.indexOf('\n    at ') ?? -1;
  return stack === undefined || start === -1 ? undefined : stack.slice(start + 1);
}

/** Built-in classes that structured clone rebuilds as themselves (their methods work in a worker). */
const cloneablePrototypes: ReadonlySet<unknown> = new Set<unknown>([
  Object.prototype,
  null,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  SharedArrayBuffer.prototype,
  DataView.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
  BigInt.prototype,
  Int8Array.prototype,
  Uint8Array.prototype,
  Uint8ClampedArray.prototype,
  Int16Array.prototype,
  Uint16Array.prototype,
  Int32Array.prototype,
  Uint32Array.prototype,
  Float32Array.prototype,
  Float64Array.prototype,
  BigInt64Array.prototype,
  BigUint64Array.prototype,
  Error.prototype,
  TypeError.prototype,
  RangeError.prototype,
  SyntaxError.prototype,
  ReferenceError.prototype,
  EvalError.prototype,
  URIError.prototype,
  AggregateError.prototype,
]);

/**
 * When a task called a method that is not there on an item that was a class instance on the main
 * thread, says why: structured clone copies an object's own fields, not its prototype, so a
 * `Point` reaches the worker as a plain object without `Point`'s methods (a `Buffer`, as a
 * `Uint8Array`).
 */
function prototypeHint(item: unknown, cause: Error): string {
  if (!(cause instanceof TypeError || cause.name === 'TypeError') || !/ is not a function/.test(cause.message)) return '';
  if (item === null || typeof item !== 'object') return '';
  const prototype: unknown = Object.getPrototypeOf(item);
  if (cloneablePrototypes.has(prototype)) return '';
  const name = (item as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof name === 'string' && name !== '' ? `a ${name} instance` : 'a class instance';
  return (
    ` (the item was ${what} on the main thread, but items reach a worker by structured clone, which copies` +
    ` own fields and not the prototype: class instances arrive without their prototype and methods;` +
    ` send plain data and rebuild the object in the task)`
  );
}

/**
 * Why a worker died, as far as millrace can tell:
 * - `'out-of-memory'`: it passed its heap limit (`resourceLimits`; Node's `ERR_WORKER_OUT_OF_MEMORY`);
 * - `'exit'`: it exited with a code (a task called `process.exit()`, or it was ended from outside);
 * - `'signal'`: a signal ended it (for process isolation; worker threads cannot die of a signal alone);
 * - `'timeout'` / `'cancel'`: millrace ended it because a chunk it ran timed out or was cancelled and
 *   did not stop within the grace period (its other chunks fail with this reason, or run again if they
 *   never started);
 * - `'uncaught-error'`: an error escaped the task (thrown from a timer or an event handler, say);
 * - `'unknown'`: none of these could be told (a backend that does not say).
 *
 * @example
 * ```ts
 * import type { WorkerCrashReason } from 'millrace';
 * const worthRetrying = (reason: WorkerCrashReason) => reason !== 'out-of-memory';
 * ```
 * @category Errors
 */
export type WorkerCrashReason = 'out-of-memory' | 'exit' | 'signal' | 'timeout' | 'cancel' | 'uncaught-error' | 'unknown';

const CRASH_WORDS: Readonly<Record<WorkerCrashReason, string>> = {
  'out-of-memory': 'out of memory',
  exit: 'exited',
  signal: 'was killed by a signal',
  timeout: 'was ended by millrace for a timed-out chunk',
  cancel: 'was ended by millrace for a cancelled chunk',
  'uncaught-error': 'threw an uncaught error',
  unknown: 'died',
};

/**
 * A worker died (it called `process.exit()`, ran out of memory, was terminated) while it held a
 * chunk; names the task, the chunk's items and {@link WorkerCrashedError.reason | why}. Under an
 * `onError` function the chunk is run again item by item, and each item that kills a worker on its
 * own is reported with one of these (its `items` holds that one item).
 *
 * @example
 * ```ts
 * import { WorkerCrashedError } from 'millrace';
 * function describe(error: unknown): string {
 *   return error instanceof WorkerCrashedError ? `lost items ${error.firstIndex}.. (${error.reason})` : String(error);
 * }
 * ```
 * @category Errors
 */
export class WorkerCrashedError extends MillraceError {
  override name = 'WorkerCrashedError';
  /** The task, as `module#export`. */
  readonly task: string;
  /** Index of the chunk's first item in the operator's input. */
  readonly firstIndex: number;
  /** The chunk's items (the values the main thread sent). */
  readonly items: readonly unknown[];
  /** The worker's exit code, when known. */
  readonly exitCode: number | undefined;
  /** Why the worker died; see {@link WorkerCrashReason}. */
  readonly reason: WorkerCrashReason;
  /** The signal that ended it (`'SIGSEGV'`), when `reason` is `'signal'`. */
  readonly signal: string | undefined;

  constructor(fields: {
    task: string;
    firstIndex: number;
    items: readonly unknown[];
    exitCode?: number | undefined;
    reason?: WorkerCrashReason | undefined;
    signal?: string | undefined;
    cause?: unknown;
  }) {
    const last = fields.firstIndex + fields.items.length - 1;
    const reason = fields.reason ?? 'unknown';
    const code = fields.exitCode === undefined ? '' : ` with exit code ${fields.exitCode}`;
    const signal = fields.signal === undefined ? '' : ` (${fields.signal})`;
    const range = last === fields.firstIndex ? `item #${fields.firstIndex}` : `items #${fields.firstIndex}..#${last}`;
    const first = previewValue(fields.items[0]);
    super(
      `A worker ${CRASH_WORDS[reason]}${signal}${code} while running task ${fields.task} on ${range} (first item ${first})`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.task = fields.task;
    this.firstIndex = fields.firstIndex;
    this.items = fields.items;
    this.exitCode = fields.exitCode;
    this.reason = reason;
    this.signal = fields.signal;
  }
}

/**
 * An item or a result could not be sent between threads (structured clone failed); names the item.
 *
 * @example
 * ```ts
 * import { CloneError } from 'millrace';
 * const isCloneProblem = (error: unknown) => error instanceof CloneError && error.direction === 'result';
 * ```
 * @category Errors
 */
export class CloneError extends MillraceError {
  override name = 'CloneError';
  /**
   * What could not be sent: the input item, the task's result, the arguments given to `bind`, the
   * task module's `setupArgs`, a `reduceBy` initial value, or the chunk's transfer list (a buffer
   * named twice, or one already moved).
   */
  readonly direction: CloneDirection;
  /** The task, as `module#export`. */
  readonly task: string;
  /** The item's 0-based position in the operator's input, when found. */
  readonly index: number | undefined;
  /** A short text rendering of the item. */
  readonly itemPreview: string;

  constructor(fields: { direction: CloneDirection; task: string; index?: number | undefined; item?: unknown; cause?: unknown }) {
    const itemPreview = fields.index === undefined ? 'unknown item' : `item #${fields.index} (${previewValue(fields.item)})`;
    const reason = fields.cause instanceof Error ? `: ${fields.cause.message}` : '';
    const what = {
      item: `the item of ${itemPreview}`,
      result: `the result of ${itemPreview}`,
      'bound-arguments': 'an argument given to bind()',
      'setup-arguments': "the task module's setupArgs",
      initial: "reduceBy's initial value",
      'transfer-list': `the transfer list of the chunk from ${itemPreview}`,
    }[fields.direction];
    super(
      `Task ${fields.task}: ${what} cannot be sent between threads (not structured-cloneable)${reason}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.direction = fields.direction;
    this.task = fields.task;
    this.index = fields.index;
    this.itemPreview = itemPreview;
  }
}

/**
 * What a {@link CloneError} could not send.
 *
 * @example
 * ```ts
 * import type { CloneDirection } from 'millrace';
 * const mine: CloneDirection[] = ['item', 'bound-arguments'];
 * ```
 * @category Errors
 */
export type CloneDirection = 'item' | 'result' | 'bound-arguments' | 'setup-arguments' | 'initial' | 'transfer-list';

/**
 * A task reference names a module or an export that cannot be loaded.
 *
 * @example
 * ```ts
 * import { TaskLoadError } from 'millrace';
 * const exportsOf = (error: unknown) => (error instanceof TaskLoadError ? error.available : []);
 * ```
 * @category Errors
 */
export class TaskLoadError extends MillraceError {
  override name = 'TaskLoadError';
  /** The module URL. */
  readonly moduleUrl: string;
  /** The export that was asked for. */
  readonly exportName: string;
  /** The functions the module does export (empty when the module failed to load). */
  readonly available: readonly string[];

  constructor(fields: { moduleUrl: string; exportName: string; available: readonly string[]; message: string; cause?: unknown }) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.moduleUrl = fields.moduleUrl;
    this.exportName = fields.exportName;
    this.available = fields.available;
  }
}

/**
 * A chunk ran longer than its time budget; its task was cancelled (a local worker that ignores its
 * task signal is terminated; a remote job is removed or cancelled on its worker, as the message says).
 *
 * @example
 * ```ts
 * import { TaskTimeoutError } from 'millrace';
 * const timedOut = (error: unknown) => error instanceof TaskTimeoutError;
 * ```
 * @category Errors
 */
export class TaskTimeoutError extends MillraceError {
  override name = 'TaskTimeoutError';
  /** The task, as `module#export`. */
  readonly task: string;
  /** Index of the chunk's first item. */
  readonly firstIndex: number;
  /** The chunk's item count. */
  readonly itemCount: number;
  /** The budget that ran out, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * @param fields - the chunk; `cause`: what the backend did with the chunk it was told to stop (a
   *   `MillraceError` whose message says so, such as a `JobAbandonedError`), when it knows
   */
  constructor(fields: {
    task: string;
    firstIndex: number;
    itemCount: number;
    timeoutMs: number;
    cause?: unknown;
    /** The whole message, for a subclass that says more precisely what ran out ({@link ItemTimeoutError}). */
    message?: string | undefined;
  }) {
    // A backend that says what became of the running chunk (a remote job abandoned, cancelled or
    // not) is quoted; otherwise the local thread backend's way applies.
    const ending =
      fields.cause instanceof MillraceError ? fields.cause.message : 'it was cancelled (a worker that did not let go was ended)';
    super(
      fields.message ??
        `Task ${fields.task} timed out after ${fields.timeoutMs} ms on items #${fields.firstIndex}..#${fields.firstIndex + fields.itemCount - 1}; ${ending}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.task = fields.task;
    this.firstIndex = fields.firstIndex;
    this.itemCount = fields.itemCount;
    this.timeoutMs = fields.timeoutMs;
  }
}

/**
 * One call of a main-thread function (`map`, `filter`, `flatMap` with `timeoutMs`) ran past its
 * time budget: the call's `signal` was aborted with this error, and the attempt counts as failed
 * (run again while `retries` last, then reported as the `cause` of a {@link TaskError}). A
 * {@link TaskTimeoutError} of one item (`firstIndex` is the item's index, `itemCount` 1), so code
 * that handles timeouts in general handles these too.
 *
 * @example
 * ```ts
 * import { flow, ItemTimeoutError, map, TaskError } from 'millrace';
 * const never = (_: number, { signal }: { signal: AbortSignal }) =>
 *   new Promise<number>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
 * const failure = await flow([7]).pipe(map(never, { timeoutMs: 20 })).toArray().catch((error: unknown) => error);
 * if (failure instanceof TaskError && failure.cause instanceof ItemTimeoutError) {
 *   console.log(failure.cause.index, failure.cause.timeoutMs); // 0 20
 * }
 * ```
 * @category Errors
 */
export class ItemTimeoutError<Item = unknown> extends TaskTimeoutError {
  override name = 'ItemTimeoutError';
  /** The item whose call ran out of time. */
  readonly item: Item;
  /** The item's 0-based position in the operator's input. */
  readonly index: number;
  /** Which call of the item it was (1 for the first, 2 for the first retry, ...). */
  readonly attempt: number;

  constructor(fields: { task: string; item: Item; index: number; attempt: number; timeoutMs: number }) {
    super({
      task: fields.task,
      firstIndex: fields.index,
      itemCount: 1,
      timeoutMs: fields.timeoutMs,
      message: `Task ${fields.task} timed out after ${fields.timeoutMs} ms on item #${fields.index} (${previewValue(fields.item)}), attempt ${fields.attempt}; its signal was aborted`,
    });
    this.item = fields.item;
    this.index = fields.index;
    this.attempt = fields.attempt;
  }
}

/**
 * A `Flow` was consumed a second time; flows are single-use, like the iterators they wrap.
 *
 * @example
 * ```ts
 * import { flow, FlowConsumedError } from 'millrace';
 * const numbers = flow([1, 2]);
 * await numbers.toArray();
 * await numbers.toArray().catch((error) => console.assert(error instanceof FlowConsumedError));
 * ```
 * @category Errors
 */
export class FlowConsumedError extends MillraceError {
  override name = 'FlowConsumedError';
  constructor() {
    super('This flow was already consumed; a Flow can be consumed once (build a new one with flow(source))');
  }
}

/**
 * What went wrong in the owner of a partition of {@link aggregateByKey}: a task threw while folding a
 * key (`'task-failed'`), the partition passed its memory budget without a `combine` to spill with
 * (`'memory-budget'`), a spilled run could not be written (`'spill-failed'`), or the owner thread
 * died (`'crashed'`).
 *
 * @example
 * ```ts
 * import type { PartitionOwnerProblem } from 'millrace';
 * const retryable = (problem: PartitionOwnerProblem): boolean => problem === 'crashed' || problem === 'spill-failed';
 * ```
 * @category Errors
 */
export type PartitionOwnerProblem = 'task-failed' | 'memory-budget' | 'spill-failed' | 'crashed';

/**
 * The owner of a partition of {@link aggregateByKey} (the thread holding that partition's keys)
 * failed or died; the flow fails with it rather than go on without that partition's keys. Names the
 * partition, the problem and, when a task threw, the key it was folding (`cause` holds the worker's
 * error).
 *
 * @example
 * ```ts
 * import { PartitionOwnerError } from 'millrace';
 * function describe(error: unknown): string {
 *   return error instanceof PartitionOwnerError ? `partition ${error.partition}: ${error.problem}` : String(error);
 * }
 * ```
 * @category Errors
 */
export class PartitionOwnerError extends MillraceError {
  override name = 'PartitionOwnerError';
  /** The flow's tasks, as `module#export + module#export`. */
  readonly task: string;
  /** The partition (0-based) whose owner failed. */
  readonly partition: number;
  /** How many partitions the aggregation has. */
  readonly partitions: number;
  /** What went wrong; see {@link PartitionOwnerProblem}. */
  readonly problem: PartitionOwnerProblem;
  /** The key being folded when a task threw, if any. */
  readonly key: string | number | undefined;
  /** The owner thread's exit code, when it exited. */
  readonly exitCode: number | undefined;

  constructor(fields: {
    task: string;
    partition: number;
    partitions: number;
    problem: PartitionOwnerProblem;
    detail: string;
    key?: string | number | undefined;
    exitCode?: number | undefined;
    cause?: unknown;
  }) {
    super(
      `The owner of partition ${fields.partition} of ${fields.partitions} (${fields.task}) failed: ${fields.detail}`,
      fields.cause === undefined ? undefined : { cause: fields.cause },
    );
    this.task = fields.task;
    this.partition = fields.partition;
    this.partitions = fields.partitions;
    this.problem = fields.problem;
    this.key = fields.key;
    this.exitCode = fields.exitCode;
  }
}

/**
 * An option value is out of range; thrown when the operator or pool is built, not when it runs.
 *
 * @example
 * ```ts
 * import { parallelMap, InvalidOptionError, tasks } from 'millrace';
 * const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
 * try { parallelMap(math.square, { chunkSize: 0 }); } catch (error) { console.assert(error instanceof InvalidOptionError); }
 * ```
 * @category Errors
 */
export class InvalidOptionError extends MillraceError {
  override name = 'InvalidOptionError';
  /** The option's name. */
  readonly option: string;
  /** The rejected value. */
  readonly value: unknown;
  constructor(option: string, value: unknown, expected: string) {
    super(`Invalid option ${option}: ${previewValue(value)} (expected ${expected})`);
    this.option = option;
    this.value = value;
  }
}

/** Throws {@link InvalidOptionError} unless `value` is undefined or an integer within [min, max]. */
export function checkInteger(option: string, value: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, value, `an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}`);
  }
}

/**
 * The standard error classes a worker's error is rebuilt as, by name, so `instanceof RangeError`
 * holds on the main thread as it did in the task. Any other name (a user's `class MyError extends
 * Error`) becomes a plain `Error` with that `name`: the main thread cannot know the user's class.
 */
const standardErrors: Readonly<Record<string, ErrorConstructor>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * Rebuilds an Error from the plain data a worker sent (see `serializeError` in lib/backends/worker-side/serialize-error.ts): a standard
 * class (`RangeError`, `AggregateError` with its `errors`, ...) as that class, any other as an `Error`
 * with the worker's `name`; the worker's `message`, `stack`, own fields and `cause` are kept.
 */
export function reviveError(data: SerializedError): Error {
  const options = data.cause === undefined ? undefined : { cause: reviveError(data.cause) };
  let error: Error;
  if (data.name === 'AggregateError') {
    error = new AggregateError(
      (data.errors ?? []).map((inner) => reviveError(inner)),
      data.message,
      options,
    );
  } else {
    const Standard = Object.hasOwn(standardErrors, data.name) ? standardErrors[data.name] : undefined;
    error = Standard === undefined ? new Error(data.message, options) : new Standard(data.message, options);
    if (Standard === undefined) error.name = data.name;
  }
  // Without the worker's stack, one from here would point into millrace: show the error's line only.
  error.stack = data.stack ?? `${data.name}: ${data.message}`;
  for (const [key, value] of Object.entries(data.fields)) {
    // An AggregateError's revived `errors` win over a raw copy in its fields.
    if (key === 'errors' && error instanceof AggregateError && data.errors !== undefined) continue;
    // Defined, not assigned: a field named like a setter (`__proto__`) stays a plain field.
    Object.defineProperty(error, key, { value, writable: true, enumerable: true, configurable: true });
  }
  return error;
}

/**
 * What a task threw, as plain, cloneable data: how a worker sends an item's failure to the main
 * thread ({@link ChunkResponse}'s `failures`), where it becomes the `cause` of a {@link TaskError}
 * again. A backend of your own passes these through as it gets them.
 *
 * @example
 * ```ts
 * import type { SerializedError } from 'millrace';
 * const failure: SerializedError = { name: 'RangeError', message: 'too big', fields: { code: 'E_BIG' } };
 * console.log(failure.fields.code); // E_BIG
 * ```
 * @category Authoring
 */
export interface SerializedError {
  /** The error's class name (`'TypeError'`), or `'Error'` for a thrown non-Error value. */
  name: string;
  /** Its message (for a non-Error value, a description of it). */
  message: string;
  /** The worker's stack, when it had one. */
  stack?: string;
  /** Every other readable own field (`code`, `errno`, ...), cloneable ones only. */
  fields: Record<string, unknown>;
  /** Its `cause`, serialized the same way. */
  cause?: SerializedError;
  /** An `AggregateError`'s `errors`, each serialized the same way. */
  errors?: SerializedError[];
  /** Where the line the task was reading (with `blockLines`) lies in its input, when it threw while reading one. */
  record?: RecordPosition;
}
