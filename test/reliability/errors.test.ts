import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bind, flow, parallelMap, reduceBy, starMap, TaskError, tasks, unorderedMap } from 'millrace';
import { failure, filePool, onlyTaskErrors, range, tempDirs } from './helpers.js';

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));

const tempDir = tempDirs('errors');
// No test here ends a worker: one pool of two threads serves them all, one flow at a time.
const shared = filePool({ threads: 2 });

describe('error policy: fail fast', () => {
  it('an ordered flow fails on a later item without waiting for a slow earlier item', async () => {
    const dir = tempDir();
    const pool = shared();
    // Item 0 blocks until the test writes `release`, which it does only after the flow failed:
    // if the flow waited for item 0, it would never fail and this test would time out.
    // Chunks of 2 with the default in-flight window (2 × threads = 4 chunks): item 5 is in flight
    // while item 0 still runs.
    const options = { pool, chunkSize: 2 };
    const error = await failure(
      flow(range(8))
        .pipe(parallelMap(bind(crash.slowFirst, dir, 5), options))
        .toArray(),
    );
    const doneBeforeFailure = existsSync(join(dir, 'done-0'));
    writeFileSync(join(dir, 'release'), '');
    expect(existsSync(join(dir, 'started-0'))).toBe(true);
    expect(doneBeforeFailure).toBe(false);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).index).toBe(5);
  });

  it('the first failure ends the flow and stops pulling input', async () => {
    let pulled = 0;
    function* numbers(): Generator<number> {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++;
        yield i + 1;
      }
    }
    const pool = shared();
    const error = await failure(
      flow(numbers())
        .pipe(unorderedMap(bind(crash.failMultiplesOf, 50), { pool, chunkSize: 10 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    // Unordered: the first failure to come back is one of the multiples of 50 in flight.
    expect(((error as TaskError).item as number) % 50).toBe(0);
    // Bounded by the in-flight window (2 × threads chunks of 10), far below the million items.
    expect(pulled).toBeLessThan(200);
  });
});

describe('error policy: skip and report', () => {
  it('reports each failure with item, index and cause, and keeps going', async () => {
    const failures: TaskError[] = [];
    const pool = shared();
    const results = await flow(range(30))
      .pipe(parallelMap(bind(crash.failMultiplesOf, 7), { pool, chunkSize: 4, onError: onlyTaskErrors((error) => failures.push(error)) }))
      .toArray();
    expect(results).toEqual(
      range(30)
        .filter((x) => x % 7 !== 0)
        .map((x) => x + 1),
    );
    expect(failures.map((f) => f.index).sort((a, b) => a - b)).toEqual([0, 7, 14, 21, 28]);
    for (const f of failures) {
      expect(f).toBeInstanceOf(TaskError);
      expect(f.item).toBe(f.index);
      expect(f.cause).toBeInstanceOf(Error);
      expect((f.cause as Error).name).toBe('RangeError');
      expect((f.cause as Error).message).toBe(`${f.index} is a multiple of 7`);
    }
  });

  it('nothing is lost: every item is accounted for exactly once as a result or a failure', async () => {
    const input = range(500);
    const failed: number[] = [];
    const pool = shared();
    const ok = await flow(input)
      .pipe(
        unorderedMap(bind(crash.failMultiplesOf, 3), { pool, chunkSize: 7, onError: onlyTaskErrors((error) => failed.push(error.index)) }),
      )
      .toArray();
    const succeeded = ok.map((y) => y - 1);
    expect([...succeeded, ...failed].sort((a, b) => a - b)).toEqual(input);
    expect(new Set(failed).size).toBe(failed.length);
    expect(failed.every((x) => x % 3 === 0)).toBe(true);
  });

  it('skip works for starMap and the two-tier reduceBy too', async () => {
    const pool = shared();
    const starFailures: number[] = [];
    const sums = await flow(range(10).map((x): [number, number] => [7, x]))
      .pipe(starMap(crash.failMultiplesOf, { pool, onError: onlyTaskErrors((error) => starFailures.push(error.index)) }))
      .toArray();
    // Items 0 and 7 may travel in different chunks (automatic sizes), which finish in either order:
    // onError is called once for each, in no promised order (as the tests above sort too).
    expect(starFailures.sort((a, b) => a - b)).toEqual([0, 7]);
    expect(sums).toEqual(
      range(10)
        .filter((x) => x % 7 !== 0)
        .map((x) => x + 1),
    );

    const foldFailures: TaskError[] = [];
    const folded = await flow([1, 2, 3, 4, 'bad' as unknown as number, 6])
      .pipe(
        reduceBy(
          bind(crash.modKey, 2),
          crash.sumCount,
          { sum: 0, count: 0 },
          {
            pool,
            chunkSize: 3,
            combine: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
            onError: onlyTaskErrors((error) => foldFailures.push(error)),
          },
        ),
      )
      .toArray();
    expect(foldFailures.map((f) => f.index)).toEqual([4]);
    expect(new Map(folded)).toEqual(
      new Map([
        [1, { sum: 4, count: 2 }],
        [0, { sum: 12, count: 3 }],
      ]),
    );
  });
});

describe('error policy: a throwing onError callback', () => {
  it('ends the flow with what the callback threw (never an unhandled rejection)', async () => {
    const pool = shared();
    const complaint = new Error('onError gave up');
    const error = await failure(
      flow(range(10))
        .pipe(
          parallelMap(bind(crash.failMultiplesOf, 4), {
            pool,
            onError: () => {
              throw complaint;
            },
          }),
        )
        .toArray(),
    );
    expect(error).toBe(complaint);
  });
});

describe('retries', () => {
  it('without retries, each item runs exactly once, failing or not', async () => {
    const dir = tempDir();
    const failed: number[] = [];
    const pool = shared();
    // flaky(dir, 1, x) fails the first attempt of every item: with no retries, all fail, once each.
    const results = await flow(range(20))
      .pipe(unorderedMap(bind(crash.flaky, dir, 1), { pool, chunkSize: 3, onError: onlyTaskErrors((error) => failed.push(error.index)) }))
      .toArray();
    expect(results).toEqual([]);
    expect(failed.sort((a, b) => a - b)).toEqual(range(20));
    for (const x of range(20)) expect(readFileSync(join(dir, `attempts-${x}`), 'utf8')).toBe('.');
  });

  it('re-runs a failing chunk until it succeeds; each item is emitted exactly once', async () => {
    const dir = tempDir();
    const pool = shared();
    const results = await flow(range(10))
      .pipe(parallelMap(bind(crash.flaky, dir, 2), { pool, chunkSize: 1, retries: 2 }))
      .toArray();
    expect(results).toEqual(range(10).map((x) => x * 2));
    for (const x of range(10)) expect(readFileSync(join(dir, `attempts-${x}`), 'utf8')).toBe('...');
  });

  it('a retry re-runs only the failed items of a chunk: a success is never run again, and each item is emitted once', async () => {
    const dir = tempDir();
    const pool = shared();
    const results = await flow(range(12))
      .pipe(unorderedMap(bind(crash.flakyOn, dir, 6), { pool, chunkSize: 4, retries: 1 }))
      .toArray();
    expect([...results].sort((a, b) => a - b)).toEqual(range(12).map((x) => x * 2));
    const attempts = (x: number): number => readFileSync(join(dir, `attempts-${x}`), 'utf8').length;
    // Item 6 failed once in chunk [4..7]: only it ran again; its neighbours ran once.
    expect([4, 5, 6, 7].map(attempts)).toEqual([1, 1, 2, 1]);
    expect(readdirSync(dir)).toHaveLength(12);
  });

  it('with onError and retries, a failure is reported once, after its last attempt, and nothing is emitted twice', async () => {
    const dir = tempDir();
    const failures: TaskError[] = [];
    const pool = shared();
    // Item 3 fails once; the retry of its chunk succeeds: nothing is reported, each item comes out once.
    const results = await flow(range(8))
      .pipe(
        parallelMap(bind(crash.flakyOn, dir, 3), {
          pool,
          chunkSize: 4,
          retries: 1,
          onError: onlyTaskErrors((error) => failures.push(error)),
        }),
      )
      .toArray();
    expect(results).toEqual(range(8).map((x) => x * 2));
    expect(failures).toEqual([]);
    // Item 0 succeeded on the first attempt: the retry of its chunk carried item 3 alone.
    expect(readFileSync(join(dir, 'attempts-0'), 'utf8')).toBe('.');
    expect(readFileSync(join(dir, 'attempts-3'), 'utf8')).toBe('..');

    // Every item fails on every attempt: each is reported once, after all its attempts.

    const stubborn = tempDir();
    const reported: TaskError[] = [];
    const rerun = await flow(range(8))
      .pipe(
        parallelMap(bind(crash.flaky, stubborn, 9), {
          pool,
          chunkSize: 4,
          retries: 2,
          onError: onlyTaskErrors((error) => reported.push(error)),
        }),
      )
      .toArray();
    expect(rerun).toEqual([]);
    expect(reported.map((f) => f.index).sort((a, b) => a - b)).toEqual(range(8));
    expect(reported.every((f) => f.attempts === 3)).toBe(true);
  });

  it('gives up after the retries and reports how many attempts were made', async () => {
    const dir = tempDir();
    const pool = shared();
    const error = await failure(
      flow([3])
        .pipe(parallelMap(bind(crash.flaky, dir, 5), { pool, retries: 2 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).attempts).toBe(3);
    expect(readFileSync(join(dir, 'attempts-3'), 'utf8')).toBe('...');
  });
});

describe('error objects across the thread boundary', () => {
  it('TaskError names the task, the item (and a preview), its index, and keeps the worker error as cause', async () => {
    const pool = shared();
    const error = await failure(
      flow(range(5))
        .pipe(parallelMap(bind(crash.validateOn, 3), { pool, chunkSize: 2 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.name).toBe('TaskError');
    expect(taskError.task).toMatch(/crash\.tasks\.js#validateOn$/);
    expect(taskError.item).toBe(3);
    expect(taskError.itemPreview).toBe('3');
    expect(taskError.index).toBe(3);
    expect(taskError.attempts).toBe(1);
    expect(taskError.message).toMatch(/validateOn failed on item #3 \(3\): item 3 is invalid/);
    const cause = taskError.cause as Error & Record<string, unknown>;
    expect(cause).toBeInstanceOf(Error);
    expect(cause.name).toBe('ValidationError');
    expect(cause.message).toBe('item 3 is invalid');
    // The worker's stack, pointing into the task module.
    expect(cause.stack).toMatch(/crash\.tasks\.ts/);
    expect(cause.stack).toMatch(/validateOn/);
    // Own enumerable plain-data fields survive; a function field cannot cross and is dropped.
    expect(cause['code']).toBe('E_INVALID');
    expect(cause['details']).toEqual({ field: 'x', limits: [1, 2] });
    expect(cause['when']).toEqual(new Date(0));
    expect('callback' in cause).toBe(false);
    expect((cause.cause as Error).name).toBe('TypeError');
    expect((cause.cause as Error).message).toBe('root cause');
  });

  it('an error with a field that throws when read still crosses, minus that field', async () => {
    const pool = shared();
    const error = await failure(
      flow(range(3))
        .pipe(parallelMap(bind(crash.hostileErrorOn, 2), { pool }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    const cause = (error as TaskError).cause as Error & Record<string, unknown>;
    expect(cause.message).toBe('hostile 2');
    expect(cause['code']).toBe('E_HOSTILE');
    expect('trap' in cause).toBe(false);
  });

  it('a long or odd item gets a short, safe preview', async () => {
    const item = { text: 'x'.repeat(1000) };
    const error = new TaskError({ task: 't#f', item, index: 0, cause: new Error('no') });
    expect(error.itemPreview.length).toBeLessThanOrEqual(120);
    expect(error.item).toBe(item);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(new TaskError({ task: 't#f', item: cyclic, index: 0, cause: new Error('no') }).itemPreview).toBe('[object Object]');
  });

  it.each([
    ['string', /non-Error value: "plain string failure"/, 'plain string failure'],
    ['undefined', /non-Error value: undefined/, undefined],
    ['null', /non-Error value: null/, null],
    ['object', /non-Error value: \{"code":42,"reason":"plain object"\}/, { code: 42, reason: 'plain object' }],
    [
      'getter',
      /non-Error value: \{"code":"E_PLAIN","message":"plain object with a bad getter"\}/,
      { code: 'E_PLAIN', message: 'plain object with a bad getter' },
    ],
  ] as const)('a thrown %s still gives a useful TaskError', async (kind, message, value) => {
    const pool = shared();
    const error = await failure(
      flow(range(3))
        .pipe(parallelMap(bind(crash.throwValueOn, kind, 1), { pool }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(TaskError);
    const taskError = error as TaskError;
    expect(taskError.index).toBe(1);
    const cause = taskError.cause as Error & { value?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause.name).toBe('NonErrorThrown');
    expect(cause.message).toMatch(message);
    expect(taskError.message).toMatch(message);
    expect(cause.value).toEqual(value);
  });
});
