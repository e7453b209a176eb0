// A task module's `teardown()` export: run once per worker when the worker leaves (pool closed,
// idle timeout, recycled), after the module's setup and tasks; bounded; its errors reported.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bind, createPool, flow, parallelMap, tasks } from 'millrace';
import { range, tempDirs } from './helpers.js';
import { nodeScript } from '../fixtures/node-script.js';

const tempDir = tempDirs('teardown');
const url = new URL('../fixtures/teardown.tasks.js', import.meta.url);
const withLog = (log: string, mode = 'ok') => tasks<typeof import('../fixtures/teardown.tasks.js')>(url, { setupArgs: [log, mode] });

/** The log's events, grouped by thread id, in order. */
function eventsByThread(log: string): Map<string, string[]> {
  const byThread = new Map<string, string[]>();
  const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  for (const line of lines) {
    const [event, thread] = line.split(' ') as [string, string];
    byThread.set(thread, [...(byThread.get(thread) ?? []), event]);
  }
  return byThread;
}

/** Each thread's events with runs of 'task' folded into one, to compare orders. */
function shapes(log: string): string[] {
  return [...eventsByThread(log).values()].map((events) =>
    events.filter((event, i) => event !== 'task' || events[i - 1] !== 'task').join(' → '),
  );
}

/** Polls (up to ~10 s) until `done()` holds: the test waits for the worker's idle timeout, not for a duration. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2_000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(done()).toBe(true);
}

describe('teardown()', () => {
  it('runs once per worker when the pool is closed, after setup and every task of that worker', async () => {
    const log = join(tempDir(), 'events');
    const module = withLog(log);
    const pool = createPool({ threads: 2 });
    expect(
      await flow(range(200))
        .pipe(parallelMap(module.work, { pool, chunkSize: 5 }))
        .toArray(),
    ).toEqual(range(200).map((x) => x * 2));
    expect(shapes(log).every((shape) => shape === 'setup → task')).toBe(true);
    await pool.close();
    const after = shapes(log);
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.every((shape) => shape === 'setup → task → teardown')).toBe(true);
  });

  it('runs when an idle worker times out, without the pool being closed', async () => {
    const log = join(tempDir(), 'events');
    await using pool = createPool({ threads: 1, idleTimeoutMs: 50 });
    await flow(range(3))
      .pipe(parallelMap(withLog(log).work, { pool }))
      .toArray();
    await until(() => shapes(log).includes('setup → task → teardown'));
    await until(() => pool.liveThreads === 0);
  });

  it('runs once for each module instance (one per distinct setupArgs)', async () => {
    const dir = tempDir();
    const [a, b] = [join(dir, 'a'), join(dir, 'b')];
    const pool = createPool({ threads: 1 });
    await flow(range(3))
      .pipe(parallelMap(withLog(a).work, { pool }))
      .toArray();
    await flow(range(3))
      .pipe(parallelMap(withLog(b).work, { pool }))
      .toArray();
    await pool.close();
    expect(shapes(a)).toEqual(['setup → task → teardown']);
    expect(shapes(b)).toEqual(['setup → task → teardown']);
  });

  it('close() ends a worker stuck in a task at once, without its teardown (the task may still use what it releases)', async () => {
    const log = join(tempDir(), 'events');
    const module = withLog(log);
    // A teardown bound far beyond the test's timeout: close must not wait for it.
    const pool = createPool({ threads: 1, teardownTimeoutMs: 120_000 });
    const running = flow([7])
      .pipe(parallelMap(bind(module.spinOn, 7), { pool }))
      .toArray();
    running.catch(() => undefined);
    await until(() => shapes(log).includes('setup → task'));
    await pool.close();
    await expect(running).rejects.toThrow(/closed/);
    expect(shapes(log)).toEqual(['setup → task']);
  });

  it('a teardown that throws, rejects or hangs is reported on stderr naming the module; the others still run and close returns', async () => {
    const log = join(tempDir(), 'events');
    const script = fileURLToPath(new URL('../fixtures/scripts/teardown-errors.ts', import.meta.url));
    // From the test run's compiled copy (see nodeScript) the script names the copy's teardown.tasks.js.
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [...nodeScript(script), log],
        { timeout: 45_000, killSignal: 'SIGKILL' },
        (_error, out, err) => resolve({ code: child.exitCode, stdout: out, stderr: err }),
      );
    });
    expect({ code, stdout }).toEqual({ code: 0, stdout: 'closed\n' });
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^millrace: teardown\(\) of task module file:.*teardown\.tasks\.[jt]s.* failed: .*the connection would not close/,
    );
    expect(lines[1]).toMatch(
      /^millrace: teardown\(\) of task module file:.*teardown\.tasks\.[jt]s\?millrace-setup=1 failed: .*flush failed/,
    );
    expect(lines[2]).toMatch(
      /^millrace: teardown\(\) of task module file:.*teardown\.tasks\.[jt]s\?millrace-setup=2 did not finish within 300 ms/,
    );
    // All three ran, in load order, on the one worker.
    expect([...eventsByThread(log).values()].map((events) => events.filter((event) => event !== 'task'))).toEqual([
      ['setup', 'setup', 'setup', 'teardown', 'teardown', 'teardown'],
    ]);
  });
});
