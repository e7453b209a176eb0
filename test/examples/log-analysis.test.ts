import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, flow, tasks, unorderedMap, type Pool } from 'millrace';
import { generateSampleLogs } from '../../examples/log-analysis/generate-sample-logs.js';
import { addResult, emptySummary, jsonReport, type Summary } from '../../examples/log-analysis/report.js';
import { analyseSerially } from '../../examples/log-analysis/serial.js';
import { nodeScript } from '../fixtures/node-script.js';

const logs = tasks<typeof import('../../examples/log-analysis/analysis.js')>(
  new URL('../../examples/log-analysis/analysis.js', import.meta.url),
);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'examples/log-analysis/main.ts');

let dir: string;
let pool: Pool;

async function analyseInParallel(paths: string[]): Promise<Summary> {
  const summary = emptySummary();
  await flow(paths)
    .pipe(unorderedMap(logs.analysis, { pool, chunkSize: 1 }))
    .forEach((result) => addResult(summary, result));
  return summary;
}

/** Runs main.ts as `npm start` does, returning its exit code and output. */
function runMain(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeScript(MAIN), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-logs-'));
  pool = createPool({ threads: 2 });
  await generateSampleLogs({ out: join(dir, 'sample'), files: 4, lines: 3000, seed: 7 });
});

afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

describe('log analysis', () => {
  it('generates the same corpus from the same seed', async () => {
    const again = join(dir, 'again');
    await generateSampleLogs({ out: again, files: 1, lines: 500, seed: 3 });
    const other = join(dir, 'other');
    await generateSampleLogs({ out: other, files: 1, lines: 500, seed: 3 });
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(join(again, 'access-0001.log.gz'))).toEqual(await readFile(join(other, 'access-0001.log.gz')));
  });

  it('gives the serial result on the generated corpus, malformed lines included', async () => {
    const paths = [1, 2, 3, 4].map((n) => join(dir, 'sample', `access-000${n}.log.gz`));
    const parallel = await analyseInParallel(paths);
    const serial = await analyseSerially(paths);
    expect(parallel.lines).toBe(12_000);
    expect(parallel.malformed).toBeGreaterThan(0);
    expect(parallel.matched).toBeGreaterThan(0);
    // Every path's count, not only the top: the whole report must match.
    expect(jsonReport(parallel, Number.MAX_SAFE_INTEGER)).toEqual(jsonReport(serial, Number.MAX_SAFE_INTEGER));
    expect(parallel.bytes).toBe(serial.bytes);
  });

  it('gives the serial result on any corpus: gzip or plain, LF or CRLF, any mix of lines', async () => {
    const valid = fc
      .record({
        method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'HEAD'),
        path: fc.constantFrom('/', '/a', '/b/c', '/app.js', '/i.PNG', '/d.html'),
        query: fc.constantFrom('', '?x=1', '#top'),
        status: fc.constantFrom('200', '200', '304', '404', '500'),
      })
      .map(
        ({ method, path, query, status }) =>
          `192.0.2.1 - - [01/Mar/2024:00:00:00 +0000] "${method} ${path}${query} HTTP/1.1" ${status} 12 "-" "agent"`,
      );
    const line = fc.oneof(
      { weight: 5, arbitrary: valid },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' ')) },
    );
    const file = fc.record({
      lines: fc.array(line, { maxLength: 60 }),
      gzip: fc.boolean(),
      crlf: fc.boolean(),
      finalNewline: fc.boolean(),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(file, { minLength: 1, maxLength: 4 }), async (files) => {
        const folder = join(dir, `prop-${run++}`);
        await mkdir(folder);
        const paths: string[] = [];
        for (const [i, f] of files.entries()) {
          const text = f.lines.join(f.crlf ? '\r\n' : '\n') + (f.finalNewline && f.lines.length > 0 ? (f.crlf ? '\r\n' : '\n') : '');
          const path = join(folder, f.gzip ? `f${i}.log.gz` : `f${i}.log`);
          await writeFile(path, f.gzip ? gzipSync(text) : text);
          paths.push(path);
        }
        const parallel = await analyseInParallel(paths);
        const serial = await analyseSerially(paths);
        expect(jsonReport(parallel, 1000)).toEqual(jsonReport(serial, 1000));
        // An empty line is a line (and malformed); a trailing newline does not add one.
        const expectedLines = files.reduce(
          (sum, f) => sum + f.lines.length - (f.lines.length > 0 && f.lines.at(-1) === '' && !f.finalNewline ? 1 : 0),
          0,
        );
        expect(parallel.lines).toBe(expectedLines);
      }),
      { numRuns: 15 },
    );
  });

  it('--json prints exactly files, lines, malformed, matched and the top paths, ties broken by path', async () => {
    const folder = join(dir, 'ties');
    await mkdir(folder);
    const hit = (path: string): string => `192.0.2.1 - - [01/Mar/2024:00:00:00 +0000] "GET ${path} HTTP/1.1" 200 1 "-" "a"`;
    await writeFile(join(folder, 'one.log'), [hit('/b'), hit('/a'), hit('/c'), hit('/c'), 'broken'].join('\n'));
    await writeFile(join(folder, 'two.log.gz'), gzipSync([hit('/a'), hit('/b'), hit('/d')].join('\r\n')));
    const { code, stdout } = await runMain([join(folder, '*'), '--json', '--top', '3', '--threads', '2']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      files: 2,
      lines: 8,
      malformed: 1,
      matched: 7,
      top: [
        ['/a', 2],
        ['/b', 2],
        ['/c', 2],
      ],
    });
    expect(Object.keys(JSON.parse(stdout) as Record<string, unknown>)).toEqual(['files', 'lines', 'malformed', 'matched', 'top']);
  });

  it('--checkpoint DIR: a rerun resumes every file, a new file alone is analysed, and the report equals a run without one', async () => {
    const folder = join(dir, 'checkpointed');
    await mkdir(folder);
    await generateSampleLogs({ out: folder, files: 3, lines: 500, seed: 11 });
    const ckpt = join(dir, 'checkpoint');
    const args = [join(folder, '*.log.gz'), '--json', '--threads', '2', '--checkpoint', ckpt];
    const plain = async (): Promise<object> =>
      JSON.parse((await runMain([join(folder, '*.log.gz'), '--json', '--threads', '2'])).stdout) as object;

    // The report of a run without a checkpoint over the three files (they do not change until the fourth comes).
    const plainOfThree = await plain();
    const first = await runMain(args);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ ...plainOfThree, resumed: 0 });
    const again = await runMain(args);
    expect(JSON.parse(again.stdout)).toEqual({ ...plainOfThree, resumed: 3 });

    await generateSampleLogs({ out: join(dir, 'more'), files: 1, lines: 700, seed: 12 });
    await writeFile(join(folder, 'zz-new.log.gz'), await readFile(join(dir, 'more', (await readdir(join(dir, 'more')))[0]!)));
    const incremental = await runMain([...args.filter((a) => a !== '--json')]);
    expect(incremental.code).toBe(0);
    expect(incremental.stderr).toContain('(3 resumed from the checkpoint)');
    expect(incremental.stderr).toContain(`3 of 4 files came from the checkpoint ${ckpt}`);
    const after = await runMain(args);
    expect(JSON.parse(after.stdout)).toEqual({ ...(await plain()), resumed: 4 });
  });

  it('--stats prints the stage statistics on stderr, after the report, and they add up', async () => {
    const { code, stdout, stderr } = await runMain([join(dir, 'sample', '*.gz'), '--json', '--stats', '--threads', '2']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ files: 4 });
    expect(stderr).toMatch(/stage .*analysis\.(ts|js)#analysis \(done\): 4 in, 4 out, 0 failed/);
    expect(stderr).toMatch(/chunks: 4 \(size min 1 \/ median 1 \/ max 1\)/);
    expect(stderr).toMatch(/workers busy: [\d,]+ ms over [12] worker\(s\)/);
  });

  it('prints a table, totals and throughput without --json', async () => {
    const { code, stdout } = await runMain([join(dir, 'sample', '*.gz'), '--top', '5']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Top 5 request paths/);
    expect(stdout).toMatch(/files 4 · lines 12,000/);
    expect(stdout).toMatch(/malformed \d+/);
    expect(stdout).toMatch(/elapsed [\d.]+ s · .* lines\/s/);
  });

  it('says so and exits non-zero when the glob matches nothing', async () => {
    const { code, stdout, stderr } = await runMain([join(dir, 'nothing-here', '*.gz')]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/no files match/);
  });

  it('names a file that is not gzip though named .gz, without a stack trace', async () => {
    const folder = join(dir, 'fake');
    await mkdir(folder);
    await writeFile(join(folder, 'fake.log.gz'), 'plain text\n');
    const { code, stderr } = await runMain([join(folder, '*.gz'), '--json']);
    expect(code).toBe(1);
    expect(stderr).toContain(join(folder, 'fake.log.gz'));
    expect(stderr).toMatch(/not gzip/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('stops on SIGINT with exit code 130, no stack trace and no report', async () => {
    // Files big enough that the run is still going when the signal arrives.
    const folder = join(dir, 'big');
    await mkdir(folder);
    const { readFile } = await import('node:fs/promises');
    const { gunzipSync } = await import('node:zlib');
    const text = gunzipSync(await readFile(join(dir, 'sample', 'access-0001.log.gz')));
    const big = Buffer.concat(Array.from({ length: 60 }, () => text));
    for (const name of ['a', 'b', 'c', 'd']) await writeFile(join(folder, `${name}.log`), big);
    let sent = false;
    const { code, signal, stdout, stderr } = await runMain([join(folder, '*.log'), '--json'], (err, child) => {
      if (!sent && err.includes('analysing 4 files')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect({ code, signal }).toEqual({ code: 130, signal: null });
    expect(stdout).toBe('');
    expect(stderr).toMatch(/interrupted/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});
