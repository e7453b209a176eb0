// Task module for the scale-out tests, run by `millrace worker` processes (through tsx).
import { existsSync } from 'node:fs';
import { taskSignal } from 'millrace';

export function square(x: number): number {
  return x * x;
}
export function add(a: number, b: number): number {
  return a + b;
}
/** A Map result: structured clone (not JSON) must carry it through Redis. */
export function digits(x: number): Map<string, number> {
  return new Map(Array.from(String(x)).map((digit, i) => [digit, i]));
}
export function bucket(x: number): string {
  return `b${x % 7}`;
}
export function collect(accumulator: { sum: number; seen: Set<number> }, x: number): { sum: number; seen: Set<number> } {
  accumulator.sum += x;
  accumulator.seen.add(x);
  return accumulator;
}
export function failOn13(x: number): number {
  if (x === 13) throw Object.assign(new RangeError(`unlucky ${x}`), { code: 'E_UNLUCKY' });
  return x;
}
/**
 * In a worker started with MILLRACE_TEST_HANG=1: announce on stdout, then never finish (the worker
 * holds the job until it is killed). Elsewhere: square after a short pause.
 */
export async function squareOrHang(x: number): Promise<number> {
  if (process.env['MILLRACE_TEST_HANG'] === '1') {
    process.stdout.write(`HANGING on ${x}\n`);
    return new Promise<number>(() => undefined);
  }
  await new Promise((resolve) => setTimeout(resolve, 2));
  return x * x;
}
/** Item 0 comes back at once; every other item never finishes. */
export function firstOnly(x: number): Promise<number> | number {
  return x === 0 ? 0 : new Promise<number>(() => undefined);
}
/** Squares after 150 ms, and says which process did it. */
export async function slowSquareWithPid(x: number): Promise<[number, number]> {
  await new Promise((resolve) => setTimeout(resolve, 150));
  return [x * x, process.pid];
}
/** Ends its worker thread (not the worker process) on item 3. */
export function exitOn3(x: number): number {
  if (x === 3) process.exit(3);
  return x;
}
/** Throws on item 5 the first time any process runs it (a marker file in `dir` remembers). */
export async function failOnceOn5(dir: string, x: number): Promise<number> {
  const { existsSync, writeFileSync } = await import('node:fs');
  const marker = `${dir}/failed-once`;
  if (x === 5 && !existsSync(marker)) {
    writeFileSync(marker, String(process.pid));
    throw new Error('first attempt fails');
  }
  return x;
}
/** Item 2's result is a function, which cannot leave the worker thread. */
export function functionOn2(x: number): number | (() => number) {
  return x === 2 ? () => x : x;
}
/**
 * Announces `STARTED x` on stdout and waits until its task signal aborts, then announces
 * `CANCELLED x (reason name)` and rejects: a task that only ends when it is cancelled.
 */
export function untilCancelled(x: number): Promise<number> {
  const signal = taskSignal();
  process.stdout.write(`STARTED ${x}\n`);
  return new Promise<number>((_, reject) => {
    signal.addEventListener('abort', () => {
      process.stdout.write(`CANCELLED ${x} (${(signal.reason as Error).name})\n`);
      reject(signal.reason as Error);
    });
  });
}
/** Announces `STARTED x` on stdout and never finishes (ignores its task signal). */
export function startAndHang(x: number): Promise<number> {
  process.stdout.write(`STARTED ${x}\n`);
  return new Promise<number>(() => undefined);
}

/**
 * Squares `x` and says which process did it; item `held` first waits until the file `release`
 * exists (the test creates it once the worker has been told to stop), so the test knows the worker
 * is running that item when the signal arrives, whatever the machine's load.
 */
export async function heldSquareWithPid(release: string, held: number, x: number): Promise<[number, number]> {
  if (x === held) while (!existsSync(release)) await new Promise((resolve) => setTimeout(resolve, 10));
  return [x * x, process.pid];
}
