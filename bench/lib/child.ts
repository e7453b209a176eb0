/**
 * Running a measured child process from the runner: each benchmark variant runs in a fresh process
 * (so peak RSS and CPU are its own), and reports its figures on one marked stdout line. The runner
 * also samples the resident memory of the child and its descendants (Python's pool processes) from
 * /proc, for a peak RSS that counts every process.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { RESULT_MARKER } from './measure.js';

/** What a child run produced. */
export interface ChildRun<R> {
  /** The child's own report. */
  readonly result: R;
  /** Peak RSS of the child and all its descendants together, sampled every 20 ms, in MB. */
  readonly treePeakRssMb: number | undefined;
}

/** Runs `command args` and returns its report; rejects with its stderr when it fails. */
export function runChild<R>(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<ChildRun<R>> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    let peakKb = 0;
    let sampled = false;
    const sample = (): void => {
      if (child.pid === undefined) return;
      const kb = treeRssKb(child.pid);
      if (kb !== undefined) {
        sampled = true;
        peakKb = Math.max(peakKb, kb);
      }
    };
    const sampler = setInterval(sample, 20);
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (error) => {
      clearInterval(sampler);
      clearTimeout(killer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(killer);
      const line = stdout
        .split('\n')
        .reverse()
        .find((text) => text.startsWith(RESULT_MARKER));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}):\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`));
        return;
      }
      resolve({ result: JSON.parse(line.slice(RESULT_MARKER.length)) as R, treePeakRssMb: sampled ? peakKb / 1024 : undefined });
    });
  });
}

/** RSS of a process and its descendants in kB, from /proc (Linux); undefined elsewhere. */
function treeRssKb(pid: number): number | undefined {
  try {
    let total = 0;
    const pending = [pid];
    while (pending.length > 0) {
      const current = pending.pop()!;
      try {
        const status = readFileSync(`/proc/${current}/status`, 'utf8');
        const match = /VmRSS:\s+(\d+) kB/.exec(status);
        if (match) total += Number(match[1]);
        for (const task of readdirSync(`/proc/${current}/task`)) {
          const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
          if (children) pending.push(...children.split(/\s+/).map(Number));
        }
      } catch (error) {
        // A descendant may exit between two reads; the child itself must be readable.
        if (current === pid) throw error;
      }
    }
    return total;
  } catch {
    return undefined;
  }
}
