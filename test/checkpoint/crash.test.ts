// Real processes killed with SIGKILL at several points of a checkpointed job: the rerun's result
// equals the uninterrupted one, and only the inputs whose results were not yet durable (the chunks
// in flight, and records being written) run again. Task calls are counted with marker files.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../reliability/helpers.js';
import { feedThenKill } from '../fixtures/paced-job.js';
import { nodeScript } from '../fixtures/node-script.js';

const script = fileURLToPath(new URL('../fixtures/scripts/checkpoint-job.ts', import.meta.url));
const tempDir = tempDirs('ckpt-crash');
const N = 24;
/** The job's in-flight bound (chunks of one item): what a kill may leave unrecorded, with the records being written. */
const MAX_IN_FLIGHT = 2;

function start(dir: string, markers: string, step: string, paced: boolean): ChildProcess {
  return spawn(process.execPath, [...nodeScript(script), dir, markers, step, String(N), paced ? '1' : '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Runs the job to its end; its result and resumed count. */
async function runToEnd(dir: string, markers: string, step: string): Promise<{ result: unknown; resumed: number }> {
  const child = start(dir, markers, step, false);
  let out = '';
  child.stdout!.on('data', (data: Buffer) => (out += data.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
  const result = /^result (.*)$/m.exec(out)?.[1];
  const resumed = /^resumed (\d+)$/m.exec(out)?.[1];
  return { result: JSON.parse(result!) as unknown, resumed: Number(resumed) };
}

/** Runs the job, giving it items until it asks for item `killAt`, then kills it with SIGKILL. */
async function runAndKill(dir: string, markers: string, step: string, killAt: number): Promise<void> {
  expect(await feedThenKill(start(dir, markers, step, true), killAt)).toBe('SIGKILL');
}

/** Task calls per run, by process id: which inputs each process ran. */
function callsByProcess(markers: string): Map<string, number[]> {
  const calls = new Map<string, number[]>();
  for (const name of readdirSync(markers)) {
    const [input, pid] = name.split('.') as [string, string];
    calls.set(pid, [...(calls.get(pid) ?? []), Number(input)]);
  }
  return calls;
}

const expected = {
  ordered: Array.from({ length: N }, (_, x) => ({ x, square: x * x })),
  unordered: Array.from({ length: N }, (_, x) => ({ x, square: x * x })),
  // Non-invertible and order-sensitive: the fold rebuilt from records must replay them in input order.
  reduce: [
    ['even', Array.from({ length: N / 2 }, (_, i) => 2 * i)],
    ['odd', Array.from({ length: N / 2 }, (_, i) => 2 * i + 1)],
  ],
};

describe('a checkpointed job killed with SIGKILL', () => {
  for (const step of ['unordered', 'ordered', 'reduce'] as const) {
    for (const [when, killAt] of [
      ['early', 2],
      ['midway', N / 2],
      ['late', N - 1],
    ] as const) {
      it(`${step}, killed ${when}: the rerun gives the uninterrupted result, redoing at most the chunks in flight`, async () => {
        const dir = join(tempDir(), 'ckpt');
        const markers = tempDir();
        await runAndKill(dir, markers, step, killAt);
        const first = callsByProcess(markers);
        expect(first.size).toBe(1);
        const ranFirst = [...first.values()][0]!;
        // It had been given items 0..killAt-1 and ran some of them.
        expect(Math.max(...ranFirst)).toBeLessThan(killAt);

        const { result, resumed } = await runToEnd(dir, markers, step);
        expect(result).toEqual(expected[step]);
        const second = [...callsByProcess(markers).entries()].find(([pid]) => !first.has(pid))![1];
        // Every input ran, once in all but the few whose results were not yet durable at the kill.
        expect(new Set([...ranFirst, ...second]).size).toBe(N);
        const redone = second.filter((input) => ranFirst.includes(input));
        expect(redone.length).toBeLessThanOrEqual(2 * MAX_IN_FLIGHT);
        expect(resumed).toBe(N - second.length);
        expect(resumed).toBeGreaterThanOrEqual(ranFirst.length - 2 * MAX_IN_FLIGHT);

        // A rerun of the finished job runs nothing.
        const again = await runToEnd(dir, markers, step);
        expect(again).toEqual({ result: expected[step], resumed: N });
        expect(callsByProcess(markers).size).toBe(2);
      });
    }
  }
});
