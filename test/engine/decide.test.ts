// The engine's decision table, asked with plain values: no worker, no timer.
import { describe, expect, it } from 'vitest';
import { decide, MAX_NEVER_STARTED, type ChunkFacts, type FailurePolicy } from '../../lib/engine/decide.js';

const first: ChunkFacts = { attempt: 1, neverStarted: 0, moved: false, itemCount: 4, isPiece: false };
const failFast: FailurePolicy = { retries: 0, skipAndReport: false };
const retryTwice: FailurePolicy = { retries: 2, skipAndReport: false };
const skip: FailurePolicy = { retries: 0, skipAndReport: true };

describe('decide', () => {
  it('settles a chunk whose items all answered', () => {
    expect(decide(first, { kind: 'answered', failed: 0 }, failFast)).toEqual({ action: 'settle' });
  });

  it('retries failed items while attempts remain, then fails or reports', () => {
    expect(decide(first, { kind: 'answered', failed: 1 }, retryTwice)).toEqual({ action: 'run-again', reason: 'retry' });
    expect(decide({ ...first, attempt: 3 }, { kind: 'answered', failed: 1 }, retryTwice)).toEqual({ action: 'fail', because: 'task' });
    expect(decide(first, { kind: 'answered', failed: 1 }, skip)).toEqual({ action: 'settle' });
    expect(decide(first, { kind: 'answered', failed: 1 }, failFast)).toEqual({ action: 'fail', because: 'task' });
  });

  it('never sends moved buffers again', () => {
    const moved = { ...first, moved: true };
    expect(decide(moved, { kind: 'answered', failed: 1 }, retryTwice)).toEqual({ action: 'fail', because: 'task' });
    expect(decide(moved, { kind: 'worker-exit', started: false, startup: false }, retryTwice)).toEqual({
      action: 'fail',
      because: 'crash',
    });
    expect(decide(moved, { kind: 'worker-exit', started: true, startup: false }, skip)).toEqual({ action: 'report-crash' });
  });

  it('runs a chunk that never started again at no cost to its retries, up to a bound', () => {
    const never = { kind: 'worker-exit', started: false, startup: false } as const;
    expect(decide(first, never, failFast)).toEqual({ action: 'run-again', reason: 'never-started' });
    expect(decide({ ...first, neverStarted: MAX_NEVER_STARTED }, never, failFast)).toEqual({ action: 'fail', because: 'crash' });
  });

  it('isolates a crashed chunk under skip and report, and reports a crashed piece', () => {
    const crash = { kind: 'worker-exit', started: true, startup: false } as const;
    expect(decide(first, crash, skip)).toEqual({ action: 'isolate' });
    expect(decide({ ...first, itemCount: 1 }, crash, skip)).toEqual({ action: 'report-crash' });
    expect(decide({ ...first, itemCount: 1, isPiece: true }, crash, skip)).toEqual({ action: 'report-crash' });
    expect(decide(first, crash, failFast)).toEqual({ action: 'fail', because: 'crash' });
    // A worker that cannot start is the pool's problem, not an item's.
    expect(decide(first, { kind: 'worker-exit', started: true, startup: true }, skip)).toEqual({ action: 'fail', because: 'crash' });
  });

  it('retries timeouts and backend errors, but never load, clone or send failures', () => {
    expect(decide(first, { kind: 'timeout' }, retryTwice)).toEqual({ action: 'run-again', reason: 'retry' });
    expect(decide({ ...first, attempt: 3 }, { kind: 'timeout' }, retryTwice)).toEqual({ action: 'fail', because: 'timeout' });
    expect(decide(first, { kind: 'backend-error' }, retryTwice)).toEqual({ action: 'run-again', reason: 'retry' });
    expect(decide(first, { kind: 'backend-error' }, failFast)).toEqual({ action: 'fail', because: 'backend' });
    expect(decide(first, { kind: 'load-error' }, retryTwice)).toEqual({ action: 'fail', because: 'load' });
    expect(decide(first, { kind: 'clone-failure' }, retryTwice)).toEqual({ action: 'fail', because: 'clone' });
    expect(decide(first, { kind: 'send-failure' }, retryTwice)).toEqual({ action: 'fail', because: 'send' });
  });

  it('runs a lost chunk again at no cost to its retries, up to the same bound', () => {
    expect(decide(first, { kind: 'lost' }, failFast)).toEqual({ action: 'run-again', reason: 'lost' });
    expect(decide({ ...first, neverStarted: MAX_NEVER_STARTED }, { kind: 'lost' }, failFast)).toEqual({
      action: 'fail',
      because: 'backend',
    });
  });
});

describe('the worker table', () => {
  it('moves a local worker only forward: starting, ready, retiring, leaving, gone', async () => {
    const { workerLifecycle } = await import('../../lib/chunk-lifecycle.js');
    const worker = workerLifecycle();
    expect(worker.phase).toBe('starting');
    expect(worker.can('retiring')).toBe(false); // only a ready worker is recycled
    worker.move('ready');
    worker.move('retiring');
    worker.enter('leaving');
    worker.enter('leaving'); // told to leave twice (a kill after a leave): no move
    worker.enter('gone');
    expect(() => worker.move('ready')).toThrow(/cannot go from gone to ready/);
    expect(worker.history).toEqual(['starting', 'ready', 'retiring', 'leaving', 'gone']);
  });
});
