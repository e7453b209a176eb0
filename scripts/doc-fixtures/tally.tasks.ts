// Task module the documentation examples refer to as './tally.tasks.js': counts the lines of a block.
import { blockLines, type Block } from 'millrace';
export function countErrors(block: Block): number {
  let errors = 0;
  for (const line of blockLines(block)) if (line.includes('" 500 ')) errors++;
  return errors;
}
export function tallyBlock(block: Block): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of blockLines(block)) {
    const path = line.split(' ')[6];
    if (path !== undefined) counts.set(path, (counts.get(path) ?? 0) + 1);
  }
  return counts;
}
