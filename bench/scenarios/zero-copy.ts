/**
 * Zero-copy: binary payloads (ArrayBuffers of a few MB) sent to workers copied (structured clone)
 * or moved (`transfer`). A move costs the main thread nothing per byte; a copy costs a memcpy on
 * the way in.
 */
import { performance } from 'node:perf_hooks';
import { createPool, flow, parallelMap, tasks, type Pool } from 'millrace';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt, median } from '../lib/stats.js';

const micro = tasks<typeof import('../tasks/micro.tasks.js')>(new URL('../tasks/micro.tasks.js', import.meta.url));

interface Samples {
  [variant: string]: { wallMs: number[]; cpuMs: number[]; mainBusyMs: number[] };
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
  const pool: Pool = createPool({ threads: numberArg(options, 'threads', 2) });
  const expected = (i: number): number => ((i & 0xff) * ((megabytes * 2 ** 20) / 64)) | 0;
  const variants: Record<string, (data: ArrayBuffer[]) => Promise<number[]>> = {
    'copied (structured clone)': (data) => flow(data).pipe(parallelMap(micro.checksum, { pool })).toArray(),
    'moved (transfer: (buffer) => [buffer])': (data) => flow(data).pipe(parallelMap(micro.checksum, { pool, transfer: (buffer: ArrayBuffer) => [buffer] })).toArray(),
  };
  const samples: Samples = {};
  try {
    for (let round = -1; round < repeats; round++) {
      for (const [name, run] of Object.entries(variants)) {
        const data = payloads(count, megabytes); // fresh: a moved buffer is gone from this thread
        const elu = performance.eventLoopUtilization();
        const result = await measure(() => run(data));
        const busy = performance.eventLoopUtilization(elu);
        result.value.forEach((sum, i) => {
          if (sum !== expected(i)) throw new Error(`${name}: checksum ${sum} at ${i}, expected ${expected(i)}`);
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
    context.log(`zero-copy: ${count} x ${mb} MB`);
    const { result } = await runNodeScript<{ samples: Samples }>('scenarios/zero-copy', { count, mb, threads: context.machine.cores, repeats: context.repeats });
    const rows: Row[] = Object.entries(result.samples).map(([name, sample]) => ({
      variant: name,
      payload: `${count} x ${mb} MB`,
      'wall ms': fmt(median(sample.wallMs)),
      'CPU ms (all threads)': fmt(median(sample.cpuMs)),
      'main thread busy ms': fmt(median(sample.mainBusyMs)),
    }));
    const copied = median(result.samples['copied (structured clone)']!.wallMs);
    const moved = median(result.samples['moved (transfer: (buffer) => [buffer])']!.wallMs);
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'payload', 'wall ms', 'CPU ms (all threads)', 'main thread busy ms'],
      rows,
      targets: [{ name: 'Buffer/ArrayBuffer payloads can be moved instead of copied', goal: 'shown', measured: `moved ${fmt(moved)} ms vs copied ${fmt(copied)} ms (${fmt(copied / moved)}x)`, met: moved < copied }],
      notes: ['The task reads every 64th byte, so moving the payload dominates. Inputs are moved with the `transfer` option of the parallel operators.'],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
