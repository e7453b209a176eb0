import { describe, expect, it } from 'vitest';
import { createPool, flow, InvalidOptionError, parallelMap, tasks, transferResult } from 'millrace';

const buffers = tasks<typeof import('../fixtures/transfer.tasks.js')>(new URL('../fixtures/transfer.tasks.js', import.meta.url));

describe('transferResult', () => {
  it('moves a typed array result to the main thread: the values arrive, the worker copy is detached', async () => {
    await using pool = createPool({ threads: 1 });
    const results = await flow([1024, 4096])
      .pipe(parallelMap(buffers.filled, { pool, chunkSize: 1 }))
      .toArray();
    expect(results.map((bytes) => [bytes.length, bytes[0], bytes[bytes.length - 1]])).toEqual([
      [1024, 1024 % 251, 1024 % 251],
      [4096, 4096 % 251, 4096 % 251],
    ]);
    expect(await flow([0]).pipe(parallelMap(buffers.lastDetached, { pool })).toArray()).toEqual([true]);
  });

  it('moves the listed buffers of an object result', async () => {
    await using pool = createPool({ threads: 1 });
    const [result] = await flow([64]).pipe(parallelMap(buffers.nested, { pool })).toArray();
    expect(result?.label).toBe('n64');
    expect(new Uint8Array(result!.data)).toEqual(new Uint8Array(64).fill(1));
    expect(await flow([0]).pipe(parallelMap(buffers.lastDetached, { pool })).toArray()).toEqual([true]);
  });

  it('copies an unmarked result: the worker keeps its buffer', async () => {
    await using pool = createPool({ threads: 1 });
    const [bytes] = await flow([256]).pipe(parallelMap(buffers.filledCopy, { pool })).toArray();
    expect(bytes?.length).toBe(256);
    expect(await flow([0]).pipe(parallelMap(buffers.lastDetached, { pool })).toArray()).toEqual([false]);
  });

  it('returns the same value, so a task still works when called directly', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(transferResult(bytes)).toBe(bytes);
    expect(Object.keys(bytes)).toEqual(['0', '1', '2']);
  });

  it('rejects a value that is neither a buffer nor given buffers to move', () => {
    expect(() => transferResult({ a: 1 })).toThrow(InvalidOptionError);
  });
});
