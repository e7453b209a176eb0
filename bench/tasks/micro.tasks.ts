// Task module for the benchmarks: tiny and CPU-bound tasks, loaded in worker threads from dist/.
import { createHash } from 'node:crypto';

/** The trivial task of the per-item overhead benchmark. */
export function double(x: number): number {
  return x * 2;
}

/** A numeric kernel whose cost is `work` iterations: the pure-compute and skewed benchmarks. */
export function spin(work: number): number {
  let acc = 0;
  for (let i = 0; i < work; i++) acc = (acc + Math.imul(i, 2654435761)) | 0;
  return acc;
}

/** Hashes a buffer many times: CPU-bound work on a binary payload. */
export function hashRounds(data: Uint8Array, rounds: number): string {
  let digest: Uint8Array = data;
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return Buffer.from(digest).toString('hex');
}

/** A light checksum of a binary payload (every 64th byte), so moving the payload dominates. */
export function checksum(data: ArrayBuffer | Uint8Array): number {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 64) sum = (sum + bytes[i]!) | 0;
  return sum;
}
