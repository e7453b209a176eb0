/**
 * The start clock: shared memory in which a worker stamps the life of one chunk, so the engine can
 * count a chunk's time budget from when a worker really starts it (not from when it was queued).
 * The fields are named here once, for the engine (chunk-deadline.ts) and the workers alike.
 *
 * @packageDocumentation
 */
import type { StartClock } from './pool.js';

/** The worker has taken the chunk up (claimed it); its task module may still be loading. */
export const CLOCK_TAKEN_UP = 0;
/** The task module is loaded and the chunk's first item starts. */
export const CLOCK_STARTED = 1;
/** The worker has finished the chunk's items; only the response is on its way. */
export const CLOCK_FINISHED = 2;
/** How many 32-bit fields a clock has. */
export const CLOCK_FIELDS = 3;

/** A fresh clock counting from now. */
export function createStartClock(): StartClock {
  return { origin: Date.now(), cell: new Int32Array(new SharedArrayBuffer(CLOCK_FIELDS * Int32Array.BYTES_PER_ELEMENT)) };
}

/**
 * Stamps `field` with the time since the clock's origin (plus one: 0 means "not yet"). A clock that
 * crossed a process boundary is a copy, not shared memory: stamping it is harmless.
 */
export function stampClock(clock: StartClock | undefined, field: number): void {
  if (clock && clock.cell instanceof Int32Array && field < clock.cell.length) {
    Atomics.store(clock.cell, field, Math.max(1, Date.now() - clock.origin + 1));
  }
}

/** When `field` was stamped, as a `Date.now()` value, or undefined while it is not. */
export function readClock(clock: StartClock, field: number): number | undefined {
  if (field >= clock.cell.length) return undefined;
  const stamp = Atomics.load(clock.cell, field);
  return stamp === 0 ? undefined : clock.origin + stamp - 1;
}
