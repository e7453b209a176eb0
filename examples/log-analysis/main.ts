/**
 * The main job: the top request paths of a directory of gzipped access logs, one file per task on
 * every core, the per-file counts merged on the main thread (a two-tier map-reduce, as with
 * Python's `Pool.imap_unordered` and `Counter.update`).
 *
 * Usage: `npm start -- [GLOB...] [--top N] [--json] [--threads N] [--chunk-size N] [--checkpoint DIR]`
 * With no GLOB, a sample corpus is generated once into .cache/sample-logs and analysed. With a
 * checkpoint, each file's result is recorded as it arrives: a rerun after a crash, or after new
 * files came in, analyses only the files without a recorded result (new or changed ones).
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkpoint,
  createPool,
  flow,
  formatStageStats,
  glob,
  progress,
  tasks,
  unorderedMap,
  type Checkpoint,
  type StageStats,
} from 'millrace';
import { ensureSampleLogs } from './generate-sample-logs.js';
import { addResult, emptySummary, humanReport, jsonReport } from './report.js';

const logs = tasks<typeof import('./analysis.js')>(new URL('./analysis.js', import.meta.url));

const DEFAULT_CORPUS = join(projectRoot(), '.cache', 'sample-logs');
// Large enough that the job outweighs starting the workers (the benchmark's corpus: ~750 MB of logs).
const DEFAULT_CORPUS_SIZE = { files: 16, lines: 200_000, seed: 1 };

/** The folder of the nearest package.json: the same cache whether this runs from source or dist/. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const USAGE = `usage: npm start -- [GLOB...] [--top N] [--json] [--threads N] [--chunk-size N] [--checkpoint DIR]

  GLOB            log files to analyse, gzip or plain (default: a generated sample corpus)
  --top N         how many paths to list (default 10)
  --json          print {"files","lines","malformed","matched","top"} as JSON (and "resumed" with --checkpoint)
  --threads N     worker threads (default: ${availableParallelism()}, the available cores)
  --chunk-size N  files per task message (default 1)
  --stats         after the report, print where the time went (chunks, worker busy time, waits) on stderr
  --checkpoint DIR  record each file's result in DIR as it arrives; a rerun (after a crash, or when files
                  were added or changed) analyses only the files without a recorded result`;

/** Thrown (as the abort reason) when the user presses Ctrl-C. */
class Interrupted extends Error {
  override name = 'Interrupted';
}

class UsageError extends Error {
  override name = 'UsageError';
}

function positiveInteger(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      top: { type: 'string' },
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      'chunk-size': { type: 'string' },
      stats: { type: 'boolean', default: false },
      checkpoint: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const top = positiveInteger('top', values.top, 10, 0);
  const threads = positiveInteger('threads', values.threads, availableParallelism());
  const chunkSize = positiveInteger('chunk-size', values['chunk-size'], 1);

  // Ctrl-C aborts the flow: queued files are dropped, running workers are ended.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: leave at once
    controller.abort(new Interrupted('interrupted'));
  };
  process.on('SIGINT', onSigint);

  let files: string[];
  if (positionals.length === 0) {
    const { files: count, lines } = DEFAULT_CORPUS_SIZE;
    const dir = await ensureSampleLogs(DEFAULT_CORPUS, {
      ...DEFAULT_CORPUS_SIZE,
      signal: controller.signal,
      onGenerate: () =>
        console.error(`generating a sample corpus once: ${count} files × ${lines.toLocaleString('en-US')} lines into ${DEFAULT_CORPUS}`),
    });
    files = await glob('*.log.gz', { cwd: dir, absolute: true, sort: true, signal: controller.signal }).toArray();
  } else {
    files = await glob(positionals, { sort: true, signal: controller.signal }).toArray();
    if (files.length === 0) {
      console.error(`no files match ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
      return 1;
    }
  }

  console.error(`analysing ${files.length} file${files.length === 1 ? '' : 's'} on ${threads} thread${threads === 1 ? '' : 's'}`);
  const started = performance.now();
  const summary = emptySummary();
  const pool = createPool({ threads });
  let stats: StageStats | undefined;
  const ckpt = values.checkpoint === undefined ? undefined : checkpoint(values.checkpoint, { codeVersion: taskCodeVersion() });
  try {
    await flow(files, { signal: controller.signal })
      .pipe(
        unorderedMap(logs.analysis, {
          pool,
          chunkSize,
          checkpoint: ckpt,
          ...(values.stats ? { stats: (s: StageStats) => (stats = s) } : {}),
        }),
        progress({ total: files.length, label: 'analysing', unit: 'files', summary: !values.json, note: () => resumedNote(ckpt) }),
      )
      .forEach((result) => addResult(summary, result));
  } finally {
    await pool.close();
  }
  const elapsedMs = performance.now() - started;
  const report = ckpt === undefined ? jsonReport(summary, top) : { ...jsonReport(summary, top), resumed: ckpt.resumed };
  console.log(values.json ? JSON.stringify(report) : humanReport(summary, top, elapsedMs));
  if (ckpt !== undefined && !values.json) console.error(`${ckpt.resumed} of ${files.length} files came from the checkpoint ${ckpt.dir}`);
  // On stderr, so --json output stays machine-readable.
  if (stats) console.error(formatStageStats(stats));
  return 0;
}

/** The progress bar's note: how many files came from the checkpoint rather than the workers. */
function resumedNote(ckpt: Checkpoint | undefined): string {
  return ckpt === undefined || ckpt.resumed === 0 ? '' : `${ckpt.resumed} resumed from the checkpoint`;
}

/**
 * The task's code version for the checkpoint: the task module and the parser it imports (the
 * default would hash the task module alone, and miss a change in the parser).
 */
function taskCodeVersion(): string {
  const hash = createHash('sha256');
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  for (const name of ['analysis', 'parse']) hash.update(readFileSync(new URL(`./${name}${extension}`, import.meta.url)));
  return hash.digest('base64url');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof Interrupted) {
      console.error('interrupted');
      process.exit(130);
    }
    if (error instanceof UsageError || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    // Errors name what failed (the task, the file); a stack trace would only bury that.
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
