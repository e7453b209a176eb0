/**
 * Finds the TypeScript examples of the docs and writes each as a module, for the type check
 * (check-doc-examples.ts) and the run (run-doc-examples.ts): the ```ts blocks of the TSDoc comments
 * in lib/ and operators/ (the `@example`s typedoc publishes), of the guides in docs/guides/ and of
 * the README.
 *
 * A fence's words after `ts` say how the block is checked:
 * - `nocheck`: a deliberate fragment, neither type-checked nor run;
 * - `norun`: type-checked, not run (say why next to it, e.g. it needs a server);
 * - `prelude=NAME`: the block uses names it does not define (the README's one-screen sketch); they
 *   are imported, invisibly, from scripts/doc-fixtures/NAME.ts, which exports each of them.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const fixtures = join(root, 'scripts', 'doc-fixtures');

export interface Example {
  /** Where the block is, relative to the project root. */
  readonly source: string;
  /** 1-based line of the block's first code line in `source`. */
  readonly line: number;
  readonly code: string;
  /** The fence's words after the language, such as `norun`. */
  readonly tags: readonly string[];
}

export interface WrittenExample extends Example {
  /** The module's file name in the output folder. */
  readonly file: string;
  /** How many lines the module has above the block's first line. */
  readonly headerLines: number;
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
  let open: { line: number; code: string[]; tags: string[] } | undefined;
  for (const { text, line } of lines) {
    const trimmed = text.trim();
    if (!open) {
      const match = OPEN.exec(trimmed);
      if (match) open = { line: line + 1, code: [], tags: (match[2] ?? '').trim().split(/\s+/).filter(Boolean) };
    } else if (trimmed === '```') {
      if (!open.tags.includes('nocheck')) examples.push({ source, line: open.line, code: open.code.join('\n'), tags: open.tags });
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

/** Every checked example of the docs, in a stable order (by file, then line). */
export function findExamples(): Example[] {
  return [
    ...walk(join(root, 'lib'), isSource).flatMap(fromTsDoc),
    ...walk(join(root, 'operators'), isSource).flatMap(fromTsDoc),
    ...walk(join(root, 'docs', 'guides'), (name) => name.endsWith('.md')).flatMap(fromMarkdown),
    ...fromMarkdown(join(root, 'README.md')),
  ];
}

/** The import line that brings a prelude's exports into scope. */
function preludeImport(example: Example): string | undefined {
  const tag = example.tags.find((word) => word.startsWith('prelude='));
  if (!tag) return undefined;
  const name = tag.slice('prelude='.length);
  let text: string;
  try {
    text = readFileSync(join(fixtures, `${name}.ts`), 'utf8');
  } catch {
    throw new Error(`${example.source}:${example.line - 1}: no prelude scripts/doc-fixtures/${name}.ts`);
  }
  const names = [...text.matchAll(/^export (?:const|let|function|async function|class) (\w+)/gm)].map((match) => match[1]);
  return `import { ${names.join(', ')} } from './${name}.js';`;
}

/**
 * Empties `out`, copies the fixtures into it, and writes each example there as a module: a comment
 * naming its origin, its prelude import if any, the block, and `export {}` (so that every block is
 * a module: top-level await, no global name clashes). `transform` may rewrite a block's lines.
 */
export function writeExamples(
  out: string,
  examples: readonly Example[],
  transform: (example: Example) => string = (example) => example.code,
): WrittenExample[] {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const name of readdirSync(fixtures)) copyFileSync(join(fixtures, name), join(out, name));
  return examples.map((example) => {
    const file = `${example.source.replace(/[/.]/g, '_')}_L${example.line}.ts`;
    const header = [`// ${example.source}:${example.line}`];
    const prelude = preludeImport(example);
    if (prelude) header.push(prelude);
    writeFileSync(join(out, file), `${header.join('\n')}\n${transform(example)}\nexport {};\n`);
    return { ...example, file, headerLines: header.length };
  });
}
