/**
 * The benchmark runner: `npm run bench` (all scenarios, about 10 minutes on 2 cores) or
 * `npm run bench -- --quick` (small inputs, about a minute; what CI runs). Runs the built package
 * from dist/, prints each scenario's table, and writes the results as JSON, a markdown section and
 * an SVG chart of speedup vs threads. A full run also updates docs/benchmarks.md between its
 * results markers; `--only=overhead,compute` runs some scenarios; `--repeats=N` changes the
 * repeat count (median of N after a warm-up; at least 5 in a full run).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './lib/machine.js';
import { args, numberArg } from './lib/measure.js';
import { markdownResults, textTable } from './lib/report.js';
import type { Context, Scenario, ScenarioResult } from './lib/scenario.js';
import { speedupChart } from './lib/svg.js';
import { scenario as algebra } from './scenarios/algebra.js';
import { scenario as checkpoint } from './scenarios/checkpoint.js';
import { scenario as asyncTasks } from './scenarios/async-tasks.js';
import { scenario as compute } from './scenarios/compute.js';
import { scenario as flakyService } from './scenarios/flaky-service.js';
import { scenario as isolation } from './scenarios/isolation.js';
import { scenario as lines } from './scenarios/lines.js';
import { scenario as logAnalysis } from './scenarios/log-analysis.js';
import { scenario as oneBigFile } from './scenarios/one-big-file.js';
import { scenario as keyed } from './scenarios/keyed.js';
import { scenario as memory } from './scenarios/memory.js';
import { scenario as overhead } from './scenarios/overhead.js';
import { scenario as recycling } from './scenarios/recycling.js';
import { scenario as skew } from './scenarios/skew.js';
import { scenario as zeroCopy } from './scenarios/zero-copy.js';
import { scenario as scaleOut } from './scale-out.js';

const ALL: readonly Scenario[] = [
  logAnalysis,
  checkpoint,
  overhead,
  lines,
  oneBigFile,
  keyed,
  compute,
  skew,
  memory,
  zeroCopy,
  asyncTasks,
  flakyService,
  algebra,
  recycling,
  isolation,
  scaleOut,
];
const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

async function main(): Promise<void> {
  const options = args();
  const quick = options.has('quick');
  const only = options.get('only')?.split(',');
  const repeats = numberArg(options, 'repeats', quick ? 3 : 5);
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const facts = machine();
  const workDir = join(tmpdir(), 'millrace-bench');
  mkdirSync(workDir, { recursive: true });
  const started = Date.now();
  const log = (message: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
  console.log(
    `millrace benchmarks (${quick ? 'quick' : 'full'}): ${facts.cores} cores, ${facts.cpuModel}, Node ${facts.node}, Python ${facts.python ?? 'missing'}, load ${facts.loadAtStart}`,
  );
  const context: Context = { quick, repeats, machine: facts, root, workDir, log };
  const results: ScenarioResult[] = [];
  const failures: { id: string; error: string }[] = [];
  for (const scenario of ALL) {
    if (only && !only.includes(scenario.id)) continue;
    if (scenario === scaleOut && !only) {
      // Needs redis-server and spawns worker processes: in full runs only, when Redis is there.
      if (quick) continue;
      if (!hasCommand('redis-server')) {
        log('scale-out: skipped (no redis-server on PATH)');
        continue;
      }
    }
    log(`${scenario.title} ...`);
    try {
      const result = await scenario.run(context);
      results.push(result);
      console.log(`\n## ${result.title}\n${textTable(result)}`);
      for (const target of result.targets)
        console.log(
          `  target: ${target.name}: ${target.measured} (goal ${target.goal}) ${target.met === undefined ? '' : target.met ? 'MET' : 'NOT MET'}`,
        );
      for (const note of result.notes) console.log(`  note: ${note}`);
      console.log('');
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push({ id: scenario.id, error: text });
      console.error(`scenario ${scenario.id} failed:\n${text}`);
    }
  }
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const name = quick ? 'quick' : 'full';
  const series = results.flatMap((result) => result.series ?? []);
  const svg = series.length > 0 ? speedupChart(series, facts.cores, 'millrace: speedup over serial vs worker threads') : undefined;
  const json = { machine: facts, mode: name, repeats, durationSeconds: (Date.now() - started) / 1000, results, failures };
  writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  if (svg) writeFileSync(join(outDir, `${name}-speedup.svg`), svg);
  const command = `npm run bench${quick ? ' -- --quick' : ''}`;
  writeFileSync(join(outDir, `${name}.md`), markdownResults(facts, command, results, failures, svg ? `${name}-speedup.svg` : undefined));
  // Only a complete full run is the record in the docs.
  if (!quick && !only && !options.has('no-docs')) {
    mkdirSync(join(root, 'docs', 'benchmarks'), { recursive: true });
    if (svg) writeFileSync(join(root, 'docs', 'benchmarks', 'speedup.svg'), svg);
    writeFileSync(join(root, 'docs', 'benchmarks', 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
    const docPath = join(root, 'docs', 'benchmarks.md');
    const doc = readFileSync(docPath, 'utf8');
    const begin = doc.indexOf(START);
    const end = doc.indexOf(END);
    if (begin >= 0 && end > begin) {
      const section = markdownResults(facts, command, results, failures, svg ? 'benchmarks/speedup.svg' : undefined);
      writeFileSync(docPath, `${doc.slice(0, begin + START.length)}\n${section}\n${doc.slice(end)}`);
      log('updated docs/benchmarks.md');
    }
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; results in bench/results/${name}.json`);
  if (failures.length > 0) process.exitCode = 1;
}

function hasCommand(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

await main();
