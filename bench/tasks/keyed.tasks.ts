/** Tasks of the keyed benchmark: the example's pairs task, and a per-block Map (the way before aggregateByKey). */
import { blockLines, type Block } from 'millrace';
import { parsePair } from '../../examples/keyed/keyed.tasks.js';

export { csvPairs } from '../../examples/keyed/keyed.tasks.js';

/** The sums per key of one block, as a Map (cloned back to the main thread). */
export function blockSums(block: Block): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of blockLines(block)) {
    const pair = parsePair(line);
    if (pair !== undefined) sums.set(pair[0], (sums.get(pair[0]) ?? 0) + pair[1]);
  }
  return sums;
}
