import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  bind,
  CloneError,
  createPool,
  flow,
  InvalidOptionError,
  parallelMap,
  reduceBy,
  starMap,
  TaskLoadError,
  tasks,
  unorderedMap,
} from 'millrace';
import { failure, filePool, range } from './helpers.js';

// No test here ends a worker: they share a pool of one thread and a pool of two.
const oneThread = filePool({ threads: 1 });
const twoThreads = filePool({ threads: 2 });
const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));
const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
// A module that does not exist, typed as if it did.
const missing = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/no-such-module.tasks.js', import.meta.url));

class Connection {
  readonly host = 'localhost';
  readonly socket = new net.Socket();
}

describe('uncloneable items', () => {
  it('a function item fails with a CloneError naming the item', async () => {
    const pool = oneThread();
    const items: unknown[] = [1, 2, (x: number) => x, 4];
    const error = await failure(
      flow(items as number[])
        .pipe(parallelMap(math.square, { pool, chunkSize: 2 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    const clone = error as CloneError;
    expect(clone.direction).toBe('item');
    expect(clone.index).toBe(2);
    expect(clone.itemPreview).toMatch(/item #2 \(\[Function/);
    expect(clone.task).toMatch(/math\.tasks\.js#square$/);
    expect(clone.message).toMatch(/the item of item #2/);
  });

  it('a class instance holding a socket fails with a CloneError naming the item', async () => {
    const pool = oneThread();
    const connection = new Connection();
    try {
      const items = [1, connection as unknown as number, 3];
      const error = await failure(flow(items).pipe(unorderedMap(math.square, { pool })).toArray());
      expect(error).toBeInstanceOf(CloneError);
      expect((error as CloneError).direction).toBe('item');
      expect((error as CloneError).index).toBe(1);
      expect((error as CloneError).itemPreview).toMatch(/Connection/);
    } finally {
      connection.socket.destroy();
    }
  });
});

describe('uncloneable results', () => {
  it('a result that cannot cross threads fails with a CloneError naming its item', async () => {
    const pool = twoThreads();
    const error = await failure(
      flow(range(10))
        .pipe(parallelMap(bind(crash.uncloneableOn, 6), { pool, chunkSize: 4 }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(CloneError);
    const clone = error as CloneError;
    expect(clone.direction).toBe('result');
    expect(clone.index).toBe(6);
    expect(clone.itemPreview).toBe('item #6 (6)');
    expect(clone.message).toMatch(/the result of item #6/);
  });

  it('the pool keeps working after a result clone failure', async () => {
    const pool = oneThread();
    await failure(
      flow(range(3))
        .pipe(parallelMap(bind(crash.uncloneableOn, 1), { pool }))
        .toArray(),
    );
    expect(await flow(range(5)).pipe(parallelMap(math.square, { pool })).toArray()).toEqual([0, 1, 4, 9, 16]);
  });
});

describe('bad task references', () => {
  it('a missing export fails at first use naming the module and export, listing the exports', async () => {
    const bogus = (math as unknown as Record<string, typeof math.square>)['sqaure']!;
    const pool = oneThread();
    const error = await failure(flow([1, 2]).pipe(parallelMap(bogus, { pool })).toArray());
    expect(error).toBeInstanceOf(TaskLoadError);
    const load = error as TaskLoadError;
    expect(load.moduleUrl).toMatch(/math\.tasks\.ts$/);
    expect(load.exportName).toBe('sqaure');
    expect(load.available).toEqual(expect.arrayContaining(['square', 'add', 'failOn']));
    expect(load.message).toMatch(/math\.tasks\.ts has no exported function "sqaure"; it exports: .*square/);
  });

  it('a missing module fails at first use naming the module', async () => {
    const pool = oneThread();
    const error = await failure(flow([1, 2]).pipe(parallelMap(missing.square, { pool })).toArray());
    expect(error).toBeInstanceOf(TaskLoadError);
    const load = error as TaskLoadError;
    expect(load.moduleUrl).toMatch(/no-such-module\.tasks\.js$/);
    expect(load.exportName).toBe('square');
    expect(load.available).toEqual([]);
    expect(load.message).toMatch(/Cannot load task module .*no-such-module\.tasks\.js/);
  });

  it('building the operator does not load anything: the error comes at first use', () => {
    expect(() => parallelMap(missing.square)).not.toThrow();
  });
});

describe('wrong option values are rejected when the operator or pool is built', () => {
  it.each([
    ['chunkSize', { chunkSize: 0 }],
    ['chunkSize', { chunkSize: 1.5 }],
    ['maxInFlight', { maxInFlight: 0 }],
    ['retries', { retries: -1 }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['timeoutMs', { timeoutMs: Number.NaN }],
  ] as const)('%s %o', (option, options) => {
    for (const build of [
      () => parallelMap(math.square, options),
      () => unorderedMap(math.square, options),
      () => starMap(math.add, options),
      () => reduceBy(math.word, math.count, 0, { ...options, combine: (a: number, b: number) => a + b }),
    ]) {
      let thrown: unknown;
      try {
        build();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
    }
  });

  it('retries cannot be combined with transfer (moved buffers cannot be sent twice)', () => {
    const transfer = (item: Uint8Array): ArrayBuffer[] => [item.buffer as ArrayBuffer];
    expect(() => unorderedMap(crash.byteLength, { transfer, retries: 1 })).toThrow(InvalidOptionError);
    expect(() => unorderedMap(crash.byteLength, { transfer, retries: 0 })).not.toThrow();
  });

  it('onError must be "fail" or a function', () => {
    expect(() => parallelMap(math.square, { onError: 'skip' as unknown as 'fail' })).toThrow(InvalidOptionError);
  });

  it.each([[0], [-1], [2.5]])('threads %d', (threads) => {
    expect(() => createPool({ threads })).toThrow(InvalidOptionError);
  });

  it('idleTimeoutMs below 0', () => {
    expect(() => createPool({ idleTimeoutMs: -1 })).toThrow(InvalidOptionError);
  });
});
