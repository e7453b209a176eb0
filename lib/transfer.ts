/**
 * Zero-copy results: a task marks a result so that its buffers move to the main thread instead of
 * being copied. (Inputs move with the `transfer` option of the parallel operators.)
 *
 * @packageDocumentation
 */
import type { Transferable } from 'node:worker_threads';
import { InvalidOptionError } from './errors.js';

/**
 * Where a marked value keeps its transfer list, read only through {@link transferListOf} (by the
 * engine for items, by the worker for results): a registered symbol, so that a copy of millrace
 * loaded from another URL (a task module's import in a worker) reads the same mark.
 */
const TRANSFER = Symbol.for('millrace.transfer');

/**
 * Marks a task's result so that its buffers are moved to the main thread (zero-copy) rather than
 * cloned. Use it in a task module, on the value the task returns: the returned value is the same
 * object, so the task still works when called directly (a serial baseline, a test). After a move
 * the worker must not touch the buffers again.
 *
 * @param value - the result: an `ArrayBuffer`, a typed array or `Buffer`, or any object holding them
 * @param buffers - what to move; by default the value itself when it is an `ArrayBuffer`, or its
 *   `.buffer` when it is a typed array or `Buffer`; for any other object, what its fields marked
 *   to move ask for (a `counter.pack()` field: see {@link Counter.pack})
 * @returns `value`, marked
 * @throws {@link InvalidOptionError} when nothing is given to move and `value` is neither a buffer
 *   nor an object with a field marked to move, or `value` is not an object (primitives are copied
 *   anyway)
 * @example
 * ```ts
 * // images.tasks.ts: the resized pixels come back without a copy.
 * import { transferResult } from 'millrace';
 * export function invert(pixels: Uint8Array): Uint8Array {
 *   const out = new Uint8Array(pixels.length);
 *   for (let i = 0; i < pixels.length; i++) out[i] = 255 - pixels[i]!;
 *   return transferResult(out);
 * }
 * ```
 * @category Parallel
 */
export function transferResult<T extends object>(value: T, buffers?: readonly Transferable[]): T {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JavaScript callers can pass any value
  if (typeof value !== 'object' || value === null)
    throw new InvalidOptionError('value', value, 'an object (a buffer, or an object holding buffers)');
  let list = buffers;
  if (list === undefined) {
    if (value instanceof ArrayBuffer) list = [value];
    else if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) list = [value.buffer];
    else list = fieldTransfers(value);
    if (list.length === 0)
      throw new InvalidOptionError(
        'buffers',
        buffers,
        'the buffers to move (value is not a buffer itself, nor has a field marked to move)',
      );
  }
  return markTransfer(value, list);
}

/** What the own enumerable fields of `value` that are marked to move ask for (one level deep). */
function fieldTransfers(value: object): Transferable[] {
  const list: Transferable[] = [];
  for (const field of Object.values(value)) {
    const marked = transferListOf(field);
    if (marked) list.push(...marked);
  }
  return list;
}

/**
 * Attaches a transfer list to a value under the registered symbol, as {@link transferResult} does
 * for results. Internal: sources (readBlocks) mark their items with it, and the engine moves the
 * buffers of a marked item to the worker instead of copying them.
 *
 * @param value - the object to mark
 * @param buffers - what to move with it
 * @returns `value`, marked
 */
export function markTransfer<T extends object>(value: T, buffers: readonly Transferable[]): T {
  // Not enumerable and symbol-keyed: structured clone leaves it behind, and code using the value
  // directly never sees it.
  Object.defineProperty(value, TRANSFER, { value: [...buffers], enumerable: false, configurable: true, writable: true });
  return value;
}

/**
 * The transfer list a value was marked with ({@link markTransfer}, {@link transferResult}), if any.
 *
 * @param value - any value
 * @returns the buffers to move, or `undefined` when the value is not marked
 */
export function transferListOf(value: unknown): readonly Transferable[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [TRANSFER]?: readonly Transferable[] })[TRANSFER];
}
