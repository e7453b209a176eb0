/**
 * Scenario 4, pure compute: a CPU-bound numeric kernel per item over in-memory input; serial uses
 * exactly one core, so speedup / threads is the clean measure of parallel efficiency.
 */
import { runCpuBound, type ParallelVariant, type Samples } from '../lib/cpu-bound.js';
import { args, emit, isMain, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Series } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

async function child(): Promise<void> {
  const options = args();
  const items = numberArg(options, 'items', 2000);
  const work = numberArg(options, 'work', 2_000_000);
  const maxThreads = numberArg(options, 'maxThreads', 4);
  const variants: ParallelVariant[] = [];
  for (let threads = 1; threads <= maxThreads; threads++)
    variants.push({ name: `parallelMap, ${threads} thread${threads > 1 ? 's' : ''}`, threads, options: {} });
  const samples = await runCpuBound(
    Array.from({ length: items }, () => work),
    variants,
    numberArg(options, 'repeats', 5),
  );
  emit({ samples });
}

/** Rows, speedups and the chart series of a CPU-bound run. */
export function cpuBoundRows(
  samples: Samples,
  cores: number,
): { rows: Row[]; speedup: Map<string, number>; efficiency: Map<string, number> } {
  const serial = median(samples['serial (main thread)']!.wallMs);
  const rows: Row[] = [];
  const speedup = new Map<string, number>();
  const efficiency = new Map<string, number>();
  for (const [name, sample] of Object.entries(samples)) {
    const wall = median(sample.wallMs);
    const s = serial / wall;
    const e = s / Math.min(sample.threads, cores);
    speedup.set(name, s);
    efficiency.set(name, e);
    rows.push({
      variant: name,
      threads: sample.threads,
      'wall ms': fmt(wall),
      'CPU ms': fmt(median(sample.cpuMs)),
      speedup: `${fmt(s)}x`,
      efficiency: `${Math.round(e * 100)}%`,
    });
  }
  return { rows, speedup, efficiency };
}

export const scenario: Scenario = {
  id: 'compute',
  title: 'Pure compute (CPU-bound kernel per item)',
  async run(context: Context): Promise<ScenarioResult> {
    const items = context.quick ? 400 : 1500;
    const cores = context.machine.cores;
    const maxThreads = context.quick ? cores : cores * 2;
    context.log(`compute: ${items} items of ~1 ms, 1..${maxThreads} threads`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/compute', {
      items,
      work: 2_000_000,
      maxThreads,
      repeats: context.repeats,
    });
    const { rows, speedup } = cpuBoundRows(result.samples, cores);
    const atCores = speedup.get(`parallelMap, ${cores} thread${cores > 1 ? 's' : ''}`)!;
    const series: Series[] = [
      {
        label: 'pure compute',
        points: [...speedup]
          .filter(([name]) => name.startsWith('parallelMap'))
          .map(([name, s]) => ({ threads: result.samples[name]!.threads, speedup: s })),
      },
    ];
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'threads', 'wall ms', 'CPU ms', 'speedup', 'efficiency'],
      rows,
      targets: [{ name: `speedup on ${cores} threads`, goal: '>= 1.85x', measured: `${fmt(atCores)}x`, met: atCores >= 1.85 }],
      notes: [
        'Each item spins ~1 ms (an integer-hash loop); the task is imported and called directly for serial. Efficiency = speedup / min(threads, cores).',
      ],
      series,
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
