import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bind,
  createPool,
  flow,
  parallelMap,
  reduceBy,
  sharedPool,
  take,
  TaskError,
  TaskTimeoutError,
  tasks,
  unorderedMap,
  WorkerCrashedError,
} from 'millrace';

const crash = tasks<typeof import('../fixtures/crash.tasks.js')>(new URL('../fixtures/crash.tasks.js', import.meta.url));

// Short in CI; MILLRACE_SOAK=1 runs it long (MILLRACE_SOAK=<n> for n flows).
const soak = process.env['MILLRACE_SOAK'];
const FLOWS = soak === undefined ? 36 : Number(soak) > 1 ? Number(soak) : 3_000;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'millrace-soak-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The resources that keep the event loop alive, counted by type. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function withinBaseline(counts: Map<string, number>, baseline: Map<string, number>): boolean {
  return [...counts].every(([type, count]) => count <= (baseline.get(type) ?? 0));
}

/**
 * The active resources once the last flow's ended workers have finished exiting: a flow settles
 * when its chunks are cancelled, and a terminated worker's port goes a moment later. Gives up
 * after 5 s and returns what is left, for the assertion to show.
 */
async function settledResources(baseline: Map<string, number>): Promise<Map<string, number>> {
  for (let waited = 0; waited < 5_000; waited += 10) {
    if (withinBaseline(activeResources(), baseline)) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return activeResources();
}

function processListeners(): Map<string | symbol, number> {
  return new Map(process.eventNames().map((name) => [name, process.listenerCount(name)]));
}

/** One flow of each kind, on the shared pool; each ends in its own way. */
const kinds: readonly ((signal: AbortSignal) => Promise<string>)[] = [
  async (signal) => {
    const input = range(200).map((x) => x + 1);
    const out = await flow(input, { signal })
      .pipe(parallelMap(bind(crash.failMultiplesOf, 1_000_000), { chunkSize: 7 }))
      .toArray();
    expect(out).toEqual(input.map((x) => x + 1));
    return 'finished';
  },
  async (signal) => {
    const error = await flow(range(200), { signal })
      .pipe(unorderedMap(bind(crash.failMultiplesOf, 50), { chunkSize: 3 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    return 'failed';
  },
  async () => {
    const controller = new AbortController();
    const reason = new Error('soak abort');
    const error = await (async () => {
      for await (const _ of flow(range(10_000), { signal: controller.signal }).pipe(parallelMap(crash.echo, { chunkSize: 5 })))
        controller.abort(reason);
    })().catch((e: unknown) => e);
    expect(error).toBe(reason);
    return 'aborted';
  },
  async (signal) => {
    let seen = 0;
    for await (const _ of flow(range(10_000), { signal }).pipe(unorderedMap(crash.echo, { chunkSize: 5 }))) if (++seen === 3) break;
    expect(seen).toBe(3);
    return 'broken out of';
  },
  async (signal) => {
    function* naturals(): Generator<number> {
      for (let n = 0; ; n++) yield n;
    }
    expect(await flow(naturals(), { signal }).pipe(parallelMap(crash.echo), take(10)).toArray()).toEqual(range(10));
    return 'take';
  },
  async (signal) => {
    const error = await flow(range(20), { signal })
      .pipe(parallelMap(bind(crash.exitOn, 11), { chunkSize: 4 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    return 'worker crashed';
  },
  async (signal) => {
    const error = await flow(range(4), { signal })
      .pipe(parallelMap(bind(crash.spinOn, 2), { chunkSize: 1, timeoutMs: 50 }))
      .toArray()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskTimeoutError);
    return 'timed out';
  },
  async (signal) => {
    const counts = await flow(range(300), { signal })
      .pipe(
        reduceBy(
          bind(crash.modKey, 3),
          crash.sumCount,
          { sum: 0, count: 0 },
          { chunkSize: 16, combine: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }) },
        ),
      )
      .toArray();
    expect(counts.map(([, acc]) => acc.count)).toEqual([100, 100, 100]);
    return 'reduced';
  },
  async (signal) => {
    // A pool of its own, made and disposed within the flow's scope.
    await using pool = createPool({ threads: 2 });
    expect(
      await flow(range(50), { signal })
        .pipe(unorderedMap(crash.echo, { pool, chunkSize: 2 }))
        .toArray(),
    ).toHaveLength(50);
    return 'own pool';
  },
];

describe('soak', () => {
  it(`${FLOWS} flows in a row (finished, failed, aborted, broken out of, take, crashed, timed out, own pool) leak no workers, handles or listeners`, async () => {
    const pool = sharedPool();
    const signal = new AbortController().signal; // long-lived, shared by the flows: must not collect listeners
    // Warm-up: every shared thread started, the task module loaded.
    await flow(range(64))
      .pipe(unorderedMap(bind(crash.recordAndBlock, dir, 5), { chunkSize: 1 }))
      .toArray();
    const baselineThreads = pool.liveThreads!;
    const baselineResources = activeResources();
    const baselineListeners = processListeners();
    expect(baselineThreads).toBe(pool.threads);

    const outcomes = new Map<string, number>();
    for (let i = 0; i < FLOWS; i++) {
      const outcome = await kinds[i % kinds.length]!(signal);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      expect(pool.liveThreads!).toBeLessThanOrEqual(pool.threads);
    }
    expect(outcomes.size).toBe(Math.min(FLOWS, kinds.length));

    // Workers replaced after crashes and timeouts start only on demand: never more than before.
    expect(pool.liveThreads!).toBeLessThanOrEqual(baselineThreads);
    // Nothing left keeping the event loop alive beyond what the baseline had (cancelled chunks'
    // workers are gone, no timer or port remains) ...
    const after = await settledResources(baselineResources);
    for (const [type, count] of after) expect({ type, count }).toEqual({ type, count: Math.min(count, baselineResources.get(type) ?? 0) });
    // ... and no listener piled up on the process.
    expect(processListeners()).toEqual(baselineListeners);
  });
});
