/**
 * Scenario: async tasks that wait (I/O-like, 10 ms each, no CPU). Before in-worker concurrency a
 * worker ran one item at a time, so 2,000 such tasks took ~10 s on 2 threads whatever the options.
 * Target (issue "The chunk lifecycle as one explicit state machine"): under 1 s on 2 threads with
 * `concurrency: 16`.
 */
import { bind, createPool, flow, parallelMap, tasks } from 'millrace';
import { sleepThen } from '../tasks/async.tasks.js';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const waits = tasks<typeof import('../tasks/async.tasks.js')>(new URL('../tasks/async.tasks.js', import.meta.url));

interface Result {
  readonly name: string;
  readonly items: number;
  readonly wallMs: number[];
}

async function child(): Promise<void> {
  const options = args();
  const items = numberArg(options, 'items', 2000);
  const serialItems = numberArg(options, 'serialItems', 200);
  const ms = numberArg(options, 'ms', 10);
  const repeats = numberArg(options, 'repeats', 3);
  const threads = numberArg(options, 'threads', 2);
  const input = Array.from({ length: items }, (_, i) => i);
  const results: Result[] = [];
  const run = async (name: string, count: number, work: () => Promise<unknown>): Promise<void> => {
    await work(); // warm-up
    const wallMs: number[] = [];
    for (let r = 0; r < repeats; r++) wallMs.push((await measure(work)).wallMs);
    results.push({ name, items: count, wallMs });
  };
  await run('serial for-await (main thread)', serialItems, async () => {
    for (let i = 0; i < serialItems; i++) await sleepThen(ms, i);
  });
  await run('Promise.all (main thread, unbounded)', items, () => Promise.all(input.map((i) => sleepThen(ms, i))));
  await using pool = createPool({ threads });
  await run(`parallelMap, ${threads} threads, concurrency 1`, serialItems, () =>
    flow(input.slice(0, serialItems))
      .pipe(parallelMap(bind(waits.sleepThen, ms), { pool }))
      .toArray(),
  );
  for (const concurrency of [16, 64]) {
    await run(`parallelMap, ${threads} threads, concurrency ${concurrency}`, items, () =>
      flow(input)
        .pipe(parallelMap(bind(waits.sleepThen, ms), { pool, concurrency }))
        .toArray(),
    );
  }
  emit({ results });
}

export const scenario: Scenario = {
  id: 'async-tasks',
  title: 'Async tasks that wait (10 ms each, no CPU)',
  async run(context: Context): Promise<ScenarioResult> {
    const items = 2000;
    const serialItems = context.quick ? 50 : 200;
    const threads = context.machine.cores;
    context.log(`async-tasks: ${items} tasks of 10 ms on ${threads} threads; serial and concurrency 1 over ${serialItems}`);
    const { result } = await runNodeScript<{ results: Result[] }>('scenarios/async-tasks', {
      items,
      serialItems,
      ms: 10,
      repeats: context.repeats,
      threads,
    });
    const rows: Row[] = result.results.map((r) => {
      const wall = median(r.wallMs);
      return { variant: r.name, items: r.items, 'wall ms': fmt(wall), 'ms per 2,000 items': fmt((wall / r.items) * items) };
    });
    const target = result.results.find((r) => r.name.endsWith('concurrency 16'))!;
    const wall = median(target.wallMs);
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'items', 'wall ms', 'ms per 2,000 items'],
      rows,
      targets: [
        {
          name: `2,000 x 10 ms tasks, ${threads} threads, concurrency 16`,
          goal: '< 1000 ms',
          measured: `${fmt(wall)} ms`,
          met: wall < 1000,
        },
      ],
      notes: [
        'Serial and concurrency 1 run fewer items (they take 10 ms an item, or 10 ms / threads); the last column scales them to 2,000.',
        'Promise.all on the main thread is the floor for work that only waits; workers pay off when tasks also compute.',
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
