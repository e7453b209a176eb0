/**
 * The child side of the CPU-bound scenarios (pure compute, skewed work): a list of work sizes run
 * serially on the main thread and through millrace on pools of 1..N threads, interleaved round by
 * round, so machine noise hits every variant alike.
 */
import { createPool, flow, parallelMap, tasks, type ParallelMapOptions, type Pool, type PoolOptions } from 'millrace';
import { measure } from './measure.js';
import { spin } from '../tasks/micro.tasks.js';

const micro = tasks<typeof import('../tasks/micro.tasks.js')>(new URL('../tasks/micro.tasks.js', import.meta.url));

/** Samples by variant name. */
export type Samples = Record<string, { threads: number; wallMs: number[]; cpuMs: number[] }>;

/** A millrace variant: a thread count and the operator's options. */
export interface ParallelVariant {
  readonly name: string;
  readonly threads: number;
  readonly options: ParallelMapOptions;
  /** Pool options besides `threads` (recycling, say); variants with the same ones share a pool. */
  readonly pool?: Omit<PoolOptions, 'threads'>;
}

const poolKey = (variant: ParallelVariant): string => `${variant.threads}:${JSON.stringify(variant.pool ?? {})}`;

function xor(a: number, b: number): number {
  return a ^ b;
}

/** Runs the serial loop and every variant `repeats` times (after a warm-up round), interleaved. */
export async function runCpuBound(work: readonly number[], variants: readonly ParallelVariant[], repeats: number): Promise<Samples> {
  const pools = new Map<string, Pool>();
  for (const variant of variants) {
    if (!pools.has(poolKey(variant))) pools.set(poolKey(variant), createPool({ ...variant.pool, threads: variant.threads }));
  }
  let expected: number | undefined;
  const samples: Samples = {};
  const record = (name: string, threads: number, run: { wallMs: number; cpuMs: number }): void => {
    const entry = (samples[name] ??= { threads, wallMs: [], cpuMs: [] });
    entry.wallMs.push(run.wallMs);
    entry.cpuMs.push(run.cpuMs);
  };
  try {
    for (let round = -1; round < repeats; round++) {
      const serial = await measure(() => {
        let acc = 0;
        for (const w of work) acc ^= spin(w);
        return acc;
      });
      expected ??= serial.value;
      if (round >= 0) record('serial (main thread)', 1, serial);
      for (const variant of variants) {
        const pool = pools.get(poolKey(variant))!;
        const run = await measure(() =>
          flow(work)
            .pipe(parallelMap(micro.spin, { ...variant.options, pool }))
            .reduce(xor, 0),
        );
        if (run.value !== expected) throw new Error(`${variant.name}: result ${run.value}, expected ${expected}`);
        if (round >= 0) record(variant.name, variant.threads, run);
      }
    }
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
  return samples;
}
