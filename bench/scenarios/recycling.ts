/**
 * Scenario: the cost of recycling workers. Pure compute (small items, so workers are replaced
 * often) on all cores, with no recycling against `maxItemsPerWorker: 1000` (a worker replaced
 * every 1000 items: its replacement starts while it finishes) and `maxWorkerMemoryMb` set high
 * enough never to trigger (the cost of the heap report after each chunk). Then the log analysis
 * (the main job's task, one gzip file an item), where a bound in items is a bound in files:
 * `maxItemsPerWorker: 4` and `1` (a new worker for every file, Python's `maxtasksperchild=1`).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createPool, flow, tasks, unorderedMap, type PoolOptions } from 'millrace';
import { ensureSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { runCpuBound, type ParallelVariant, type Samples } from '../lib/cpu-bound.js';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const logs = tasks<typeof import('../../examples/log-analysis/analysis.js')>(
  new URL('../../examples/log-analysis/analysis.js', import.meta.url),
);

/** The log-analysis variants: pool options besides `threads`. */
const LOG_VARIANTS: Record<string, Omit<PoolOptions, 'threads'>> = {
  'no recycling': {},
  'maxItemsPerWorker: 4': { maxItemsPerWorker: 4 },
  'maxItemsPerWorker: 1': { maxItemsPerWorker: 1 },
};

/** Each run starts its own pool, as a fresh process would; variants interleaved round by round. */
async function logsChild(dir: string, threads: number, repeats: number): Promise<void> {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.gz'))
    .sort()
    .map((name) => join(dir, name));
  const samples: Samples = {};
  let expected: number | undefined;
  for (let round = -1; round < repeats; round++) {
    for (const [name, poolOptions] of Object.entries(LOG_VARIANTS)) {
      const run = await measure(async () => {
        const pool = createPool({ ...poolOptions, threads });
        try {
          return await flow(files)
            .pipe(unorderedMap(logs.analysis, { pool }))
            .reduce((lines, result) => lines + result.lines, 0);
        } finally {
          await pool.close();
        }
      });
      expected ??= run.value;
      if (run.value !== expected) throw new Error(`${name}: ${run.value} lines, expected ${expected}`);
      if (round < 0) continue;
      const entry = (samples[name] ??= { threads, wallMs: [], cpuMs: [] });
      entry.wallMs.push(run.wallMs);
      entry.cpuMs.push(run.cpuMs);
    }
  }
  emit({ samples });
}

async function child(): Promise<void> {
  const options = args();
  const dir = options.get('dir');
  if (dir !== undefined) return logsChild(dir, numberArg(options, 'threads', 2), numberArg(options, 'repeats', 3));
  const items = numberArg(options, 'items', 20_000);
  const work = numberArg(options, 'work', 100_000);
  const threads = numberArg(options, 'threads', 2);
  const variants: ParallelVariant[] = [
    { name: 'no recycling', threads, options: {} },
    { name: 'maxItemsPerWorker: 1000', threads, options: {}, pool: { maxItemsPerWorker: 1000 } },
    { name: 'maxWorkerMemoryMb: 4096 (never reached)', threads, options: {}, pool: { maxWorkerMemoryMb: 4096 } },
  ];
  const samples = await runCpuBound(
    Array.from({ length: items }, () => work),
    variants,
    numberArg(options, 'repeats', 5),
  );
  emit({ samples });
}

export const scenario: Scenario = {
  id: 'recycling',
  title: 'Recycling workers (pure compute, log analysis)',
  async run(context: Context): Promise<ScenarioResult> {
    const threads = context.machine.cores;
    // Two item sizes: ~1 ms (the compute scenario's; a worker lives ~1 s between replacements) and
    // ~0.05 ms (a worker lives ~50 ms, about what starting one costs: the worst case).
    const sizes = [
      { label: '~1 ms items', items: context.quick ? 1_000 : 3_000, work: 2_000_000 },
      { label: '~0.05 ms items', items: context.quick ? 5_000 : 20_000, work: 100_000 },
    ];
    const rows: Row[] = [];
    const targets: ScenarioResult['targets'][number][] = [];
    const raw: Record<string, unknown> = {};
    for (const size of sizes) {
      context.log(`recycling: ${size.items} items (${size.label}) on ${threads} threads`);
      const parameters = { items: size.items, work: size.work, threads, repeats: context.repeats };
      const { result } = await runNodeScript<{ samples: Samples }>('scenarios/recycling', parameters);
      raw[size.label] = result;
      const base = median(result.samples['no recycling']!.wallMs);
      for (const [name, sample] of Object.entries(result.samples)) {
        const wall = median(sample.wallMs);
        rows.push({
          variant: `${size.label}: ${name}`,
          threads: sample.threads,
          'wall ms': fmt(wall),
          'CPU ms': fmt(median(sample.cpuMs)),
          'vs none': `${fmt(wall / base)}x`,
        });
      }
      const recycled = median(result.samples['maxItemsPerWorker: 1000']!.wallMs) / base;
      targets.push({
        name: `${size.label}, maxItemsPerWorker: 1000 against none`,
        goal: '<= 1.15x',
        measured: `${fmt(recycled)}x`,
        met: recycled <= 1.15,
      });
    }
    // The log analysis: the benchmark's corpus (as the log-analysis scenario), one file an item.
    const corpus = context.quick ? { files: 8, lines: 25_000, seed: 1 } : { files: 16, lines: 200_000, seed: 1 };
    const dir = join(context.workDir, `logs-${corpus.files}x${corpus.lines}`);
    await ensureSampleLogs(dir, corpus);
    context.log(`recycling: log analysis of ${corpus.files} files on ${threads} threads`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/recycling', { dir, threads, repeats: context.repeats });
    raw['log analysis'] = result;
    const base = median(result.samples['no recycling']!.wallMs);
    for (const [name, sample] of Object.entries(result.samples)) {
      const wall = median(sample.wallMs);
      rows.push({
        variant: `log analysis, ${corpus.files} files: ${name}`,
        threads: sample.threads,
        'wall ms': fmt(wall),
        'CPU ms': fmt(median(sample.cpuMs)),
        'vs none': `${fmt(wall / base)}x`,
      });
    }
    // A worker every 4 files: its replacement starts at the second file, ahead of need. A worker for
    // every file is the worst case, reported without a goal: on a machine whose cores the workers
    // already fill, a thread start cannot hide behind the work.
    const everyFourth = median(result.samples['maxItemsPerWorker: 4']!.wallMs) / base;
    targets.push({
      name: 'log analysis, a new worker every 4 files (maxItemsPerWorker: 4) against none',
      goal: '<= 1.15x',
      measured: `${fmt(everyFourth)}x`,
      met: everyFourth <= 1.15,
    });
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'threads', 'wall ms', 'CPU ms', 'vs none'],
      rows,
      targets,
      notes: [
        'maxItemsPerWorker: 1000 replaces each worker every 1000 items (a thread start and a task-module load; the replacement starts while the old worker finishes its chunks).',
        'The serial rows are the same kernel on the main thread, for scale.',
        'Log analysis: each run creates and closes its own pool (start-up included, as in a fresh process); maxItemsPerWorker counts files there. maxItemsPerWorker: 1 (a thread start and a module load for every file) has no goal: with every core busy, starting a thread cannot hide behind the work.',
      ],
      raw,
    };
  },
};

if (isMain(import.meta.url)) await child();
