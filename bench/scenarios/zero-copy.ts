/**
 * Zero-copy: binary payloads (ArrayBuffers of a few MB) sent to workers copied (structured clone)
 * or moved (`transfer`), and payload-sized results sent back copied or moved (`transferResult`).
 * A move costs nothing per byte; a copy costs a memcpy each way. Then large `Counter` results
 * (tens of thousands of keys) sent back as a `Map` (cloned entry by entry) or packed
 * (`counter.pack()`: one string, three moved buffers), each merged into one `Counter` on the main
 * thread.
 */
import { performance } from 'node:perf_hooks';
import { Counter, createPool, flow, parallelMap, tasks, unorderedMap, type Pool } from 'millrace';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const micro = tasks<typeof import('../tasks/micro.tasks.js')>(new URL('../tasks/micro.tasks.js', import.meta.url));
const buffers = tasks<typeof import('../tasks/buffers.tasks.js')>(new URL('../tasks/buffers.tasks.js', import.meta.url));

interface Samples {
  [variant: string]: { wallMs: number[]; cpuMs: number[]; mainBusyMs: number[] };
}

function firstBytes(results: ArrayBuffer[]): number[] {
  return results.map((buffer) => new Uint8Array(buffer)[0]!);
}

/** A merged counter's size and total, to check that every variant merged the same counts. */
function counterCheck(counter: Counter<string>): number[] {
  return [counter.size, counter.total()];
}

function payloads(count: number, megabytes: number): ArrayBuffer[] {
  return Array.from({ length: count }, (_, i) => {
    const bytes = new Uint8Array(megabytes * 2 ** 20);
    bytes.fill(i & 0xff);
    return bytes.buffer;
  });
}

async function child(): Promise<void> {
  const options = args();
  const count = numberArg(options, 'count', 200);
  const megabytes = numberArg(options, 'mb', 4);
  const repeats = numberArg(options, 'repeats', 5);
  const counterResults = numberArg(options, 'counters', 16);
  const counterKeys = numberArg(options, 'keys', 50_000);
  // 8 distinct counters (by seed), so that keys overlap between results as per-file counts do.
  const counterJobs = Array.from({ length: counterResults }, (_, i) => ({ seed: i % 8, keys: counterKeys }));
  const pool: Pool = createPool({ threads: numberArg(options, 'threads', 2) });
  const expected = (i: number): number => ((i & 0xff) * ((megabytes * 2 ** 20) / 64)) | 0;
  const variants: Record<string, (data: ArrayBuffer[]) => Promise<number[]>> = {
    'copied (structured clone)': (data) => flow(data).pipe(parallelMap(micro.checksum, { pool })).toArray(),
    'moved (transfer: (buffer) => [buffer])': (data) =>
      flow(data)
        .pipe(parallelMap(micro.checksum, { pool, transfer: (buffer: ArrayBuffer) => [buffer] }))
        .toArray(),
    'round trip, copied both ways': (data) => flow(data).pipe(parallelMap(buffers.invert, { pool })).toArray().then(firstBytes),
    'round trip, moved both ways (transfer + transferResult)': (data) =>
      flow(data)
        .pipe(parallelMap(buffers.invertMoved, { pool, transfer: (buffer: ArrayBuffer) => [buffer] }))
        .toArray()
        .then(firstBytes),
    'Counter results, each a Map (cloned), merged with update': () =>
      flow(counterJobs)
        .pipe(unorderedMap(buffers.counterAsMap, { pool }))
        .reduce((total, counts) => total.update(counts), new Counter<string>())
        .then(counterCheck),
    'Counter results, each packed (counter.pack(), moved), merged with update': () =>
      flow(counterJobs)
        .pipe(unorderedMap(buffers.counterPacked, { pool }))
        .reduce((total, counts) => total.update(counts), new Counter<string>())
        .then(counterCheck),
  };
  const samples: Samples = {};
  let counterExpected: { keys: number; total: number } | undefined;
  try {
    for (let round = -1; round < repeats; round++) {
      for (const [name, run] of Object.entries(variants)) {
        const data = payloads(count, megabytes); // fresh: a moved buffer is gone from this thread
        const elu = performance.eventLoopUtilization();
        const result = await measure(() => run(data));
        const busy = performance.eventLoopUtilization(elu);
        const roundTrip = name.startsWith('round trip');
        if (name.startsWith('Counter')) {
          // Both ways must merge to the same counter: compare its size and total with the first's.
          const [keys, total] = result.value;
          counterExpected ??= { keys: keys!, total: total! };
          if (keys !== counterExpected.keys || total !== counterExpected.total)
            throw new Error(`${name}: ${keys} keys, ${total} in all; expected ${counterExpected.keys} and ${counterExpected.total}`);
        } else
          result.value.forEach((value, i) => {
            const want = roundTrip ? 255 - (i & 0xff) : expected(i);
            if (value !== want) throw new Error(`${name}: ${value} at ${i}, expected ${want}`);
          });
        if (round < 0) continue;
        const entry = (samples[name] ??= { wallMs: [], cpuMs: [], mainBusyMs: [] });
        entry.wallMs.push(result.wallMs);
        entry.cpuMs.push(result.cpuMs);
        entry.mainBusyMs.push(busy.active);
      }
    }
  } finally {
    await pool.close();
  }
  emit({ samples });
}

export const scenario: Scenario = {
  id: 'zero-copy',
  title: 'Zero-copy (ArrayBuffer payloads: copied vs moved)',
  async run(context: Context): Promise<ScenarioResult> {
    const count = context.quick ? 50 : 200;
    const mb = 4;
    const counters = 16;
    const keys = context.quick ? 10_000 : 50_000;
    context.log(`zero-copy: ${count} x ${mb} MB; ${counters} counters x ${keys} keys`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/zero-copy', {
      count,
      mb,
      counters,
      keys,
      threads: context.machine.cores,
      repeats: context.repeats,
    });
    const rows: Row[] = Object.entries(result.samples).map(([name, sample]) => ({
      variant: name,
      payload: name.startsWith('Counter') ? `${counters} x ${keys} keys` : `${count} x ${mb} MB`,
      'wall ms': fmt(median(sample.wallMs)),
      'CPU ms (all threads)': fmt(median(sample.cpuMs)),
      'main thread busy ms': fmt(median(sample.mainBusyMs)),
    }));
    const copied = median(result.samples['copied (structured clone)']!.wallMs);
    const moved = median(result.samples['moved (transfer: (buffer) => [buffer])']!.wallMs);
    const bothCopied = median(result.samples['round trip, copied both ways']!.wallMs);
    const bothMoved = median(result.samples['round trip, moved both ways (transfer + transferResult)']!.wallMs);
    const mapSample = result.samples['Counter results, each a Map (cloned), merged with update']!;
    const packedSample = result.samples['Counter results, each packed (counter.pack(), moved), merged with update']!;
    const [mapWall, packedWall] = [median(mapSample.wallMs), median(packedSample.wallMs)];
    const [mapBusy, packedBusy] = [median(mapSample.mainBusyMs), median(packedSample.mainBusyMs)];
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'payload', 'wall ms', 'CPU ms (all threads)', 'main thread busy ms'],
      rows,
      targets: [
        {
          name: 'Buffer/ArrayBuffer inputs moved instead of copied',
          goal: 'shown',
          measured: `moved ${fmt(moved)} ms vs copied ${fmt(copied)} ms (${fmt(copied / moved)}x)`,
          met: moved < copied,
        },
        {
          name: 'results moved back too (transferResult)',
          goal: 'shown',
          measured: `moved ${fmt(bothMoved)} ms vs copied ${fmt(bothCopied)} ms (${fmt(bothCopied / bothMoved)}x)`,
          met: bothMoved < bothCopied,
        },
        {
          name: 'large Counter results packed (counter.pack()) instead of cloned as a Map',
          goal: 'faster end to end',
          measured: `packed ${fmt(packedWall)} ms vs Map ${fmt(mapWall)} ms (${fmt(mapWall / packedWall)}x); main thread busy ${fmt(packedBusy)} vs ${fmt(mapBusy)} ms`,
          met: packedWall < mapWall,
        },
      ],
      notes: [
        'The one-way task reads every 64th byte, so moving the payload dominates. Inputs move with the `transfer` option of the parallel operators; results move when the task returns `transferResult(value)`. The round-trip task returns a new buffer of the same size (a memset).',
        `The Counter variants: ${counters} results of ${keys} path-like keys each (8 distinct counters, so keys repeat across results as per-file counts do), built once per worker before the timed rounds; what is timed is sending them (the packed variant includes \`pack()\` in the worker) and merging them into one Counter on the main thread with \`update\`.`,
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
