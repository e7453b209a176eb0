// Task module of the line-level scenario: counts a chunk of log lines with the example's tally.
import { LogTally, type Tally } from '../../examples/log-analysis/parse.js';

/** Counts a batch of lines (one item = many lines: one message carries thousands of lines). */
export function tallyLines(lines: readonly string[]): Tally {
  const tally = new LogTally();
  for (const line of lines) tally.add(line);
  return tally.result();
}
