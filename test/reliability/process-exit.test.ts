import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { nodeScript } from '../fixtures/node-script.js';

const script = fileURLToPath(new URL('../fixtures/scripts/exit-after.ts', import.meta.url));

/**
 * Runs one scenario in a child `node` (vitest itself would exit anyway, so only a separate process
 * shows whether something keeps the event loop alive). The bound is a hang check, generous for a
 * loaded machine, not a timing assertion: a healthy run exits in about two seconds.
 */
function runScenario(
  scenario: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [...nodeScript(script), scenario],
      { timeout: 45_000, killSignal: 'SIGKILL', env },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
    );
  });
}

// Each scenario is its own process, so they can run side by side.
describe.concurrent('processes that run flows exit by themselves', () => {
  it.for([
    'finished',
    'failed',
    'aborted',
    'broken out of',
    'take',
    'worker crashed',
    'timed out',
    'abandoned mid-way',
    'own pool never closed',
    'keyed finished',
    'keyed broken out of',
    'keyed owner died',
    'keyed abandoned mid-way',
  ])('%s', async (scenario, { expect }) => {
    // Its own temporary directory: whatever a flow put there (aggregateByKey's spill directory) is gone when it exits.
    const temp = mkdtempSync(join(tmpdir(), 'millrace-exit-'));
    try {
      const { code, signal, stdout, stderr } = await runScenario(scenario, { ...process.env, TMPDIR: temp });
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      expect(stdout).toBe(`done ${scenario}\n`);
      expect(readdirSync(temp).filter((name) => name.startsWith('millrace-keyed-'))).toEqual([]);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
});
