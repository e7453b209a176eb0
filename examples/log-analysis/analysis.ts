/**
 * The task module of the log analysis: runs in worker threads (and, called directly, in the
 * serial baseline). One call reads one file, gzip or plain, line by line, and counts it.
 *
 * @packageDocumentation
 */
import { stat } from 'node:fs/promises';
import { readLines, transferResult, type PackedCounter } from 'millrace';
import { LogTally, type Tally } from './parse.js';

/** One file's result: its counts, plus what it was. Plain data, so it crosses threads. */
export interface FileResult extends Omit<Tally, 'counts'> {
  /** The file's path, as given. */
  readonly path: string;
  /** The file's size on disk (compressed, for a .gz). */
  readonly bytes: number;
  /** Requests per path, packed (`Counter.pack()`): a few buffers moved, not a `Map` cloned key by key. */
  readonly counts: PackedCounter;
}

/**
 * Analyses one access log: decompresses it as it streams (never whole in memory), parses each
 * line with one regular expression, and counts request paths of successful GETs that are not
 * static assets; malformed lines are skipped and counted.
 *
 * @param path - the log file (`.gz` or plain text)
 * @returns the file's counts
 * @throws InputFileError (from readLines) when the file is missing, not gzip though named .gz, or corrupt
 */
export async function analysis(path: string): Promise<FileResult> {
  const tally = new LogTally();
  // forEach takes each decompressed chunk's lines as one batch: no promise per line, as for-await has.
  await readLines(path).forEach((line) => tally.add(line));
  const { size } = await stat(path);
  const { lines, malformed, matched } = tally;
  return transferResult({ path, bytes: size, lines, malformed, matched, counts: tally.counts.pack() });
}
