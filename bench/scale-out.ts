/**
 * Scale-out benchmark: the log-analysis job (examples/log-analysis, `unorderedMap` over gzipped
 * files) through Redis with two local `millrace worker` processes, against the local thread pool
 * with the same parallelism; then the per-chunk cost of the Redis round trip, from many one-item
 * chunks (throughput with the default in-flight window) and from one chunk at a time (latency).
 *
 * Standalone: `node --import tsx bench/scale-out.ts [--quick] [--runs=N] [--json]` (from source),
 * or `node dist/bench/scale-out.js` after `npm run build`; also a {@link Scenario} for the bench
 * runner. Needs `redis-server` on PATH; starts it on a free loopback port with persistence off and
 * stops it at the end.
 *
 * @packageDocumentation
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bullmq, createPool, flow, parallelMap, tasks, unorderedMap, type Pool } from 'millrace';
import { ensureSampleLogs } from '../examples/log-analysis/generate-sample-logs.js';
import { addResult, emptySummary, jsonReport } from '../examples/log-analysis/report.js';
import { isMain } from './lib/measure.js';
import type { Context, Scenario, ScenarioResult } from './lib/scenario.js';

const logs = tasks<typeof import('../examples/log-analysis/analysis.js')>(new URL('../examples/log-analysis/analysis.js', import.meta.url));
const micro = tasks<typeof import('./tasks/micro.tasks.js')>(new URL('./tasks/micro.tasks.js', import.meta.url));

const fromSource = import.meta.url.endsWith('.ts');
/** The directory that holds bench/ and bin/: the repository (source) or dist/ (built). */
const base = fileURLToPath(new URL('..', import.meta.url));
/** Where job module paths are relative to, on both sides: the repository root. */
const root = fromSource ? base : fileURLToPath(new URL('../..', import.meta.url));

const WORKERS = 2;

/** What one benchmark run measured (medians, milliseconds). */
export interface ScaleOutResult {
  corpus: string;
  workers: string;
  runs: number;
  analysisMs: { local: number; remote: number };
  perChunkMsThroughput: { local: number; remote: number; chunks: number };
  perChunkMsLatency: { local: number; remote: number; chunks: number };
  raw: Record<'analysis' | 'many' | 'latency', { local: number[]; remote: number[] }>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

function waitFor(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (data: Buffer): void => {
      seen += data.toString();
      if (pattern.test(seen)) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}: ${seen}`)));
    child.once('error', (error) => reject(new Error(`${what} could not start (is it installed?): ${error.message}`)));
  });
}

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid!, signal);
  await exited;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** Starts Redis and two workers, measures, stops them. */
export async function measureScaleOut(options: { quick: boolean; runs: number; log: (line: string) => void }): Promise<ScaleOutResult> {
  const { quick, runs, log } = options;
  const port = await freePort();
  const redisUrl = `redis://127.0.0.1:${port}`;
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const children: ChildProcess[] = [redis];
  let local: Pool | undefined;
  let remote: Pool | undefined;
  try {
    await waitFor(redis, /Ready to accept connections/, 'redis-server');
    const bin = fromSource ? ['--import', 'tsx', join(base, 'bin/millrace.ts')] : [join(base, 'bin/millrace.js')];
    const workers = Array.from({ length: WORKERS }, () =>
      spawn(process.execPath, [...bin, 'worker', '--redis', redisUrl, '--queue', 'bench', '--concurrency', '1', '--root', root], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    children.push(...workers);
    await Promise.all(workers.map((worker) => waitFor(worker, /millrace worker ready/, 'millrace worker')));

    const corpus = quick ? { files: 8, lines: 20_000, seed: 1 } : { files: 16, lines: 50_000, seed: 1 };
    const dir = await ensureSampleLogs(join(root, '.cache', `bench-scale-out-${corpus.files}x${corpus.lines}`), corpus);
    const files = readdirSync(dir)
      .filter((name) => name.endsWith('.gz'))
      .sort()
      .map((name) => join(dir, name));

    local = createPool({ threads: WORKERS });
    remote = createPool({ backend: bullmq({ connection: redisUrl, queue: 'bench', capacity: WORKERS, root }) });
    const pools = { local, remote } as const;

    const analyse = async (pool: Pool): Promise<string> => {
      const summary = emptySummary();
      await flow(files)
        .pipe(unorderedMap(logs.analysis, { pool }))
        .forEach((result) => addResult(summary, result));
      const { lines, malformed, matched, top } = jsonReport(summary, 10);
      return JSON.stringify({ lines, malformed, matched, top });
    };
    const chunks = quick ? 1_000 : 4_000;
    const latencyChunks = quick ? 100 : 300;
    const items = Array.from({ length: chunks }, (_, i) => i);
    const manyChunks = (pool: Pool) =>
      flow(items)
        .pipe(parallelMap(micro.double, { pool, chunkSize: 1 }))
        .toArray();
    const oneAtATime = (pool: Pool) =>
      flow(items.slice(0, latencyChunks))
        .pipe(parallelMap(micro.double, { pool, chunkSize: 1, maxInFlight: 1 }))
        .toArray();

    // Warm-up: threads started, task modules loaded, connections made; and the answers agree.
    const expected = await analyse(local);
    if ((await analyse(remote)) !== expected) throw new Error('the Redis run counted differently from the local pool');
    await manyChunks(local);
    await manyChunks(remote);

    const samples: ScaleOutResult['raw'] = {
      analysis: { local: [] as number[], remote: [] as number[] },
      many: { local: [] as number[], remote: [] as number[] },
      latency: { local: [] as number[], remote: [] as number[] },
    };
    for (let run = 0; run < runs; run++) {
      for (const name of ['local', 'remote'] as const) {
        const pool = pools[name];
        samples.analysis[name].push(
          await timed(async () => {
            if ((await analyse(pool)) !== expected) throw new Error(`${name} counted differently`);
          }),
        );
        samples.many[name].push(await timed(() => manyChunks(pool)));
        samples.latency[name].push(await timed(() => oneAtATime(pool)));
      }
      log(`scale-out: run ${run + 1} of ${runs} done`);
    }
    return {
      corpus: `${corpus.files} files x ${corpus.lines} lines`,
      workers: `${WORKERS} worker processes x concurrency 1 vs a local pool of ${WORKERS} threads`,
      runs,
      analysisMs: { local: median(samples.analysis.local), remote: median(samples.analysis.remote) },
      perChunkMsThroughput: { local: median(samples.many.local) / chunks, remote: median(samples.many.remote) / chunks, chunks },
      perChunkMsLatency: {
        local: median(samples.latency.local) / latencyChunks,
        remote: median(samples.latency.remote) / latencyChunks,
        chunks: latencyChunks,
      },
      raw: samples,
    };
  } finally {
    await local?.close();
    await remote?.close();
    for (const child of children.slice(1)) await stop(child, 'SIGTERM');
    await stop(redis, 'SIGTERM');
  }
}

function rows(result: ScaleOutResult): { measurement: string; local: string; remote: string; ratio: string }[] {
  const f = (ms: number, digits: number) => ms.toFixed(digits);
  const { analysisMs: a, perChunkMsThroughput: t, perChunkMsLatency: l } = result;
  return [
    {
      measurement: `log analysis, ${result.corpus}, wall ms`,
      local: f(a.local, 1),
      remote: f(a.remote, 1),
      ratio: `${(a.remote / a.local).toFixed(2)}x`,
    },
    {
      measurement: `per chunk, ${t.chunks} one-item chunks in flight together, ms`,
      local: f(t.local, 3),
      remote: f(t.remote, 3),
      ratio: `${(t.remote / t.local).toFixed(1)}x`,
    },
    {
      measurement: `per chunk, ${l.chunks} one-item chunks one at a time (round trip), ms`,
      local: f(l.local, 3),
      remote: f(l.remote, 3),
      ratio: `${(l.remote / l.local).toFixed(1)}x`,
    },
  ];
}

/** The benchmark as a scenario of the bench runner (bench/run.ts). */
export const scenario: Scenario = {
  id: 'scale-out',
  title: 'Scale-out: log analysis through Redis (2 worker processes) vs the local pool',
  async run(context: Context): Promise<ScenarioResult> {
    const result = await measureScaleOut({ quick: context.quick, runs: context.repeats, log: context.log });
    return {
      id: this.id,
      title: this.title,
      columns: ['measurement', 'local pool', 'through Redis', 'ratio'],
      rows: rows(result).map((row) => ({
        measurement: row.measurement,
        'local pool': row.local,
        'through Redis': row.remote,
        ratio: row.ratio,
      })),
      targets: [],
      notes: [
        `${result.workers}; redis-server, the workers and the flow share this machine's cores, so the Redis figures include their CPU contention.`,
        'Per chunk = wall time / chunks, one-item chunks of a trivial task: the cost of the round trip itself.',
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const asJson = argv.includes('--json');
  const runs = Number(argv.find((arg) => arg.startsWith('--runs='))?.slice('--runs='.length) ?? (quick ? 3 : 5));
  const result = await measureScaleOut({ quick, runs, log: (line) => process.stderr.write(`${line}\n`) });
  if (asJson) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write(
      [
        `Scale-out benchmark (median of ${runs}; ${result.workers}; redis-server on loopback)`,
        '',
        '| measurement | local pool | through Redis | ratio |',
        '| --- | --- | --- | --- |',
        ...rows(result).map((row) => `| ${row.measurement} | ${row.local} | ${row.remote} | ${row.ratio} |`),
        '',
      ].join('\n'),
    );
  }
}
