// Helpers shared by the reliability tests: temp dirs that tasks mark their progress in, and
// ways to wait on those marks and on failing flows.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createPool, TaskError, type Pool, type PoolOptions, type WorkerCrashedError } from 'millrace';

/** 0, 1, ..., n - 1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** A maker of temp dirs (named after `prefix`) that are all removed after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), `millrace-${prefix}-`));
    dirs.push(dir);
    return dir;
  };
}

/**
 * A pool shared by a file's tests that need no pool of their own (none ends a worker, none asserts
 * what a cold pool does): made at first use, closed after the file's tests. Each new pool starts
 * its worker threads, and each thread loads tsx and the library (about 0.25 s of CPU).
 */
export function filePool(options: PoolOptions): () => Pool {
  let pool: Pool | undefined;
  afterAll(async () => {
    await pool?.close();
  });
  return () => (pool ??= createPool(options));
}

/** What the promise rejected with; throws if it fulfilled. */
export async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the flow to fail');
}

/** Waits (polling, up to ~10 s) for a task to create a marker file; throws if it never does. */
export async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 2_000 && !existsSync(path); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!existsSync(path)) throw new Error(`${path} never appeared`);
}

/**
 * An `onError` for tests that expect only task failures: hands each `TaskError` to `sink`, and
 * fails the flow with anything else (a `WorkerCrashedError` would mean a worker died unexpectedly).
 */
export function onlyTaskErrors(sink: (error: TaskError) => unknown): (error: TaskError | WorkerCrashedError) => void {
  return (error) => {
    if (!(error instanceof TaskError)) throw error;
    sink(error);
  };
}
