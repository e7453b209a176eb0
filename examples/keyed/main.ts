/**
 * Sums the second field of `key,value` CSV lines per key, for millions of distinct keys: the file
 * is cut into blocks that the workers read and parse, each key is hashed to the owner thread of
 * its partition, and the owners hold the sums (spilling to disk past their memory budget); the main
 * thread only passes packed batches along and reads the results at the end.
 *
 * Usage: `npm run example:keyed -- FILE [--serial] [--json] [--top N] [--threads N]`.
 * `--serial` reads every line on the main thread into a `Map` (the baseline the parallel result
 * must equal); `--json` prints `{"keys": N, "sum": S, "top": [[key, sum], ...]}` (the top keys by
 * sum, ties by key). `examples/keyed/generate.ts` writes an input.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { aggregateByKey, aggregations, createPool, readBlocks, readLines, tasks } from 'millrace';
import { parsePair } from './keyed.tasks.js';

const t = tasks<typeof import('./keyed.tasks.js')>(new URL('./keyed.tasks.js', import.meta.url));

const USAGE = `usage: npm run example:keyed -- FILE [--serial] [--json] [--top N] [--threads N]

  FILE         key,value lines (examples/keyed/generate.ts writes some)
  --serial     read and sum on the main thread only (the baseline)
  --json       print {"keys","sum","top"} as JSON
  --top N      how many keys to list, by sum (default 10)
  --threads N  worker threads (default: ${availableParallelism()}, the available cores; half as many owners)`;

class UsageError extends Error {
  override name = 'UsageError';
}

/** What the example prints: key count, total, and the top keys by sum (ties by key). */
export interface KeyedSummary {
  keys: number;
  sum: number;
  top: [string, number][];
}

/** Keeps the `n` largest sums (ties: the smaller key first) while the pairs stream by. */
class TopSums {
  readonly #n: number;
  #top: [string, number][] = [];
  constructor(n: number) {
    this.#n = n;
  }
  add(key: string, sum: number): void {
    if (this.#n === 0) return;
    const last = this.#top[this.#top.length - 1];
    if (this.#top.length === this.#n && last !== undefined && !before([key, sum], last)) return;
    this.#top.push([key, sum]);
    this.#top.sort((a, b) => (before(a, b) ? -1 : 1));
    if (this.#top.length > this.#n) this.#top.pop();
  }
  get top(): [string, number][] {
    return this.#top;
  }
}

function before(a: [string, number], b: [string, number]): boolean {
  return a[1] !== b[1] ? a[1] > b[1] : a[0] < b[0];
}

/**
 * Sums per key on the main thread (`readLines` and a `Map`).
 *
 * @param file - the input
 * @param top - how many keys to list
 * @returns the summary
 */
export async function serialSums(file: string, top: number): Promise<KeyedSummary> {
  const sums = new Map<string, number>();
  await readLines(file).forEach((line) => {
    const pair = parsePair(line);
    if (pair !== undefined) sums.set(pair[0], (sums.get(pair[0]) ?? 0) + pair[1]);
  });
  const best = new TopSums(top);
  let sum = 0;
  for (const [key, value] of sums) {
    sum += value;
    best.add(key, value);
  }
  return { keys: sums.size, sum, top: best.top };
}

/**
 * Sums per key in the workers and the owner threads ({@link aggregateByKey}).
 *
 * @param file - the input
 * @param top - how many keys to list
 * @param threads - worker threads (the partitions are aggregateByKey's default: half as many, rounded up)
 * @returns the summary
 */
export async function parallelSums(file: string, top: number, threads: number): Promise<KeyedSummary> {
  const pool = createPool({ threads });
  try {
    const best = new TopSums(top);
    let keys = 0;
    let sum = 0;
    await readBlocks(file)
      .pipe(aggregateByKey(t.csvPairs, aggregations.sum, { pool }))
      .forEach(([key, value]) => {
        keys++;
        sum += value;
        best.add(key, value);
      });
    return { keys, sum, top: best.top };
  } finally {
    await pool.close();
  }
}

function positiveInteger(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      serial: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      top: { type: 'string' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) throw new UsageError('give exactly one FILE');
  const file = positionals[0]!;
  const top = positiveInteger('top', values.top, 10, 0);
  const threads = positiveInteger('threads', values.threads, availableParallelism());
  const started = performance.now();
  const summary = values.serial ? await serialSums(file, top) : await parallelSums(file, top, threads);
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (values.json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`${summary.keys} keys, sum ${summary.sum}, in ${seconds} s (${values.serial ? 'serial' : `${threads} threads`})`);
  for (const [key, sum] of summary.top) console.log(`${String(sum).padStart(12)}  ${key}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    if (error instanceof UsageError || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
