import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bind,
  createPool,
  flow,
  InvalidOptionError,
  parallelMap,
  starMap,
  TaskLoadError,
  tasks,
  unorderedMap,
  type ChunkRequest,
  type Tasks,
} from 'millrace';
import { resolveTaskModule } from '../../lib/tasks.js';
import type { SetupReport } from '../fixtures/setup.tasks.js';

type MathTasks = typeof import('../fixtures/math.tasks.js');
const mathUrl = new URL('../fixtures/math.tasks.js', import.meta.url);
const math = tasks<MathTasks>(mathUrl);
const pool = createPool({ threads: 2 });
const scratch = mkdtempSync(join(tmpdir(), 'millrace-tasks-'));
afterAll(async () => {
  await pool.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('tasks references', () => {
  it('are not thenable, so they can be returned from an async function', async () => {
    const load = async (): Promise<Tasks<MathTasks>> => tasks<MathTasks>(mathUrl);
    const loaded = await load();
    expect('then' in loaded).toBe(false);
    expect((loaded as unknown as { then?: unknown }).then).toBeUndefined();
    expect((loaded as unknown as Record<symbol, unknown>)[Symbol.toPrimitive]).toBeUndefined();
    expect(await flow([4]).pipe(parallelMap(loaded.square, { pool })).toArray()).toEqual([16]);
  });

  it('are plain data: a module URL, an export name, bound and setup arguments', () => {
    expect(math.square).toEqual({ moduleUrl: mathUrl.href, exportName: 'square', boundArgs: [], setupArgs: [] });
    expect(structuredClone(math.square)).toEqual(math.square);
    expect(math.square).toBe(math.square);
  });

  it('load nothing until used: a reference to a missing module is only an error when a flow runs it', async () => {
    const ghost = tasks<{ nothing(x: number): number }>(new URL('./no-such.tasks.js', import.meta.url));
    const op = parallelMap(ghost.nothing, { pool });
    await expect(flow([1]).pipe(op).toArray()).rejects.toBeInstanceOf(TaskLoadError);
  });

  it('name the functions a module does export when the export is missing', async () => {
    const wrong = tasks<{ sqaure(x: number): number }>(mathUrl);
    const error: unknown = await flow([1])
      .pipe(parallelMap(wrong.sqaure, { pool }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskLoadError);
    expect((error as TaskLoadError).exportName).toBe('sqaure');
    expect((error as TaskLoadError).available).toContain('square');
  });
});

describe('values crossing threads', () => {
  it('are structured clones: a Map subclass comes back as a plain Map, a Date as a Date', async () => {
    class Counts extends Map<string, number> {}
    const [counts, date] = await flow<unknown>([new Counts([['a', 1]]), new Date(0)])
      .pipe(parallelMap(math.identity, { pool }))
      .toArray();
    expect(counts).toBeInstanceOf(Map);
    expect(counts).not.toBeInstanceOf(Counts);
    expect([...(counts as Map<string, number>)]).toEqual([['a', 1]]);
    expect(date).toEqual(new Date(0));
  });

  it('a Buffer arrives as a plain Uint8Array with the same bytes', async () => {
    const [bytes] = await flow([Buffer.from('hi')])
      .pipe(parallelMap(math.identity, { pool }))
      .toArray();
    expect(Buffer.isBuffer(bytes)).toBe(false);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes as Uint8Array).toString()).toBe('hi');
  });
});

describe('operators given something else than a task reference', () => {
  it('throw an InvalidOptionError when built', () => {
    const double = (x: number): number => x * 2;
    expect(() => parallelMap(double as never)).toThrow(InvalidOptionError);
    expect(() => parallelMap(double as never)).toThrow(/task reference/);
    expect(() => unorderedMap(undefined as never)).toThrow(InvalidOptionError);
    expect(() => starMap({ exportName: 'add' } as never)).toThrow(InvalidOptionError);
  });
});

describe('task module URLs', () => {
  it('resolve a TypeScript-style .js URL to the .ts source when only that exists', async () => {
    expect(existsSync(fileURLToPath(mathUrl))).toBe(false);
    expect(resolveTaskModule(mathUrl.href)).toBe(new URL('../fixtures/math.tasks.ts', import.meta.url).href);
    expect(await flow([1, 2, 3]).pipe(parallelMap(math.square, { pool })).toArray()).toEqual([1, 4, 9]);
  });

  it('keep a .js/.mjs URL that exists, and run a plain JavaScript task module', async () => {
    const file = join(scratch, 'plain.tasks.mjs');
    writeFileSync(file, 'export function triple(x) { return 3 * x; }\n');
    const url = pathToFileURL(file).href;
    expect(resolveTaskModule(url)).toBe(url);
    const plain = tasks<{ triple(x: number): number }>(url);
    expect(await flow([1, 2]).pipe(parallelMap(plain.triple, { pool })).toArray()).toEqual([3, 6]);
  });

  it('load a task module that imports millrace itself, from source', async () => {
    const selfImport = tasks<typeof import('../fixtures/self-import.tasks.js')>(
      new URL('../fixtures/self-import.tasks.js', import.meta.url),
    );
    expect(
      await flow([[1, 2, 3], [10]])
        .pipe(parallelMap(selfImport.sumOfDoubles, { pool }))
        .toArray(),
    ).toEqual([12, 20]);
  });

  it('accept the .ts source URL itself', async () => {
    const direct = tasks<MathTasks>(new URL('../fixtures/math.tasks.ts', import.meta.url));
    expect(resolveTaskModule(direct.square.moduleUrl)).toBe(direct.square.moduleUrl);
    expect(await flow([6]).pipe(parallelMap(direct.square, { pool })).toArray()).toEqual([36]);
  });

  it('accept a path string relative to the working directory', async () => {
    const relative = tasks<MathTasks>('test/fixtures/math.tasks.js');
    expect(relative.square.moduleUrl).toBe(mathUrl.href);
    expect(await flow([5]).pipe(parallelMap(relative.square, { pool })).toArray()).toEqual([25]);
  });
});

describe('setup export', () => {
  it('runs once per worker, with the setupArgs, before the module’s first task there', async () => {
    const setupArgs = ['en-US', { scale: 2 }];
    const withSetup = tasks<typeof import('../fixtures/setup.tasks.js')>(new URL('../fixtures/setup.tasks.js', import.meta.url), {
      setupArgs,
    });
    const own = createPool({ threads: 2 });
    try {
      const reports: SetupReport[] = await flow(Array.from({ length: 40 }, (_, i) => i))
        .pipe(parallelMap(withSetup.report, { pool: own, chunkSize: 1 }))
        .toArray();
      expect(reports.map((r) => r.x)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      for (const report of reports) {
        expect(report.setupCalls).toBe(1);
        expect(report.setupArgs).toEqual(setupArgs);
      }
      expect(new Set(reports.map((r) => r.threadId)).size).toBeLessThanOrEqual(2);
    } finally {
      await own.close();
    }
  });

  it('is not itself a task reference', () => {
    const withSetup = tasks<typeof import('../fixtures/setup.tasks.js')>(new URL('../fixtures/setup.tasks.js', import.meta.url));
    // @ts-expect-error `setup` is run by the workers, not called as a task
    expect(withSetup.setup).toBeDefined();
  });
});

describe('bind', () => {
  it('binds leading constant arguments, as functools.partial does', async () => {
    const tenfold = bind(math.scale, 10);
    expect(tenfold.boundArgs).toEqual([10]);
    expect(math.scale.boundArgs).toEqual([]);
    expect(await flow([1, 2]).pipe(parallelMap(tenfold, { pool })).toArray()).toEqual([10, 20]);
  });

  it('binds in steps, and composes with starMap’s spread arguments', async () => {
    const addHundred = bind(math.add, 100);
    expect(
      await flow([[1], [2]] as [number][])
        .pipe(starMap(addHundred, { pool }))
        .toArray(),
    ).toEqual([101, 102]);
    const fixed = bind(addHundred, 5);
    expect(fixed.boundArgs).toEqual([100, 5]);
    expect(
      await flow([[]] as [][])
        .pipe(starMap(fixed, { pool }))
        .toArray(),
    ).toEqual([105]);
  });

  it('sends bound values once per chunk, not with every item', async () => {
    const requests: ChunkRequest[] = [];
    const capturing = createPool({
      backend: {
        capacity: pool.backend.capacity,
        run: (request, options) => {
          requests.push(request);
          return pool.backend.run(request, options);
        },
        close: async () => undefined,
      },
    });
    const input = Array.from({ length: 20 }, (_, i) => i);
    const output = await flow(input)
      .pipe(parallelMap(bind(math.scale, 3), { pool: capturing, chunkSize: 5 }))
      .toArray();
    expect(output).toEqual(input.map((x) => 3 * x));
    expect(requests).toHaveLength(4);
    for (const request of requests) {
      expect(request.mode).toBe('call');
      if (request.mode !== 'call') continue;
      expect(request.task.boundArgs).toEqual([3]);
      expect(request.items).toHaveLength(5);
      expect(request.items.every((item) => typeof item === 'number')).toBe(true);
    }
  });
});
