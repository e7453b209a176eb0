// Checkpoints in one process: incremental reruns (new, changed, removed inputs), a changed task
// never reusing records, damaged and foreign checkpoints, the lock, keys, and readBlocks pipelines.
// Task calls are counted with the marker files the fixture tasks write.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  bind,
  checkpoint,
  CheckpointError,
  createPool,
  defineOperator,
  dispatch,
  flow,
  InvalidOptionError,
  parallelMap,
  readBlocks,
  reduceBy,
  starMap,
  take,
  tasks,
  unorderedMap,
  type Block,
} from 'millrace';
import { failure, tempDirs } from '../reliability/helpers.js';

const t = tasks<typeof import('../fixtures/checkpoint.tasks.js')>(new URL('../fixtures/checkpoint.tasks.js', import.meta.url));
const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const blocks = tasks<typeof import('../fixtures/blocks.tasks.js')>(new URL('../fixtures/blocks.tasks.js', import.meta.url));
const pool = createPool({ threads: 2 });
afterAll(() => pool.close());
const tempDir = tempDirs('ckpt');

let markers: string;
beforeEach(() => {
  markers = tempDir();
});

/** The inputs the tasks ran since the last call (marker names start with the input), sorted; clears them. */
function ran(): string[] {
  const names = readdirSync(markers);
  for (const name of names) rmSync(join(markers, name));
  return names.map((name) => name.split('.')[0]!).sort();
}

/** Warnings emitted while `run` runs. */
async function warningsOf<T>(run: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const listener = (warning: Error): void => void warnings.push(warning.message);
  process.on('warning', listener);
  try {
    return { value: await run(), warnings };
  } finally {
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', listener);
  }
}

const squares = (dir: string, input: number[], task = t.square) =>
  flow(input)
    .pipe(parallelMap(bind(task, markers), { pool, checkpoint: checkpoint<number>(dir, { key: String }) }))
    .toArray();

describe('checkpoint: incremental reruns', () => {
  let logs: string;
  const writeLog = (name: string, text: string): void => writeFileSync(join(logs, name), text);
  const analyse = async (dir: string, options: { fingerprint?: 'content' } = {}) => {
    const ckpt = checkpoint(dir, options);
    const files = readdirSync(logs)
      .sort()
      .map((name) => join(logs, name));
    const results = await flow(files)
      .pipe(unorderedMap(bind(t.wordCounts, markers), { pool, checkpoint: ckpt }))
      .toArray();
    return { results: results.sort((a, b) => a.path.localeCompare(b.path)), resumed: ckpt.resumed, computed: ckpt.computed };
  };
  beforeEach(() => {
    logs = tempDir();
    writeLog('a.log', 'get a get b');
    writeLog('b.log', 'get c');
    writeLog('c.log', 'put a');
  });

  it('runs only new and changed inputs, leaves out removed ones, and equals a fresh run', async () => {
    const dir = join(tempDir(), 'ckpt');
    const first = await analyse(dir);
    expect(ran()).toEqual(['a', 'b', 'c']);
    expect(first).toMatchObject({ resumed: 0, computed: 3 });
    expect(first.results[0]).toEqual({
      path: 'a.log',
      counts: new Map([
        ['get', 2],
        ['a', 1],
        ['b', 1],
      ]),
    });

    const again = await analyse(dir);
    expect(ran()).toEqual([]);
    expect(again).toEqual({ ...first, resumed: 3, computed: 0 });

    writeLog('d.log', 'new day');
    writeLog('b.log', 'get c get c'); // changed: another size
    rmSync(join(logs, 'c.log'));
    const incremental = await analyse(dir);
    expect(ran()).toEqual(['b', 'd']);
    expect(incremental).toMatchObject({ resumed: 1, computed: 2 });
    const fresh = await analyse(join(tempDir(), 'fresh'));
    ran();
    expect(incremental.results).toEqual(fresh.results);
  });

  it("sees a same-size rewrite with an old mtime only with fingerprint: 'content'", async () => {
    const dir = join(tempDir(), 'ckpt');
    await analyse(dir, { fingerprint: 'content' });
    ran();
    const path = join(logs, 'a.log');
    writeLog('a.log', 'got a got b'); // same size
    utimesSync(path, new Date(0), new Date(0));
    const rerun = await analyse(dir, { fingerprint: 'content' });
    expect(ran()).toEqual(['a']);
    expect(rerun.results[0]!.counts.get('got')).toBe(2);
  });
});

describe('checkpoint: a changed task never reuses results', () => {
  it('another export, other bound arguments, another code version: all run again', async () => {
    const dir = join(tempDir(), 'ckpt');
    const input = [1, 2, 3];
    const expected = input.map((x) => ({ x, square: x * x }));
    expect(await squares(dir, input)).toEqual(expected);
    expect(ran()).toEqual(['1', '2', '3']);
    expect(await squares(dir, input)).toEqual(expected);
    expect(ran()).toEqual([]);
    // Another export with the same code.
    expect(await squares(dir, input, t.squareAgain)).toEqual(expected);
    expect(ran()).toEqual(['1', '2', '3']);
    // Other bound arguments (another markers folder: the calls are counted there).
    const elsewhere = tempDir();
    await flow(input)
      .pipe(parallelMap(bind(t.square, elsewhere), { pool, checkpoint: checkpoint<number>(dir, { key: String }) }))
      .toArray();
    expect(readdirSync(elsewhere)).toHaveLength(3);
    // Another code version.
    const versioned = (codeVersion: string) =>
      flow(input)
        .pipe(parallelMap(bind(t.square, markers), { pool, checkpoint: checkpoint<number>(dir, { key: String, codeVersion }) }))
        .toArray();
    await versioned('v2');
    expect(ran()).toEqual(['1', '2', '3']);
    await versioned('v2');
    expect(ran()).toEqual([]);
    // Another kind of step over the same module: starMap spreads its items.
    const pairs: [string, number][] = input.map((x) => [markers, x]);
    expect(
      await flow(pairs)
        .pipe(starMap(t.square, { pool, checkpoint: checkpoint<[string, number]>(dir, { key: (p) => String(p[1]) }) }))
        .toArray(),
    ).toEqual(expected);
    expect(ran()).toEqual(['1', '2', '3']);
  });
});

describe('checkpoint: the log', () => {
  it('is compacted once superseded records outnumber live ones: changed inputs do not grow it without end', async () => {
    const dir = join(tempDir(), 'ckpt');
    const input = Array.from({ length: 20 }, (_, i) => i);
    const run = async (version: number): Promise<number> => {
      const ckpt = checkpoint<number>(dir, { key: String, fingerprint: () => `v${version}` });
      const values = await flow(input)
        .pipe(parallelMap(bind(t.square, markers), { pool, checkpoint: ckpt }))
        .toArray();
      expect(values.map((v) => v.square)).toEqual(input.map((x) => x * x));
      return ckpt.resumed;
    };
    expect(await run(1)).toBe(0);
    const oneRun = readFileSync(join(dir, 'records.log')).length;
    for (let version = 2; version <= 6; version++) expect(await run(version)).toBe(0);
    // Every run changed every input: without compaction the log would hold 5 runs' records.
    expect(readFileSync(join(dir, 'records.log')).length).toBeLessThanOrEqual(2 * oneRun);
    expect(await run(6)).toBe(20);
    expect(ran()).toHaveLength(20 * 6);
  });
});

describe('checkpoint: damaged or foreign checkpoints never give a wrong result', () => {
  const logOf = (dir: string): string => join(dir, 'records.log');

  it('a record damaged before the last fails the step with a CheckpointError naming the file', async () => {
    const dir = join(tempDir(), 'ckpt');
    await squares(dir, [1, 2, 3]);
    ran();
    const bytes = readFileSync(logOf(dir));
    bytes[20] = bytes[20]! ^ 0xff; // inside the first record
    writeFileSync(logOf(dir), bytes);
    const error = await failure(squares(dir, [1, 2, 3]));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error).toMatchObject({ reason: 'damaged', path: logOf(dir), offset: 8 });
    expect((error as Error).message).toContain(logOf(dir));
    expect(ran()).toEqual([]);
  });

  it('a torn last record (a kill mid-write) is dropped with a warning, and its input runs again', async () => {
    const dir = join(tempDir(), 'ckpt');
    await squares(dir, [1, 2, 3]);
    ran();
    const size = readFileSync(logOf(dir)).length;
    truncateSync(logOf(dir), size - 5);
    const { value, warnings } = await warningsOf(() => squares(dir, [1, 2, 3]));
    expect(value).toEqual([1, 2, 3].map((x) => ({ x, square: x * x })));
    expect(ran()).toHaveLength(1);
    expect(warnings.join('\n')).toMatch(/incomplete/);
    // The log was cut back and appended to: whole again.
    await squares(dir, [1, 2, 3]);
    expect(ran()).toEqual([]);
  });

  it('a folder that is not a checkpoint is refused, and left untouched', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const error = await failure(squares(dir, [1]));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error).toMatchObject({ reason: 'foreign', dir });
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    const other = tempDir();
    writeFileSync(join(other, 'checkpoint.json'), '{"format":"millrace-checkpoint","version":99}');
    expect(await failure(squares(other, [1]))).toMatchObject({ reason: 'foreign' });
    expect(ran()).toEqual([]);
  });
});

describe('checkpoint: one run at a time', () => {
  it('a lock held by a live process refuses the run, naming the process', async () => {
    const dir = join(tempDir(), 'ckpt');
    await squares(dir, [1]);
    ran();
    // The test runner's parent process: alive for the whole test.
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: process.ppid, host: (await import('node:os')).hostname() }));
    const error = await failure(squares(dir, [1]));
    expect(error).toMatchObject({ name: 'CheckpointError', reason: 'locked', pid: process.ppid });
    expect(ran()).toEqual([]);
  });

  it('a stale lock (its process is gone) is taken over with a warning', async () => {
    const dir = join(tempDir(), 'ckpt');
    await squares(dir, [1]);
    ran();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: Number(gone.stdout), host: (await import('node:os')).hostname() }));
    const { value, warnings } = await warningsOf(() => squares(dir, [1, 2]));
    expect(value).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/taking over the lock/);
    expect(ran()).toEqual(['2']);
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });

  it('two runs on one checkpoint at once: the second is refused, the first goes on', async () => {
    const dir = join(tempDir(), 'ckpt');
    const slow = (async function* () {
      yield 1;
      // The second run starts (and is refused) while this one holds the lock.
      const error = await failure(squares(dir, [1]));
      expect(error).toMatchObject({ name: 'CheckpointError', reason: 'locked', pid: process.pid });
      yield 2;
    })();
    const results = await flow(slow)
      .pipe(parallelMap(bind(t.square, markers), { pool, checkpoint: checkpoint<number>(dir, { key: String }) }))
      .toArray();
    expect(results.map((r) => r.x)).toEqual([1, 2]);
  });
});

describe('checkpoint: inputs and steps', () => {
  it('items that are neither paths nor blocks need a key function', async () => {
    const dir = join(tempDir(), 'ckpt');
    const error = await failure(
      flow([{ id: 1 }])
        .pipe(parallelMap(math.identity, { pool, checkpoint: checkpoint(dir) }))
        .toArray(),
    );
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/key function/);
  });

  it('the two-tier reduceBy folds one input a chunk, and refuses larger chunks', () => {
    const ckpt = checkpoint<number>(join(tempDir(), 'ckpt'), { key: String });
    expect(() =>
      reduceBy(t.parity, bind(t.collect, markers), [] as number[], { combine: (a, b) => [...a, ...b], checkpoint: ckpt, chunkSize: 8 }),
    ).toThrow(InvalidOptionError);
  });

  it('dispatch refuses a checkpoint it would not honour', async () => {
    const operator = defineOperator<number, number>('custom', (source, context) =>
      dispatch(source, context, {
        name: 'square',
        ordered: true,
        pool,
        checkpoint: checkpoint(join(tempDir(), 'ckpt')),
        request: (items) => ({ mode: 'call', task: math.square, items }),
        outputs: (response) => response.results,
      }),
    );
    expect(await failure(flow([1]).pipe(operator).toArray())).toBeInstanceOf(InvalidOptionError);
  });

  it('readBlocks: a range block is its file and range; with content fingerprints, appending reruns only the changed and new blocks', async () => {
    const dir = join(tempDir(), 'ckpt');
    const file = join(tempDir(), 'big.log');
    const line = (i: number): string => `line ${String(i).padStart(6, '0')} ${'x'.repeat(40)}\n`;
    writeFileSync(file, Array.from({ length: 400 }, (_, i) => line(i)).join(''));
    const counted: string[] = [];
    const count = async () => {
      const ckpt = checkpoint<Block>(dir, { fingerprint: 'content' });
      const counts = await readBlocks(file, { blockSize: 4096 })
        .pipe(parallelMap(blocks.lines, { pool, checkpoint: ckpt }))
        .toArray();
      counted.push(`${ckpt.resumed}/${ckpt.computed}`);
      return counts.reduce((sum, lines) => sum + lines.length, 0);
    };
    expect(await count()).toBe(400);
    expect(await count()).toBe(400);
    appendFileSync(file, Array.from({ length: 100 }, (_, i) => line(400 + i)).join(''));
    expect(await count()).toBe(500);
    const [first, second, third] = counted.map((c) => c.split('/').map(Number)) as [number[], number[], number[]];
    expect(first[0]).toBe(0);
    expect(second).toEqual([first[1], 0]);
    // The blocks before the old end keep their ranges and bytes; the last old one and the new ones run.
    expect(third[0]).toBeGreaterThan(0);
    expect(third[0]! + third[1]!).toBeGreaterThan(first[1]!);
    expect(third[1]).toBeLessThan(first[1]! + 4);
  });
});

describe('checkpoint: the task module changed', () => {
  it('a task module whose content changed (the default code version) never reuses results', async () => {
    const dir = join(tempDir(), 'ckpt');
    const modules = tempDir();
    const module = join(modules, 'scale.tasks.mjs');
    const run = async (): Promise<{ values: number[]; resumed: number }> => {
      // A pool of its own each time: a worker keeps the module it imported.
      const own = createPool({ threads: 1 });
      try {
        const ref = tasks<{ scale: (x: number) => number }>(pathToFileURL(module));
        const ckpt = checkpoint<number>(dir, { key: String });
        const values = await flow([1, 2])
          .pipe(parallelMap(ref.scale, { pool: own, checkpoint: ckpt }))
          .toArray();
        return { values, resumed: ckpt.resumed };
      } finally {
        await own.close();
      }
    };
    writeFileSync(module, 'export function scale(x) { return x * 2; }\n');
    expect(await run()).toEqual({ values: [2, 4], resumed: 0 });
    expect(await run()).toEqual({ values: [2, 4], resumed: 2 });
    writeFileSync(module, 'export function scale(x) { return x * 3; }\n');
    expect(await run()).toEqual({ values: [3, 6], resumed: 0 });
  });
});

describe('checkpoint: the step ends early', () => {
  it('a consumer that stops early (take) lets go of the lock, and what was recorded is kept', async () => {
    const dir = join(tempDir(), 'ckpt');
    const ckpt = checkpoint<number>(dir, { key: String });
    const first = await flow([1, 2, 3, 4, 5, 6])
      .pipe(parallelMap(bind(t.square, markers), { pool, checkpoint: ckpt, chunkSize: 1, maxInFlight: 1 }), take(2))
      .toArray();
    expect(first.map((r) => r.x)).toEqual([1, 2]);
    const ranBefore = ran();
    // At once: the rerun waits for the stopped step's close, it is not refused.
    const all = await squares(dir, [1, 2, 3, 4, 5, 6]);
    expect(all.map((r) => r.x)).toEqual([1, 2, 3, 4, 5, 6]);
    // Inputs 1 and 2 were recorded before the stop; what ran meanwhile may have been recorded too.
    expect(ran().filter((x) => x === '1' || x === '2')).toEqual([]);
    expect(ranBefore).toEqual(expect.arrayContaining(['1', '2']));
  });

  it('an aborted step lets go of the lock', async () => {
    const dir = join(tempDir(), 'ckpt');
    const controller = new AbortController();
    const source = (async function* () {
      yield 1;
      controller.abort(new Error('stop'));
      yield 2;
    })();
    const error = await failure(
      flow(source, { signal: controller.signal })
        .pipe(parallelMap(bind(t.square, markers), { pool, checkpoint: checkpoint<number>(dir, { key: String }) }))
        .toArray(),
    );
    expect((error as Error).message).toBe('stop');
    // At once, as with a stop: not refused, and the lock is gone after.
    expect(await squares(dir, [1, 2])).toHaveLength(2);
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });
});
