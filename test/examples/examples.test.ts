import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow, starMap } from 'millrace';
import { movingAverage } from '../../examples/user-operator/moving-average.js';
import { primeFactors } from '../../examples/node-streams/factor.tasks.js';
import { nodeScript } from '../fixtures/node-script.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs an example (from the test run's compiled copy, see nodeScript; CI runs the npm scripts themselves), returning stdout. */
async function example(script: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(process.execPath, [...nodeScript(join(ROOT, script)), ...args], { cwd: ROOT });
  return stdout;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-examples-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('examples', () => {
  it('word frequencies: counts words across plain and gzip files', async () => {
    await writeFile(join(dir, 'one.txt'), 'The mill race turns the wheel.\nMill, mill, MILL!\n');
    await writeFile(join(dir, 'two.txt.gz'), gzipSync("the wheel's turn\r\nrace"));
    const out = await example('examples/word-frequencies/main.ts', [join(dir, '*.txt*'), '--top', '3']);
    expect(out).toMatch(/^10 words \(6 distinct, stop words left out\) in 2 files$/m);
    // Ties (count 1: turn, turns, wheel, wheel's) are listed by word.
    expect(out).toMatch(/^\s+4 {2}mill\n\s+2 {2}race\n\s+1 {2}turn\n/m);
  });

  it('starMap: estimates π and spreads tuples into a three-argument task', async () => {
    const out = await example('examples/star-map/main.ts', ['--tasks', '4', '--samples', '20000']);
    const estimate = Number(/π ≈ ([\d.]+)/.exec(out)?.[1]);
    expect(Math.abs(estimate - Math.PI)).toBeLessThan(0.05);
    expect(out).toContain('1000 at 5% for 10 years → 1647.01');
  });

  it('user-defined operator: movingAverage works in .pipe() and in the example', async () => {
    expect(await flow([1, 2, 3, 4]).pipe(movingAverage(2)).toArray()).toEqual([1.5, 2.5, 3.5]);
    expect(await flow([5]).pipe(movingAverage(2)).toArray()).toEqual([]);
    expect(() => movingAverage(0)).toThrow(RangeError);
    const out = await example('examples/user-operator/main.ts', ['--count', '300', '--window', '3']);
    // Collatz steps of 1, 2, 3 are 0, 1, 7: their mean is 2.67.
    expect(out).toMatch(/n = 3: 2\.67/);
    expect(out).toMatch(/n = 300: [\d.]+$/m);
  });

  it('Node streams: a Readable in, NDJSON out through stream/promises pipeline', async () => {
    const file = join(dir, 'factors.ndjson');
    await example('examples/node-streams/main.ts', ['--count', '25', '--out', file]);
    const records = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { n: number; factors: number[] });
    expect(records).toHaveLength(25);
    for (const { n, factors } of records) {
      expect(factors.reduce((product, p) => product * p, 1)).toBe(n);
      expect(factors).toEqual(primeFactors(n));
    }
  });

  it('the starMap task types flow through without casts', async () => {
    const pi = (await import('millrace')).tasks<typeof import('../../examples/star-map/pi.tasks.js')>(
      new URL('../../examples/star-map/pi.tasks.js', import.meta.url),
    );
    const values: number[] = await flow<[number, number, number]>([[100, 0.12, 1]])
      .pipe(starMap(pi.futureValue))
      .toArray();
    expect(values[0]).toBeCloseTo(112.68, 2);
  });

  it('the serial log analysis prints the --json report of main.ts', async () => {
    await writeFile(join(dir, 'a.log'), '192.0.2.1 - - [01/Mar/2024:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "a"\nbad\n');
    const out = await example('examples/log-analysis/serial.ts', [join(dir, '*.log')]);
    expect(JSON.parse(out)).toEqual({ files: 1, lines: 2, malformed: 1, matched: 1, top: [['/x', 1]] });
  });
});
