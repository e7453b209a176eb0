// The three operators of docs/guides/custom-operators.md: behaviour, and the conformance kit.
import { describe, expect, it } from 'vitest';
import { flow, InvalidOptionError, TaskError, tasks } from 'millrace';
import { checkOperator } from 'millrace/testing';
import { dedupe } from '../../examples/custom-operators/dedupe.js';
import { parallelFilter } from '../../examples/custom-operators/parallel-filter.js';
import { window } from '../../examples/custom-operators/window.js';

const checks = tasks<typeof import('../../examples/custom-operators/checks.tasks.js')>(
  new URL('../../examples/custom-operators/checks.tasks.js', import.meta.url),
);

describe('dedupe', () => {
  it('keeps the first of equal items, in order', async () => {
    expect(await flow([3, 1, 3, 2, 1]).pipe(dedupe()).toArray()).toEqual([3, 1, 2]);
  });

  it('compares by key when given one', async () => {
    const rows = [
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
      { id: 1, v: 'c' },
    ];
    expect(
      await flow(rows)
        .pipe(dedupe((row) => row.id))
        .toArray(),
    ).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ]);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => dedupe<number>(), { input: [1, 2, 1], expected: [1, 2] });
  });
});

describe('window', () => {
  it('closes a window at `count` items', async () => {
    expect(
      await flow([1, 2, 3, 4, 5])
        .pipe(window({ count: 2, ms: 60_000 }))
        .toArray(),
    ).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('closes a window on time while the source is stalled', async () => {
    // The source stalls after two items until the first window has come out: only the timer can
    // close that window, so the test hangs (and times out) if the time limit does not work.
    let windowSeen!: () => void;
    const gate = new Promise<void>((resolve) => {
      windowSeen = resolve;
    });
    async function* stalling(): AsyncGenerator<string> {
      yield 'a';
      yield 'b';
      await gate;
      yield 'c';
    }
    const windows: string[][] = [];
    await flow(stalling())
      .pipe(window({ count: 10, ms: 5 }))
      .forEach((w) => {
        windows.push(w);
        windowSeen();
      });
    expect(windows).toEqual([['a', 'b'], ['c']]);
  });

  it('rejects bad options when built', () => {
    expect(() => window({ count: 0, ms: 10 })).toThrow(InvalidOptionError);
    expect(() => window({ count: 2, ms: 0 })).toThrow(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => window<number>({ count: 2, ms: 1_000 }), { input: [1, 2, 3], expected: [[1, 2], [3]] });
  });
});

describe('parallelFilter', () => {
  it('keeps the items the task accepts, in input order, using worker threads', async () => {
    const numbers = Array.from({ length: 2_000 }, (_, i) => i);
    const isPrime = (n: number) =>
      n >= 2 && Array.from({ length: Math.floor(Math.sqrt(n)) - 1 }, (_, i) => i + 2).every((d) => n % d !== 0);
    expect(await flow(numbers).pipe(parallelFilter(checks.isPrime)).toArray()).toEqual(numbers.filter(isPrime));
  });

  it('fails the flow with a TaskError naming the item when the task throws', async () => {
    const error = await flow([2, 3.5, 5])
      .pipe(parallelFilter(checks.isPrime))
      .toArray()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).item).toBe(3.5);
    expect((error as TaskError).index).toBe(1);
  });

  it('keeps items and results aligned when failures are skipped (onError)', async () => {
    const failures: TaskError[] = [];
    const kept = await flow([2, 3.5, 4, 5, 6.5, 7])
      .pipe(parallelFilter(checks.isPrime, { chunkSize: 6, onError: (error) => error instanceof TaskError && failures.push(error) }))
      .toArray();
    expect(kept).toEqual([2, 5, 7]);
    expect(failures.map((failure) => failure.item)).toEqual([3.5, 6.5]);
  });

  it('rejects bad options', async () => {
    await expect(
      flow([1])
        .pipe(parallelFilter(checks.isPrime, { chunkSize: 0 }))
        .toArray(),
    ).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('passes the conformance kit', async () => {
    await checkOperator(() => parallelFilter(checks.isValid), {
      input: ['a@b.io', 'nope', 'c@d.org'],
      expected: ['a@b.io', 'c@d.org'],
    });
  });
});
