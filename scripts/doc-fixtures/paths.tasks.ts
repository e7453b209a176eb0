// Task module the documentation examples refer to as './paths.tasks.js': one file's requests per path, packed.
import { Counter, readLines, transferResult } from 'millrace';

export async function pathCounts(path: string) {
  const counts = new Counter<string>();
  for await (const line of readLines(path)) counts.add(line.split(' ')[6] ?? '-');
  // A packed field moves when the result is passed to transferResult; returned alone it moves anyway.
  return transferResult({ path, counts: counts.pack() });
}
