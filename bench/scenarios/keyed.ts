/**
 * Scenario "keyed": sums per key of `key,value` CSV lines (examples/keyed), three inputs: 1M
 * distinct keys each in turn, 1M keys Zipf-distributed, and 1,000 keys (low cardinality). Each
 * against the serial baseline, `readLines` + a `Map` on the main thread, and, for the first input,
 * the way issue 22 measured before `aggregateByKey`: a `Map` per block in the workers, merged on the
 * main thread. Every run is a fresh process (wall, CPU of all threads, peak RSS of the process), and
 * every variant must print the same key count, total and top keys as the serial one. A full run
 * adds 10M distinct keys with each owner's heap capped at 256 MB (`ownerResourceLimits`, the pool's
 * workers too): it must complete, spilling, with the exact key count and total.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aggregateByKey, aggregations, createPool, readBlocks, unorderedMap, tasks } from 'millrace';
import { generateKeyedInput, type KeyedInput } from '../../examples/keyed/generate.js';
import { parallelSums, serialSums, type KeyedSummary } from '../../examples/keyed/main.js';
import { args, emit, isMain, measure, numberArg, peakRssMb } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Target } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const t = tasks<typeof import('../tasks/keyed.tasks.js')>(new URL('../tasks/keyed.tasks.js', import.meta.url));

const VARIANTS = ['serial', 'aggregateByKey', 'block maps merged on main'] as const;
type Variant = (typeof VARIANTS)[number];

interface RunResult {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakRssMb: number;
  readonly summary: KeyedSummary;
}

/** The merge on the main thread of per-block maps (what issue 22 measured as 0.86-0.96x). */
async function blockMaps(file: string, top: number, threads: number): Promise<KeyedSummary> {
  const pool = createPool({ threads });
  try {
    const sums = new Map<string, number>();
    await readBlocks(file)
      .pipe(unorderedMap(t.blockSums, { pool }))
      .forEach((partial) => {
        for (const [key, value] of partial) sums.set(key, (sums.get(key) ?? 0) + value);
      });
    const sorted = [...sums].sort((a, b) => (a[1] !== b[1] ? b[1] - a[1] : a[0] < b[0] ? -1 : 1));
    let sum = 0;
    for (const value of sums.values()) sum += value;
    return { keys: sums.size, sum, top: sorted.slice(0, top) };
  } finally {
    await pool.close();
  }
}

/** 10M keys with capped heaps: only the count and total are kept (the top would be 10M candidates). */
async function capped(file: string, threads: number, heapMb: number): Promise<KeyedSummary> {
  const resourceLimits = { maxOldGenerationSizeMb: heapMb };
  const pool = createPool({ threads, resourceLimits });
  try {
    let keys = 0;
    let sum = 0;
    await readBlocks(file)
      .pipe(aggregateByKey(t.csvPairs, aggregations.sum, { pool, ownerResourceLimits: resourceLimits }))
      .forEach(([, value]) => {
        keys++;
        sum += value;
      });
    return { keys, sum, top: [] };
  } finally {
    await pool.close();
  }
}

async function child(): Promise<void> {
  const options = args();
  const file = options.get('file')!;
  const threads = numberArg(options, 'threads', 2);
  const top = numberArg(options, 'top', 10);
  const variant = options.get('variant') as Variant | 'capped';
  const sample = await measure(() => {
    if (variant === 'serial') return serialSums(file, top);
    if (variant === 'aggregateByKey') return parallelSums(file, top, threads);
    if (variant === 'capped') return capped(file, threads, numberArg(options, 'heap-mb', 256));
    return blockMaps(file, top, threads);
  });
  emit({ wallMs: sample.wallMs, cpuMs: sample.cpuMs, peakRssMb: peakRssMb(), summary: sample.value } satisfies RunResult);
}

interface InputSpec {
  readonly id: string;
  readonly label: string;
  readonly lines: number;
  readonly keys: number;
  readonly zipf?: number;
  readonly variants: readonly Variant[];
}

/** The input file, generated once into the work directory (with what it holds beside it). */
async function ensureInput(context: Context, spec: InputSpec): Promise<KeyedInput> {
  const file = join(context.workDir, `keyed-${spec.id}-${spec.lines}-${spec.keys}${spec.zipf === undefined ? '' : `-z${spec.zipf}`}.csv`);
  const facts = `${file}.json`;
  if (existsSync(file) && existsSync(facts)) return JSON.parse(readFileSync(facts, 'utf8')) as KeyedInput;
  context.log(`keyed: writing ${spec.lines.toLocaleString('en-US')} lines, ${spec.keys.toLocaleString('en-US')} keys to ${file}`);
  const input = await generateKeyedInput(`${file}.tmp`, { lines: spec.lines, keys: spec.keys, zipf: spec.zipf, seed: 22 });
  renameSync(`${file}.tmp`, file);
  const written = { ...input, file };
  writeFileSync(facts, JSON.stringify(written));
  return written;
}

export const scenario: Scenario = {
  id: 'keyed',
  title: 'Keyed aggregation: aggregateByKey (owner threads per partition) vs a serial Map loop',
  async run(context: Context): Promise<ScenarioResult> {
    const lines = context.quick ? 200_000 : 8_000_000;
    const many = context.quick ? 25_000 : 1_000_000;
    const cores = context.machine.cores;
    const inputs: InputSpec[] = [
      { id: 'uniform', label: `${many.toLocaleString('en-US')} keys, each in turn`, lines, keys: many, variants: VARIANTS },
      {
        id: 'zipf',
        label: `${many.toLocaleString('en-US')} keys, Zipf s=1.1`,
        lines,
        keys: many,
        zipf: 1.1,
        variants: ['serial', 'aggregateByKey'],
      },
      { id: 'few', label: '1,000 keys, each in turn', lines, keys: 1_000, variants: ['serial', 'aggregateByKey'] },
    ];
    const rows: Row[] = [];
    const targets: Target[] = [];
    const raw: Record<string, RunResult[]> = {};
    const repeats = Math.max(1, context.quick ? 1 : Math.min(context.repeats, 3));
    for (const spec of inputs) {
      const input = await ensureInput(context, spec);
      const results = new Map<Variant, RunResult[]>();
      for (let round = 0; round < repeats; round++) {
        // Alternating variants, so both see the same load.
        for (const variant of spec.variants) {
          context.log(`keyed: ${spec.id} ${variant} (round ${round + 1} of ${repeats})`);
          const { result } = await runNodeScript<RunResult>('scenarios/keyed', { file: input.file, threads: cores, variant });
          const serial = results.get('serial')?.[0]?.summary;
          if (result.summary.keys !== input.keys || result.summary.sum !== input.sum) {
            throw new Error(
              `keyed ${spec.id} ${variant}: ${result.summary.keys} keys, sum ${result.summary.sum}; the file holds ${input.keys}, ${input.sum}`,
            );
          }
          if (serial !== undefined && JSON.stringify(serial) !== JSON.stringify(result.summary)) {
            throw new Error(
              `keyed ${spec.id} ${variant}: ${JSON.stringify(result.summary.top)} differs from serial ${JSON.stringify(serial.top)}`,
            );
          }
          const list = results.get(variant) ?? [];
          list.push(result);
          results.set(variant, list);
        }
      }
      const serialWall = median(results.get('serial')!.map((r) => r.wallMs));
      // What the CPU spent would allow with the cores to itself: serial runs on one thread, the others on all.
      const floorOf = (variant: Variant, cpuMs: number): number => (variant === 'serial' ? cpuMs : cpuMs / cores);
      const serialFloor = floorOf('serial', median(results.get('serial')!.map((r) => r.cpuMs)));
      const serialRss = median(results.get('serial')!.map((r) => r.peakRssMb));
      for (const variant of spec.variants) {
        const list = results.get(variant)!;
        raw[`${spec.id}/${variant}`] = list;
        const wall = median(list.map((r) => r.wallMs));
        rows.push({
          input: spec.label,
          variant,
          'wall ms': fmt(wall),
          'CPU ms': fmt(median(list.map((r) => r.cpuMs))),
          speedup: `${fmt(serialWall / wall)}x`,
          'floor ms': fmt(floorOf(variant, median(list.map((r) => r.cpuMs)))),
          'speedup at the floors': `${fmt(serialFloor / floorOf(variant, median(list.map((r) => r.cpuMs))))}x`,
          'peak RSS MB': fmt(median(list.map((r) => r.peakRssMb))),
          'cores used': fmt(median(list.map((r) => r.cpuMs / r.wallMs))),
        });
      }
      const keyed = results.get('aggregateByKey')!;
      const speedup = serialWall / median(keyed.map((r) => r.wallMs));
      const rss = median(keyed.map((r) => r.peakRssMb));
      if (spec.id === 'few') {
        targets.push({ name: `${spec.id}: not slower than serial`, goal: '>= 1x', measured: `${fmt(speedup)}x`, met: speedup >= 1 });
      } else {
        targets.push({ name: `${spec.id}: speedup over serial`, goal: '>= 1.6x', measured: `${fmt(speedup)}x`, met: speedup >= 1.6 });
        targets.push({
          name: `${spec.id}: peak RSS vs serial`,
          goal: '<= 1.5x',
          measured: `${fmt(rss / serialRss)}x (${fmt(rss)} vs ${fmt(serialRss)} MB)`,
          met: rss <= 1.5 * serialRss,
        });
      }
    }
    if (!context.quick) {
      const spec: InputSpec = {
        id: 'ten-million',
        label: '10,000,000 keys, heaps capped at 256 MB',
        lines: 12_000_000,
        keys: 10_000_000,
        variants: [],
      };
      const input = await ensureInput(context, spec);
      context.log('keyed: 10M keys, 256 MB heaps');
      const { result } = await runNodeScript<RunResult>('scenarios/keyed', {
        file: input.file,
        threads: cores,
        variant: 'capped',
        'heap-mb': 256,
      });
      raw['ten-million/capped'] = [result];
      const exact = result.summary.keys === input.keys && result.summary.sum === input.sum;
      rows.push({
        input: spec.label,
        variant: 'aggregateByKey',
        'wall ms': fmt(result.wallMs),
        'CPU ms': fmt(result.cpuMs),
        speedup: '',
        'peak RSS MB': fmt(result.peakRssMb),
      });
      targets.push({
        name: '10M keys, 256 MB heaps: completes exactly',
        goal: `${input.keys} keys, sum ${input.sum}`,
        measured: `${result.summary.keys} keys, sum ${result.summary.sum}`,
        met: exact,
      });
    }
    return {
      id: this.id,
      title: this.title,
      columns: ['input', 'variant', 'wall ms', 'CPU ms', 'speedup', 'floor ms', 'speedup at the floors', 'peak RSS MB', 'cores used'],
      rows,
      targets,
      notes: [
        `${lines.toLocaleString('en-US')} lines \`u<id>,<1..1000>\` (examples/keyed/generate.ts, seed 22), ${cores} threads, partitions as by default (${Math.ceil(cores / 2)} for these sums). Each run is a fresh process: wall and CPU (all threads) of the whole job including pool and owner start, peak RSS of the process (maxRSS); medians of ${repeats} rounds, variants alternating.`,
        '"floor ms": the wall time the CPU spent would allow with the cores to itself (serial: its CPU; the others: CPU / cores); on a shared machine the wall times say as much about the neighbours.',
        '"cores used": CPU / wall of each run (median): about 1 for the serial loop when it had a core to itself, up to the core count for the others; a parallel run near 1 got one core, and its wall time cannot show a parallel speedup.',
        'Serial: `readLines` + `Map` on the main thread. aggregateByKey: `readBlocks(file).pipe(aggregateByKey(csvPairs, aggregations.sum))` (examples/keyed). Block maps: a `Map` per block in the workers, merged on the main thread (the way before aggregateByKey).',
      ],
      raw,
    };
  },
};

if (isMain(import.meta.url)) await child();
