// throughHighland: any operator inside highland's .through(), values, teardown and errors.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import highland from 'highland';
import { describe, expect, it } from 'vitest';
import { defineOperator, map, parallelMap, tasks, throughHighland } from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

function collect<T>(stream: Highland.Stream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    stream.stopOnError((error) => reject(error)).toArray(resolve);
  });
}

describe('loading highland', () => {
  it('waits for the first conversion: importing millrace (as every worker does) does not load it', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    // Whether highland's module is in the CommonJS cache after importing millrace, and after a conversion.
    const script = `
      import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/node_modules/highland/'));
      const { flow } = await import('./lib/index.ts');
      const before = loaded();
      await flow([1]).toArray();
      const afterFlow = loaded();
      flow([1]).toHighland();
      console.log(JSON.stringify([before, afterFlow, loaded()]));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual([false, false, true]);
  });
});

describe('throughHighland', () => {
  it('runs an in-thread operator inside a highland chain', async () => {
    const out = highland(['a', 'bb', 'ccc'])
      .through(throughHighland(map((s: string) => s.length)))
      .map((n) => n * 10);
    expect(await collect(out)).toEqual([10, 20, 30]);
  });

  it('runs a worker-backed operator, results in input order', async () => {
    const input = Array.from({ length: 300 }, (_, i) => i);
    expect(await collect(highland(input).through(throughHighland(parallelMap(math.square))))).toEqual(input.map((x) => x * x));
  });

  it('a downstream take() stops the operator and closes what it read', async () => {
    let closed = false;
    const watched = defineOperator<number, number>('watched', async function* (source) {
      try {
        for await (const x of source) yield x;
      } finally {
        closed = true;
      }
    });
    function* naturals() {
      for (let n = 0; ; n++) yield n;
    }
    const firstThree = await collect(highland(naturals()).through(throughHighland(watched)).take(3));
    expect(firstThree).toEqual([0, 1, 2]);
    await expect.poll(() => closed).toBe(true);
  });

  it('passes an error from the upstream highland stream through', async () => {
    const failing = highland<number>((push) => {
      push(null, 1);
      push(new Error('upstream broke'));
      push(null, highland.nil);
    });
    await expect(collect(failing.through(throughHighland(map((x: number) => x))))).rejects.toThrow('upstream broke');
  });

  it('aborting the signal fails the stream with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    const out = highland([1, 2, 3]).through(
      throughHighland(
        map((x: number) => x),
        controller.signal,
      ),
    );
    await expect(collect(out)).rejects.toBe(reason);
  });

  it('aborting mid-stream fails the stream with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop midway');
    function* naturals() {
      for (let n = 0; ; n++) yield n;
    }
    const abortAtThree = map((x: number) => {
      if (x === 3) controller.abort(reason);
      return x;
    });
    await expect(collect(highland(naturals()).through(throughHighland(abortAtThree, controller.signal)))).rejects.toBe(reason);
  });
});
