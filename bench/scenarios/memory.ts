/**
 * Scenario 6, memory: an endless source through `parallelMap`, consumed by a slow consumer, for
 * 30 s (a few seconds in quick mode). Backpressure (the in-flight bound) must keep the resident
 * memory flat: the median RSS of the second half of the run may not grow past the first half's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool, flow, parallelMap, tasks } from 'millrace';
import { args, emit, isMain, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const micro = tasks<typeof import('../tasks/micro.tasks.js')>(new URL('../tasks/micro.tasks.js', import.meta.url));

function* endless(): Generator<number> {
  for (let i = 0; ; i++) yield i;
}

interface ChildResult {
  readonly rssMb: { seconds: number; rss: number }[];
  readonly consumed: number;
  readonly aborted: boolean;
}

async function child(): Promise<void> {
  const options = args();
  const seconds = numberArg(options, 'seconds', 30);
  const threads = numberArg(options, 'threads', 2);
  const pool = createPool({ threads });
  const rssMb: ChildResult['rssMb'] = [];
  const started = Date.now();
  const sampler = setInterval(() => rssMb.push({ seconds: (Date.now() - started) / 1000, rss: process.memoryUsage.rss() / 2 ** 20 }), 250);
  let consumed = 0;
  let aborted = false;
  try {
    const signal = AbortSignal.timeout(seconds * 1000);
    // The consumer takes ~100 values per millisecond at most: far slower than the workers.
    for await (const value of flow(endless(), { signal }).pipe(parallelMap(micro.double, { pool }))) {
      if (value !== consumed * 2) throw new Error(`value ${value} at ${consumed}`);
      if (++consumed % 100 === 0) await sleep(1);
    }
  } catch (error) {
    if ((error as Error).name !== 'TimeoutError') throw error;
    aborted = true;
  } finally {
    clearInterval(sampler);
    await pool.close();
  }
  emit({ rssMb, consumed, aborted } satisfies ChildResult);
}

export const scenario: Scenario = {
  id: 'memory',
  title: 'Memory (endless source, slow consumer)',
  async run(context: Context): Promise<ScenarioResult> {
    const seconds = context.quick ? 11 : 30;
    context.log(`memory: ${seconds} s`);
    const { result } = await runNodeScript<ChildResult>('scenarios/memory', { seconds, threads: context.machine.cores });
    const samples = result.rssMb;
    // Warm-up: the first fifth, and at least 5 s (JIT, worker start, the heap's first expansions,
    // which here come in a step at ~4-5 s). Then compare the halves of the rest.
    const warmUp = Math.max(seconds / 5, 5);
    const steady = samples.filter((s) => s.seconds >= warmUp);
    const half = Math.floor(steady.length / 2);
    // Medians, not peaks: a peak is wherever the collector happened to run; a leak moves the median.
    const firstHalf = median(steady.slice(0, half).map((s) => s.rss));
    const secondHalf = median(steady.slice(half).map((s) => s.rss));
    const overallPeak = Math.max(...samples.map((s) => s.rss));
    const growth = secondHalf - firstHalf;
    // A one-off step when the heap first expands is not a leak; a leak grows steadily (the abort-race
    // leak fixed in lib/operator.ts grew ~55 MB/s here).
    const flat = growth <= Math.max(16, firstHalf * 0.15);
    const at = (fraction: number): string => fmt(samples[Math.min(samples.length - 1, Math.floor(samples.length * fraction))]!.rss);
    return {
      id: this.id,
      title: this.title,
      columns: [
        'seconds',
        'values consumed',
        'RSS at 20% MB',
        'RSS at 50% MB',
        'RSS at end MB',
        'peak RSS MB',
        'median growth 2nd vs 1st half MB',
      ],
      rows: [
        {
          seconds,
          'values consumed': result.consumed,
          'RSS at 20% MB': at(0.2),
          'RSS at 50% MB': at(0.5),
          'RSS at end MB': at(1),
          'peak RSS MB': fmt(overallPeak),
          'median growth 2nd vs 1st half MB': fmt(growth),
        },
      ],
      targets: [
        {
          name: 'RSS flat under an endless source',
          goal: 'median RSS of the 2nd half <= 1st half + max(16 MB, 15%)',
          measured: `${fmt(growth)} MB growth (peak ${fmt(overallPeak)} MB)`,
          met: flat && result.aborted,
        },
      ],
      notes: [
        '`flow(endless generator, { signal: AbortSignal.timeout(...) }).pipe(parallelMap(double))` read with `for await`, sleeping 1 ms every 100 values; the run ends by the abort, which must end the flow cleanly.',
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
