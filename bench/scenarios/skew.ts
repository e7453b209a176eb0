/**
 * Scenario 5, skewed work: item costs vary 100x at random, where a static split leaves threads idle
 * at the end; automatic chunking must keep parallel efficiency high.
 */
import { runCpuBound, type ParallelVariant, type Samples } from '../lib/cpu-bound.js';
import { args, emit, isMain, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, seededRandom } from '../lib/stats.js';
import { cpuBoundRows } from './compute.js';

async function child(): Promise<void> {
  const options = args();
  const items = numberArg(options, 'items', 4000);
  const unit = numberArg(options, 'unit', 40_000);
  const threads = numberArg(options, 'threads', 2);
  const random = seededRandom(42);
  // 1x to 100x a unit, uniformly: the slowest item costs 100 times the cheapest.
  const work = Array.from({ length: items }, () => Math.round(unit * (1 + 99 * random())));
  const variants: ParallelVariant[] = [
    { name: 'parallelMap auto', threads, options: {} },
    { name: 'parallelMap chunkSize 1', threads, options: { chunkSize: 1 } },
    {
      name: `static split: chunkSize ${Math.ceil(items / (threads * 2))}`,
      threads,
      options: { chunkSize: Math.ceil(items / (threads * 2)) },
    },
  ];
  emit({ samples: await runCpuBound(work, variants, numberArg(options, 'repeats', 5)) });
}

export const scenario: Scenario = {
  id: 'skew',
  title: 'Skewed work (item cost varies 100x)',
  async run(context: Context): Promise<ScenarioResult> {
    const items = context.quick ? 800 : 3000;
    const cores = context.machine.cores;
    context.log(`skew: ${items} items of 0.02-2 ms, ${cores} threads`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/skew', { items, threads: cores, repeats: context.repeats });
    const { rows, efficiency } = cpuBoundRows(result.samples, cores);
    const auto = efficiency.get('parallelMap auto')!;
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'threads', 'wall ms', 'CPU ms', 'speedup', 'efficiency'],
      rows,
      targets: [
        {
          name: `parallel efficiency, automatic chunking, ${cores} threads`,
          goal: '>= 85%',
          measured: `${fmt(auto * 100)}%`,
          met: auto >= 0.85,
        },
      ],
      notes: [
        'Costs drawn once from a seeded generator (the same every run), uniform between 1x and 100x a ~0.02 ms unit. The static split cuts the input into 2 chunks per thread, as a fixed partition would.',
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
