// The dispatch engine's decisions, tested through a scripted backend in the same thread: the test
// decides when each chunk starts and how it settles, so retries, isolation, the reorder window,
// cancellation, deadlines and statistics are checked in milliseconds and without races. (Real
// threads keep the end-to-end and fault tests.)
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createPool,
  defineOperator,
  dispatch,
  flow,
  parallelMap,
  TaskError,
  TaskTimeoutError,
  tasks,
  unorderedMap,
  WorkerCrashedError,
  WorkerExitError,
  type StageStats,
  type TaskRef,
} from 'millrace';
import { scriptedBackend, type ScriptedChunk } from 'millrace/testing';

// Never loaded: the scripted backend answers for it.
const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const square: TaskRef<[number], number> = math.square;

/** An endless source. */
function* naturals(): Generator<number> {
  for (let i = 0; ; i++) yield i;
}

/** Lets the event loop run a few times (to observe that something did NOT happen). */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function nextChunks(backend: { next(): Promise<ScriptedChunk> }, count: number): Promise<ScriptedChunk[]> {
  const chunks: ScriptedChunk[] = [];
  for (let i = 0; i < count; i++) chunks.push(await backend.next());
  return chunks;
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('scriptedBackend', () => {
  it('answers, computes, and keeps the contract: abort rejects with the reason, close() rejects pending runs, late answers are dropped', async () => {
    const backend = scriptedBackend({ capacity: 1 });
    const request = { mode: 'call', task: square, items: [2, 3] } as const;
    const answered = backend.run(request);
    const chunk = await backend.next();
    expect(chunk.items).toEqual([2, 3]);
    expect(chunk.start().answer((items) => items.map((x) => Number(x) ** 2))).toBe(true);
    expect(await answered).toEqual({ results: [4, 9], failures: [], elapsedMs: 1 });
    expect(chunk.answer([0])).toBe(false);

    const controller = new AbortController();
    const aborted = backend.run(request, { signal: controller.signal });
    const hanging = (await backend.next()).start().hang();
    const refused = backend.run(request);
    expect(() => backend.chunks.at(-1)!.start()).toThrow(/more than the capacity \(1\)/);
    const reason = new Error('no longer wanted');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(hanging.state).toBe('aborted');
    expect(await hanging.whenAborted).toBe(reason);

    const crashed = backend.run(request);
    backend.chunks.at(-1)!.crash({ started: false });
    await expect(crashed).rejects.toSatisfy((error) => error instanceof WorkerExitError && !error.started);

    const pending = backend.pending;
    expect(pending).toHaveLength(1); // the run refused by start() above, still queued
    const closedRun = backend.run(request);
    await backend.close();
    await expect(refused).rejects.toThrow(/closed/);
    await expect(closedRun).rejects.toThrow(/closed/);
    await expect(backend.run(request)).rejects.toThrow(/closed/);
    expect(backend.chunks.map((c) => c.state)).toEqual(['answered', 'aborted', 'closed', 'rejected', 'closed']);

    const computing = scriptedBackend().compute((x) => {
      if (x === 0) throw new Error('zero');
      return 10 / Number(x);
    });
    expect(await computing.run({ ...request, items: [1, 0, 2], continueOnError: true })).toMatchObject({
      results: [10, undefined, 5],
      failures: [{ index: 1, error: { message: 'zero' } }],
    });
  });

  it('runs whole flows without threads through compute()', async () => {
    const backend = scriptedBackend().compute((x) => Number(x) ** 2);
    await using pool = createPool({ backend });
    expect(
      await flow([1, 2, 3, 4])
        .pipe(parallelMap(square, { pool, chunkSize: 2 }))
        .toArray(),
    ).toEqual([1, 4, 9, 16]);
    expect(backend.chunks.map((chunk) => chunk.items)).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('the engine, through a scripted backend', () => {
  it('retries a chunk whose response holds a failure, after the backoff, as attempt 2 of the same chunk', async () => {
    vi.useFakeTimers();
    // The backoff's jitter at its top: the first retry waits the whole retryDelayMs.
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const out = flow([3])
      .pipe(parallelMap(square, { pool, retries: 1, retryDelayMs: 100 }))
      .toArray();
    (await backend.next()).start().fail(0, new Error('flaky'));
    await vi.advanceTimersByTimeAsync(99);
    expect(backend.chunks).toHaveLength(1); // still backing off
    await vi.advanceTimersByTimeAsync(1);
    const again = await backend.next();
    expect(again.identity).toMatchObject({ seq: 0, attempt: 2 });
    expect(again.items).toEqual([3]);
    again.start().answer([9]);
    expect(await out).toEqual([9]);
  });

  // Moved from test/reliability/errors.test.ts (real threads, a backoff of 30 s and a marker file
  // polled): the decision is the engine's; the retries there still run end to end on threads.
  it('a retry waits out its backoff, and an abort during the backoff ends the flow without running it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // The backoff's jitter at its top: the retry waits the whole retryDelayMs, capped at 30 s.
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const controller = new AbortController();
    let settled = false;
    const out = flow([0], { signal: controller.signal })
      .pipe(parallelMap(square, { pool, chunkSize: 1, retries: 1, retryDelayMs: 600_000 }))
      .toArray()
      .catch((error: unknown) => error)
      .finally(() => {
        settled = true;
      });
    (await backend.next()).start().fail(0, new Error('flaky'));
    // A second short of the backoff, the retry is still waiting: the flow neither ends nor runs it.
    await vi.advanceTimersByTimeAsync(29_000);
    expect(settled).toBe(false);
    expect(backend.chunks).toHaveLength(1);
    const reason = new Error('stop waiting');
    controller.abort(reason);
    expect(await out).toBe(reason);
    // Nor after the backoff would have run out.
    await vi.advanceTimersByTimeAsync(600_000);
    await turns();
    expect(backend.chunks).toHaveLength(1);
  });

  it('fails with a TaskError naming the item and its attempts once the retries are spent', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const out = flow([1, 2])
      .pipe(parallelMap(square, { pool, chunkSize: 2, retries: 1, retryDelayMs: 0 }))
      .toArray()
      .catch((error: unknown) => error);
    (await backend.next()).start().fail(1, new Error('bad item'));
    (await backend.next()).start().fail(1, new Error('bad item'));
    const error = await out;
    expect(error).toBeInstanceOf(TaskError);
    expect(error).toMatchObject({ index: 1, item: 2, attempts: 2, cause: { message: 'bad item' } });
    expect(backend.chunks).toHaveLength(2);
  });

  it('runs a crashed chunk item by item under onError, to find the item that crashes, and emits the rest', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const reported: unknown[] = [];
    const out = flow([1, 2, 3])
      .pipe(parallelMap(square, { pool, chunkSize: 3, onError: (error) => reported.push(error) }))
      .toArray();
    (await backend.next()).start().crash({ reason: 'signal' });
    const pieces = await nextChunks(backend, 3);
    expect(pieces.map((piece) => piece.items)).toEqual([[1], [2], [3]]);
    // One-item pieces of chunk 0, each its own send.
    const runId = pieces[0]!.identity?.runId;
    expect(pieces.map((piece) => piece.identity)).toEqual([2, 3, 4].map((attempt) => ({ runId, seq: 0, attempt })));
    pieces[2]!.start().answer([9]);
    pieces[1]!.start().crash({ reason: 'signal' });
    pieces[0]!.start().answer([1]);
    expect(await out).toEqual([1, 9]);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(WorkerCrashedError);
    expect(reported[0]).toMatchObject({ firstIndex: 1, items: [2], reason: 'signal' });
  });

  it('keeps input order: a finished chunk waits in the reorder window for the head chunk', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const iterator = flow([1, 2, 3])
      .pipe(parallelMap(square, { pool, chunkSize: 1 }))
      [Symbol.asyncIterator]();
    let first: IteratorResult<number> | undefined;
    const firstNext = iterator.next().then((result) => (first = result));
    const [head, second, third] = await nextChunks(backend, 3);
    second!.start().answer([4]);
    third!.start().answer([9]);
    await turns();
    expect(first).toBeUndefined(); // the head holds its place
    head!.start().answer([1]);
    await firstNext;
    expect(first).toEqual({ done: false, value: 1 });
    expect(await iterator.next()).toEqual({ done: false, value: 4 });
    expect(await iterator.next()).toEqual({ done: false, value: 9 });
    expect((await iterator.next()).done).toBe(true);
  });

  it('keeps at most maxInFlight chunks submitted or waiting to be emitted, and sends the next as the consumer takes one', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const iterator = flow(naturals())
      .pipe(parallelMap(square, { pool, chunkSize: 1, maxInFlight: 3 }))
      [Symbol.asyncIterator]();
    const firstNext = iterator.next();
    const chunks = await nextChunks(backend, 3);
    for (const chunk of chunks) chunk.start().answer((items) => items.map((x) => Number(x) ** 2));
    expect(await firstNext).toEqual({ done: false, value: 0 });
    await turns();
    expect(backend.chunks).toHaveLength(3); // answered, but two still wait to be emitted
    expect(await iterator.next()).toEqual({ done: false, value: 1 });
    // The consumer came back after chunk 0's value: chunk 0 is out of the window, chunk 3 goes.
    expect((await backend.next()).items).toEqual([3]);
    expect(backend.chunks).toHaveLength(4);
    await iterator.return?.();
  });

  it('emits as chunks finish when order is not asked for', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const iterator = flow([1, 2, 3])
      .pipe(unorderedMap(square, { pool, chunkSize: 1 }))
      [Symbol.asyncIterator]();
    const firstNext = iterator.next();
    const [, , third] = await nextChunks(backend, 3);
    third!.start().answer([9]);
    expect(await firstNext).toEqual({ done: false, value: 9 });
    await iterator.return?.();
  });

  it('an abort aborts the signal of every live chunk, started or queued, at once, rejects with the reason and submits nothing more', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const controller = new AbortController();
    const out = flow(naturals(), { signal: controller.signal })
      .pipe(parallelMap(square, { pool, chunkSize: 1, maxInFlight: 4 }))
      .toArray()
      .catch((error: unknown) => error);
    const chunks = await nextChunks(backend, 4);
    chunks[0]!.start();
    chunks[1]!.start().hang();
    const reason = new Error('stop now');
    controller.abort(reason);
    // Synchronously: no chunk of the flow is left running or queued once abort() returns.
    expect(chunks.map((chunk) => [chunk.aborted, chunk.state])).toEqual(chunks.map(() => [true, 'aborted']));
    expect(await out).toBe(reason);
    await turns();
    expect(backend.chunks).toHaveLength(4);
  });

  // The flake of test/reliability/cancellation.test.ts ("item 2 started after the abort"), modelled:
  // a worker holds an inbox (the thread backend hands a worker its next chunk ahead, and a
  // withdrawal makes it take up the next one). The engine aborts its live chunks oldest first, so
  // withdrawing chunk 0 lets the worker start chunk 1 before the engine reaches it. It fails today;
  // aborting newest first (DispatchIterator #teardown) makes it pass: then flip it to `it`.
  it('an abort never makes way for a later chunk of the same flow to start (cancel newest first)', async () => {
    const backend = scriptedBackend({ capacity: 1 });
    await using pool = createPool({ backend });
    const controller = new AbortController();
    const out = flow(naturals(), { signal: controller.signal })
      .pipe(parallelMap(square, { pool, chunkSize: 1, maxInFlight: 3 }))
      .toArray()
      .catch((error: unknown) => error);
    const inbox = await nextChunks(backend, 3);
    // The worker: when the chunk it was about to take up is withdrawn, it takes up the next one.
    inbox.forEach((chunk, i) => {
      chunk.signal!.addEventListener('abort', () => {
        if (chunk.started) return;
        const next = inbox.slice(i + 1).find((later) => !later.settled);
        if (next !== undefined && inbox.slice(0, i).every((earlier) => earlier.settled)) next.start();
      });
    });
    controller.abort(new Error('stop now'));
    await out;
    expect(inbox.filter((chunk) => chunk.started).map((chunk) => chunk.items)).toEqual([]);
  });

  it('counts a chunk timeout from start(), not from submission, when the backend reports starts', async () => {
    vi.useFakeTimers();
    const backend = scriptedBackend({ reportsStart: true });
    await using pool = createPool({ backend });
    const out = flow([7])
      .pipe(parallelMap(square, { pool, timeoutMs: 100 }))
      .toArray()
      .catch((error: unknown) => error);
    const chunk = await backend.next();
    await vi.advanceTimersByTimeAsync(10_000); // queued: no budget runs
    expect(chunk.aborted).toBe(false);
    chunk.start();
    await vi.advanceTimersByTimeAsync(99);
    expect(chunk.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(chunk.aborted).toBe(true);
    expect(await chunk.whenAborted).toMatchObject({ name: 'TimeoutError' });
    const error = await out;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error).toMatchObject({ firstIndex: 0, itemCount: 1, timeoutMs: 100 });
  });

  it('counts a chunk timeout from submission when the backend does not report starts', async () => {
    vi.useFakeTimers();
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const out = flow([7])
      .pipe(parallelMap(square, { pool, timeoutMs: 100 }))
      .toArray()
      .catch((error: unknown) => error);
    const chunk = await backend.next();
    await vi.advanceTimersByTimeAsync(99);
    expect(chunk.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(chunk.aborted).toBe(true);
    expect(await out).toBeInstanceOf(TaskTimeoutError);
  });

  it('runs a chunk whose worker died before taking it up again, at once and at no cost to its retries', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const out = flow([2])
      .pipe(parallelMap(square, { pool, retries: 0 }))
      .toArray();
    (await backend.next()).crash({ started: false });
    const again = await backend.next();
    expect(again.identity).toMatchObject({ seq: 0, attempt: 2 });
    again.start().answer([4]);
    expect(await out).toEqual([4]);
  });

  it('a crash of a started chunk with no retries left fails the flow with a WorkerCrashedError', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const out = flow([2, 3])
      .pipe(parallelMap(square, { pool, chunkSize: 2 }))
      .toArray()
      .catch((error: unknown) => error);
    (await backend.next()).start().crash({ reason: 'out-of-memory' });
    expect(await out).toMatchObject({ name: 'WorkerCrashedError', firstIndex: 0, items: [2, 3], reason: 'out-of-memory' });
  });

  it('statistics count the runs again by reason', async () => {
    const backend = scriptedBackend();
    await using pool = createPool({ backend });
    const reports: StageStats[] = [];
    const out = flow([5])
      .pipe(parallelMap(square, { pool, retries: 1, retryDelayMs: 0, stats: (stats) => reports.push(stats) }))
      .toArray();
    (await backend.next()).crash({ started: false });
    (await backend.next()).start().fail(0, new Error('flaky'));
    (await backend.next()).start().answer([25]);
    expect(await out).toEqual([25]);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      state: 'done',
      itemsIn: 1,
      itemsOut: 1,
      retries: 1,
      runsAgain: { retry: 1, 'never-started': 1, isolate: 0 },
      chunks: { count: 1 },
    });
  });

  it('drives a custom operator built on dispatch()', async () => {
    const backend = scriptedBackend().compute((x) => Number(x) % 2 === 0);
    await using pool = createPool({ backend });
    // The scripted backend answers booleans for the `square` task: its results are not the task's type.
    const evens = defineOperator<number, number>('evens', (source, context) =>
      dispatch<number, number, unknown>(source, context, {
        name: 'isEven',
        ordered: true,
        pool,
        request: (items) => ({ mode: 'call', task: square, items }),
        outputs: (response, items) => items.filter((_, i) => response.results[i] === true),
      }),
    );
    expect(await flow([1, 2, 3, 4, 5, 6]).pipe(evens).toArray()).toEqual([2, 4, 6]);
  });
});
