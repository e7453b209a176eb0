import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nodeScript } from '../fixtures/node-script.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../fixtures/scripts/heap-flat.ts', import.meta.url));

interface HeapReport {
  operator: string;
  seen: number;
  duplicates: number;
  outOfOrder: number;
  samples: { items: number; heapMb: number }[];
}

/**
 * Runs the probe in a child process with --expose-gc (so samples are taken after a full GC, and
 * nothing of the test runner's own heap is measured).
 */
async function probe(operator: 'parallelMap' | 'unorderedMap', items: number, chunkSize: number): Promise<HeapReport> {
  const { stdout } = await run(process.execPath, [...nodeScript(script, ['--expose-gc']), operator, String(items), String(chunkSize)], {
    timeout: 120_000,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as HeapReport;
}

describe('bounded memory', () => {
  it.each(['parallelMap', 'unorderedMap'] as const)(
    '%s: an endless source with a slow consumer keeps the heap flat over 200k items of 1 KB',
    async (operator) => {
      const items = 200_000;
      // A fixed chunk size keeps what is legitimately in flight small (5 chunks of 256 items of
      // 1 KB); the adaptive size plateaus higher, see docs/reliability.md.
      const report = await probe(operator, items, 256);
      expect(report.seen).toBe(items);
      expect(report.duplicates).toBe(0);
      if (operator === 'parallelMap') expect(report.outOfOrder).toBe(0);
      // After the warm-up the heap must not grow with the input: 160k more items of 1 KB would add
      // about 160 MB if anything kept them.
      const settled = report.samples[1]!.heapMb;
      const peak = Math.max(...report.samples.slice(1).map((sample) => sample.heapMb));
      expect(peak - settled, JSON.stringify(report.samples)).toBeLessThan(30);
    },
  );
});
