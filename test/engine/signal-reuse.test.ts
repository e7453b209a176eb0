// A backend that lets go of a run's signal as the run settles (PoolBackend.releasesSignals) may be
// handed a signal again: never one that a pending run holds, and never one that aborted.
import { describe, expect, it } from 'vitest';
import {
  createPool,
  flow,
  parallelMap,
  tasks,
  TaskTimeoutError,
  type ChunkRequest,
  type ChunkResponse,
  type PoolBackend,
  type RunChunkOptions,
} from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

/** Answers each run on a later turn (squares), or never when `hang` says so; records the signals. */
class RecordingBackend implements PoolBackend {
  readonly capacity = 2;
  readonly releasesSignals = true;
  readonly pending = new Set<AbortSignal>();
  readonly seen: AbortSignal[] = [];
  readonly aborted = new Set<AbortSignal>();
  sharedWhilePending = false;
  handedAborted = false;
  constructor(readonly hang: (item: number) => boolean = () => false) {}

  run(request: ChunkRequest, options: RunChunkOptions = {}): Promise<ChunkResponse> {
    const signal = options.signal!;
    if (this.pending.has(signal)) this.sharedWhilePending = true;
    if (signal.aborted) this.handedAborted = true;
    this.seen.push(signal);
    this.pending.add(signal);
    const item = request.items[0] as number;
    return new Promise<ChunkResponse>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(signal);
        this.aborted.add(signal);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.hang(item)) return;
      setImmediate(() => {
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(signal);
        resolve({ results: [item * item], failures: [], elapsedMs: 0 });
      });
    });
  }

  async close(): Promise<void> {}
}

describe('PoolBackend.releasesSignals', () => {
  it('reuses the signals of settled runs, never one a pending run holds', async () => {
    const backend = new RecordingBackend();
    await using pool = createPool({ backend });
    const input = Array.from({ length: 200 }, (_, i) => i);
    expect(
      await flow(input)
        .pipe(parallelMap(math.square, { pool, chunkSize: 1 }))
        .toArray(),
    ).toEqual(input.map((x) => x * x));
    expect(backend.sharedWhilePending).toBe(false);
    expect(new Set(backend.seen).size).toBeLessThan(backend.seen.length);
  });

  it('never hands a later run a signal that aborted (a timeout)', async () => {
    const backend = new RecordingBackend((item) => item === 3);
    await using pool = createPool({ backend });
    const error = await flow(Array.from({ length: 20 }, (_, i) => i))
      .pipe(parallelMap(math.square, { pool, chunkSize: 1, timeoutMs: 50, retries: 1, retryDelayMs: 0 }))
      .toArray()
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(backend.aborted.size).toBeGreaterThan(0);
    expect(backend.handedAborted).toBe(false);
    expect(backend.sharedWhilePending).toBe(false);
  });
});
