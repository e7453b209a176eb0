/**
 * Scenario 1, log analysis (the main job): the top request paths of a corpus of gzipped access
 * logs. millrace (`unorderedMap` over files, as examples/log-analysis/main.ts does) vs the serial
 * TypeScript version (examples/log-analysis/serial.ts), a hand-written worker_threads version (one
 * worker a core, files handed out one at a time), and Python's `multiprocessing.Pool().imap_unordered`
 * with the same regular expression and counting. Every run is a fresh process, variants
 * interleaved; wall time, CPU time of all threads and processes, and peak RSS.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createPool, flow, tasks, unorderedMap } from 'millrace';
import type { FileResult } from '../../examples/log-analysis/analysis.js';
import { ensureSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { addResult, emptySummary, jsonReport, type Summary } from '../../examples/log-analysis/report.js';
import { analyseSerially } from '../../examples/log-analysis/serial.js';
import { args, emit, isMain, measure, numberArg, peakRssMb } from '../lib/measure.js';
import { runNodeScript, runPythonScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Series, Target } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const logs = tasks<typeof import('../../examples/log-analysis/analysis.js')>(
  new URL('../../examples/log-analysis/analysis.js', import.meta.url),
);

interface Check {
  files: number;
  lines: number;
  malformed: number;
  matched: number;
  top: [string, number][];
}

interface RunResult {
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
  check: Check;
}

function check(summary: Summary): Check {
  const { files, lines, malformed, matched, top } = jsonReport(summary, 10);
  return { files, lines, malformed, matched, top };
}

async function viaMillrace(files: string[], threads: number, isolation: 'thread' | 'process' = 'thread'): Promise<Summary> {
  const summary = emptySummary();
  const pool = createPool({ threads, isolation });
  try {
    await flow(files)
      .pipe(unorderedMap(logs.analysis, { pool }))
      .forEach((result) => addResult(summary, result));
  } finally {
    await pool.close();
  }
  return summary;
}

/** The straightforward hand-written version: one worker a core, the next file to whichever finishes. */
async function viaWorkerThreads(files: string[], threads: number): Promise<Summary> {
  const summary = emptySummary();
  const workers = Array.from(
    { length: Math.min(threads, files.length) },
    () => new Worker(new URL('../workers/log-worker.js', import.meta.url)),
  );
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const feed = (): void => {
              if (next >= files.length) resolve();
              else worker.postMessage(files[next++]);
            };
            worker.on('message', (message: { result?: FileResult; error?: string }) => {
              if (message.error !== undefined) reject(new Error(message.error));
              else if (message.result === undefined) reject(new Error('a log worker answered with neither a result nor an error'));
              else {
                addResult(summary, message.result);
                feed();
              }
            });
            worker.on('error', reject);
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return summary;
}

async function child(): Promise<void> {
  const options = args();
  const dir = options.get('dir')!;
  const mode = options.get('mode')!;
  const threads = numberArg(options, 'threads', 2);
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.gz'))
    .sort()
    .map((name) => join(dir, name));
  const childrenBefore = reapedChildrenCpuMs();
  const run = await measure(() => {
    if (mode === 'serial') return analyseSerially(files);
    if (mode === 'millrace') return viaMillrace(files, threads);
    // Process isolation (the isolation scenario): the pool's child processes are reaped by close().
    if (mode === 'millrace-process') return viaMillrace(files, threads, 'process');
    if (mode === 'worker-threads') return viaWorkerThreads(files, threads);
    throw new Error(`unknown mode ${mode}`);
  });
  const childrenCpuMs = reapedChildrenCpuMs() - childrenBefore;
  emit({ wallMs: run.wallMs, cpuMs: run.cpuMs + childrenCpuMs, peakRssMb: peakRssMb(), check: check(run.value) } satisfies RunResult);
}

/**
 * CPU time of this process's child processes that have exited and been waited for (Linux:
 * `cutime` + `cstime` of /proc/self/stat), so a run on child processes counts their CPU too; 0
 * where /proc is missing.
 */
export function reapedChildrenCpuMs(): number {
  try {
    // The fields after the command name (which may hold spaces) start at field 3 (`state`).
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[13]) + Number(fields[14]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** `getconf CLK_TCK`: 100 on Linux for every common architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

interface Variant {
  readonly name: string;
  readonly threads: number;
  run(): Promise<RunResult>;
}

function sameCounts(a: Check, b: Check): boolean {
  return (
    a.lines === b.lines &&
    a.malformed === b.malformed &&
    a.matched === b.matched &&
    JSON.stringify(a.top.map(([, n]) => n)) === JSON.stringify(b.top.map(([, n]) => n))
  );
}

export const scenario: Scenario = {
  id: 'log-analysis',
  title: 'Log analysis (gzipped access logs, top paths)',
  async run(context: Context): Promise<ScenarioResult> {
    const corpus = context.quick ? { files: 8, lines: 25_000, seed: 1 } : { files: 16, lines: 200_000, seed: 1 };
    const dir = join(context.workDir, `logs-${corpus.files}x${corpus.lines}`);
    context.log(`log analysis: corpus ${corpus.files} files x ${corpus.lines} lines in ${dir}`);
    await ensureSampleLogs(dir, corpus);
    const cores = context.machine.cores;
    const node = (mode: string, threads: number) => async (): Promise<RunResult> => {
      const { result, treePeakRssMb } = await runNodeScript<RunResult>('scenarios/log-analysis', { dir, mode, threads });
      return { ...result, peakRssMb: treePeakRssMb ?? result.peakRssMb };
    };
    const variants: Variant[] = [
      { name: 'serial TypeScript (main thread)', threads: 1, run: node('serial', 1) },
      { name: `millrace unorderedMap, ${cores} threads`, threads: cores, run: node('millrace', cores) },
      { name: `hand-written worker_threads, ${cores} workers`, threads: cores, run: node('worker-threads', cores) },
    ];
    if (context.machine.python) {
      const python = (mode: string) => async (): Promise<RunResult> => {
        const { result, treePeakRssMb } = await runPythonScript<RunResult>(context.root, 'log_analysis', { dir, mode, processes: cores });
        return { ...result, peakRssMb: treePeakRssMb ?? result.peakRssMb };
      };
      variants.push({ name: `Python Pool().imap_unordered, ${cores} processes`, threads: cores, run: python('pool') });
      if (!context.quick) variants.push({ name: 'Python serial', threads: 1, run: python('serial') });
    }
    // The thread sweep for the chart: millrace on 1 thread and on twice the cores (besides the cores).
    const sweep = context.quick ? [] : [1, cores * 2].filter((t) => t !== cores);
    for (const threads of sweep)
      variants.push({ name: `millrace unorderedMap, ${threads} thread${threads > 1 ? 's' : ''}`, threads, run: node('millrace', threads) });
    const samples = new Map<Variant, RunResult[]>();
    for (let round = -1; round < context.repeats; round++) {
      for (const variant of variants) {
        const result = await variant.run();
        if (round >= 0) samples.set(variant, [...(samples.get(variant) ?? []), result]);
      }
      context.log(`log analysis: round ${round + 1} of ${context.repeats} done`);
    }
    const serial = samples.get(variants[0]!)!;
    const reference = serial[0]!.check;
    const serialWall = median(serial.map((r) => r.wallMs));
    const serialRss = median(serial.map((r) => r.peakRssMb));
    const serialCpu = median(serial.map((r) => r.cpuMs));
    const rows: Row[] = [];
    const wallOf = new Map<string, number>();
    const rssOf = new Map<string, number>();
    for (const [variant, runs] of samples) {
      for (const run of runs)
        if (!sameCounts(run.check, reference))
          throw new Error(`${variant.name} counted differently: ${JSON.stringify(run.check)} vs ${JSON.stringify(reference)}`);
      const wall = median(runs.map((r) => r.wallMs));
      wallOf.set(variant.name, wall);
      rssOf.set(variant.name, median(runs.map((r) => r.peakRssMb)));
      const speedup = serialWall / wall;
      rows.push({
        variant: variant.name,
        'wall s': fmt(wall / 1000),
        'CPU s': fmt(median(runs.map((r) => r.cpuMs)) / 1000),
        'peak RSS MB': fmt(median(runs.map((r) => r.peakRssMb))),
        'vs serial wall': `${fmt(wall / serialWall)}x`,
        speedup: `${fmt(speedup)}x`,
        efficiency: `${Math.round((speedup / Math.min(variant.threads, cores)) * 100)}%`,
      });
    }
    const ours = wallOf.get(`millrace unorderedMap, ${cores} threads`)!;
    const handWritten = wallOf.get(`hand-written worker_threads, ${cores} workers`)!;
    const pythonPool = wallOf.get(`Python Pool().imap_unordered, ${cores} processes`);
    const ourRss = rssOf.get(`millrace unorderedMap, ${cores} threads`)!;
    const targets: Target[] = [
      { name: 'wall time vs serial TypeScript', goal: '<= 0.75x', measured: `${fmt(ours / serialWall)}x`, met: ours <= 0.75 * serialWall },
      {
        name: "wall time vs Python's Pool",
        goal: '<= 0.55x',
        measured: pythonPool === undefined ? 'python3 missing' : `${fmt(ours / pythonPool)}x`,
        met: pythonPool === undefined ? undefined : ours <= 0.55 * pythonPool,
      },
      {
        name: 'wall time vs hand-written worker_threads',
        goal: '< 1x (beat it)',
        measured: `${fmt(ours / handWritten)}x`,
        met: ours < handWritten,
      },
      {
        name: 'peak RSS vs serial',
        goal: '<= 2x',
        measured: `${fmt(ourRss / serialRss)}x (${fmt(ourRss)} vs ${fmt(serialRss)} MB)`,
        met: ourRss <= 2 * serialRss,
      },
      {
        name: 'floor: serial CPU time / cores',
        goal: 'reach it',
        measured: `${fmt(serialCpu / cores / 1000)} s floor vs ${fmt(ours / 1000)} s`,
        met: undefined,
      },
    ];
    const series: Series[] = [];
    if (sweep.length > 0) {
      const points = [...samples.keys()]
        .filter((v) => v.name.startsWith('millrace'))
        .map((v) => ({ threads: v.threads, speedup: serialWall / wallOf.get(v.name)! }));
      series.push({ label: 'log analysis', points });
    }
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'wall s', 'CPU s', 'peak RSS MB', 'vs serial wall', 'speedup', 'efficiency'],
      rows,
      targets,
      notes: [
        `Corpus: ${corpus.files} gzip files x ${corpus.lines} lines (generated by examples/log-analysis/generate-sample-logs.ts, seed ${corpus.seed}). Every variant's counts are checked equal to the serial version's.`,
        'Each run is a fresh process (node startup excluded, pool start-up and teardown included). CPU = all threads (and, for Python, the pool processes); peak RSS = the process tree, sampled every 20 ms.',
      ],
      series,
      raw: Object.fromEntries([...samples].map(([variant, runs]) => [variant.name, runs])),
    };
  },
};

if (isMain(import.meta.url)) await child();
