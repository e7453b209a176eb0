import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeScript } from '../fixtures/node-script.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = fileURLToPath(new URL('../fixtures/exit-check.ts', import.meta.url));
/** A hang check, not a timing assert: the script takes a second or two; a hang never ends. */
const HANG_BOUND_MS = 20_000;

function runScript(
  mode: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; hung: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeScript(script), mode], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HANG_BOUND_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, hung, stdout, stderr });
    });
  });
}

describe('a process that ran flows', () => {
  it('exits by itself after flows that finished, failed, were broken out of, aborted, or cut by take (shared pool)', async () => {
    const result = await runScript('shared');
    expect(result.stderr).toBe('');
    expect(result.hung).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok shared');
  });

  it('exits by itself with a pool of its own that was never closed', async () => {
    const result = await runScript('own');
    expect(result.stderr).toBe('');
    expect(result.hung).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok own');
  });
});
