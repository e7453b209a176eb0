import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  aggregateByKey,
  aggregations,
  createPool,
  flow,
  InvalidOptionError,
  PartitionOwnerError,
  readBlocks,
  TaskError,
  tasks,
  topK,
  type PoolBackend,
} from 'millrace';
import { liveOwnerThreads, ownersSettled } from '../../lib/keyed/owners.js';
import { compareKeys, partitionOf } from '../../lib/keyed/partitioning.js';

const k = tasks<typeof import('../fixtures/keyed.tasks.js')>(new URL('../fixtures/keyed.tasks.js', import.meta.url));
const pool = createPool({ threads: 2 });
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-keyed-test-'));
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

/** `count` lines `k<i % keys>,<i>`. */
const csv = (count: number, keys: number): string[] => Array.from({ length: count }, (_, i) => `k${i % keys},${i}`);

/** The serial answer: the sum per key, sorted by key. */
function serialSums(lines: readonly string[]): [string, number][] {
  const sums = new Map<string, number>();
  for (const line of lines) {
    const [key, value] = line.split(',') as [string, string];
    sums.set(key, (sums.get(key) ?? 0) + Number(value));
  }
  return [...sums].sort(([a], [b]) => compareKeys(a, b));
}

const sorted = <A>(pairs: [string | number, A][]): [string | number, A][] => [...pairs].sort(([a], [b]) => compareKeys(a, b));

/** A fresh, empty directory for one test's spilled runs. */
async function spillRoot(): Promise<string> {
  return mkdtemp(join(dir, 'spill-'));
}

describe('aggregateByKey: routing', () => {
  it('hashes a key to the same partition every time, strings and numbers, -0 as 0', () => {
    for (const key of ['', 'a', 'user42', 'ünïcode', 0, 1, -1, 3.5, 2 ** 40]) {
      const p = partitionOf(key, 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
      expect(partitionOf(key, 7)).toBe(p);
    }
    expect(partitionOf(-0, 5)).toBe(partitionOf(0, 5));
    // Spread: 1000 keys over 4 partitions, none empty or holding most of them.
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[partitionOf(`key${i}`, 4)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(150);
  });

  it('lands each key in one owner: every key once, with all its values', async () => {
    const lines = csv(3000, 101);
    const collected = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, k.collect, [] as number[], { pool, partitions: 3, chunkSize: 50 }))
      .toArray();
    expect(collected).toHaveLength(101);
    expect(new Set(collected.map(([key]) => key)).size).toBe(101);
    for (const [key, values] of collected) {
      const i = Number(key.slice(1));
      expect(values.sort((a, b) => a - b)).toEqual(
        Array.from({ length: 3000 / 101 + (i < 3000 % 101 ? 1 : 0) }, (_, j) => i + 101 * j).slice(0, values.length),
      );
      expect(values).toHaveLength(Math.floor(3000 / 101) + (i < 3000 % 101 ? 1 : 0));
    }
  });

  it('takes number keys, and pairs a task returns instead of emitting', async () => {
    const lists = [[1, 2, 3], [8, 9, 14], [], [7]];
    const sums = await flow(lists)
      .pipe(aggregateByKey(k.modPairs, k.sum, 0, { pool }))
      .toArray();
    expect(sorted(sums)).toEqual([
      [0, 21],
      [1, 9],
      [2, 11],
      [3, 3],
    ]);
  });

  it('starts one owner per two pool threads for number accumulators by default, one per thread otherwise', async () => {
    const lines = csv(200, 20);
    let owners = 0;
    await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool }))
      .forEach(() => {
        owners = liveOwnerThreads();
      });
    expect(owners).toBe(1);
    await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.mean, { pool }))
      .forEach(() => {
        owners = liveOwnerThreads();
      });
    expect(owners).toBe(2);
    await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool, partitions: 3 }))
      .forEach(() => {
        owners = liveOwnerThreads();
      });
    expect(owners).toBe(3);
  });

  it('gives nothing for an empty input', async () => {
    expect(
      await flow<string>([])
        .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool }))
        .toArray(),
    ).toEqual([]);
  });
});

describe('aggregateByKey: combine', () => {
  const lines = csv(5000, 37);

  it('with the map-side combine equals the serial sums', async () => {
    const sums = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, k.sum, 0, { pool, combine: k.add }))
      .toArray();
    expect(sorted(sums)).toEqual(serialSums(lines));
  });

  it('without the map-side combine (values travel, owners fold) equals them too', async () => {
    const sums = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, k.sum, 0, { pool, combine: k.add, mapSideCombine: false }))
      .toArray();
    expect(sorted(sums)).toEqual(serialSums(lines));
  });

  it('ready-made aggregations: count, sum, min, max, mean', async () => {
    const run = <A>(aggregation: Parameters<typeof aggregateByKey<string, string, number, A>>[1]) =>
      flow(lines)
        .pipe(aggregateByKey(k.csvPair, aggregation as never, { pool }))
        .toArray() as Promise<[string, A][]>;
    const counts = new Map(await run<number>(aggregations.count));
    const mins = new Map(await run<number>(aggregations.min));
    const maxes = new Map(await run<number>(aggregations.max));
    const means = new Map(await run<{ count: number; sum: number; mean: number }>(aggregations.mean));
    for (const [key, total] of serialSums(lines)) {
      const i = Number(key.slice(1));
      const n = Math.floor(5000 / 37) + (i < 5000 % 37 ? 1 : 0);
      expect(counts.get(key)).toBe(n);
      expect(mins.get(key)).toBe(i);
      expect(maxes.get(key)).toBe(i + 37 * (n - 1));
      expect(means.get(key)).toEqual({ count: n, sum: total, mean: total / n });
    }
  });

  it('composes with topK', async () => {
    const top = await flow(lines)
      .pipe(
        aggregateByKey(k.csvPair, aggregations.sum, { pool }),
        topK(3, ([key, sum]: [string, number]) => sum * 1000 - Number(key.slice(1))),
      )
      .toArray();
    expect(top).toEqual(
      serialSums(lines)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3),
    );
  });
});

describe('aggregateByKey: spill and merge', () => {
  it('spills sorted runs past a tiny budget and merges them exactly; the spill directory is removed', async () => {
    const lines = csv(6000, 2000);
    const tempDir = await spillRoot();
    const sums = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool, partitions: 1, memoryBudgetMb: 0.02, tempDir, chunkSize: 100 }))
      .toArray();
    // One partition that spilled comes out of the merge in key order, each key once.
    expect(sums).toEqual(serialSums(lines));
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('spills in every partition, with the map-side combine off', async () => {
    const lines = csv(6000, 3000);
    const tempDir = await spillRoot();
    const sums = await flow(lines)
      .pipe(
        aggregateByKey(k.csvPair, k.sum, 0, { pool, combine: k.add, mapSideCombine: false, partitions: 3, memoryBudgetMb: 0.01, tempDir }),
      )
      .toArray();
    expect(sorted(sums)).toEqual(serialSums(lines));
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('fails clearly past the budget without combine', async () => {
    const tempDir = await spillRoot();
    const error = await flow(csv(2000, 2000))
      .pipe(aggregateByKey(k.csvPair, k.sum, 0, { pool, partitions: 2, memoryBudgetMb: 0.01, tempDir }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartitionOwnerError);
    expect((error as PartitionOwnerError).problem).toBe('memory-budget');
    expect((error as PartitionOwnerError).message).toMatch(/give `combine`/);
    expect(await readdir(tempDir)).toEqual([]);
    expect(liveOwnerThreads()).toBe(0);
  });
});

describe('aggregateByKey: numeric accumulators in typed tables', () => {
  /** `count` lines over `keys` keys drawn Zipf-like (key rank r about 1/r as often), seeded. */
  const zipf = (count: number, keys: number): string[] => {
    let seed = 22;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    return Array.from({ length: count }, (_, i) => `z${Math.floor(keys ** random()) - 1},${i % 1000}`);
  };

  for (const [name, lines] of [
    ['uniform', csv(8000, 3000)],
    ['Zipf', zipf(8000, 3000)],
  ] as const) {
    for (const mapSideCombine of [true, false]) {
      it(`equals the serial sums, ${name} keys, map-side combine ${mapSideCombine ? 'on' : 'off'}, spilled and merged`, async () => {
        const tempDir = await spillRoot();
        const [inMemory, spilled] = await Promise.all([
          flow(lines)
            .pipe(aggregateByKey(k.csvPair, k.sum, 0, { pool, combine: k.add, mapSideCombine, chunkSize: 200 }))
            .toArray(),
          flow(lines)
            .pipe(
              aggregateByKey(k.csvPair, k.sum, 0, { pool, combine: k.add, mapSideCombine, partitions: 2, memoryBudgetMb: 0.01, tempDir }),
            )
            .toArray(),
        ]);
        expect(sorted(inMemory)).toEqual(serialSums(lines));
        expect(sorted(spilled)).toEqual(serialSums(lines));
        expect(await readdir(tempDir)).toEqual([]);
      });
    }
  }

  it('a fold that stops giving numbers (a BigInt past 2^53) moves to a Map, exactly, also after spilling', async () => {
    const big = 2 ** 52;
    const lines = Array.from({ length: 3000 }, (_, i) => `k${i % 300},${i % 300 < 10 ? big : i}`);
    const expected = new Map<string, number | bigint>();
    for (const line of lines) {
      const [key, value] = line.split(',') as [string, string];
      const total = expected.get(key) ?? 0;
      expected.set(
        key,
        typeof total === 'bigint' || !Number.isSafeInteger(total + Number(value)) ? BigInt(total) + BigInt(value) : total + Number(value),
      );
    }
    for (const options of [{ mapSideCombine: true }, { mapSideCombine: false }, { partitions: 1, memoryBudgetMb: 0.005, chunkSize: 50 }]) {
      const tempDir = await spillRoot();
      const sums = await flow(lines)
        .pipe(aggregateByKey(k.csvPair, k.exactSum, 0 as number | bigint, { pool, combine: k.exactAdd, tempDir, ...options }))
        .toArray();
      expect(new Map(sums)).toEqual(expected);
      expect(sums).toHaveLength(300);
      expect(typeof new Map(sums).get('k0')).toBe('bigint');
      expect(await readdir(tempDir)).toEqual([]);
    }
  });

  it('number and string keys together, spilled: merged in key order (numbers first), each key once', async () => {
    const lines = Array.from({ length: 4000 }, (_, i) => `${i % 2 === 0 ? 'n' : 's'}${i % 700},${i}`);
    const tempDir = await spillRoot();
    const sums = await flow(lines)
      .pipe(aggregateByKey(k.mixedPair, aggregations.sum, { pool, partitions: 1, memoryBudgetMb: 0.005, tempDir, chunkSize: 100 }))
      .toArray();
    const expected = new Map<string | number, number>();
    for (const line of lines) {
      const [key, value] = line.split(',') as [string, string];
      const typed = key.startsWith('n') ? Number(key.slice(1)) : key;
      expected.set(typed, (expected.get(typed) ?? 0) + Number(value));
    }
    expect(sums).toEqual([...expected].sort(([a], [b]) => compareKeys(a, b)));
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('keys longer than a record holds inline (their units in the arena): spilled, merged and found again exactly', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `customer-${String(i % 1200).padStart(6, '0')}-${'é'.repeat(i % 3)},${i}`);
    const tempDir = await spillRoot();
    for (const options of [{}, { partitions: 1, memoryBudgetMb: 0.01, tempDir, chunkSize: 100 }]) {
      const sums = await flow(lines)
        .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool, ...options }))
        .toArray();
      expect(sorted(sums)).toEqual(serialSums(lines));
    }
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('counts values that are not numbers (they travel serialized, the counts stay in the table)', async () => {
    const lines = csv(3000, 40);
    const counts = await flow(lines)
      .pipe(aggregateByKey(k.objectValues, aggregations.count, { pool }))
      .toArray();
    expect(sorted(counts)).toEqual(serialSums(lines).map(([key]) => [key, 3000 / 40]));
  });

  it('hands its results a batch at a time to a sink, and one at a time to for await', async () => {
    const lines = csv(30_000, 20_000);
    const viaSink = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool }))
      .toArray();
    const viaLoop: [string, number][] = [];
    for await (const pair of flow(lines).pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool }))) viaLoop.push(pair);
    expect(sorted(viaSink)).toEqual(serialSums(lines));
    expect(sorted(viaLoop)).toEqual(serialSums(lines));
  });
});

describe('aggregateByKey: errors', () => {
  it('a pairs task that throws fails the flow with a TaskError naming the item', async () => {
    const lines = [...csv(500, 10), 'bad,1', ...csv(10, 10)];
    const error = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).item).toBe('bad,1');
    expect((error as TaskError).index).toBe(500);
    expect(((error as TaskError).cause as Error).message).toBe('cannot read bad,1');
    expect(liveOwnerThreads()).toBe(0);
  });

  it('onError drops the failing item and keeps the rest', async () => {
    const failures: unknown[] = [];
    const lines = ['a,1', 'bad,5', 'a,2', 'b,3'];
    const sums = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool, onError: (e) => failures.push(e.message) }))
      .toArray();
    expect(sorted(sums)).toEqual([
      ['a', 3],
      ['b', 3],
    ]);
    expect(failures).toHaveLength(1);
  });

  it('a key that is not a string or number fails with a TaskError naming the item', async () => {
    const error = await flow([1, 2])
      .pipe(aggregateByKey(k.objectKey as never, aggregations.sum, { pool }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    expect(((error as TaskError).cause as Error).message).toMatch(/a key must be a string or a number/);
  });

  it('a fold that throws in an owner fails with a PartitionOwnerError naming the key', async () => {
    const error = await flow(['a,1', 'b,2', 'c,-3', 'd,4'])
      .pipe(aggregateByKey(k.csvPair, k.sumNonNegative, 0, { pool }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartitionOwnerError);
    const owner = error as PartitionOwnerError;
    expect(owner.problem).toBe('task-failed');
    expect(owner.key).toBe('c');
    expect(owner.partition).toBe(partitionOf('c', 2));
    expect((owner.cause as Error).message).toBe('negative value -3');
    expect(liveOwnerThreads()).toBe(0);
  });

  it('an owner that dies fails the flow with a PartitionOwnerError, never a silent loss', async () => {
    const lines = [...csv(200, 20), 'x,666', ...csv(200, 20)];
    const error = await flow(lines)
      .pipe(aggregateByKey(k.csvPair, k.sumOrDie, 0, { pool, partitions: 2, chunkSize: 20 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartitionOwnerError);
    expect((error as PartitionOwnerError).problem).toBe('crashed');
    expect((error as PartitionOwnerError).partition).toBe(partitionOf('x', 2));
    expect((error as PartitionOwnerError).exitCode).toBe(7);
    expect(liveOwnerThreads()).toBe(0);
  });

  it('checks its options when built', () => {
    expect(() => aggregateByKey(k.csvPair, aggregations.sum, { partitions: 0 })).toThrow(InvalidOptionError);
    expect(() => aggregateByKey(k.csvPair, aggregations.sum, { memoryBudgetMb: -1 })).toThrow(InvalidOptionError);
    expect(() => aggregateByKey(k.csvPair, k.sum, 0, { chunkSize: 0 })).toThrow(InvalidOptionError);
    expect(() => aggregateByKey(k.csvPair, k.collect, Object.assign([] as number[], { f: () => 0 }))).toThrow(/initial/);
    expect(liveOwnerThreads()).toBe(0);
  });

  it('refuses a remote pool (BullMQ): its owners are threads of this process', async () => {
    let runs = 0;
    const remote: PoolBackend = {
      capacity: 1,
      remote: true,
      run: () => {
        runs++;
        return Promise.reject(new Error('not here'));
      },
      close: () => Promise.resolve(),
    };
    await using far = createPool({ backend: remote });
    const error: unknown = await flow(csv(10, 2))
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool: far }))
      .toArray()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/a local pool/);
    expect(runs).toBe(0);
    expect(liveOwnerThreads()).toBe(0);
  });
});

describe('aggregateByKey: abort and break', () => {
  it('abort stops it: rejects with the reason, owners ended, spilled runs removed, the pool still usable', async () => {
    const tempDir = await spillRoot();
    const controller = new AbortController();
    const reason = new Error('stop');
    async function* lines(): AsyncGenerator<string> {
      for (let i = 0; ; i++) {
        if (i === 3000) controller.abort(reason);
        yield `k${i},${i}`;
      }
    }
    const error = await flow(lines(), { signal: controller.signal })
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool, memoryBudgetMb: 0.01, tempDir, chunkSize: 100 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBe(reason);
    await ownersSettled();
    expect(liveOwnerThreads()).toBe(0);
    expect(await readdir(tempDir)).toEqual([]);
    const again = await flow(csv(100, 5))
      .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool }))
      .toArray();
    expect(sorted(again)).toEqual(serialSums(csv(100, 5)));
  });

  it('break stops it: owners ended, spilled runs removed', async () => {
    const tempDir = await spillRoot();
    const taken: [string, number][] = [];
    for await (const pair of flow(csv(4000, 4000)).pipe(
      aggregateByKey(k.csvPair, aggregations.sum, { pool, memoryBudgetMb: 0.02, tempDir }),
    )) {
      taken.push(pair);
      if (taken.length === 3) break;
    }
    expect(taken).toHaveLength(3);
    await ownersSettled();
    expect(liveOwnerThreads()).toBe(0);
    expect(await readdir(tempDir)).toEqual([]);
  });
});

describe('aggregateByKey: pools and blocks', () => {
  it('gives the same answer on a cold pool and on the same pool warm', async () => {
    const cold = createPool({ threads: 2 });
    try {
      const lines = csv(2000, 50);
      const first = await flow(lines)
        .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool: cold }))
        .toArray();
      const second = await flow(lines)
        .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool: cold }))
        .toArray();
      expect(sorted(first)).toEqual(serialSums(lines));
      expect(sorted(second)).toEqual(serialSums(lines));
    } finally {
      await cold.close();
    }
  });

  it('runs its pairs task in child processes too (isolation: process)', async () => {
    const processes = createPool({ threads: 2, isolation: 'process' });
    try {
      const lines = csv(3000, 70);
      const sums = await flow(lines)
        .pipe(aggregateByKey(k.csvPair, aggregations.sum, { pool: processes }))
        .toArray();
      expect(sorted(sums)).toEqual(serialSums(lines));
    } finally {
      await processes.close();
    }
  });

  it('folds the lines of a file read as blocks in the workers', async () => {
    const lines = csv(20_000, 999);
    const file = join(dir, 'pairs.csv');
    await writeFile(file, `${lines.join('\n')}\n`);
    const sums = await readBlocks(file, { blockSize: 16 * 1024 })
      .pipe(aggregateByKey(k.blockPairs, aggregations.sum, { pool }))
      .toArray();
    expect(sorted(sums)).toEqual(serialSums(lines));
  });
});
