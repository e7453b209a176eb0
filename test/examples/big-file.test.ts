// examples/big-file: run as a user runs it (from the test run's compiled copy, see nodeScript; CI runs
// the npm script itself), the parallel result equals the serial one.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { nodeScript } from '../fixtures/node-script.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

async function bigFile(args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [...nodeScript(join(ROOT, 'examples/big-file/main.ts')), ...args], { cwd: ROOT });
  return JSON.parse(stdout);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-big-file-'));
  const [zipped] = await generateSampleLogs({ out: dir, files: 1, lines: 3000, seed: 5 });
  await writeFile(join(dir, 'big.log'), gunzipSync(await readFile(zipped!)));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('examples/big-file', () => {
  it('counts a plain and a gzip log in blocks exactly as the serial pass does', async () => {
    const serial = await bigFile([join(dir, 'big.log'), '--json', '--top', '15', '--serial']);
    expect(serial).toMatchObject({ files: 1, lines: 3000 });
    for (const file of ['big.log', 'access-0001.log.gz']) {
      expect(await bigFile([join(dir, file), '--json', '--top', '15', '--block-size', '16384', '--threads', '2'])).toEqual(serial);
    }
  });
});
