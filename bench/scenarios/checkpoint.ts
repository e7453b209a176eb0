/**
 * Checkpoints (issue 19): what recording each file's result costs the main job, and what a rerun on
 * a finished checkpoint costs. The log analysis (`unorderedMap` over the files, as
 * examples/log-analysis/main.ts does) without a checkpoint, with a fresh one (every result recorded:
 * serialized, appended, fdatasync'ed), and on a finished one (every result resumed: the log read,
 * checked and looked up, no file analysed). Every run is a fresh process, variants interleaved.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkpoint, createPool, flow, tasks, unorderedMap, type Checkpoint } from 'millrace';
import { ensureSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { addResult, emptySummary, jsonReport } from '../../examples/log-analysis/report.js';
import { args, emit, isMain, measure, numberArg, peakRssMb } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Target } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const logs = tasks<typeof import('../../examples/log-analysis/analysis.js')>(
  new URL('../../examples/log-analysis/analysis.js', import.meta.url),
);

interface RunResult {
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
  resumed: number;
  /** The --json report, to check every variant counts the same. */
  report: string;
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
  // A fresh run records into a new directory (made and removed outside the measured time).
  const fresh = mode === 'fresh' ? mkdtempSync(join(options.get('scratch')!, 'ckpt-')) : undefined;
  const ckpt: Checkpoint | undefined = mode === 'none' ? undefined : checkpoint(fresh ?? options.get('finished')!);
  const run = await measure(async () => {
    const summary = emptySummary();
    const pool = createPool({ threads });
    try {
      await flow(files)
        .pipe(unorderedMap(logs.analysis, { pool, checkpoint: ckpt }))
        .forEach((result) => addResult(summary, result));
    } finally {
      await pool.close();
    }
    return summary;
  });
  if (fresh !== undefined) rmSync(fresh, { recursive: true, force: true });
  emit({
    wallMs: run.wallMs,
    cpuMs: run.cpuMs,
    peakRssMb: peakRssMb(),
    resumed: ckpt?.resumed ?? 0,
    report: JSON.stringify(jsonReport(run.value, 10)),
  } satisfies RunResult);
}

export const scenario: Scenario = {
  id: 'checkpoint',
  title: 'Checkpoints (the main job: recording, and a rerun on a finished checkpoint)',
  async run(context: Context): Promise<ScenarioResult> {
    const corpus = context.quick ? { files: 8, lines: 25_000, seed: 1 } : { files: 16, lines: 200_000, seed: 1 };
    const dir = join(context.workDir, `logs-${corpus.files}x${corpus.lines}`);
    await ensureSampleLogs(dir, corpus);
    const cores = context.machine.cores;
    const scratch = mkdtempSync(join(context.workDir, 'checkpoints-'));
    const finished = join(scratch, 'finished');
    const node = (mode: string) => async (): Promise<RunResult> =>
      (await runNodeScript<RunResult>('scenarios/checkpoint', { dir, mode, threads: cores, scratch, finished })).result;
    try {
      // The finished checkpoint the reruns resume from.
      const setup = await node('finished')();
      if (setup.resumed !== 0) throw new Error(`${finished} was not fresh`);
      const variants = [
        { name: `no checkpoint, ${cores} threads`, run: node('none') },
        { name: `fresh checkpoint (every result recorded), ${cores} threads`, run: node('fresh') },
        { name: `rerun on a finished checkpoint (every result resumed), ${cores} threads`, run: node('finished') },
      ];
      const samples = new Map<string, RunResult[]>();
      for (let round = -1; round < context.repeats; round++) {
        for (const variant of variants) {
          const result = await variant.run();
          if (result.report !== setup.report) throw new Error(`${variant.name} counted differently: ${result.report} vs ${setup.report}`);
          if (round >= 0) samples.set(variant.name, [...(samples.get(variant.name) ?? []), result]);
        }
        context.log(`checkpoint: round ${round + 1} of ${context.repeats} done`);
      }
      const wall = (name: string): number => median(samples.get(name)!.map((r) => r.wallMs));
      const [none, fresh, rerun] = variants.map((v) => wall(v.name)) as [number, number, number];
      const rows: Row[] = variants.map((variant) => {
        const runs = samples.get(variant.name)!;
        return {
          variant: variant.name,
          'wall s': fmt(wall(variant.name) / 1000),
          'CPU s': fmt(median(runs.map((r) => r.cpuMs)) / 1000),
          'peak RSS MB': fmt(median(runs.map((r) => r.peakRssMb))),
          'vs no checkpoint': `${fmt(wall(variant.name) / none)}x`,
          resumed: runs[0]!.resumed,
        };
      });
      const targets: Target[] = [
        { name: 'a fresh checkpoint vs none (wall)', goal: '<= 1.05x', measured: `${fmt(fresh / none)}x`, met: fresh <= 1.05 * none },
        {
          name: 'a rerun on a finished checkpoint vs the full run (wall)',
          goal: '< 0.10x',
          measured: `${fmt(rerun / none)}x`,
          met: rerun < 0.1 * none,
        },
      ];
      return {
        id: this.id,
        title: this.title,
        columns: ['variant', 'wall s', 'CPU s', 'peak RSS MB', 'vs no checkpoint', 'resumed'],
        rows,
        targets,
        notes: [
          `Corpus: ${corpus.files} gzip files x ${corpus.lines} lines, as the log-analysis scenario. Every run's report is checked equal to the first run's.`,
          'Each run is a fresh process (node startup excluded; pool start-up, opening the checkpoint and its lock, and teardown included). Medians of the repeats.',
        ],
        raw: Object.fromEntries(samples),
      };
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};

if (isMain(import.meta.url)) await child();
