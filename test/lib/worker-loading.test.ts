// How workers find their code from the source tree: the test run's compiled copy
// (test/setup/compiled-copy.ts, lib/backends/load-entry.mjs), and tsx when there is none, as for a
// user who runs millrace's source or their own TypeScript task modules.
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createPool, flow, parallelMap, tasks } from 'millrace';

const loading = tasks<typeof import('../fixtures/loading.tasks.js')>(new URL('../fixtures/loading.tasks.js', import.meta.url));
const sourceModule = new URL('../fixtures/loading.tasks.ts', import.meta.url).href;
const sourceLibrary = new URL('../../lib/index.ts', import.meta.url).href;

async function whereFrom(isolation: 'thread' | 'process'): Promise<{ module: string; millrace: string; counter: boolean }> {
  await using pool = createPool({ threads: 1, isolation });
  const [where] = await flow([1]).pipe(parallelMap(loading.whereFrom, { pool })).toArray();
  return where!;
}

describe('workers started from the source tree', () => {
  const copy = process.env.MILLRACE_COMPILED_COPY;

  it('load the compiled copy of the test run, task modules and millrace alike (threads and processes)', async () => {
    expect(copy, 'the global setup names the copy').toBeTruthy();
    const copyUrl = `${pathToFileURL(copy!).href}/`;
    for (const isolation of ['thread', 'process'] as const) {
      const where = await whereFrom(isolation);
      expect(where.module).toBe(`${copyUrl}test/fixtures/loading.tasks.js`);
      expect(where.millrace).toBe(`${copyUrl}lib/index.js`);
      expect(where.counter).toBe(true);
    }
  });

  it('without a copy, register tsx: the TypeScript source runs, and `millrace` is the source tree (threads and processes)', async () => {
    delete process.env.MILLRACE_COMPILED_COPY;
    try {
      for (const isolation of ['thread', 'process'] as const) {
        const where = await whereFrom(isolation);
        expect(where.module).toBe(sourceModule);
        expect(where.millrace).toBe(sourceLibrary);
        expect(where.counter).toBe(true);
      }
    } finally {
      process.env.MILLRACE_COMPILED_COPY = copy;
    }
  });
});
