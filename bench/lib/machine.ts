/** The facts about the machine a benchmark ran on. */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

/** Machine facts printed with every result. */
export interface Machine {
  readonly cores: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly python: string | undefined;
  readonly memoryGb: number;
  readonly platform: string;
  /** 1-minute load average when the run started: a busy machine makes timings noisy. */
  readonly loadAtStart: number;
  readonly date: string;
}

/** Reads the machine facts. */
export function machine(): Machine {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    python: pythonVersion(),
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform} ${process.arch}`,
    loadAtStart: Math.round(loadavg()[0]! * 100) / 100,
    date: new Date().toISOString(),
  };
}

/** `python3 --version`, or undefined when there is no python3. */
export function pythonVersion(): string | undefined {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^Python /, '');
  } catch {
    return undefined;
  }
}
