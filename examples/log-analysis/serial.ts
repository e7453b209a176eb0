/**
 * The serial baseline: the same `analysis` function and the same merge as main.ts, called file
 * after file on the main thread. The tests compare it with the parallel job; the benchmarks time
 * it.
 *
 * Usage: `npm run example:log-analysis:serial -- [GLOB...] [--top N]` prints main.ts's `--json` report.
 *
 * @packageDocumentation
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { glob } from 'millrace';
import { analysis } from './analysis.js';
import { addResult, emptySummary, jsonReport, type Summary } from './report.js';

/**
 * Analyses files one after another in this thread.
 *
 * @param paths - the log files
 * @returns the merged summary
 */
export async function analyseSerially(paths: Iterable<string>): Promise<Summary> {
  const summary = emptySummary();
  for (const path of paths) addResult(summary, await analysis(path));
  return summary;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '10' } }, allowPositionals: true });
  const files = await glob(positionals.length > 0 ? positionals : ['.cache/sample-logs/*.gz'], { sort: true }).toArray();
  if (files.length === 0) {
    console.error(
      positionals.length > 0
        ? `no files match ${positionals.join(' ')}`
        : 'no sample corpus in .cache/sample-logs yet: run npm start once, or pass a GLOB',
    );
    process.exitCode = 1;
    return;
  }
  console.log(JSON.stringify(jsonReport(await analyseSerially(files), Number(values.top))));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
