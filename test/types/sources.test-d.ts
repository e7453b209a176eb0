// Type tests for sources, Counter, progress and the log-analysis task: run by `vitest run --typecheck`.
import { describe, expectTypeOf, it } from 'vitest';
import {
  Counter,
  flow,
  glob,
  lines,
  progress,
  readLines,
  tasks,
  unorderedMap,
  type Flow,
  type Operator,
  type PackedCounter,
} from 'millrace';
import type { FileResult } from '../../examples/log-analysis/analysis.js';

const logs = tasks<typeof import('../../examples/log-analysis/analysis.js')>(
  new URL('../../examples/log-analysis/analysis.js', import.meta.url),
);

describe('sources', () => {
  it('glob and readLines are flows of strings; lines() maps paths to lines', () => {
    expectTypeOf(glob('*.gz')).toEqualTypeOf<Flow<string>>();
    expectTypeOf(glob(['a/*.gz', '!a/old*'], { sort: true, cwd: '/var/log' })).toEqualTypeOf<Flow<string>>();
    expectTypeOf(readLines('a.log')).toEqualTypeOf<Flow<string>>();
    expectTypeOf(lines()).toEqualTypeOf<Operator<string | URL, string>>();
    expectTypeOf(glob('*.log').pipe(lines())).toEqualTypeOf<Flow<string>>();
  });

  it('rejects fast-glob options that would change the item type', () => {
    // @ts-expect-error objectMode would make entries, not paths
    glob('*', { objectMode: true });
    // @ts-expect-error patterns are strings
    glob(42);
  });
});

describe('the log-analysis task', () => {
  it('types its results from the task module, through progress', () => {
    const results = glob('*.gz').pipe(unorderedMap(logs.analysis), progress({ total: 8 }));
    expectTypeOf(results).toEqualTypeOf<Flow<FileResult>>();
    expectTypeOf(progress<number>()).toEqualTypeOf<Operator<number, number>>();
  });
});

describe('Counter', () => {
  it('is a Map of counts whose merge takes task results', () => {
    const counts = new Counter<string>();
    expectTypeOf(counts).toExtend<Map<string, number>>();
    expectTypeOf(counts.update(new Map<string, number>())).toEqualTypeOf<Counter<string>>();
    expectTypeOf(counts.mostCommon(3)).toEqualTypeOf<[string, number][]>();
    expectTypeOf(Counter.of([1, 2, 2])).toEqualTypeOf<Counter<number>>();
    // @ts-expect-error counts of another key type do not merge
    counts.update(new Map<number, number>());
    expectTypeOf(flow([new Map([['a', 1]])]).reduce((c, m) => c.update(m), new Counter<string>())).resolves.toEqualTypeOf<
      Counter<string>
    >();
  });

  it('packs to a PackedCounter of its key type, which update and the constructor take', () => {
    const counts = new Counter<string>();
    expectTypeOf(counts.pack()).toEqualTypeOf<PackedCounter>();
    expectTypeOf(Counter.of([1, 2]).pack()).toEqualTypeOf<PackedCounter<number>>();
    expectTypeOf(counts.update(counts.pack())).toEqualTypeOf<Counter<string>>();
    expectTypeOf(new Counter(Counter.of([1]).pack())).toEqualTypeOf<Counter<number>>();
    // @ts-expect-error a packed counter of another key type does not merge
    counts.update(Counter.of([1, 2]).pack());
  });
});
