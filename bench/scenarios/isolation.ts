/**
 * Scenario: the cost of process isolation (`createPool({ isolation: 'process' })`) against worker
 * threads, on all cores, for the pure-compute kernel (two item sizes: ~1 ms, the compute
 * scenario's, and ~0.05 ms, where the per-chunk round trip through a pipe shows) and for the log
 * analysis (the main job: each run a fresh process, so the child processes' start is included).
 */
import { join } from 'node:path';
import { ensureSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { runCpuBound, type ParallelVariant, type Samples } from '../lib/cpu-bound.js';
import { args, emit, isMain, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Target } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

async function child(): Promise<void> {
  const options = args();
  const items = numberArg(options, 'items', 1_000);
  const work = numberArg(options, 'work', 2_000_000);
  const threads = numberArg(options, 'threads', 2);
  const variants: ParallelVariant[] = [
    { name: 'threads', threads, options: {} },
    { name: 'processes', threads, options: {}, pool: { isolation: 'process' } },
  ];
  const samples = await runCpuBound(
    Array.from({ length: items }, () => work),
    variants,
    numberArg(options, 'repeats', 5),
  );
  emit({ samples });
}

interface LogRun {
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
}

export const scenario: Scenario = {
  id: 'isolation',
  title: 'Process isolation against threads (pure compute, log analysis)',
  async run(context: Context): Promise<ScenarioResult> {
    const cores = context.machine.cores;
    const rows: Row[] = [];
    const targets: Target[] = [];
    const raw: Record<string, unknown> = {};
    const sizes = [
      { label: 'pure compute, ~1 ms items', items: context.quick ? 400 : 1_500, work: 2_000_000 },
      { label: 'pure compute, ~0.05 ms items', items: context.quick ? 4_000 : 20_000, work: 100_000 },
    ];
    for (const size of sizes) {
      context.log(`isolation: ${size.label}, ${size.items} items on ${cores} workers`);
      const parameters = { items: size.items, work: size.work, threads: cores, repeats: context.repeats };
      const { result } = await runNodeScript<{ samples: Samples }>('scenarios/isolation', parameters);
      raw[size.label] = result;
      const base = median(result.samples.threads!.wallMs);
      for (const [name, sample] of Object.entries(result.samples)) {
        const wall = median(sample.wallMs);
        rows.push({
          variant: `${size.label}: ${name}`,
          workers: sample.threads,
          'wall ms': fmt(wall),
          'vs threads': `${fmt(wall / base)}x`,
        });
      }
      const ratio = median(result.samples.processes!.wallMs) / base;
      targets.push({ name: `${size.label}: processes against threads`, goal: 'measured', measured: `${fmt(ratio)}x`, met: undefined });
    }

    const corpus = context.quick ? { files: 8, lines: 25_000, seed: 1 } : { files: 16, lines: 200_000, seed: 1 };
    const dir = join(context.workDir, `logs-${corpus.files}x${corpus.lines}`);
    await ensureSampleLogs(dir, corpus);
    context.log(`isolation: log analysis, ${corpus.files} files x ${corpus.lines} lines on ${cores} workers`);
    const modes = { threads: 'millrace', processes: 'millrace-process' } as const;
    const logRuns: Record<string, LogRun[]> = { threads: [], processes: [] };
    for (let round = -1; round < context.repeats; round++) {
      for (const [name, mode] of Object.entries(modes)) {
        const { result, treePeakRssMb } = await runNodeScript<LogRun>('scenarios/log-analysis', { dir, mode, threads: cores });
        if (round >= 0) logRuns[name]!.push({ ...result, peakRssMb: treePeakRssMb ?? result.peakRssMb });
      }
    }
    raw['log analysis'] = logRuns;
    const logBase = median(logRuns.threads!.map((run) => run.wallMs));
    for (const [name, runs] of Object.entries(logRuns)) {
      const wall = median(runs.map((run) => run.wallMs));
      rows.push({
        variant: `log analysis: ${name}`,
        workers: cores,
        'wall ms': fmt(wall),
        'vs threads': `${fmt(wall / logBase)}x`,
        'CPU ms': fmt(median(runs.map((run) => run.cpuMs))),
        'peak RSS MB': fmt(median(runs.map((run) => run.peakRssMb))),
      });
    }
    const logRatio = median(logRuns.processes!.map((run) => run.wallMs)) / logBase;
    targets.push({ name: 'log analysis: processes against threads', goal: 'measured', measured: `${fmt(logRatio)}x`, met: undefined });
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'workers', 'wall ms', 'vs threads', 'CPU ms', 'peak RSS MB'],
      rows,
      targets,
      notes: [
        'Pure compute: one pool of each kind for all rounds (the warm-up round pays the workers’ start); the serial rows are the same kernel on the main thread, for scale.',
        `Log analysis: each run a fresh process that creates and closes its pool (${corpus.files} gzip files x ${corpus.lines} lines, the log-analysis scenario's corpus); CPU counts the main process and, for processes, its reaped children (/proc/self/stat); peak RSS is the process tree's.`,
      ],
      raw,
    };
  },
};

if (isMain(import.meta.url)) await child();
