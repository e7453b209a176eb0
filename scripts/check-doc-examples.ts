/**
 * Type-checks every TypeScript example in the docs, so they cannot rot: the ```ts blocks of the
 * TSDoc comments in lib/ and operators/ (the `@example`s typedoc publishes), of the guides in
 * docs/guides/ and of the README (found by scripts/doc-examples.ts, which also says what the fence
 * tags `nocheck`, `norun` and `prelude=NAME` do). Each block becomes a module in
 * .cache/doc-examples/ next to the task modules the examples import ('./math.tasks.js', ...:
 * scripts/doc-fixtures/), and tsc checks them against the project's sources with the project's
 * strict options. scripts/run-doc-examples.ts then runs them.
 *
 * Usage: npm run docs:check
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { findExamples, root, writeExamples, type WrittenExample } from './doc-examples.js';

const out = join(root, '.cache', 'doc-examples');
const examples = writeExamples(out, findExamples());

/** Extracted file name → the example it holds. */
const byFile = new Map<string, WrittenExample>(examples.map((example) => [example.file, example]));

writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify(
    {
      extends: '../../tsconfig.json',
      compilerOptions: { noEmit: true, noUnusedLocals: false, noUnusedParameters: false, rootDir: '../..' },
      include: ['./*.ts'],
    },
    null,
    2,
  ),
);

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(out, 'tsconfig.json'), '--pretty', 'false'], {
  cwd: root,
  encoding: 'utf8',
});
if (result.error) throw result.error;

const DIAGNOSTIC = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/;
const problems: string[] = [];
let elsewhere = 0;
for (const text of `${result.stdout}${result.stderr}`.split('\n')) {
  const match = DIAGNOSTIC.exec(text);
  if (!match) {
    // Continuation lines of a multi-line message belong to the previous problem.
    const last = problems.pop();
    if (text.startsWith('  ') && last !== undefined) problems.push(`${last}\n${text}`);
    else if (last !== undefined) problems.push(last);
    continue;
  }
  const [, file = '', line = '0', column = '0', code = '', message = ''] = match;
  const example = dirname(join(root, file)) === out || dirname(file) === out ? byFile.get(file.split('/').pop() ?? '') : undefined;
  if (!example) {
    elsewhere++;
    continue;
  }
  const sourceLine = example.line + Number(line) - 1 - example.headerLines;
  problems.push(`${example.source}:${sourceLine}:${column} ${code} ${message}`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`\n${problems.length} error(s) in documentation examples (extracted to ${relative(root, out)}/).`);
  process.exit(1);
}
if (result.status !== 0 && elsewhere === 0) {
  console.error(result.stdout, result.stderr);
  process.exit(1);
}
const note = elsewhere > 0 ? ` (${elsewhere} error(s) outside the examples: see npm run typecheck)` : '';
console.log(`${examples.length} documentation examples type-check${note}.`);
