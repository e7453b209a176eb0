// Task module of the zero-copy benchmark: payload-sized results, copied back or moved back.
import { Counter, transferResult, type PackedCounter } from 'millrace';

/** A payload-sized result (the input's first byte, inverted, everywhere), copied back. */
export function invert(data: ArrayBuffer): ArrayBuffer {
  const out = new Uint8Array(data.byteLength).fill(255 - new Uint8Array(data)[0]!);
  return out.buffer;
}

/** {@link invert}, with the result moved back instead of copied. */
export function invertMoved(data: ArrayBuffer): ArrayBuffer {
  return transferResult(invert(data));
}

/** The per-task counters of the Counter variants, built once per worker and seed (the build is not what is measured). */
const counters = new Map<string, Counter<string>>();

/** A counter of `keys` request-path-like keys (about 20 characters), the same for the same seed. */
function counterOf(seed: number, keys: number): Counter<string> {
  const id = `${seed}:${keys}`;
  let counter = counters.get(id);
  if (counter === undefined) {
    counter = new Counter<string>();
    for (let i = 0; i < keys; i++) counter.set(`/section-${i % 97}/item/${(i * 7919 + seed * 131) % (keys * 2)}`, (i % 13) + 1);
    counters.set(id, counter);
  }
  return counter;
}

/** A counter returned as it is: it crosses as a `Map`, cloned entry by entry. */
export function counterAsMap(job: { seed: number; keys: number }): Map<string, number> {
  return counterOf(job.seed, job.keys);
}

/** The same counter returned packed: one string and three buffers, moved. */
export function counterPacked(job: { seed: number; keys: number }): PackedCounter {
  return counterOf(job.seed, job.keys).pack();
}
