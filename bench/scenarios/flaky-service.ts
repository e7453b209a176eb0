/**
 * Scenario: 20,000 users enriched from a local HTTP service that answers in ~5 ms and fails 1% of
 * requests with HTTP 500, with `retries: 3` (issue "Items, not chunks"). Run on the main thread
 * (`map`) and in workers (`parallelMap` / `unorderedMap`), ordered and unordered. Every variant
 * must give exact results and send exactly one request per user plus one per failure (a success
 * is never requested again); ordered must take at most 1.3x the unordered time.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bind, createPool, flow, map, parallelMap, tasks, unorderedMap } from 'millrace';
import { enrich, type Enriched } from '../tasks/http.tasks.js';
import { args, emit, isMain, measure, numberArg } from '../lib/measure.js';
import { runNodeScript } from '../lib/node-child.js';
import type { Context, Row, Scenario, ScenarioResult } from '../lib/scenario.js';
import { fmt } from '../lib/stats.js';

const http = tasks<typeof import('../tasks/http.tasks.js')>(new URL('../tasks/http.tasks.js', import.meta.url));

interface Result {
  readonly name: string;
  readonly users: number;
  readonly wallMs: number;
  readonly requests: number;
  readonly failed: number;
  readonly exact: boolean;
}

/** The service: `/users/:id` after `latencyMs`, HTTP 500 for every `failEvery`-th request (a fixed schedule). */
function service(latencyMs: number, failEvery: number): { server: Server; counts: { requests: number; failed: number } } {
  const counts = { requests: 0, failed: 0 };
  const server = createServer((request, response) => {
    counts.requests++;
    const fail = counts.requests % failEvery === failEvery / 2;
    const id = Number(/\/users\/(\d+)/.exec(request.url ?? '')?.[1]);
    setTimeout(() => {
      if (fail) {
        counts.failed++;
        response.writeHead(500).end('flaky');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, score: id * 3 } satisfies Enriched));
    }, latencyMs);
  });
  return { server, counts };
}

async function child(): Promise<void> {
  const options = args();
  const users = numberArg(options, 'users', 20_000);
  const latencyMs = numberArg(options, 'latencyMs', 5);
  const threads = numberArg(options, 'threads', 2);
  const { server, counts } = service(latencyMs, 100);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const input = Array.from({ length: users }, (_, i) => i);
  const results: Result[] = [];
  const policy = { retries: 3, retryDelayMs: 10 };
  const repeats = numberArg(options, 'repeats', 3);
  const run = async (name: string, work: () => Promise<Enriched[]>, ordered: boolean): Promise<void> => {
    await work(); // warm-up: JIT, the connection pool, the workers
    const samples: { wallMs: number; value: Enriched[]; requests: number; failed: number }[] = [];
    for (let r = 0; r < repeats; r++) {
      counts.requests = 0;
      counts.failed = 0;
      const measured = await measure(work);
      samples.push({ wallMs: measured.wallMs, value: measured.value, requests: counts.requests, failed: counts.failed });
    }
    // The median run, by wall time.
    const sample = samples.sort((a, b) => a.wallMs - b.wallMs)[Math.floor(samples.length / 2)]!;
    const values = ordered ? sample.value : [...sample.value].sort((a, b) => a.id - b.id);
    const exact = values.length === users && values.every((value, i) => value.id === i && value.score === i * 3);
    results.push({ name, users, wallMs: sample.wallMs, requests: sample.requests, failed: sample.failed, exact });
  };
  try {
    for (const ordered of [true, false]) {
      await run(
        `main thread map, concurrency 64, ${ordered ? 'ordered' : 'unordered'}`,
        () =>
          flow(input)
            .pipe(map((id) => enrich(base, id), { concurrency: 64, ordered, ...policy }))
            .toArray(),
        ordered,
      );
    }
    await using pool = createPool({ threads });
    for (const ordered of [true, false]) {
      const step = ordered ? parallelMap : unorderedMap;
      await run(
        `${ordered ? 'parallelMap' : 'unorderedMap'}, ${threads} threads, concurrency 32 each`,
        () =>
          flow(input)
            .pipe(step(bind(http.enrich, base), { pool, concurrency: 32, ...policy }))
            .toArray(),
        ordered,
      );
    }
  } finally {
    server.close();
  }
  emit({ results });
}

export const scenario: Scenario = {
  id: 'flaky-service',
  title: 'Enriching users from a flaky HTTP service (5 ms, 1% HTTP 500, retries: 3)',
  async run(context: Context): Promise<ScenarioResult> {
    const users = context.quick ? 2_000 : 20_000;
    const threads = context.machine.cores;
    context.log(`flaky-service: ${users} users, ~5 ms a request, 1% HTTP 500, on the main thread and ${threads} threads`);
    const { result } = await runNodeScript<{ results: Result[] }>('scenarios/flaky-service', {
      users,
      latencyMs: 5,
      threads,
      repeats: context.repeats,
    });
    const rows: Row[] = result.results.map((r) => ({
      variant: r.name,
      users: r.users,
      'wall ms': fmt(r.wallMs),
      requests: r.requests,
      'HTTP 500s': r.failed,
      'requests - users - 500s': r.requests - r.users - r.failed,
      exact: r.exact ? 'yes' : 'NO',
    }));
    const pair = (prefix: string): number => {
      const ordered = result.results.find((r) => r.name.startsWith(prefix) && r.name.endsWith('ordered') && !r.name.endsWith('unordered'));
      const unordered = result.results.find((r) => r.name.startsWith(prefix) && r.name.endsWith('unordered'));
      return ordered && unordered ? ordered.wallMs / unordered.wallMs : NaN;
    };
    const mainRatio = pair('main thread');
    const workerRatio = result.results[2] && result.results[3] ? result.results[2].wallMs / result.results[3].wallMs : NaN;
    const allExact = result.results.every((r) => r.exact && r.requests === r.users + r.failed);
    return {
      id: this.id,
      title: this.title,
      columns: ['variant', 'users', 'wall ms', 'requests', 'HTTP 500s', 'requests - users - 500s', 'exact'],
      rows,
      targets: [
        {
          name: 'results exact; requests = users + failures (no success requested again)',
          goal: 'every variant',
          measured: allExact ? 'yes' : 'no',
          met: allExact,
        },
        { name: 'ordered / unordered, main thread', goal: '<= 1.3x', measured: `${fmt(mainRatio)}x`, met: mainRatio <= 1.3 },
        { name: 'ordered / unordered, workers', goal: '<= 1.3x', measured: `${fmt(workerRatio)}x`, met: workerRatio <= 1.3 },
      ],
      notes: [
        'The service runs in the benchmark process itself, on the loopback interface; every 100th request it answers is an HTTP 500.',
        'A failure is retried alone (retryDelayMs 10, with jitter); the others keep running, and in order a retrying item holds its place in the output, not the concurrency.',
      ],
      raw: result,
    };
  },
};

if (isMain(import.meta.url)) await child();
