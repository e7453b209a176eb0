/**
 * Checks that the guides, the README and docs/*.md say only what the API has, against the API as
 * TypeDoc reads it from the TypeScript program (the same exports the site documents):
 *
 * - links to source files: `[`TaskError`](../../lib/errors.ts#L89 'TaskError')` must link the file
 *   that declares the export named by the title, at the line of its declaration (a Git host opens a
 *   source file at `#L89`, and at the top for any other anchor); `--fix` re-points drifted lines and
 *   moved files, and turns the old `#TaskError` anchors into this form;
 * - links to Markdown documents and headings: the file exists and `#anchor` is one of its headings,
 *   slugged as a Git host slugs them (the site gives headings the same anchors);
 * - names in code spans: a camelCase or PascalCase name (`retryDelayMs`, `TaskError`), a member of
 *   an export (`TaskError.attempts`) and every key of an options object (`createPool({ isolation:
 *   'process' })`) must be an export, a member or an option field of the API, a global, a name
 *   exported by the guides' sample task modules (scripts/doc-fixtures/), or on the short allow-list
 *   below (words of other libraries the guides compare with);
 * - option lists: a list of four or more option names (`{ chunkSize, maxInFlight, ... }` or
 *   `` `chunkSize`, `maxInFlight`, ... ``) drawn from one options interface names all its fields, or
 *   says it is partial by ending with `...`;
 * - retired claims: sentences that once contradicted the code (RETIRED below) stay gone.
 *
 * Usage: npm run docs:check (this is one of its steps); npm run docs:links re-points the source links.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { headingSlugger, headingText } from './heading-slug.js';
import type { DeclarationReflection, ProjectReflection } from 'typedoc';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const fix = process.argv.includes('--fix');

// Loaded by path: under tsx the bare name 'typedoc' resolves through tsconfig's baseUrl to ./typedoc.json.
const typedocRoot = dirname(createRequire(import.meta.url).resolve('typedoc/package.json'));
const typedocEntry = pathToFileURL(join(typedocRoot, 'dist', 'index.js')).href;
const { Application, ReflectionKind } = (await import(typedocEntry)) as typeof import('typedoc');

/** Words in code spans that are not millrace's API and not globals: other libraries, Python. */
const ALLOWED = new Set([
  // Fields of ChunkRequest's union members (TypeDoc lists no children for a type alias's union)
  'continueOnError',
  // The `type` of a process warning the BullMQ backend emits (a string, not an export)
  'MillraceUnservedQueueWarning',
  // Python's multiprocessing and friends (coming-from-python.md, benchmarks.md)
  'Pool.imap',
  'ProcessPoolExecutor',
  'AsyncResult.get',
  'functools.partial',
  'collections.Counter',
  'imap_unordered',
  'mostCommon',
  // Node core, RxJS, highland, tinypool, piscina, BullMQ names the guides compare with
  'Readable.map',
  'Readable.from',
  'readable.map',
  'mergeMap',
  'concatMap',
  'bufferTime',
  'bufferCount',
  'objectMode',
  'highWaterMark',
  'resourceLimits',
  'maxMemoryLimitBeforeRecycle',
  'worker_lifespan',
  'isDeepStrictEqual',
  'availableParallelism',
  'lockDuration',
  'maxStalledCount',
  'removeOnComplete',
  'removeOnFail',
  'stalledInterval',
  'Pool.imap_unordered',
  'Pool.starmap',
  'concurrentTasksPerWorker',
  'mergeWithLimit',
  'zipAll',
  'skipWhile',
  'uniqBy',
  'batchWithTimeOrCount',
  'throttleTime',
  'createWriteStream',
  'readSync',
  // DOMException names an aborted signal's reason has; TypeScript's lib and tsconfig names
  'AbortError',
  'TimeoutError',
  'AsyncDisposable',
  'skipLibCheck',
  'TypeScript',
  'JavaScript',
]);

/** Objects of test frameworks whose members the guides name (`vi.useFakeTimers()`). */
const LIBRARY_OBJECTS = new Set(['vi', 'jest', 'assert']);

/**
 * Sentences that once contradicted the code. Each pattern is what the guides said; the reason is
 * what the code does. A match fails the check.
 */
const RETIRED: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  {
    pattern: /no\s+process-based\s+pool/i,
    why: "createPool({ isolation: 'process' }) is a process-based pool",
  },
  {
    pattern: /takes?\s+(?:down\s+)?millrace with it/i,
    why: "under createPool({ isolation: 'process' }) a segfault fails the chunk's items and the pool goes on",
  },
  {
    pattern: /(?:over\s+budget\s+has\s+its\s+worker\s+terminated|\(the\s+worker\s+is\s+terminated\))/i,
    why: 'a timed-out chunk first has taskSignal() aborted; its worker is ended only if the task does not let go',
  },
];

interface Api {
  /** Exports, `Export.member` paths, member and option field names. */
  readonly names: Set<string>;
  /** Where each export and `Export.member` is declared: file relative to the root, 1-based line. */
  readonly declared: Map<string, { readonly file: string; readonly line: number } | 'ambiguous'>;
  /** The fields of each exported options interface (and of the interfaces it extends). */
  readonly optionSets: Map<string, Set<string>>;
  /** The error classes users can catch (exports of `millrace` named `...Error`). */
  readonly errors: readonly string[];
}

async function loadApi(): Promise<Api> {
  const app = await Application.bootstrap({
    skipErrorChecking: true,
    treatWarningsAsErrors: false,
    treatValidationWarningsAsErrors: false,
    logLevel: 'Error',
    // The site's link plugin checks the same links; here only the API matters.
    plugin: [],
    disableSources: false,
  });
  const project: ProjectReflection | undefined = await app.convert();
  if (!project) throw new Error('typedoc could not convert the project');
  const names = new Set<string>();
  const declared: Api['declared'] = new Map();
  const optionSets = new Map<string, Set<string>>();
  const errors: string[] = [];
  const record = (path: string, reflection: DeclarationReflection) => {
    names.add(path);
    const source = reflection.sources?.[0];
    if (!source) return;
    const file = relative(root, source.fullFileName);
    const previous = declared.get(path);
    if (previous === undefined) declared.set(path, { file, line: source.line });
    else if (previous === 'ambiguous' || previous.file !== file || previous.line !== source.line) declared.set(path, 'ambiguous');
  };
  const members = (reflection: DeclarationReflection): DeclarationReflection[] => {
    const own = reflection.children ?? [];
    const type = reflection.type;
    const literal = type?.type === 'reflection' ? (type.declaration.children ?? []) : [];
    return [...own, ...literal];
  };
  for (const module of project.children ?? []) {
    for (const child of module.children ?? []) {
      record(child.name, child);
      if (module.name === 'millrace' && child.kind === ReflectionKind.Class && child.name.endsWith('Error')) errors.push(child.name);
      const fields = new Set<string>();
      for (const member of members(child)) {
        names.add(member.name);
        fields.add(member.name);
        record(`${child.name}.${member.name}`, member);
        // Options nested one level down (`progress({ ... })`'s fields, a type literal's fields).
        for (const nested of member.type?.type === 'reflection' ? (member.type.declaration.children ?? []) : []) names.add(nested.name);
      }
      if (child.kind === ReflectionKind.Interface && /Options$/.test(child.name)) optionSets.set(child.name, fields);
      for (const signature of child.signatures ?? []) for (const parameter of signature.parameters ?? []) names.add(parameter.name);
    }
  }
  return { names, declared, optionSets, errors };
}

/**
 * Names the guides' sample task modules export (`math.sqrtStrict`) and names the documents' own
 * code blocks declare (the custom-operators guide's `parallelFilter`): they are part of the examples.
 */
function fixtureNames(): Set<string> {
  const names = new Set<string>();
  for (const file of documents()) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const block of text.matchAll(/^```ts[^\n]*\n([\s\S]*?)^```/gm)) {
      for (const match of (block[1] ?? '').matchAll(/(?:function\*?|const|let|class|interface|type)\s+([A-Za-z_$][\w$]*)/g)) {
        names.add(match[1] ?? '');
      }
    }
  }
  const dir = join(root, 'scripts', 'doc-fixtures');
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const match of text.matchAll(/export\s+(?:async\s+)?(?:function\*?|const|let|class|interface|type)\s+([A-Za-z_$][\w$]*)/g)) {
      names.add(match[1] ?? '');
    }
  }
  return names;
}

const GLOBALS = new Set([...Object.getOwnPropertyNames(globalThis), 'Transferable', 'AsyncIterable', 'AsyncGenerator', 'Iterable']);
const BUILTINS = new Set(builtinModules.map((name) => name.replace(/^node:/, '').split('/')[0] ?? name));

/** The documents checked, relative to the root. */
function documents(): string[] {
  const guides = readdirSync(join(root, 'docs', 'guides'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/guides/${file}`);
  const docs = readdirSync(join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`);
  return ['README.md', ...guides.sort(), ...docs.sort()];
}

/** Each line of a Markdown text, with code blocks blanked (their line count kept). */
function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** The anchors a Git host gives a document's headings (the site gives the same). */
function headingAnchors(text: string): Set<string> {
  const slug = headingSlugger();
  const anchors = new Set<string>();
  for (const line of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) anchors.add(slug(headingText(heading)));
  }
  return anchors;
}

const SOURCE_LINK = /\[((?:[^[\]]|\[[^\]]*\])*)\]\((\.{1,2}\/[^)\s#]*\.(?:ts|mts|mjs|js))(?:#([^)\s]*))?(?:\s+(?:"([^"]*)"|'([^']*)'))?\)/g;
const DOC_LINK = /\[(?:[^[\]]|\[[^\]]*\])*\]\(((?:\.{1,2}\/)?[^)\s#:]*\.md)?(?:#([^)\s]+))?\)/g;

/** The name a source link's text gives, when it has no title yet: `` `.toArray()` `` → `toArray`. */
function nameFromText(text: string): string {
  return text.replace(/`/g, '').replace(/<.*$/, '').replace(/\(.*$/, '').replace(/^\./, '').trim();
}

const problems: string[] = [];
const complain = (where: string, what: string) => problems.push(`${where}: ${what}`);

const api = await loadApi();
const fixtures = fixtureNames();

/** Whether a name from a code span is something the docs may name. */
function known(name: string): boolean {
  if (api.names.has(name) || ALLOWED.has(name) || GLOBALS.has(name) || fixtures.has(name)) return true;
  const [head, ...rest] = name.split('.');
  if (head === undefined || rest.length === 0) return false;
  // A member of a global or a Node module (`process.exit`, `os.availableParallelism`), or of a value
  // in an example (`error.index`, `result.counts`): the member must be known, unless the head is a
  // global or module, whose members are not millrace's to check.
  if (GLOBALS.has(head) || BUILTINS.has(head) || LIBRARY_OBJECTS.has(head)) return true;
  if (api.declared.has(head)) return api.names.has(name);
  return rest.every((part) => known(part) || !/[A-Z]/.test(part));
}

/** Identifiers in a code span that must be API names: camel/PascalCase names, member paths, option keys. */
function namesIn(span: string): { readonly name: string; readonly key: boolean }[] {
  // Strings are values, not names; a path or a command line is not code.
  if (/^(npm|npx|node|tsx|bash|git|apt-get|redis-server|millrace)\b|^\.{0,2}\/|\.(ts|js|md|json|gz|log)\b|^--/.test(span)) return [];
  const code = span.replace(/'[^']*'|"[^"]*"/g, "''");
  const found: { name: string; key: boolean }[] = [];
  for (const match of code.matchAll(/(?<![\w$.])([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(\s*:)?/g)) {
    const name = match[1] ?? '';
    const index = match.index;
    const before = code.slice(0, index);
    const inObject = (before.match(/\{/g)?.length ?? 0) > (before.match(/\}/g)?.length ?? 0);
    const after = code.slice(index + name.length);
    // A key is `name:` in an object, or a shorthand `{ name }` in an object passed to a call (a bare
    // `{ x, y }` is a value, not options).
    const opened = before.lastIndexOf('{');
    const keyPlace = /[{,]\s*$/.test(before);
    const callArgument = /\([^()]*$/.test(before.slice(0, opened + 1));
    const key = inObject && keyPlace && (match[2] !== undefined || (callArgument && /^\s*[,}]/.test(after)));
    if (key || /[a-z][A-Z]|^[A-Z][a-z]+[A-Z]/.test(name.split('.').pop() ?? '') || /^[A-Z]\w*\.[a-z]/.test(name)) {
      found.push({ name, key });
    }
  }
  return found;
}

/** Code spans of a prose text, with their offsets (to find lists of options). */
function spansOf(prose: string): { readonly text: string; readonly start: number; readonly end: number }[] {
  const spans: { text: string; start: number; end: number }[] = [];
  for (const match of prose.matchAll(/(?<!`)(`+)(?!`)((?:(?!\n\s*\n)[\s\S])*?[^`])\1(?!`)/g)) {
    spans.push({ text: (match[2] ?? '').replace(/\s+/g, ' ').trim(), start: match.index, end: match.index + match[0].length });
  }
  return spans;
}

/** Checks that a list of option names, all from one options interface, is complete. */
function checkList(where: string, list: readonly string[], partial: boolean): void {
  if (list.length < 4 || partial) return;
  for (const [owner, fields] of api.optionSets) {
    if (!list.every((name) => fields.has(name))) continue;
    const missing = [...fields].filter((field) => !list.includes(field));
    if (missing.length > 0) {
      complain(where, `lists ${list.length} of ${owner}'s ${fields.size} options; add ${missing.join(', ')} or end the list with "..."`);
    }
    return;
  }
}

const anchorsOf = new Map<string, Set<string>>();
const anchors = (file: string): Set<string> | undefined => {
  if (!anchorsOf.has(file)) {
    try {
      anchorsOf.set(file, headingAnchors(readFileSync(join(root, file), 'utf8')));
    } catch {
      return undefined;
    }
  }
  return anchorsOf.get(file);
};

let fixed = 0;
for (const file of documents()) {
  const original = readFileSync(join(root, file), 'utf8');
  const dir = dirname(join(root, file));

  // Source links (rewritten in place under --fix).
  const text = original.replace(
    SOURCE_LINK,
    (whole: string, label: string, target: string, anchor?: string, doubleQuoted?: string, singleQuoted?: string) => {
      const title = doubleQuoted ?? singleQuoted;
      const lineNumber = original.slice(0, original.indexOf(whole)).split('\n').length;
      const where = `${file}:${lineNumber}`;
      const name = title ?? (anchor && !/^L\d+$/.test(anchor) ? anchor : nameFromText(label));
      const at = api.declared.get(name);
      if (at === undefined) {
        complain(where, `the link ${whole} names ${name}, which is not an export of millrace or millrace/testing (or a member of one)`);
        return whole;
      }
      if (at === 'ambiguous') {
        complain(where, `the link ${whole}: ${name} is declared in more than one place; link its declaring file`);
        return whole;
      }
      const linked = relative(root, resolve(dir, target));
      const wanted = `[${label}](${relative(dir, join(root, at.file)).replace(/^(?!\.)/, './')}#L${at.line} '${name}')`;
      if (linked === at.file && anchor === `L${at.line}` && singleQuoted === name) return whole;
      if (!fix) {
        const why =
          linked !== at.file
            ? `${name} is declared in ${at.file}, not ${linked}`
            : anchor !== `L${at.line}`
              ? /^L\d+$/.test(anchor ?? '')
                ? `${name} is declared on line ${at.line}, not ${(anchor ?? '').slice(1)}`
                : `${name} is declared on line ${at.line} (a Git host opens the file at #L${at.line}; ${anchor ? `#${anchor}` : 'no anchor'} opens it at the top)`
              : `the link's title must name the export ('${name}')`;
        complain(where, `${why}: write ${wanted} (npm run docs:links re-points every link)`);
        return whole;
      }
      fixed++;
      return wanted;
    },
  );
  if (fix && text !== original) {
    // Formatted as `npm run format` would (a re-pointed link changes a table's column widths).
    const path = join(root, file);
    const config = (await prettier.resolveConfig(path)) ?? {};
    writeFileSync(path, await prettier.format(text, { ...config, filepath: path }));
  }

  const lines = proseLines(text);
  lines.forEach((line, index) => {
    const where = `${file}:${index + 1}`;

    // Links to documents and their headings.
    for (const match of line.matchAll(DOC_LINK)) {
      const target = match[1];
      const anchor = match[2];
      if (target === undefined && anchor === undefined) continue;
      if (target !== undefined && /^[a-z]+:/.test(target)) continue;
      const doc = target === undefined ? file : relative(root, resolve(dir, target));
      const headings = anchors(doc);
      if (headings === undefined) {
        complain(where, `the link to ${target ?? ''} points at a document that does not exist`);
        continue;
      }
      if (anchor !== undefined && !headings.has(anchor)) {
        complain(where, `the link ${match[0]} names #${anchor}, which is not a heading of ${doc} (headings: ${[...headings].join(', ')})`);
      }
    }
  });

  // The prose as one text (a sentence or a list of names may run over a line break).
  const prose = lines.join('\n').replace(SOURCE_LINK, (whole: string, label: string) => label.padEnd(whole.length));
  const lineAt = (offset: number) => `${file}:${prose.slice(0, offset).split('\n').length}`;
  for (const { pattern, why } of RETIRED) {
    for (const match of prose.matchAll(new RegExp(pattern.source, `${pattern.flags}g`))) {
      complain(lineAt(match.index), `"${match[0].replace(/\s+/g, ' ')}" is no longer true: ${why}`);
    }
  }

  // Names in code spans, and lists of options: in the README and the guides (docs/*.md describe
  // the internals too, by their names).
  if (!(file === 'README.md' || file.startsWith('docs/guides/'))) continue;
  const spans = spansOf(prose);
  let list: string[] = [];
  spans.forEach((span, at) => {
    const where = lineAt(span.start);
    if (/^(docs\/[\w./-]*|[\w.-]+)\.md(#[\w-]*)?$/.test(span.text) && span.text !== 'DEVELOPERS.md')
      complain(where, `\`${span.text}\` is a path in code; make it a Markdown link`);
    for (const { name, key } of namesIn(span.text)) {
      if (!known(name)) complain(where, `\`${span.text}\` names ${key ? 'an option ' : ''}${name}, which the API does not have`);
    }
    const object = /^\{\s*([\w$]+(?:\s*,\s*[\w$]+)*)\s*(,\s*\.\.\.\s*)?\}$/.exec(span.text);
    if (object) checkList(where, (object[1] ?? '').split(/\s*,\s*/), object[2] !== undefined);
    const name = /^[a-z][\w$]*$/.test(span.text);
    if (name) list.push(span.text);
    const next = spans[at + 1];
    const gap = next ? prose.slice(span.end, next.start) : '';
    if (!name || !next || !/^\s*(,|,?\s*(and|or))\s*$/.test(gap)) {
      if (list.length > 0) checkList(lineAt(span.start), list, /^\s*(,\s*)?(\.\.\.|…|etc)/.test(prose.slice(span.end)));
      list = [];
    }
  });
}

// The errors guide names every error class a flow can reject with.
const errorsGuide = readFileSync(join(root, 'docs', 'guides', 'error-handling.md'), 'utf8');
for (const error of api.errors) {
  if (!new RegExp(`\\b${error}\\b`).test(errorsGuide))
    complain('docs/guides/error-handling.md', `${error} is an exported error class the guide does not mention`);
}

if (fix) console.log(`${fixed} source link(s) re-pointed.`);
if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`\n${problems.length} documentation problem(s): the guides and README must say what the API has.`);
  process.exit(1);
}
console.log(`${documents().length} documents agree with the API (source links, heading links, names in code, option lists).`);
