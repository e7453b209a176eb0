/**
 * Scenario "one big file": one access log, parse + count per line, read three ways: a plain file
 * (readBlocks makes byte ranges the workers read themselves), the same log gzipped (gunzip on the
 * main thread, newline-aligned blocks moved to the workers), and a byte-mode Readable of the plain
 * log (read on the main thread, blocks moved). Each against the serial baseline: `readLines` of
 * the same input with the same parser on the main thread. Timings alternate serial and parallel
 * rounds in one process (same load for both); peak RSS is measured per variant in a fresh process.
 */
import { createReadStream, createWriteStream, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createPool, readBlocks, readLines, tasks, unorderedMap, type Pool } from 'millrace';
import { ensureSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { LogTally, type Tally } from '../../examples/log-analysis/parse.js';
import { args, emit, isMain, measure, numberArg, peakRssMb } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Target } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const t = tasks<typeof import('../../examples/big-file/tally.tasks.js')>(new URL('../../examples/big-file/tally.tasks.js', import.meta.url));

const INPUTS = ['plain', 'gzip', 'stream'] as const;
type InputKind = (typeof INPUTS)[number];
const VARIANTS = ['serial', 'blocks'] as const;
type Variant = (typeof VARIANTS)[number];

interface Files {
  readonly plain: string;
  readonly gzip: string;
}

interface TimingSamples {
  [key: string]: { wallMs: number[]; cpuMs: number[]; mainBusyMs: number[] };
}

interface RssResult {
  readonly peakRssMb: number;
  readonly wallMs: number;
}

/** What the run reads: a path, or a fresh Readable of the plain log for the stream input. */
function inputOf(kind: InputKind, files: Files): string | Readable {
  if (kind === 'stream') return createReadStream(files.plain);
  return kind === 'plain' ? files.plain : files.gzip;
}

/** One run; returns the matched count, which every variant must agree on. */
async function runOnce(kind: InputKind, variant: Variant, files: Files, pool: Pool | undefined): Promise<number> {
  const input = inputOf(kind, files);
  if (variant === 'serial') {
    const tally = new LogTally();
    await readLines(input).forEach((line) => tally.add(line));
    return tally.matched;
  }
  let matched = 0;
  const counts = new Map<string, number>();
  await readBlocks(input)
    .pipe(unorderedMap(t.tallyBlock, { pool: pool! }))
    .forEach((tally: Tally) => {
      matched += tally.matched;
      for (const [path, n] of tally.counts) counts.set(path, (counts.get(path) ?? 0) + n);
    });
  return matched;
}

async function child(): Promise<void> {
  const options = args();
  const files: Files = { plain: options.get('plain')!, gzip: options.get('gzip')! };
  const threads = numberArg(options, 'threads', 2);
  const only = options.get('input') as InputKind | undefined;
  const variant = options.get('variant') as Variant | undefined;
  if (only !== undefined && variant !== undefined) {
    // Peak RSS of one variant: one run in this fresh process (with a pool only when it uses one).
    const pool = variant === 'blocks' ? createPool({ threads }) : undefined;
    try {
      const sample = await measure(() => runOnce(only, variant, files, pool));
      emit({ peakRssMb: peakRssMb(), wallMs: sample.wallMs } satisfies RssResult);
    } finally {
      await pool?.close();
    }
    return;
  }
  const repeats = numberArg(options, 'repeats', 5);
  const pool = createPool({ threads });
  const samples: TimingSamples = {};
  const reference = new Map<InputKind, number>();
  try {
    for (let round = -1; round < repeats; round++) {
      for (const kind of INPUTS) {
        for (const name of VARIANTS) {
          const elu = performance.eventLoopUtilization();
          const result = await measure(() => runOnce(kind, name, files, pool));
          const mainBusyMs = performance.eventLoopUtilization(elu).active;
          const expected = reference.get(kind) ?? reference.get('plain') ?? result.value;
          reference.set(kind, expected);
          if (result.value !== expected) throw new Error(`${kind} ${name}: matched ${result.value}, expected ${expected}`);
          if (round < 0) continue;
          const entry = (samples[`${kind}/${name}`] ??= { wallMs: [], cpuMs: [], mainBusyMs: [] });
          entry.wallMs.push(result.wallMs);
          entry.cpuMs.push(result.cpuMs);
          entry.mainBusyMs.push(mainBusyMs);
        }
      }
    }
  } finally {
    await pool.close();
  }
  emit({ samples });
}

/** The sample log as one gzip file and, decompressed once, one plain file. */
async function ensureFiles(context: Context, lines: number): Promise<Files> {
  const dir = await ensureSampleLogs(join(context.workDir, `big-file-${lines}`), { files: 1, lines, seed: 11 });
  const gzip = join(dir, 'access-0001.log.gz');
  const plain = join(dir, 'big.log');
  if (!existsSync(plain)) {
    await pipeline(createReadStream(gzip), createGunzip(), createWriteStream(`${plain}.tmp`));
    renameSync(`${plain}.tmp`, plain);
  }
  return { plain, gzip };
}

const TARGETS: Record<InputKind, number> = { plain: 1.8, gzip: 1.3, stream: 1.3 };
const LABELS: Record<InputKind, string> = {
  plain: 'plain file (byte ranges read by the workers)',
  gzip: 'gzip file (gunzip on main, blocks moved)',
  stream: 'byte-mode Readable of the plain file (blocks moved)',
};

export const scenario: Scenario = {
  id: 'one-big-file',
  title: 'One big file: readBlocks + parse in workers vs serial readLines',
  async run(context: Context): Promise<ScenarioResult> {
    const lines = context.quick ? 100_000 : 1_000_000;
    const files = await ensureFiles(context, lines);
    const cores = context.machine.cores;
    context.log(`one-big-file: ${lines} lines, ${cores} threads`);
    const common = { plain: files.plain, gzip: files.gzip, threads: cores };
    const { result } = await runNodeScript<{ samples: TimingSamples }>('scenarios/one-big-file', { ...common, repeats: context.repeats });
    const rss = new Map<string, RssResult>();
    for (const kind of INPUTS) {
      for (const variant of VARIANTS) {
        const run = await runNodeScript<RssResult>('scenarios/one-big-file', { ...common, input: kind, variant });
        rss.set(`${kind}/${variant}`, run.result);
      }
    }
    const rows: Row[] = [];
    const targets: Target[] = [];
    for (const kind of INPUTS) {
      const serial = result.samples[`${kind}/serial`]!;
      const blocks = result.samples[`${kind}/blocks`]!;
      const serialWall = median(serial.wallMs);
      const blocksWall = median(blocks.wallMs);
      const serialRss = rss.get(`${kind}/serial`)!.peakRssMb;
      const blocksRss = rss.get(`${kind}/blocks`)!.peakRssMb;
      for (const [variant, sample, peak] of [
        ['serial readLines + parse', serial, serialRss],
        [`readBlocks + unorderedMap, ${cores} workers`, blocks, blocksRss],
      ] as const) {
        rows.push({
          input: LABELS[kind],
          variant,
          'wall ms': fmt(median(sample.wallMs)),
          'CPU ms': fmt(median(sample.cpuMs)),
          'main thread busy ms': fmt(median(sample.mainBusyMs)),
          speedup: `${fmt(serialWall / median(sample.wallMs))}x`,
          // What the wall time would be with the cores to itself: all CPU spread over the cores, or
          // the main thread's own work, whichever is longer. A loaded machine shows in wall >> floor.
          'floor ms': fmt(Math.max(median(sample.mainBusyMs), median(sample.cpuMs) / cores)),
          'peak RSS MB': fmt(peak),
        });
      }
      const speedup = serialWall / blocksWall;
      targets.push({ name: `${kind}: speedup over serial`, goal: `>= ${TARGETS[kind]}x`, measured: `${fmt(speedup)}x`, met: speedup >= TARGETS[kind] });
      targets.push({
        name: `${kind}: peak RSS vs serial`,
        goal: '<= 2x',
        measured: `${fmt(blocksRss / serialRss)}x (${fmt(blocksRss)} vs ${fmt(serialRss)} MB)`,
        met: blocksRss <= 2 * serialRss,
      });
    }
    return {
      id: this.id,
      title: this.title,
      columns: ['input', 'variant', 'wall ms', 'CPU ms', 'main thread busy ms', 'speedup', 'floor ms', 'peak RSS MB'],
      rows,
      targets,
      notes: [
        `One access log of ${lines.toLocaleString('en-US')} lines (the log-analysis generator, seed 11), parsed with the log analysis' regex and counted into a Map. Timings: medians of ${context.repeats} rounds after a warm-up, serial and parallel alternating in one process, the pool started before the rounds. Peak RSS: one run per variant in a fresh process (maxRSS, worker threads included).`,
        '"floor ms": the wall time the CPU spent would allow with the cores to itself: max(main thread busy, CPU / cores). Wall times far above the floors mean the machine was shared; for serial that is its main thread busy time (gunzip overlaps it on the libuv pool).',
        'Serial: `readLines(input).forEach(tally.add)` on the main thread. Parallel: `readBlocks(input).pipe(unorderedMap(tallyBlock))` with the per-block counts merged on the main thread (examples/big-file).',
      ],
      raw: { timings: result, rss: Object.fromEntries(rss) },
    };
  },
};

if (isMain(import.meta.url)) await child();
