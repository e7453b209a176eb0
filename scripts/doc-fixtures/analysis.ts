// Task module the documentation examples refer to as './analysis.js' (the log analysis's shape).
import { readLines } from 'millrace';

export interface FileResult {
  readonly path: string;
  lines: number;
  counts: Map<string, number>;
}

export async function analysis(path: string): Promise<FileResult> {
  const counts = new Map<string, number>();
  let lines = 0;
  for await (const line of readLines(path)) {
    lines++;
    const target = line.split(' ')[6] ?? '-';
    counts.set(target, (counts.get(target) ?? 0) + 1);
  }
  return { path, lines, counts };
}
