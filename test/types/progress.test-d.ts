// Type tests for progress from several stages and from inside tasks: run by `vitest run --typecheck`, never executed.
import { describe, expectTypeOf, it } from 'vitest';
import { flow, progress, reportProgress, tasks, unorderedMap, type Operator, type ProgressOptions, type RunChunkOptions } from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

describe('reportProgress', () => {
  it('takes an amount and returns nothing', () => {
    expectTypeOf(reportProgress).toEqualTypeOf<(amount: number) => void>();
    // @ts-expect-error an amount is a number
    reportProgress('10');
  });
});

describe('progress options', () => {
  it("counts 'items' or 'reported', nothing else", () => {
    expectTypeOf<ProgressOptions['count']>().toEqualTypeOf<'items' | 'reported' | undefined>();
    expectTypeOf(progress<string>({ count: 'reported', total: 1024, unit: 'bytes', label: 'read' })).toEqualTypeOf<
      Operator<string, string>
    >();
    // @ts-expect-error not a count
    progress({ count: 'bytes' });
  });

  it('takes undefined for any option, as exactOptionalPropertyTypes code passes it', () => {
    const maybeTotal: number | undefined = Math.random() > 2 ? 1 : undefined;
    expectTypeOf(progress<string>({ total: maybeTotal, label: undefined })).toEqualTypeOf<Operator<string, string>>();
    const maybeRetries: number | undefined = undefined;
    expectTypeOf(unorderedMap(math.square, { retries: maybeRetries, chunkSize: undefined })).toEqualTypeOf<Operator<number, number>>();
  });

  it('keeps the item type through several stages', () => {
    const run = flow([1, 2]).pipe(progress({ label: 'in' }), unorderedMap(math.square), progress({ label: 'out', count: 'reported' }));
    expectTypeOf(run.toArray()).toEqualTypeOf<Promise<number[]>>();
  });
});

describe('RunChunkOptions.onTaskProgress', () => {
  it('receives amounts', () => {
    expectTypeOf<RunChunkOptions['onTaskProgress']>().toEqualTypeOf<((amount: number) => void) | undefined>();
  });
});
