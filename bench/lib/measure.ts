/**
 * Measuring inside a benchmark process: wall and CPU time of one run (CPU of the whole process,
 * worker threads included), peak RSS, and the report line a child prints for the runner.
 */
import { performance } from 'node:perf_hooks';

/** One measured run. */
export interface Sample {
  /** Wall-clock milliseconds. */
  wallMs: number;
  /** CPU milliseconds of the whole process (all threads), user + system. */
  cpuMs: number;
}

/** Runs `work` once and measures it. */
export async function measure<T>(work: () => Promise<T> | T): Promise<Sample & { value: T }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await work();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000, value };
}

/** The process's peak resident set so far, in MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** The marker the runner looks for in a child's output. */
export const RESULT_MARKER = 'BENCH_RESULT ';

/** Prints a child's result for the runner. */
export function emit(result: unknown): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/** `--name=value` arguments of a child script. */
export function args(): Map<string, string> {
  const map = new Map<string, string>();
  for (const arg of process.argv.slice(2)) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (match) map.set(match[1]!, match[2] ?? 'true');
  }
  return map;
}

/** A numeric argument with a default. */
export function numberArg(map: Map<string, string>, name: string, fallback: number): number {
  const value = map.get(name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new TypeError(`--${name} must be a number, not ${value}`);
  return parsed;
}

/** Whether this module is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && new URL(moduleUrl).pathname === process.argv[1];
}
