// The consumer program's task module: compiled with the program and loaded by the workers as
// plain JavaScript from the installed package's worker entry (no tsx).
import { blockLines, reportProgress, taskSignal, transferResult, type Block, type KeyedEmit } from 'millrace';

export function square(x: number): number {
  return x * x;
}

export function add(a: number, b: number): number {
  return a + b;
}

export function scale(factor: number, x: number): number {
  return factor * x;
}

export function parity(n: number): 'even' | 'odd' {
  return n % 2 === 0 ? 'even' : 'odd';
}

export function sum(total: number, n: number): number {
  return total + n;
}

export async function squareLater(x: number): Promise<number> {
  await Promise.resolve();
  return x * x;
}

/** Fails on 2, with a standard error class. */
export function failOnTwo(x: number): number {
  if (x === 2) throw new RangeError(`two is out of range`);
  return x;
}

/** A byte buffer of `n` bytes, moved (not copied) back to the main thread. */
export function bytes(n: number): Uint8Array {
  const result = new Uint8Array(n).fill(7);
  return transferResult(result, [result.buffer]);
}

/** Never settles: for the per-item timeout. */
export function hang(_x: number): Promise<number> {
  return new Promise<number>(() => undefined);
}

/** Ends its worker thread: for the crash error. */
export function crash(_x: number): number {
  process.exit(3);
}

/** The first word of a line, lower-cased. */
export function firstWord(line: string): string {
  return (line.split(' ')[0] ?? '').toLowerCase();
}

/** What the task's cancellation signal says while it runs. */
export function signalState(_x: number): 'running' | 'aborted' {
  return taskSignal().aborted ? 'aborted' : 'running';
}

/** The lines of a block of one big input, read in the worker (readBlocks + blockLines). */
export function blockLineCount(block: Block): number {
  let count = 0;
  for (const _line of blockLines(block)) count++;
  return count;
}

/** Reports `x` units of progress from inside the task, and returns `x`. */
export function reportAndReturn(x: number): number {
  reportProgress(x);
  return x;
}

/** Kills its own process with SIGSEGV (what a native addon's bad pointer does): for process isolation. */
export function segfault(_x: number): number {
  process.kill(process.pid, 'SIGSEGV');
  return 0;
}

/** A user from the (local, flaky) HTTP service; an HTTP error status throws, so retries see it. */
export async function fetchUser(base: string, id: number): Promise<{ id: number; score: number }> {
  const response = await fetch(`${base}/users/${id}`, { signal: taskSignal() });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} for user ${id}`);
  }
  return (await response.json()) as { id: number; score: number };
}

/** Parses every line of a block as JSON, as an ETL job does; a bad line throws. */
export function parseJsonLines(block: Block): number {
  let count = 0;
  for (const line of blockLines(block)) {
    JSON.parse(line);
    count++;
  }
  return count;
}

/** Keyed aggregation: `(word, 1)` per word of a line, through `emit`. */
export function wordPairs(line: string, emit: KeyedEmit<string, number>): void {
  for (const word of line.split(' ')) if (word !== '') emit(word, 1);
}

/** Keyed aggregation: `key,value` CSV lines of a block, returned as pairs. */
export function csvPairs(block: Block): Array<[string, number]> {
  const pairs: Array<[string, number]> = [];
  for (const line of blockLines(block)) {
    const comma = line.indexOf(',');
    pairs.push([line.slice(0, comma), Number(line.slice(comma + 1))]);
  }
  return pairs;
}

/** A fold that fails on one key's value, to see the owner's error. */
export function addUnless13(total: number, n: number): number {
  if (n === 13) throw new RangeError('13 is not added');
  return total + n;
}

/** Keyed aggregation: one `('n', x)` pair per number of an item. */
export function pairsOf(xs: number[], emit: KeyedEmit<string, number>): void {
  for (const x of xs) emit('n', x);
}
