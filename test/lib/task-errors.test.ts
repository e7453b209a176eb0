import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createPool, flow, parallelMap, TaskError, tasks } from 'millrace';

// End to end through real worker threads: what a task throws is what the main thread gets.
const errors = tasks<typeof import('../fixtures/errors.tasks.js')>(new URL('../fixtures/errors.tasks.js', import.meta.url));
const pool = createPool({ threads: 1 });
afterAll(() => pool.close());

async function failure(promise: Promise<unknown>): Promise<TaskError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TaskError);
  return error as TaskError;
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

describe('errors thrown in a task', () => {
  it('arrive as their standard class: a RangeError is instanceof RangeError, with its fields and the worker stack', async () => {
    const error = await failure(flow([4, -1]).pipe(parallelMap(errors.throwRange, { pool })).toArray());
    expect(error.cause).toBeInstanceOf(RangeError);
    const cause = error.cause as RangeError & { code?: string };
    expect(cause.message).toBe('no real square root of -1');
    expect(cause.code).toBe('E_NEGATIVE');
    expect(cause.stack).toMatch(/at throwRange .*errors\.tasks\.ts/);
  });

  it("open on the user's task frame: the TaskError's stack and what util.inspect prints start there", async () => {
    const error = await failure(flow([-1]).pipe(parallelMap(errors.throwRange, { pool })).toArray());
    const [header, firstFrame] = (error.stack ?? '').split('\n');
    expect(header).toBe(`TaskError: ${error.message}`);
    expect(firstFrame).toMatch(/^ {4}at throwRange .*errors\.tasks\.ts:\d+:\d+/);
    // console.error and an uncaught error print util.inspect's rendering.
    const printed = inspect(error).split('\n');
    expect(printed[0]).toBe(`TaskError: ${error.message}`);
    expect(printed[1]).toMatch(/^ {4}at throwRange .*errors\.tasks\.ts/);
    // The main thread's frames stay, below a separator.
    expect(error.stack).toMatch(/\n {4}--- main thread \(millrace\) ---\n {4}at /);
  });

  it('arrive as an AggregateError with an errors array', async () => {
    const error = await failure(flow([7]).pipe(parallelMap(errors.throwAggregate, { pool })).toArray());
    expect(error.cause).toBeInstanceOf(AggregateError);
    const cause = error.cause as AggregateError;
    expect(cause.message).toBe('7 failed twice');
    expect(Array.isArray(cause.errors)).toBe(true);
    // The inner errors need the worker to send them (SerializedError.errors); each one that comes is revived.
    for (const inner of cause.errors as unknown[]) expect(inner).toBeInstanceOf(Error);
  });

  it("of a user's own class arrive as an Error with its name, fields and cause", async () => {
    const error = await failure(flow([3]).pipe(parallelMap(errors.throwCustom, { pool })).toArray());
    const cause = error.cause as Error & { limit?: number };
    expect(Object.getPrototypeOf(cause)).toBe(Error.prototype);
    expect(cause.name).toBe('QuotaError');
    expect(cause.message).toBe('over quota 3');
    expect(cause.limit).toBe(3);
    expect(cause.cause).toBeInstanceOf(TypeError);
  });

  it('say that a class instance arrived without its prototype when a task calls one of its methods', async () => {
    // A Point crossing to a worker loses its prototype: that is what this test checks.
    const error = await failure(
      flow([new Point(3, 4)])
        // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- see above
        .pipe(parallelMap(errors.norm, { pool }))
        .toArray(),
    );
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.message).toMatch(/norm is not a function/);
    expect(error.message).toMatch(/the item was a Point instance on the main thread/);
    expect(error.message).toMatch(/class instances arrive without their prototype/);
  });
});
