/**
 * Runs the documentation examples that users copy, and checks that they print what their comments
 * promise. Every ```ts block that check-doc-examples.ts type-checks (TSDoc `@example`s, guides,
 * README) is a whole program and is run here, unless its fence says `norun` or it needs a Redis
 * server (it calls `bullmq(` or `startWorker(`): those are type-checked only.
 *
 * What a comment promises, and how it is checked, is in scripts/doc-promises.ts: in short, a
 * line that prints or a line `await expression;` followed by a value comment, `// [1, 4, 9]`,
 * promises that value.
 *
 * Runs one process a source file (tsx loads TypeScript once per file, and the workers of the shared
 * pool are reused by the file's examples), two files at a time, with the working directory holding
 * the fixtures: the task modules of scripts/doc-fixtures/ and the log files examples read
 * (scripts/doc-fixtures/inputs.ts).
 *
 * Usage: npm run docs:run [-- SOURCE...] (part of npm run docs:check); SOURCE limits the run to the
 * examples of files whose path starts with it, e.g. `npm run docs:run -- README.md docs/guides`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Example, findExamples, root, writeExamples, type WrittenExample } from './doc-examples.js';
import { instrument, type Promised, type RunItem, type RunResult } from './doc-promises.js';
import { writeDocInputs } from './doc-fixtures/inputs.js';

const out = join(root, '.cache', 'doc-run');
const PARALLEL_FILES = 2;
/** Generous: the first example of a file starts tsx and the first workers on a loaded machine. */
const FILE_TIMEOUT_MS = 180_000;

const needsRedis = (example: Example) => /\b(bullmq|startWorker)\(/.test(example.code);

const only = process.argv.slice(2);
const examples = findExamples().filter((example) => only.length === 0 || only.some((prefix) => example.source.startsWith(prefix)));
const skipped = examples.filter((example) => example.tags.includes('norun') || needsRedis(example));
const runnable = examples.filter((example) => !skipped.includes(example));
const promisesOf = new Map<Example, Promised[]>();
const written: WrittenExample[] = writeExamples(out, runnable, (example) => {
  const { code, promises } = instrument(example.code, example.line);
  promisesOf.set(example, promises);
  return code;
});
writeDocInputs(out);
// tsx resolves `millrace` through the project's tsconfig paths, to lib/.
writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', include: ['./*.ts'] }));

const bySource = new Map<string, RunItem[]>();
written.forEach((example, index) => {
  const original = runnable[index];
  const items = bySource.get(example.source) ?? [];
  items.push({
    file: join(out, example.file),
    source: example.source,
    line: example.line,
    promises: original ? (promisesOf.get(original) ?? []) : [],
  });
  bySource.set(example.source, items);
});

/** Runs one source file's examples in a child process and returns their results. */
function runFile(source: string, items: readonly RunItem[]): Promise<RunResult[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'doc-example-child.ts')], {
      cwd: out,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, TSX_TSCONFIG_PATH: join(out, 'tsconfig.json') },
    });
    let stray = '';
    child.stdout?.on('data', (data: Buffer) => (stray += data.toString()));
    child.stderr?.on('data', (data: Buffer) => (stray += data.toString()));
    const results: RunResult[] = [];
    child.on('message', (message) => results.push(message as RunResult));
    const timer = setTimeout(() => child.kill('SIGKILL'), FILE_TIMEOUT_MS);
    child.send(items);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const reported = new Set(results.map((result) => result.line));
      for (const item of items) {
        if (reported.has(item.line)) continue;
        const why = signal ? `killed (${signal}) after ${FILE_TIMEOUT_MS} ms` : `exited with code ${String(code)}`;
        results.push({ source, line: item.line, problems: [`did not finish: the process ${why}`], output: stray, checked: 0 });
      }
      resolve(results);
    });
  });
}

const queue = [...bySource.entries()];
const results: RunResult[] = [];
await Promise.all(
  Array.from({ length: PARALLEL_FILES }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) results.push(...(await runFile(...next)));
  }),
);

const failed = results.filter((result) => result.problems.length > 0);
for (const result of failed) {
  console.error(`\n${result.source}:${result.line - 1}: the example failed`);
  for (const problem of result.problems) console.error(`  ${problem}`);
  if (result.output.trim()) console.error(`  it printed:\n${result.output.replace(/^/gm, '    | ')}`);
}
const checked = results.reduce((sum, result) => sum + result.checked, 0);
const skippedNote = skipped.length > 0 ? `; ${skipped.length} type-checked only (norun, or needs Redis)` : '';
const summary = `${results.length - failed.length} of ${results.length} documentation examples ran and kept their ${checked} printed promises${skippedNote}.`;
if (failed.length > 0) {
  console.error(`\n${summary}\n${failed.length} example(s) failed (extracted to ${relative(root, out)}/).`);
  process.exit(1);
}
console.log(summary);
