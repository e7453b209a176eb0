/**
 * Scenario 2, per-item overhead: a trivial task (`x => x * 2`) over many numbers through
 * `parallelMap` and `unorderedMap` with automatic chunking and a sweep of fixed chunk sizes, vs a
 * plain loop in one thread; and chunk size 1 (ours, Python's `Pool.imap` and piscina's `run` with
 * the same number of tasks in flight), where every item pays the whole dispatch round trip.
 */
import { Piscina } from 'piscina';
import { createPool, flow, parallelMap, tasks, unorderedMap, type Pool } from 'millrace';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript, runPythonScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult, Target } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';
import { double } from '../tasks/micro.tasks.js';

const micro = tasks<typeof import('../tasks/micro.tasks.js')>(new URL('../tasks/micro.tasks.js', import.meta.url));

interface Variant {
  readonly name: string;
  readonly items: number;
  run(data: readonly number[], pool: Pool, piscina: Piscina): Promise<number>;
}

/** The in-flight depth of the chunk-size-1 comparison with piscina (the measurement: 64). */
const DEPTH = 64;

/** piscina with `depth` tasks in flight, one item a task: a sliding window of `run` calls. */
async function piscinaRun(data: readonly number[], piscina: Piscina, depth: number): Promise<number> {
  let sum = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < data.length) {
      const x = data[next++]!;
      // Awaited first, then added: `sum += await ...` would read `sum` before the await and lose
      // the other lanes' additions.
      const value = (await piscina.run(x, { name: 'double' })) as number;
      sum += value;
    }
  };
  await Promise.all(Array.from({ length: depth }, lane));
  return sum;
}

function variants(n: number, n1: number, sizes: readonly number[]): Variant[] {
  const list: Variant[] = [
    {
      name: 'plain loop (1 thread)',
      items: n,
      run: (data) => {
        let sum = 0;
        for (const x of data) sum += double(x);
        return Promise.resolve(sum);
      },
    },
    { name: 'parallelMap auto', items: n, run: (data, pool) => flow(data).pipe(parallelMap(micro.double, { pool })).reduce(add, 0) },
    { name: 'unorderedMap auto', items: n, run: (data, pool) => flow(data).pipe(unorderedMap(micro.double, { pool })).reduce(add, 0) },
  ];
  for (const chunkSize of sizes) {
    list.push({
      name: `parallelMap chunkSize ${chunkSize}`,
      items: n,
      run: (data, pool) => flow(data).pipe(parallelMap(micro.double, { pool, chunkSize })).reduce(add, 0),
    });
  }
  list.push({
    name: 'parallelMap chunkSize 1',
    items: n1,
    run: (data, pool) =>
      flow(data.slice(0, n1))
        .pipe(parallelMap(micro.double, { pool, chunkSize: 1 }))
        .reduce(add, 0),
  });
  list.push({
    name: `unorderedMap chunkSize 1, maxInFlight ${DEPTH}`,
    items: n1,
    run: (data, pool) =>
      flow(data.slice(0, n1))
        .pipe(unorderedMap(micro.double, { pool, chunkSize: 1, maxInFlight: DEPTH }))
        .reduce(add, 0),
  });
  list.push({
    name: `piscina run, ${DEPTH} in flight`,
    items: n1,
    run: (data, _pool, piscina) => piscinaRun(data.slice(0, n1), piscina, DEPTH),
  });
  list.push({ name: 'piscina run, 4 in flight', items: n1, run: (data, _pool, piscina) => piscinaRun(data.slice(0, n1), piscina, 4) });
  return list;
}

function add(sum: number, x: number): number {
  return sum + x;
}

interface ChildResult {
  readonly samples: Record<string, { items: number; wallMs: number[]; cpuMs: number[] }>;
}

/** The child: every variant, warmed up, then `repeats` rounds interleaved. */
async function child(): Promise<void> {
  const options = args();
  const n = numberArg(options, 'n', 10_000_000);
  const n1 = numberArg(options, 'n1', 200_000);
  const repeats = numberArg(options, 'repeats', 5);
  const threads = numberArg(options, 'threads', 2);
  const sizes = (options.get('sizes') ?? '256,1024,4096,16384,65536').split(',').map(Number);
  const data = Array.from({ length: n }, (_, i) => i);
  const pool = createPool({ threads });
  // The same task module, the same number of threads, kept for the whole run like our pool.
  const piscina = new Piscina({
    filename: new URL('../tasks/micro.tasks.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
  });
  const list = variants(n, n1, sizes);
  const samples: ChildResult['samples'] = {};
  try {
    for (let round = -1; round < repeats; round++) {
      for (const variant of list) {
        const run = await measure(() => variant.run(data, pool, piscina));
        const expected = variant.items * (variant.items - 1);
        if (run.value !== expected) throw new Error(`${variant.name}: sum ${run.value}, expected ${expected}`);
        if (round < 0) continue; // warm-up: JIT, worker start, module load
        const entry = (samples[variant.name] ??= { items: variant.items, wallMs: [], cpuMs: [] });
        entry.wallMs.push(run.wallMs);
        entry.cpuMs.push(run.cpuMs);
      }
    }
  } finally {
    await pool.close();
    await piscina.destroy();
  }
  emit({ samples } satisfies ChildResult);
}

interface PythonResult {
  readonly runs: { name: string; items: number; wallMs: number[] }[];
}

export const scenario: Scenario = {
  id: 'overhead',
  title: 'Per-item overhead (x => x * 2)',
  async run(context: Context): Promise<ScenarioResult> {
    const n = context.quick ? 1_000_000 : 10_000_000;
    const n1 = context.quick ? 20_000 : 200_000;
    const threads = context.machine.cores;
    context.log(`overhead: ${n} items, chunk size 1 on ${n1}, ${threads} threads`);
    const node = await runNodeScript<ChildResult>('scenarios/overhead', { n, n1, repeats: context.repeats, threads });
    let python: PythonResult | undefined;
    if (context.machine.python) {
      python = (
        await runPythonScript<PythonResult>(context.root, 'overhead', {
          n: Math.min(n, 2_000_000),
          n1,
          repeats: context.repeats,
          processes: threads,
        })
      ).result;
    }
    const loop = node.result.samples['plain loop (1 thread)']!;
    const loopNsPerItem = (median(loop.wallMs) * 1e6) / loop.items;
    const rows: Row[] = [];
    const throughput = new Map<string, number>();
    for (const [name, sample] of Object.entries(node.result.samples)) {
      const wall = median(sample.wallMs);
      const perSecond = sample.items / (wall / 1000);
      throughput.set(name, perSecond);
      const nsPerItem = (wall * 1e6) / sample.items;
      rows.push({
        variant: name.startsWith('piscina') ? name : `millrace: ${name}`,
        items: sample.items,
        'wall ms': fmt(wall),
        'CPU ms': fmt(median(sample.cpuMs)),
        'items/s': fmt(perSecond),
        'ns/item': fmt(nsPerItem),
        'overhead ns/item': name.startsWith('plain') ? '-' : fmt(nsPerItem - loopNsPerItem),
      });
    }
    let pythonImap1: number | undefined;
    for (const run of python?.runs ?? []) {
      const wall = median(run.wallMs);
      const perSecond = run.items / (wall / 1000);
      if (run.name === 'Pool.imap chunksize 1') pythonImap1 = perSecond;
      rows.push({
        variant: `Python: ${run.name}`,
        items: run.items,
        'wall ms': fmt(wall),
        'CPU ms': '-',
        'items/s': fmt(perSecond),
        'ns/item': fmt((wall * 1e6) / run.items),
        'overhead ns/item': '-',
      });
    }
    const auto = throughput.get('parallelMap auto')!;
    const fixed = [...throughput].filter(([name]) => /chunkSize (?!1$)\d+$/.test(name));
    const [bestName, best] = fixed.reduce((a, b) => (b[1] > a[1] ? b : a));
    const targets: Target[] = [
      {
        name: 'auto chunking vs best fixed chunk size',
        goal: '>= 0.8x',
        measured: `${fmt(auto / best)}x (best: ${bestName.replace('parallelMap ', '')})`,
        met: auto >= 0.8 * best,
      },
      {
        name: 'auto chunking vs Python Pool.imap chunksize 1',
        goal: '>= 50x',
        measured: pythonImap1 === undefined ? 'python3 missing' : `${fmt(auto / pythonImap1)}x`,
        met: pythonImap1 === undefined ? undefined : auto >= 50 * pythonImap1,
      },
    ];
    const one = throughput.get('parallelMap chunkSize 1')!;
    const deep = throughput.get(`unorderedMap chunkSize 1, maxInFlight ${DEPTH}`)!;
    const piscinaDeep = throughput.get(`piscina run, ${DEPTH} in flight`)!;
    const piscinaShallow = throughput.get('piscina run, 4 in flight')!;
    if (pythonImap1 !== undefined) {
      targets.push({
        name: 'chunk size 1 vs Python Pool.imap chunksize 1',
        goal: '>= 1x',
        measured: `${fmt(one)} (${DEPTH} in flight: ${fmt(deep)}) vs ${fmt(pythonImap1)} items/s (${fmt(Math.max(one, deep) / pythonImap1)}x)`,
        met: Math.max(one, deep) >= pythonImap1,
      });
    }
    targets.push(
      {
        name: `chunk size 1 vs piscina, ${DEPTH} in flight`,
        goal: '>= 1x',
        measured: `${fmt(deep)} vs ${fmt(piscinaDeep)} items/s (${fmt(deep / piscinaDeep)}x)`,
        met: deep >= piscinaDeep,
      },
      {
        name: 'chunk size 1 vs piscina, 4 in flight (our default depth on 2 threads)',
        goal: '>= 1x',
        measured: `${fmt(one)} vs ${fmt(piscinaShallow)} items/s (${fmt(one / piscinaShallow)}x)`,
        met: one >= piscinaShallow,
      },
    );
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'items', 'wall ms', 'CPU ms', 'items/s', 'ns/item', 'overhead ns/item'],
      rows,
      targets,
      notes: [
        `The source is an in-memory array; the sink is \`.reduce((s, x) => s + x, 0)\`; ${threads} worker threads. Overhead = ns/item minus the plain loop's.`,
      ],
      raw: { node: node.result, python },
    };
  },
};

if (isMain(import.meta.url)) await child();
