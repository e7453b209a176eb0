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
  const samples = await runCpuBound(
    Array.from({ length: items }, () => work),
    variants,
    numberArg(options, 'repeats', 5),
  );
  emit({ samples });
}

export const scenario: Scenario = {
  id: 'recycling',
  title: 'Recycling workers (pure compute)',
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
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'threads', 'wall ms', 'CPU ms', 'vs none'],
      rows,
      targets,
      notes: [
        'maxItemsPerWorker: 1000 replaces each worker every 1000 items (a thread start and a task-module load; the replacement starts while the old worker finishes its chunks).',
        'The serial rows are the same kernel on the main thread, for scale.',
      ],
      raw,
    };
  },
};

if (isMain(import.meta.url)) await child();
