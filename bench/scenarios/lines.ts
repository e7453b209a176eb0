/**
 * Scenario 3, line-level parallelism: the lines of the log corpus read (gunzip, decode, split) on
 * the main thread and parsed in workers (`parallelMap` of a tally task over batches of lines), vs
 * the same files parsed serially. The main thread reads and clones every line, so it becomes the
 * bottleneck; the speedup is stated against the CPU ceiling (serial CPU time / cores), and the main
 * thread's busy share (event-loop utilization) shows where the limit is.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { batch, createPool, parallelMap, readLines, tasks } from 'millrace';
import { ensureSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { LogTally, type Tally } from '../../examples/log-analysis/parse.js';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const lineTasks = tasks<typeof import('../tasks/lines.tasks.js')>(new URL('../tasks/lines.tasks.js', import.meta.url));

interface Samples {
  [variant: string]: { wallMs: number[]; cpuMs: number[]; mainBusy: number[] };
}

function merge(into: { lines: number; matched: number }, tally: Tally): void {
  into.lines += tally.lines;
  into.matched += tally.matched;
}

async function child(): Promise<void> {
  const options = args();
  const dir = options.get('dir')!;
  const threads = numberArg(options, 'threads', 2);
  const repeats = numberArg(options, 'repeats', 5);
  const batchSize = numberArg(options, 'batch', 2000);
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.gz'))
    .sort()
    .map((name) => join(dir, name));
  const pool = createPool({ threads });
  const variants: Record<string, () => Promise<{ lines: number; matched: number }>> = {
    'serial: read + parse on the main thread': async () => {
      const total = { lines: 0, matched: 0 };
      for (const file of files) {
        const tally = new LogTally();
        await readLines(file).forEach((line) => tally.add(line));
        merge(total, tally.result());
      }
      return total;
    },
    'read only (main thread), no parsing': async () => {
      let lines = 0;
      for (const file of files) {
        await readLines(file).forEach(() => {
          lines++;
        });
      }
      return { lines, matched: -1 };
    },
    [`millrace: read on main, parse in ${threads} workers (batches of ${batchSize} lines)`]: async () => {
      const total = { lines: 0, matched: 0 };
      for (const file of files) {
        await readLines(file)
          .pipe(batch(batchSize), parallelMap(lineTasks.tallyLines, { pool }))
          .forEach((tally) => merge(total, tally));
      }
      return total;
    },
  };
  const samples: Samples = {};
  let reference: number | undefined;
  try {
    for (let round = -1; round < repeats; round++) {
      for (const [name, run] of Object.entries(variants)) {
        const elu = performance.eventLoopUtilization();
        const result = await measure(run);
        const busy = performance.eventLoopUtilization(elu).utilization;
        if (result.value.matched >= 0) {
          reference ??= result.value.matched;
          if (result.value.matched !== reference) throw new Error(`${name}: matched ${result.value.matched}, expected ${reference}`);
        }
        if (round < 0) continue;
        const entry = (samples[name] ??= { wallMs: [], cpuMs: [], mainBusy: [] });
        entry.wallMs.push(result.wallMs);
        entry.cpuMs.push(result.cpuMs);
        entry.mainBusy.push(busy);
      }
    }
  } finally {
    await pool.close();
  }
  emit({ samples });
}

export const scenario: Scenario = {
  id: 'lines',
  title: 'Line-level parallelism (parse lines in workers)',
  async run(context: Context): Promise<ScenarioResult> {
    const corpus = context.quick ? { files: 2, lines: 50_000, seed: 1 } : { files: 4, lines: 200_000, seed: 1 };
    const dir = join(context.workDir, `lines-${corpus.files}x${corpus.lines}`);
    await ensureSampleLogs(dir, corpus);
    const cores = context.machine.cores;
    context.log(`lines: ${corpus.files} files x ${corpus.lines} lines, ${cores} threads`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/lines', { dir, threads: cores, repeats: context.repeats });
    const serialName = 'serial: read + parse on the main thread';
    const serial = result.samples[serialName]!;
    const serialWall = median(serial.wallMs);
    const ceiling = median(serial.cpuMs) / cores;
    const rows: Row[] = Object.entries(result.samples).map(([name, sample]) => {
      const wall = median(sample.wallMs);
      return {
        variant: name,
        'wall ms': fmt(wall),
        'CPU ms': fmt(median(sample.cpuMs)),
        'main thread busy': `${Math.round(median(sample.mainBusy) * 100)}%`,
        speedup: `${fmt(serialWall / wall)}x`,
        'vs CPU ceiling': `${fmt(wall / ceiling)}x`,
      };
    });
    const parallelName = Object.keys(result.samples).find((name) => name.startsWith('millrace'))!;
    const parallel = median(result.samples[parallelName]!.wallMs);
    const readOnly = median(result.samples['read only (main thread), no parsing']!.wallMs);
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'wall ms', 'CPU ms', 'main thread busy', 'speedup', 'vs CPU ceiling'],
      rows,
      targets: [
        {
          name: 'speedup over serial (reported against the CPU ceiling)',
          goal: 'report',
          measured: `${fmt(serialWall / parallel)}x; wall ${fmt(parallel / ceiling)}x the ceiling (serial CPU / ${cores} = ${fmt(ceiling)} ms); reading alone takes ${fmt(readOnly)} ms`,
          met: undefined,
        },
      ],
      notes: [
        `Corpus: ${corpus.files} files x ${corpus.lines} lines. "vs CPU ceiling" = wall / (serial CPU time / cores); 1x would be perfect scaling. The main thread still gunzips (on the libuv pool), decodes and splits every line and structured-clones each batch, so it bounds the speedup at about serial / (read-only time).`,
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
