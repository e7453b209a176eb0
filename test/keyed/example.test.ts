// examples/keyed: run as a user runs it (from the test run's compiled copy, see nodeScript; CI runs the
// npm script itself), `--json` equals `--serial --json`.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyedInput } from '../../examples/keyed/generate.js';
import { nodeScript } from '../fixtures/node-script.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

async function keyed(args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [...nodeScript(join(ROOT, 'examples/keyed/main.ts')), ...args], { cwd: ROOT });
  return JSON.parse(stdout);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-keyed-example-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('examples/keyed', () => {
  it('prints the same keys, total and top keys with and without --serial (uniform and Zipf inputs)', async () => {
    for (const zipf of [undefined, 1.1]) {
      const file = join(dir, `pairs-${zipf ?? 'uniform'}.csv`);
      const input = await generateKeyedInput(file, { lines: 30_000, keys: 4_000, zipf, seed: 3 });
      const serial = await keyed([file, '--json', '--top', '7', '--serial']);
      expect(serial).toMatchObject({ keys: input.keys, sum: input.sum });
      expect((serial as { top: unknown[] }).top).toHaveLength(7);
      expect(await keyed([file, '--json', '--top', '7', '--threads', '2'])).toEqual(serial);
    }
  });
});
