/** Starting a built benchmark script as a measured child of the runner. */
import { fileURLToPath } from 'node:url';
import { runChild, type ChildRun } from './child.js';

/** Runs `dist/bench/<script>.js` in a fresh Node process with `--name=value` arguments. */
export function runNodeScript<R>(script: string, options: Record<string, string | number>): Promise<ChildRun<R>> {
  const path = fileURLToPath(new URL(`../${script}.js`, import.meta.url));
  const argv = Object.entries(options).map(([name, value]) => `--${name}=${value}`);
  return runChild<R>(process.execPath, [path, ...argv]);
}

/** Runs `bench/python/<script>.py` with python3. */
export function runPythonScript<R>(root: string, script: string, options: Record<string, string | number>): Promise<ChildRun<R>> {
  const argv = Object.entries(options).map(([name, value]) => `--${name}=${value}`);
  return runChild<R>('python3', [`${root}/bench/python/${script}.py`, ...argv]);
}
