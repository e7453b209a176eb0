// writeLines leaves no temporary file when the process is ended by a signal (or by process.exit
// from the program's own Ctrl-C handler), and a missing folder is an OutputFileError naming the
// user's path.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { flow, OutputFileError } from 'millrace';
import { failure, tempDirs } from '../reliability/helpers.js';

const script = fileURLToPath(new URL('../fixtures/scripts/write-lines-signal.ts', import.meta.url));
const tempDir = tempDirs('write-lines-signals');

/** Starts the writer, waits until its temporary file holds data, sends `signal`; how it ended. */
async function interrupt(
  signal: NodeJS.Signals,
  mode = '',
): Promise<{ dir: string; seen: string[]; code: number | null; signal: string | null }> {
  const dir = tempDir();
  const child = spawn(process.execPath, ['--import', 'tsx', script, join(dir, 'out.txt'), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ended = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, s) => resolve({ code, signal: s })),
  );
  for await (const line of createInterface({ input: child.stdout })) if (line === 'writing') break;
  const seen = readdirSync(dir);
  child.kill(signal);
  return { dir, seen, ...(await ended) };
}

describe('writeLines and signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal}: the process dies by it, and its temporary file is gone`, async () => {
      const { dir, seen, signal: died } = await interrupt(signal);
      expect(seen).toEqual([expect.stringMatching(/^\.out\.txt\..*\.tmp$/)]);
      expect(died).toBe(signal);
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('a program that handles Ctrl-C with process.exit keeps its exit code, and the temporary file is gone', async () => {
    const { dir, seen, code } = await interrupt('SIGINT', 'exit-on-sigint');
    expect(seen).toHaveLength(1);
    expect(code).toBe(130);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('writeLines to a missing folder', () => {
  it('fails with an OutputFileError naming the path as given, and leaves nothing behind', async () => {
    const dir = tempDir();
    const path = join(dir, 'no', 'such', 'out.txt');
    const error = await failure(flow(['a', 'b']).writeLines(path));
    expect(error).toBeInstanceOf(OutputFileError);
    expect(error).toMatchObject({ path, problem: 'missing-folder' });
    expect((error as Error).message).toBe(`${path}: cannot write, the folder ${join(dir, 'no', 'such')} does not exist`);
    expect((error as Error).message).not.toMatch(/\.tmp/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
