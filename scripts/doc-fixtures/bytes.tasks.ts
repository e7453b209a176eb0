// Task module the progress guide refers to as './bytes.tasks.js': counts the server errors of a block
// of a big log, reporting the bytes it has read as it goes (reportProgress).
import { blockLines, reportProgress, type Block } from 'millrace';
export function countErrors(block: Block): number {
  let errors = 0;
  let bytes = 0;
  for (const line of blockLines(block)) {
    if (line.includes('" 500 ')) errors++;
    bytes += Buffer.byteLength(line) + 1;
    if (bytes >= 64 * 1024) {
      reportProgress(bytes);
      bytes = 0;
    }
  }
  reportProgress(bytes);
  return errors;
}
