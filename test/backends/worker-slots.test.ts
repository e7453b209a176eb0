// The local backends' one scheduler, driven through a scripted worker kind: no thread, no process,
// milliseconds. (The thread and process backends keep their end-to-end and fault suites.)
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChunkSendError, type ChunkRequest, type ChunkResponse } from '../../lib/backend.js';
import { CANCEL_GRACE_MS } from '../../lib/backends/cancel-grace.js';
import { newSlot, WorkerSlots, type Slot, type SlotJob, type WorkerKind } from '../../lib/backends/worker-slots.js';

type Job = SlotJob<Worker>;
interface Worker extends Slot<Job> {
  readonly name: string;
}

const task = { moduleUrl: 'file:///x.tasks.js', exportName: 'f', boundArgs: [], setupArgs: [] };
const request = (...items: number[]): ChunkRequest => ({ mode: 'call', task, items });
const answer = (results: unknown[]): ChunkResponse => ({ results, failures: [], elapsedMs: 1 });

/** A worker kind whose every step the test sees and decides. */
class ScriptedKind implements WorkerKind<Job, Worker> {
  readonly log: string[] = [];
  readonly workers: Worker[] = [];
  startsStandby = false;
  prefetch = false;
  /** Chunks (by first item) a worker has taken up: they cannot be withdrawn. */
  readonly takenUp = new Set<number>();
  postResult: boolean | 'throw' = true;

  start(standby: boolean): Worker {
    const worker: Worker = { ...newSlot<Job>(standby), name: `w${this.workers.length}` };
    this.workers.push(worker);
    this.log.push(`start ${worker.name}${standby ? ' (standby)' : ''}`);
    return worker;
  }
  reachable(): boolean {
    return true;
  }
  canWaitBehind(_job: Job, worker: Worker): boolean {
    return this.prefetch && worker.jobs.size < 2;
  }
  post(job: Job, worker: Worker): boolean {
    if (this.postResult === 'throw') throw new Error('cannot clone');
    if (this.postResult) this.log.push(`post [${job.request.items.join(',')}] to ${worker.name}`);
    return this.postResult;
  }
  sent(): void {}
  withdraw(job: Job, _worker: Worker, toResend: boolean): boolean {
    const first = job.request.items[0] as number;
    if (this.takenUp.has(first)) {
      job.life.move('running');
      return false;
    }
    this.log.push(`withdraw [${job.request.items.join(',')}]${toResend ? ' to resend' : ''}`);
    return true;
  }
  released(): void {}
  tellCancel(job: Job, worker: Worker, why: 'timeout' | 'abort'): void {
    this.log.push(`cancel [${job.request.items.join(',')}] on ${worker.name} (${why})`);
  }
  end(worker: Worker): void {
    this.log.push(`end ${worker.name} (${worker.endedFor})`);
  }
  letGo(worker: Worker): void {
    this.log.push(`let go ${worker.name}`);
    slots?.forget(worker);
  }
  rest(): void {}
  work(): void {}
}

let slots: WorkerSlots<Job, Worker> | undefined;

function setup(capacity: number, maxItemsPerWorker?: number) {
  const kind = new ScriptedKind();
  const scheduler = new WorkerSlots<Job, Worker>(kind, capacity, maxItemsPerWorker);
  slots = scheduler;
  const run = (items: number[], signal?: AbortSignal) => scheduler.submit(request(...items), signal ? { signal } : {}, (common) => common);
  const ready = (worker: Worker) => {
    worker.life.move('ready');
    scheduler.pump();
  };
  const held = (worker: Worker) => [...worker.jobs.values()].map((job) => job.request.items.join(','));
  const finish = (worker: Worker, firstItem: number, results: unknown[], heapUsed?: number, maxHeapBytes?: number) => {
    for (const [id, job] of worker.jobs) {
      if (job.request.items[0] !== firstItem) continue;
      scheduler.answered(worker, id, job, answer(results), heapUsed, maxHeapBytes);
      return;
    }
    throw new Error(`${worker.name} does not hold [${firstItem}]`);
  };
  return { kind, scheduler, run, ready, held, finish };
}

afterEach(() => {
  vi.useRealTimers();
  slots = undefined;
});

describe('WorkerSlots', () => {
  it('starts workers on demand up to capacity and hands chunks first come, first served to ready ones', async () => {
    const { kind, run, ready, held, finish } = setup(2);
    const a = run([1]);
    const b = run([2]);
    const c = run([3]);
    expect(kind.log).toEqual(['start w0', 'start w1']);
    const [w0, w1] = kind.workers as [Worker, Worker];
    ready(w1);
    expect(held(w1)).toEqual(['1']);
    ready(w0);
    expect(held(w0)).toEqual(['2']);
    finish(w1, 1, ['one']);
    expect(held(w1)).toEqual(['3']);
    finish(w0, 2, ['two']);
    finish(w1, 3, ['three']);
    expect((await Promise.all([a, b, c])).map((response) => response.results)).toEqual([['one'], ['two'], ['three']]);
    expect(kind.workers).toHaveLength(2);
  });

  it('lets a chunk wait behind a running one where the kind allows, and takes it back for a worker left idle', () => {
    const { kind, run, ready, held, finish } = setup(2);
    kind.prefetch = true;
    void run([1]);
    const [w0] = kind.workers as [Worker];
    ready(w0);
    void run([2]);
    void run([3]);
    const w1 = kind.workers[1]!;
    expect(held(w0)).toEqual(['1', '2']);
    kind.takenUp.add(1);
    ready(w1);
    expect(held(w1)).toEqual(['3']);
    finish(w1, 3, [3]);
    // w1 is idle: the chunk waiting behind w0's running chunk moves to it.
    expect(kind.log).toContain('withdraw [2] to resend');
    expect(held(w0)).toEqual(['1']);
    expect(held(w1)).toEqual(['2']);
  });

  it('recycles a worker after maxItemsPerWorker: a standby halfway, a replacement at once, the old one let go when its chunk is answered', () => {
    const { kind, run, ready, finish } = setup(1, 4);
    kind.startsStandby = true;
    void run([1, 2]);
    const w0 = kind.workers[0]!;
    ready(w0);
    expect(kind.log.at(-1)).toBe('start w1 (standby)');
    finish(w0, 1, [1, 2]);
    void run([3, 4]);
    expect(w0.life.phase).toBe('retiring');
    expect(kind.log.at(-1)).toBe('start w2');
    finish(w0, 3, [3, 4]);
    expect(kind.log.at(-1)).toBe('let go w0');
    expect(w0.life.phase).toBe('gone');
  });

  it('retires a worker whose heap after a chunk passes the limit', () => {
    const { kind, run, ready, finish } = setup(1);
    void run([1]);
    const w0 = kind.workers[0]!;
    ready(w0);
    finish(w0, 1, [1], 300, 200);
    expect(kind.log.slice(-2)).toEqual(['let go w0', 'start w1']);
  });

  it('cancels a queued chunk without sending it, withdraws one not taken up, and ends a worker that keeps a running one past the grace', async () => {
    vi.useFakeTimers();
    const { kind, run, ready, held } = setup(1);
    kind.prefetch = true;
    const queued = new AbortController();
    const waiting = new AbortController();
    const running = new AbortController();
    const first = run([1], running.signal);
    const w0 = kind.workers[0]!;
    ready(w0);
    const second = run([2], waiting.signal);
    const third = run([3], queued.signal);
    expect(held(w0)).toEqual(['1', '2']);

    queued.abort(new Error('queued stop'));
    await expect(third).rejects.toThrow('queued stop');
    expect(kind.log.join('\n')).not.toContain('[3]');

    waiting.abort(new Error('waiting stop'));
    await expect(second).rejects.toThrow('waiting stop');
    expect(kind.log).toContain('withdraw [2]');

    kind.takenUp.add(1);
    running.abort(new DOMException('too slow', 'TimeoutError'));
    await expect(first).rejects.toThrow('too slow');
    expect(kind.log.at(-1)).toBe('cancel [1] on w0 (timeout)');
    vi.advanceTimersByTime(CANCEL_GRACE_MS);
    expect(kind.log.at(-1)).toBe('end w0 (timeout)');
  });

  it('does not end a worker that lets a cancelled chunk go within the grace', async () => {
    vi.useFakeTimers();
    const { kind, run, ready, finish } = setup(1);
    const controller = new AbortController();
    const chunk = run([1], controller.signal);
    const w0 = kind.workers[0]!;
    ready(w0);
    kind.takenUp.add(1);
    controller.abort(new Error('stop'));
    await expect(chunk).rejects.toThrow('stop');
    finish(w0, 1, [1]);
    vi.advanceTimersByTime(CANCEL_GRACE_MS);
    expect(kind.log.some((line) => line.startsWith('end'))).toBe(false);
  });

  it('fails the chunks a dead worker held (started or not), and the queue when the only worker died starting', async () => {
    const { kind, scheduler, run, ready } = setup(1);
    kind.prefetch = true;
    const a = run([1]);
    const w0 = kind.workers[0]!;
    ready(w0);
    const b = run([2]);
    kind.takenUp.add(1);
    scheduler.died(
      w0,
      false,
      (_job, started) => new Error(started ? 'died running' : 'died before starting'),
      (job) => !kind.takenUp.has(job.request.items[0] as number),
      () => new Error('could not start'),
    );
    await expect(a).rejects.toThrow('died running');
    await expect(b).rejects.toThrow('died before starting');

    const c = run([3]);
    const w1 = kind.workers[1]!;
    expect(w1.life.phase).toBe('starting');
    scheduler.died(
      w1,
      true,
      () => new Error('held'),
      () => false,
      () => new Error('could not start'),
    );
    await expect(c).rejects.toThrow('could not start');
  });

  it('fails a chunk that cannot be sent with ChunkSendError, and keeps the turn of one that cannot go yet', async () => {
    const { kind, scheduler, run, ready, held } = setup(1);
    kind.postResult = 'throw';
    const a = run([1]);
    const w0 = kind.workers[0]!;
    ready(w0);
    await expect(a).rejects.toBeInstanceOf(ChunkSendError);
    kind.postResult = false;
    void run([2]);
    expect(scheduler.queued).toBe(1);
    kind.postResult = true;
    scheduler.pump();
    expect(held(w0)).toEqual(['2']);
  });

  it('fails a chunk its kind could not send after all (unsent), frees its place, and hands the next one over', async () => {
    const { kind, scheduler, run, ready, held } = setup(1);
    kind.prefetch = true;
    const a = run([1]);
    const w0 = kind.workers[0]!;
    ready(w0);
    const b = run([2]);
    void run([3]);
    expect(held(w0)).toEqual(['1', '2']);
    const [id, job] = [...w0.jobs].find(([, held]) => held.request.items[0] === 2)!;
    scheduler.unsent(w0, id, job, new Error('cannot clone'));
    await expect(b).rejects.toBeInstanceOf(ChunkSendError);
    expect(held(w0)).toEqual(['1', '3']);
    scheduler.answered(
      w0,
      [...w0.jobs.keys()][0]!,
      [...w0.jobs.values()][0]!,
      { results: [1], failures: [], elapsedMs: 1 },
      undefined,
      undefined,
    );
    expect((await a).results).toEqual([1]);
  });

  it('close() fails queued and held chunks, tells which workers were busy, and refuses new runs', async () => {
    const { kind, scheduler, run, ready } = setup(1);
    const a = run([1]);
    const w0 = kind.workers[0]!;
    ready(w0);
    kind.takenUp.add(1);
    const b = run([2]);
    const closed: string[] = [];
    scheduler.close(
      (worker) => worker.jobs.size > 0,
      (worker, busy) => closed.push(`${worker.name} ${busy ? 'busy' : 'idle'}`),
    );
    await expect(a).rejects.toThrow(/closed while this chunk was queued or running/);
    await expect(b).rejects.toThrow(/closed while this chunk was queued or running/);
    expect(closed).toEqual(['w0 busy']);
    await expect(run([3])).rejects.toThrow('The pool is closed');
  });
});
