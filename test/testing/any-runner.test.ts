// millrace/testing throws plain errors and imports no test framework: it runs under node:test.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('millrace/testing outside vitest', () => {
  it('imports no test framework', () => {
    const dir = new URL('../../lib/testing/', import.meta.url);
    for (const file of readdirSync(dir)) {
      const source = readFileSync(new URL(file, dir), 'utf8');
      expect(source, file).not.toMatch(/from '(vitest|jest|mocha|node:test|chai)'/);
    }
  });

  it('passes and fails checks under node:test', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/node-test-runner.ts', import.meta.url));
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', fixture], { cwd: root }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
      });
    });
    expect(output).toMatch(/^ok \d+ - a built-in operator passes under node:test$/m);
    expect(output).toMatch(/^not ok \d+ - a broken operator fails under node:test$/m);
    expect(output).toContain('ConformanceError');
    expect(code).not.toBe(0);
  });
});
