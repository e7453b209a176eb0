/**
 * Type-checks every TypeScript example in the docs, so they cannot rot: the ```ts blocks of the
 * TSDoc comments in lib/ and operators/ (the `@example`s typedoc publishes) and of the guides in
 * docs/guides/. Each block becomes a module in .cache/doc-examples/ next to the task modules the
 * examples import ('./math.tasks.js', ...: scripts/doc-fixtures/), and tsc checks them against the
 * project's sources with the project's strict options.
 *
 * A block that is deliberately not a whole program is fenced as ```ts nocheck.
 *
 * Usage: npm run docs:check
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, '.cache', 'doc-examples');
const fixtures = join(root, 'scripts', 'doc-fixtures');

interface Example {
  /** Where the block is, relative to the project root. */
  readonly source: string;
  /** 1-based line of the block's first code line in `source`. */
  readonly line: number;
  readonly code: string;
}

/** Every file below `dir` whose name passes `keep`. */
function walk(dir: string, keep: (name: string) => boolean): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(path, keep));
    else if (keep(entry.name)) files.push(path);
  }
  return files.sort();
}

const OPEN = /^```(ts|typescript)(\s+\S.*)?$/;

/** Collects fenced ts blocks from lines already stripped of comment decoration. */
function fencedBlocks(source: string, lines: readonly { text: string; line: number }[]): Example[] {
  const examples: Example[] = [];
  let open: { line: number; code: string[]; skip: boolean } | undefined;
  for (const { text, line } of lines) {
    const trimmed = text.trim();
    if (!open) {
      const match = OPEN.exec(trimmed);
      if (match) open = { line: line + 1, code: [], skip: /\bnocheck\b/.test(match[2] ?? '') };
    } else if (trimmed === '```') {
      if (!open.skip) examples.push({ source, line: open.line, code: open.code.join('\n') });
      open = undefined;
    } else {
      open.code.push(text);
    }
  }
  if (open) throw new Error(`${source}:${open.line - 1}: unclosed code fence`);
  return examples;
}

/** The ts blocks inside the /** comments of a TypeScript file. */
function fromTsDoc(path: string): Example[] {
  const source = relative(root, path);
  const lines = readFileSync(path, 'utf8').split('\n');
  const inComments: { text: string; line: number }[] = [];
  let inDoc = false;
  lines.forEach((raw, index) => {
    if (!inDoc && /^\s*\/\*\*/.test(raw)) inDoc = true;
    if (!inDoc) return;
    const text = raw
      .replace(/^\s*\/\*\*\s?/, '')
      .replace(/\s*\*\/\s*$/, '')
      .replace(/^\s*\* ?/, '');
    inComments.push({ text, line: index + 1 });
    if (/\*\/\s*$/.test(raw)) inDoc = false;
  });
  return fencedBlocks(source, inComments);
}

/** The ts blocks of a Markdown file. */
function fromMarkdown(path: string): Example[] {
  const source = relative(root, path);
  return fencedBlocks(
    source,
    readFileSync(path, 'utf8')
      .split('\n')
      .map((text, index) => ({ text, line: index + 1 })),
  );
}

const isSource = (name: string) => name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts');
const examples = [
  ...walk(join(root, 'lib'), isSource).flatMap(fromTsDoc),
  ...walk(join(root, 'operators'), isSource).flatMap(fromTsDoc),
  ...walk(join(root, 'docs', 'guides'), (name) => name.endsWith('.md')).flatMap(fromMarkdown),
];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const name of readdirSync(fixtures)) copyFileSync(join(fixtures, name), join(out, name));

/** Extracted file name → the example it holds. */
const byFile = new Map<string, Example>();
const HEADER_LINES = 1;
for (const example of examples) {
  const name = `${example.source.replace(/[/.]/g, '_')}_L${example.line}.ts`;
  byFile.set(name, example);
  // `export {}` makes every block a module (top-level await, no global name clashes).
  writeFileSync(join(out, name), `// ${example.source}:${example.line}\n${example.code}\nexport {};\n`);
}

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
    if (text.startsWith('  ') && problems.length > 0) problems[problems.length - 1] += `\n${text}`;
    continue;
  }
  const [, file = '', line = '0', column = '0', code = '', message = ''] = match;
  const example = dirname(join(root, file)) === out || dirname(file) === out ? byFile.get(file.split('/').pop() ?? '') : undefined;
  if (!example) {
    elsewhere++;
    continue;
  }
  const sourceLine = example.line + Number(line) - 1 - HEADER_LINES;
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
