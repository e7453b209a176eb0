/**
 * The top request paths of ONE big access log (plain or gzip), its lines parsed in every core:
 * `readBlocks` cuts the file into newline-aligned blocks (byte ranges that each worker reads
 * itself for a plain file; decompressed bytes moved to the worker for gzip), a task counts each
 * block, and the counts are merged on the main thread.
 *
 * Usage: `npm run example:big-file -- FILE [--top N] [--json] [--threads N] [--block-size BYTES] [--serial]`
 * (`-` reads standard input). `--serial` reads and counts every line on the main thread
 * (`readLines`), the baseline the parallel result must equal.
 *
 * @packageDocumentation
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Counter, createPool, progress, readBlocks, readLines, tasks, unorderedMap, type BlockInput } from 'millrace';
import { LogTally, type Tally } from '../log-analysis/parse.js';
import { humanReport, jsonReport, type Summary } from '../log-analysis/report.js';

const t = tasks<typeof import('./tally.tasks.js')>(new URL('./tally.tasks.js', import.meta.url));

const USAGE = `usage: npm run example:big-file -- FILE [--top N] [--json] [--threads N] [--block-size BYTES] [--serial]

  FILE               one access log, plain or gzip (- for standard input)
  --top N            how many paths to list (default 10)
  --json             print {"files","lines","malformed","matched","top"} as JSON
  --threads N        worker threads (default: ${availableParallelism()}, the available cores)
  --block-size BYTES bytes per block (default: about 1 MiB)
  --serial           read and count on the main thread only (the baseline)`;

class UsageError extends Error {
  override name = 'UsageError';
}

function positiveInteger(name: string, text: string | undefined, fallback: number | undefined, min = 1): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${JSON.stringify(text)}`);
  return value;
}

function addTally(summary: Summary, tally: Tally): void {
  summary.lines += tally.lines;
  summary.malformed += tally.malformed;
  summary.matched += tally.matched;
  summary.counts.update(tally.counts);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      top: { type: 'string' },
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      'block-size': { type: 'string' },
      serial: { type: 'boolean', default: false },
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
  const top = positiveInteger('top', values.top, 10, 0)!;
  const threads = positiveInteger('threads', values.threads, availableParallelism())!;
  const blockSize = positiveInteger('block-size', values['block-size'], undefined);
  const input: BlockInput = file === '-' ? process.stdin : file;

  // Ctrl-C aborts: reading stops, the file closes, running workers are ended.
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  const signal = controller.signal;

  const started = performance.now();
  const summary: Summary = {
    files: 1,
    lines: 0,
    bytes: file === '-' ? 0 : (await stat(file)).size,
    malformed: 0,
    matched: 0,
    counts: new Counter(),
  };
  if (values.serial) {
    const tally = new LogTally();
    await readLines(input, { signal }).forEach((line) => tally.add(line));
    addTally(summary, tally.result());
  } else {
    const pool = createPool({ threads });
    try {
      // The bar counts the bytes the tasks report as they finish blocks, of the file's size when it
      // is plain (a gzip file's blocks are decompressed bytes, more than its size).
      const plain = file !== '-' && !file.endsWith('.gz');
      await readBlocks(input, { signal, ...(blockSize === undefined ? {} : { blockSize }) })
        .pipe(
          unorderedMap(t.tallyBlock, { pool }),
          progress({ count: 'reported', unit: 'bytes', label: 'reading', summary: !values.json, ...(plain && { total: summary.bytes }) }),
        )
        .forEach((tally) => addTally(summary, tally));
    } finally {
      await pool.close();
    }
  }
  const elapsedMs = performance.now() - started;
  console.log(values.json ? JSON.stringify(jsonReport(summary, top)) : humanReport(summary, top, elapsedMs));
}

main().catch((error: unknown) => {
  if (error instanceof UsageError || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
