import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TaskError } from 'millrace';
import { reviveError, type SerializedError } from '../../lib/errors.js';

// What a worker sends (serializeError in lib/backends/worker-side/serialize-error.ts), written out by hand: no worker needed.
function sent(name: string, message: string, more: Partial<SerializedError> = {}): SerializedError {
  return { name, message, stack: `${name}: ${message}\n    at userTask (file:///app/task.js:3:9)`, fields: {}, ...more };
}

describe('reviveError', () => {
  const standard = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError] as const;
  it.each(standard.map((type) => [type.name, type] as const))('rebuilds a %s as its own class, message and stack kept', (name, type) => {
    const error = reviveError(sent(name, 'went wrong'));
    expect(error).toBeInstanceOf(type);
    expect(Object.getPrototypeOf(error)).toBe(type.prototype);
    expect(error.name).toBe(name);
    expect(Object.hasOwn(error, 'name')).toBe(false); // the class's own name, as thrown
    expect(error.message).toBe('went wrong');
    expect(error.stack).toBe(`${name}: went wrong\n    at userTask (file:///app/task.js:3:9)`);
    expect(inspect(error).split('\n')[0]).toBe(`${name}: went wrong`); // not "Error [RangeError]: ..."
  });

  it('keeps own fields and revives the cause chain as classes too', () => {
    const cause = sent('TypeError', 'inner', { cause: sent('Error', 'root') });
    const error = reviveError(sent('RangeError', 'outer', { fields: { code: 'E_OUT', detail: { x: 1 } }, cause }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ code: 'E_OUT', detail: { x: 1 } });
    expect(error.cause).toBeInstanceOf(TypeError);
    expect((error.cause as Error).message).toBe('inner');
    expect((error.cause as Error).cause).toBeInstanceOf(Error);
    expect(((error.cause as Error).cause as Error).message).toBe('root');
  });

  it('rebuilds an AggregateError with its errors, each revived', () => {
    const error = reviveError(
      sent('AggregateError', 'two failed', { errors: [sent('TypeError', 'first'), sent('MyError', 'second', { fields: { code: 7 } })] }),
    );
    expect(error).toBeInstanceOf(AggregateError);
    const errors = (error as AggregateError).errors as Error[];
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(errors[0]?.message).toBe('first');
    expect(errors[1]?.name).toBe('MyError');
    expect(errors[1]).toMatchObject({ code: 7 });
  });

  it('rebuilds an AggregateError without errors (a worker that does not send them) with an empty list', () => {
    const error = reviveError(sent('AggregateError', 'none sent'));
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual([]);
  });

  it("keeps an unknown class (a user's own) as a plain Error with that name", () => {
    const error = reviveError(sent('QuotaError', 'over quota', { fields: { limit: 3 } }));
    expect(Object.getPrototypeOf(error)).toBe(Error.prototype);
    expect(error.name).toBe('QuotaError');
    expect(error).toMatchObject({ limit: 3 });
    expect(error.stack).toMatch(/^QuotaError: over quota\n {4}at userTask/);
  });

  it('does not take a name from Object.prototype for a class, nor a prototype from a field', () => {
    const error = reviveError(sent('constructor', 'odd name', { fields: { ['__proto__']: { polluted: true } } }));
    expect(Object.getPrototypeOf(error)).toBe(Error.prototype);
    expect(error.name).toBe('constructor');
    expect((error as Error & { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('gives an error that came without a stack its message line only, not frames of millrace', () => {
    const error = reviveError({ name: 'NonErrorThrown', message: 'the task threw a non-Error value: "x"', fields: { value: 'x' } });
    expect(error.stack).toBe('NonErrorThrown: the task threw a non-Error value: "x"');
  });
});

describe('TaskError', () => {
  const cause = reviveError(sent('RangeError', 'no real square root of -1'));

  it("puts the worker's frames first in its stack, then the main thread's below a separator", () => {
    const error = new TaskError({ task: 'task.js#sqrt', item: -1, index: 2, cause });
    const lines = (error.stack ?? '').split('\n');
    expect(lines[0]).toBe('TaskError: Task task.js#sqrt failed on item #2 (-1): no real square root of -1');
    expect(lines[1]).toBe('    at userTask (file:///app/task.js:3:9)');
    expect(lines[2]).toBe('    --- main thread (millrace) ---');
    expect(lines[3]).toMatch(/^ {4}at /);
    expect(inspect(error).split('\n').slice(0, 2)).toEqual(lines.slice(0, 2));
  });

  it('keeps its own stack when the cause has no frames', () => {
    const error = new TaskError({ task: 't', item: 1, index: 0, cause: reviveError({ name: 'NonErrorThrown', message: 'x', fields: {} }) });
    expect(error.stack).toMatch(/^TaskError: Task t failed on item #0 \(1\): x\n {4}at /);
    expect(error.stack).not.toContain('main thread');
  });

  class Point {
    constructor(readonly x: number) {}
    double(): number {
      return this.x * 2;
    }
  }
  const notAFunction = reviveError(sent('TypeError', 'point.double is not a function'));

  it('says that a class instance arrived without its prototype when its method is not a function', () => {
    const error = new TaskError({ task: 't', item: new Point(1), index: 0, cause: notAFunction });
    expect(error.message).toMatch(/^Task t failed on item #0 \(Point \{"x":1\}\): point\.double is not a function \(the item was a Point/);
    expect(error.message).toContain('class instances arrive without their prototype');
    const buffer = new TaskError({ task: 't', item: Buffer.from('a'), index: 0, cause: notAFunction });
    expect(buffer.message).toContain('the item was a Buffer instance');
  });

  it.each([
    ['a plain object', { double: 1 }],
    ['a null-prototype object', Object.create(null) as object],
    ['an array', [1]],
    ['a Map', new Map()],
    ['a Date', new Date(0)],
    ['a typed array', new Uint8Array(1)],
    ['a number', 1],
  ])('adds no such hint for %s, which arrives as it was', (_, item) => {
    expect(new TaskError({ task: 't', item, index: 0, cause: notAFunction }).message).not.toContain('prototype');
  });

  it('adds no such hint for another error on a class instance', () => {
    expect(new TaskError({ task: 't', item: new Point(1), index: 0, cause }).message).not.toContain('prototype');
  });
});
