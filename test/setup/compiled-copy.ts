/**
 * Vitest's global setup: compiles the source tree (lib, operators, bin, examples, bench and the
 * tests' own modules) once per test run into a copy under node_modules/.cache, and names it in
 * MILLRACE_COMPILED_COPY for the test processes and every worker, child and owner they start.
 *
 * Why: from the source tree each worker would register tsx, which on Node 20 runs its loader on a
 * thread of its own per worker: ~0.15 s of CPU and ~0.25 s of wall time a worker, and the suite
 * starts about 600 of them. With the copy a worker loads plain JavaScript (lib/backends/load-entry.mjs
 * maps the source tree to it; task modules of the source tree too). The copy is esbuild's output, as
 * tsx's is, with inline source maps, so stacks still name the .ts files. The test processes
 * themselves still run the source through vitest, and tests that write their own task modules
 * (outside the source tree) still go through tsx, as a user's TypeScript would
 * (test/lib/worker-loading.test.ts runs both paths).
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import fg from 'fast-glob';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'millrace-tests');

/** Whether a process with this id runs (a copy of a run that was killed is removed by the next run). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export default async function setup(): Promise<() => void> {
  mkdirSync(CACHE, { recursive: true });
  for (const name of readdirSync(CACHE)) {
    const pid = Number(name.split('-')[0]);
    if (!Number.isInteger(pid) || !alive(pid)) rmSync(join(CACHE, name), { recursive: true, force: true });
  }
  const dir = join(CACHE, `${process.pid}-${Date.now()}`);
  const sources = await fg(
    ['{lib,operators,bin,examples,bench}/**/*.ts', 'test/**/*.ts', '!**/*.d.ts', '!**/*.test.ts', '!**/*.test-d.ts'],
    { cwd: ROOT, ignore: ['**/node_modules/**'] },
  );
  await build({
    absWorkingDir: ROOT,
    entryPoints: sources,
    outdir: dir,
    outbase: ROOT,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  for (const entry of await fg('lib/**/*.mjs', { cwd: ROOT })) {
    mkdirSync(dirname(join(dir, entry)), { recursive: true });
    copyFileSync(join(ROOT, entry), join(dir, entry));
  }
  // `import ... from 'millrace'` in a compiled task module finds the copy's lib (a self-reference).
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'millrace', type: 'module', exports: { '.': './lib/index.js', './testing': './lib/testing/index.js' } }),
  );
  process.env.MILLRACE_COMPILED_COPY = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
