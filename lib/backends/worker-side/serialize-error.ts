/**
 * Whatever a task throws, as plain data that always survives structured clone: name, message,
 * stack, own fields, `cause` and an `AggregateError`'s `errors`. Runs in the worker. Errors are
 * user objects (a getter may throw, a Proxy may refuse to list its keys, the error may come from
 * another realm such as `vm`), so every read is guarded: a field that cannot be read or cloned is
 * dropped and the error still crosses as a task failure, never as a dead worker.
 *
 * @packageDocumentation
 */
import type { SerializedError } from '../../errors.js';

/** How deep `cause` and `errors` chains are followed. */
const MAX_DEPTH = 4;
/** How many of an `AggregateError`'s errors are kept. */
const MAX_ERRORS = 32;

/** `instanceof Error` misses errors made in another realm (`vm`); their tag does not lie. */
function isErrorLike(value: unknown): value is Record<string, unknown> {
  if (value instanceof Error) return true;
  try {
    return Object.prototype.toString.call(value) === '[object Error]';
  } catch {
    return false;
  }
}

/** Serializes a thrown value. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!isErrorLike(error)) {
    // A plain object is copied field by field first: one getter that throws (or one field that
    // cannot be cloned) would otherwise lose every other field, in the message and in `value`.
    const value = error !== null && typeof error === 'object' ? readableFields(error) : cloneableOrUndefined(error);
    return {
      name: 'NonErrorThrown',
      message: `the task threw a non-Error value: ${describeValue(value === undefined ? error : value)}`,
      fields: { value },
    };
  }
  const read = (key: string): unknown => {
    try {
      return error[key];
    } catch {
      return undefined;
    }
  };
  const fields: Record<string, unknown> = {};
  let keys: string[] = [];
  try {
    keys = Object.keys(error);
  } catch {
    // a Proxy that refuses to list its keys: no fields
  }
  for (const key of keys) {
    if (key === 'cause' || key === 'errors') continue;
    const value = cloneableOrUndefined(read(key));
    if (value !== undefined) fields[key] = value;
  }
  const name = read('name');
  const message = read('message');
  const stack = read('stack');
  const result: SerializedError = {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : safeString(message),
    fields,
  };
  if (typeof stack === 'string') result.stack = stack;
  const cause = read('cause');
  if (cause !== undefined && depth < MAX_DEPTH) result.cause = serializeError(cause, depth + 1);
  const errors = read('errors');
  if (Array.isArray(errors) && depth < MAX_DEPTH) {
    result.errors = errors.slice(0, MAX_ERRORS).map((inner: unknown) => serializeError(inner, depth + 1));
  }
  return result;
}

/**
 * The own enumerable fields of a thrown non-Error object that can be read and cloned, as a plain
 * object; an array stays an array. A getter that throws, a Proxy that refuses to list its keys, or
 * a value that cannot be cloned drops that field only. Undefined when the object itself clones
 * as is (a Map, a Date: kept whole).
 */
function readableFields(error: object): unknown {
  const whole = cloneableOrUndefined(error);
  if (whole !== undefined) return whole;
  let keys: string[] = [];
  try {
    keys = Object.keys(error);
  } catch {
    // a Proxy that refuses to list its keys: no fields
  }
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    let field: unknown;
    try {
      field = (error as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    const value = cloneableOrUndefined(field);
    if (value !== undefined) copy[key] = value;
  }
  return Array.isArray(error) ? Object.values(copy) : copy;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JSON.stringify(undefined) or of a function is undefined
    return JSON.stringify(value) ?? safeString(value);
  } catch {
    return safeString(value);
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    // a null-prototype object has no toString
    return Object.prototype.toString.call(value);
  }
}

function cloneableOrUndefined(value: unknown): unknown {
  if (value === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof value)) return value;
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  try {
    return structuredClone(value);
  } catch {
    return undefined;
  }
}

/** A caught error's message, for load errors. */
export function describeError(error: unknown): string {
  if (!isErrorLike(error)) return describeValue(error);
  try {
    const message = error.message;
    return typeof message === 'string' ? message : safeString(message);
  } catch {
    return 'an error whose message cannot be read';
  }
}
