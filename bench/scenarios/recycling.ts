/**
 * Scenario: the cost of recycling workers. Pure compute (small items, so workers are replaced
 * often) on all cores, with no recycling against `maxItemsPerWorker: 1000` (a worker replaced
 * every 1000 items: its replacement starts while it finishes) and `maxWorkerMemoryMb` set high
 * enough never to trigger (the cost of the heap report after each chunk).
 */
import { runCpuBound, type ParallelVariant, type Samples } from '../lib/cpu-bound.js';
import { args, emit, isMain, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

async function child(): Promise<void> {
  const options = args();
  const items = numberArg(options, 'items', 20_000);
  const work = numberArg(options, 'work', 100_000);
  const threads = numberArg(options, 'threads', 2);
  const variants: ParallelVariant[] = [
    { name: 'no recycling', threads, options: {} },
    { name: 'maxItemsPerWorker: 1000', threads, options: {}, pool: { maxItemsPerWorker: 1000 } },
    { name: 'maxWorkerMemoryMb: 4096 (never reached)', threads, options: {}, pool: { maxWorkerMemoryMb: 4096 } },
  ];
  const samples = await runCpuBound(Array.from({ length: items }, () => work), variants, numberArg(options, 'repeats', 5));
  emit({ samples });
}

export const scenario: Scenario = {
  id: 'recycling',
  title: 'Recycling workers (pure compute, small items)',
  async run(context: Context): Promise<ScenarioResult> {
    const items = context.quick ? 5_000 : 20_000;
    const threads = context.machine.cores;
    context.log(`recycling: ${items} items of ~0.05 ms on ${threads} threads`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/recycling', { items, work: 100_000, threads, repeats: context.repeats });
    const base = median(result.samples['no recycling']!.wallMs);
    const rows: Row[] = Object.entries(result.samples).map(([name, sample]) => {
      const wall = median(sample.wallMs);
      return { variant: name, threads: sample.threads, 'wall ms': fmt(wall), 'CPU ms': fmt(median(sample.cpuMs)), 'vs none': `${fmt(wall / base)}x` };
    });
    const recycled = median(result.samples['maxItemsPerWorker: 1000']!.wallMs) / base;
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'threads', 'wall ms', 'CPU ms', 'vs none'],
      rows,
      targets: [{ name: 'maxItemsPerWorker: 1000, wall time against none', goal: '<= 1.15x', measured: `${fmt(recycled)}x`, met: recycled <= 1.15 }],
      notes: [
        `${items} items / 1000 = about ${Math.round(items / 1000)} worker replacements a run (each one a thread start and a task-module load).`,
        'The serial row is the same kernel on the main thread, for scale.',
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
