import * as fs from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { glob, InvalidOptionError, take } from 'millrace';

let dir: string;
const DIRS = 60;
const FILES_PER_DIR = 5;

/** fast-glob's `fs` option with a readdir that counts its calls. */
function countingFs(): { calls: () => number; adapter: typeof fs } {
  let count = 0;
  const readdir = ((...args: Parameters<typeof fs.readdir>) => {
    count++;
    (fs.readdir as (...a: unknown[]) => void)(...args);
  }) as typeof fs.readdir;
  return { calls: () => count, adapter: { ...fs, readdir } };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-glob-'));
  for (let d = 0; d < DIRS; d++) {
    const sub = join(dir, `d${String(d).padStart(2, '0')}`);
    await mkdir(sub);
    for (let f = 0; f < FILES_PER_DIR; f++) await writeFile(join(sub, `f${f}.log.gz`), '');
    await writeFile(join(sub, 'readme.txt'), '');
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('glob', () => {
  it('finds the matching paths, sorted on request', async () => {
    const sorted = await glob('**/*.log.gz', { cwd: dir, sort: true }).toArray();
    expect(sorted).toHaveLength(DIRS * FILES_PER_DIR);
    expect(sorted[0]).toBe('d00/f0.log.gz');
    expect(sorted.at(-1)).toBe(`d${DIRS - 1}/f${FILES_PER_DIR - 1}.log.gz`);
    expect([...sorted].sort()).toEqual(sorted);
    const unsorted = await glob(['**/*.log.gz', '!d00/**'], { cwd: dir }).toArray();
    expect(unsorted.sort()).toEqual(sorted.filter((p) => !p.startsWith('d00/')));
  });

  it('passes fast-glob options through', async () => {
    const absolute = await glob('d01/*.txt', { cwd: dir, absolute: true }).toArray();
    expect(absolute).toEqual([join(dir, 'd01', 'readme.txt')]);
  });

  it('gives an empty flow when nothing matches', async () => {
    expect(await glob('*.nothing', { cwd: dir }).toArray()).toEqual([]);
  });

  it('does not walk until consumed', async () => {
    const counter = countingFs();
    const paths = glob('**/*.log.gz', { cwd: dir, fs: counter.adapter });
    await new Promise((resolve) => setImmediate(resolve));
    expect(counter.calls()).toBe(0);
    expect(await paths.toArray()).toHaveLength(DIRS * FILES_PER_DIR);
    expect(counter.calls()).toBe(DIRS + 1);
  });

  it('stops the walk when the flow ends early', async () => {
    const counter = countingFs();
    // One directory at a time, so the walk cannot finish before the first path arrives.
    const first = await glob('**/*.log.gz', { cwd: dir, fs: counter.adapter, concurrency: 1 }).pipe(take(1)).toArray();
    expect(first).toHaveLength(1);
    const atStop = counter.calls();
    // Let any readdir already in flight complete and its callback run.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(counter.calls()).toBeLessThan(DIRS / 2);
    expect(counter.calls() - atStop).toBeLessThanOrEqual(1);
  });

  it('rejects patterns that are not strings, at once', () => {
    expect(() => glob(42 as unknown as string)).toThrow(InvalidOptionError);
  });

  it('stops with the signal reason when aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(glob('**/*', { cwd: dir, signal: controller.signal }).toArray()).rejects.toBe(reason);
  });
});
