/**
 * The task module of the keyed example: the `key,value` pairs of one block of a CSV file. Runs in
 * worker threads; called directly, it is the same code serially.
 *
 * @packageDocumentation
 */
import { blockLines, type Block, type KeyedEmit } from 'millrace';

/**
 * Emits `(key, value)` for each `key,value` line of a block (the value a number; a line without a
 * comma or with a value that is not a number is skipped, as the serial loop does).
 *
 * @param block - a block from `readBlocks`: a byte range this worker reads, or bytes moved to it
 * @param emit - called once per pair
 */
export function csvPairs(block: Block, emit: KeyedEmit<string, number>): void {
  for (const line of blockLines(block)) {
    const pair = parsePair(line);
    if (pair !== undefined) emit(pair[0], pair[1]);
  }
}

/**
 * One `key,value` line as a pair, or `undefined` when it has no comma or its value is not a number.
 *
 * @param line - one line, without its newline
 * @returns the key (before the first comma) and the value (after it, as a number)
 */
export function parsePair(line: string): [string, number] | undefined {
  const comma = line.indexOf(',');
  if (comma < 0) return undefined;
  const value = Number(line.slice(comma + 1));
  if (Number.isNaN(value) || comma + 1 === line.length) return undefined;
  return [line.slice(0, comma), value];
}
