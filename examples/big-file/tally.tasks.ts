/**
 * The task module of the one-big-file example: counts the lines of one block of the log with the
 * log analysis' parser. Runs in worker threads; called directly, it is the same code serially.
 *
 * @packageDocumentation
 */
import { blockLines, reportProgress, type Block } from 'millrace';
import { LogTally, type Tally } from '../log-analysis/parse.js';

/**
 * Counts one block: request paths of successful GETs of non-asset paths, malformed lines counted.
 *
 * @param block - a block from `readBlocks`: a byte range this worker reads, or bytes moved to it
 * @returns the block's counts (plain data: they cross back to the main thread)
 */
export function tallyBlock(block: Block): Tally {
  const tally = new LogTally();
  // blockLines reads and splits the whole block at once: no promise per line.
  for (const line of blockLines(block)) tally.add(line);
  // The block's bytes, for the main thread's progress bar (nothing when called outside a worker).
  reportProgress(block.kind === 'range' ? block.end - block.start : block.bytes.length);
  return tally.result();
}
