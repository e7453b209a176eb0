/**
 * Word frequencies over text files: each file is tokenised in a worker (`parallelMap`), then the
 * words are counted with the two-tier `reduceBy` (each chunk folded by key inside a worker, the
 * partial counts merged on the main thread), like a MapReduce combiner.
 *
 * Usage: `npm run example:word-frequencies -- [GLOB...] [--top N]` (default: this project's
 * Markdown files).
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Counter, filter, flatMap, glob, parallelMap, reduceBy, tap, tasks } from 'millrace';

const text = tasks<typeof import('./words.tasks.js')>(new URL('./words.tasks.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STOP_WORDS = new Set('a an and are as at be by for from has in is it its of on or that the this to was were will with'.split(' '));

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '15' } }, allowPositionals: true });
const patterns = positionals.length > 0 ? positionals : ['**/*.md'];
let files = 0;
const counts = new Counter<string>();
await glob(patterns, {
  cwd: positionals.length > 0 ? process.cwd() : ROOT,
  absolute: true,
  ignore: ['**/node_modules/**', '**/dist/**', '**/.cache/**', 'docs/api/**'],
})
  .pipe(
    tap(() => files++),
    parallelMap(text.wordsOf),
    flatMap((words: string[]) => words),
    filter((w: string) => !STOP_WORDS.has(w)),
    reduceBy(text.word, text.count, 0, { combine: (a, b) => a + b, chunkSize: 5_000 }),
  )
  .forEach(([w, n]) => {
    counts.add(w, n);
  });
if (files === 0) {
  console.error(`no files match ${patterns.join(' ')}`);
  process.exit(1);
}

console.log(`${counts.total()} words (${counts.size} distinct, stop words left out) in ${files} files`);
for (const [w, n] of counts.mostCommon(Number(values.top))) console.log(`${String(n).padStart(7)}  ${w}`);
