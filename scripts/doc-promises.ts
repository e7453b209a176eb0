/**
 * What a documentation example promises in its comments, and whether it kept the promise: the
 * convention run-doc-examples.ts checks.
 *
 * A line that prints (`console.log(...)` or `console.error(...)`), or a line `await expression;`,
 * followed by a comment, promises what it prints or what the expression is:
 * ```ts nocheck
 * console.log(await flow([1, 2, 3]).pipe(parallelMap(math.square)).toArray()); // [1, 4, 9]
 * await flow(pairs).pipe(starMap(math.add)).toArray(); // [3, 7] (Pool.starmap)
 * for await (const x of evens) console.log(x); // 20, 40
 * ```
 * - Values are written as TypeScript literals: `[1, 4, 9]`, `'a'`, `[['a', 2], ['b', 1]]`, `true`; a
 *   string printed by itself is its text (`console.error(error.message); // Task ... failed`), and
 *   several arguments are separated by a space (`console.log(index, item); // 2 -1`).
 * - Several prints from one line (a loop, a callback) are joined by `, `.
 * - `...` stands for anything (`[['a', 2], ...]`), and prose may follow the value after `, `, `; `,
 *   `: ` or a space when it starts with a letter or `(` (`// [1, 4, 9], input order`).
 * - A comment that starts with a lowercase word is a description, not a promise
 *   (`// the RangeError thrown in the worker`).
 */
import { inspect } from 'node:util';

/** One line's promise. */
export interface Promised {
  /** The line in the source file (what `__docExpect` is called with). */
  readonly line: number;
  /** The comment, the promised value first. */
  readonly comment: string;
}

/** One example, as handed to the child. */
export interface RunItem {
  readonly file: string;
  readonly source: string;
  readonly line: number;
  readonly promises: readonly Promised[];
}

/** What the child reports for one example. */
export interface RunResult {
  readonly source: string;
  readonly line: number;
  /** Problems found (empty: the example ran and kept its promises). */
  readonly problems: readonly string[];
  /** Everything the example printed, shown when it failed. */
  readonly output: string;
  readonly checked: number;
}

const LITERAL_WORDS = new Set(['true', 'false', 'null', 'undefined', 'NaN', 'Infinity']);

/** A comment that starts with a lowercase word describes; it does not promise a value. */
export function isDescription(comment: string): boolean {
  const word = /^[a-z][\w-]*/.exec(comment)?.[0];
  return word !== undefined && !LITERAL_WORDS.has(word);
}

/**
 * Rewrites the lines of `code` (whose first line is line `firstLine` of its source) that make a
 * promise, so that what they print or compute goes to `__docExpect(line, ...values)`, and returns
 * the rewritten code with the promises found.
 */
export function instrument(code: string, firstLine: number): { code: string; promises: Promised[] } {
  const promises: Promised[] = [];
  const lines = code.split('\n').map((text, index) => {
    const at = text.lastIndexOf(' // ');
    if (at < 0) return text;
    const statement = text.slice(0, at);
    const comment = text.slice(at + 4).trim();
    if (statement.trim().startsWith('//') || !/[;)]\s*$/.test(statement) || isDescription(comment)) return text;
    const line = firstLine + index;
    if (/\bconsole\.(log|error)\(/.test(statement)) {
      promises.push({ line, comment });
      return `${statement.replace(/\bconsole\.(log|error)\(/g, `__docExpect(${line}, `)} // ${comment}`;
    }
    const awaited = /^(\s*)(await (?!using\b).*);\s*$/.exec(statement);
    if (awaited) {
      promises.push({ line, comment });
      return `${awaited[1] ?? ''}__docExpect(${line}, ${awaited[2] ?? ''}); // ${comment}`;
    }
    return text;
  });
  return { code: lines.join('\n'), promises };
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A value as the docs write it: a TypeScript literal where there is one. */
export function literal(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (value instanceof Map) return `Map(${value.size}) {${[...value].map(([k, v]) => `${literal(k)} => ${literal(v)}`).join(', ')}}`;
  if (value instanceof Set) return `Set(${value.size}) {${[...value].map(literal).join(', ')}}`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    const fields = Object.entries(value).map(([key, v]) => `${IDENTIFIER.test(key) ? key : literal(key)}: ${literal(v)}`);
    return fields.length === 0 ? '{}' : `{ ${fields.join(', ')} }`;
  }
  return inspect(value, { depth: 4, breakLength: Infinity });
}

/** What one print shows, as a promise is written: strings by themselves are their text. */
export function printed(values: readonly unknown[]): string {
  return values.map((value) => (typeof value === 'string' ? value : literal(value))).join(' ');
}

/** Spacing is not part of a promise: `[ 1, 2 ]` is `[1, 2]`. */
function normalize(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/([[({]) /g, '$1')
    .replace(/ ([\])}])/g, '$1')
    .trim();
}

/** The comment's possible values: the whole comment, and each prefix that prose follows. */
function candidates(comment: string): string[] {
  const found = [comment];
  for (const match of comment.matchAll(/[,;:]? +(?=[A-Za-z(])/g)) if (match.index > 0) found.push(comment.slice(0, match.index));
  return found;
}

/** Whether `shown` (the line's prints, joined by `, `) keeps the promise `comment`. */
export function keeps(comment: string, shown: string): boolean {
  const actual = normalize(shown);
  return candidates(comment).some((candidate) => {
    const pattern = normalize(candidate)
      .split('...')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    return new RegExp(`^${pattern}$`, 's').test(actual);
  });
}
