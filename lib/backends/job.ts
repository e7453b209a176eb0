/**
 * A chunk inside a local backend (threads or child processes), from `run()` to its settlement:
 * what both backends keep of it, how a run becomes a job (queued, its abort wired to the backend's
 * cancel), and how a job is settled once. The backends differ in where a job goes, not in this.
 *
 * @packageDocumentation
 */
import type { ChunkRequest, ChunkResponse, RunChunkOptions, StartClock } from '../backend.js';
import { backendLifecycle, type BackendPhase, type Lifecycle } from '../chunk-lifecycle.js';

/** What every local backend keeps of a chunk. */
export interface LocalJob {
  readonly request: ChunkRequest;
  readonly clock: StartClock | undefined;
  readonly life: Lifecycle<BackendPhase>;
  readonly resolve: (response: ChunkResponse) => void;
  readonly reject: (error: unknown) => void;
  /** Removes the abort listener (once settled, the caller's signal no longer concerns us). */
  readonly detach: () => void;
  /** Where the task progress its worker reports goes (the run option); the worker sends none without it. */
  readonly onTaskProgress: ((amount: number) => void) | undefined;
  /** Its id on the worker that holds it. */
  id?: number;
  graceTimer?: NodeJS.Timeout;
}

/**
 * A run as a job: `make` adds the backend's own fields to the common ones, `accept` queues it (and
 * pumps), and an abort of the run's signal calls `cancel` with the signal's reason. An already
 * aborted signal rejects at once, with its reason, as every backend must.
 */
export function submitJob<Job extends LocalJob>(
  request: ChunkRequest,
  options: RunChunkOptions,
  make: (common: LocalJob) => Job,
  accept: (job: Job) => void,
  cancel: (job: Job, reason: unknown) => void,
): Promise<ChunkResponse> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<ChunkResponse>((resolve, reject) => {
    const onAbort = (): void => cancel(job, signal!.reason);
    const job = make({
      request,
      clock: options.startClock,
      life: backendLifecycle(),
      resolve,
      reject,
      detach: () => signal?.removeEventListener('abort', onAbort),
      onTaskProgress: options.onTaskProgress,
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    accept(job);
  });
}

/** Settles a job for its caller once; later outcomes are dropped (a cancelled job's late answer). */
export function settleJob(job: LocalJob, outcome: { response: ChunkResponse } | { error: unknown }): void {
  if (job.life.phase === 'settled' || job.life.phase === 'cancelling') {
    if (job.life.phase === 'cancelling') job.life.move('settled');
    return;
  }
  job.life.move('settled');
  job.detach();
  if ('response' in outcome) job.resolve(outcome.response);
  else job.reject(outcome.error);
}
