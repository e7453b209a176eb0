// Type tests of the main-thread map, filter and flatMap with their per-item options: run by
// `vitest run --typecheck`, never executed.
import { describe, expectTypeOf, it } from 'vitest';
import {
  filter,
  flatMap,
  flow,
  map,
  type ConcurrencyOptions,
  type ItemContext,
  type ItemPolicyOptions,
  type Operator,
  type TaskError,
} from 'millrace';

describe('map / filter / flatMap with { signal }', () => {
  it("gives onError a TaskError of the flow's item type", () => {
    flow([1, 2, 3]).pipe(
      map(async (x) => String(x), {
        concurrency: 4,
        retries: 2,
        onError: (error) => {
          expectTypeOf(error).toEqualTypeOf<TaskError<number>>();
          expectTypeOf(error.item).toEqualTypeOf<number>();
          expectTypeOf(error.index).toEqualTypeOf<number>();
          expectTypeOf(error.attempts).toEqualTypeOf<number>();
        },
      }),
    );
    filter((s: string) => s.length > 0, {
      onError: (error) => {
        expectTypeOf(error.item).toEqualTypeOf<string>();
      },
    });
    flatMap((x: { id: number }) => [x.id], {
      onError: (error) => {
        expectTypeOf(error.item).toEqualTypeOf<{ id: number }>();
      },
    });
  });

  it('type-checks fn(item, { signal }) as Node does, with index and attempt, and one-argument functions', () => {
    const fetchLike = async (url: string, { signal }: { signal: AbortSignal }): Promise<number> => (signal.aborted ? 0 : url.length);
    expectTypeOf(map(fetchLike, { concurrency: 8 })).toEqualTypeOf<Operator<string, number>>();
    expectTypeOf(map((x: number) => x * 2)).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(map(async (x: number) => x * 2)).toEqualTypeOf<Operator<number, number>>();
    flow(['a']).pipe(
      map((s, context) => {
        expectTypeOf(s).toEqualTypeOf<string>();
        expectTypeOf(context).toEqualTypeOf<ItemContext>();
        expectTypeOf(context.signal).toEqualTypeOf<AbortSignal>();
        expectTypeOf(context.index).toEqualTypeOf<number>();
        expectTypeOf(context.attempt).toEqualTypeOf<number>();
        return s;
      }),
    );
    expectTypeOf(filter((x: number | null, { index }): x is number => x !== null && index >= 0)).toEqualTypeOf<
      Operator<number | null, number>
    >();
    expectTypeOf(flatMap(async (s: string, { signal }) => (signal.aborted ? [] : [s]))).toEqualTypeOf<Operator<string, string>>();
  });

  it('takes undefined for every optional option (exactOptionalPropertyTypes) and rejects the index as a number', () => {
    const options: ConcurrencyOptions<number> = {
      concurrency: undefined,
      ordered: undefined,
      maxBuffered: undefined,
      retries: undefined,
      retryDelayMs: undefined,
      timeoutMs: undefined,
      onError: undefined,
    };
    const policy: ItemPolicyOptions<number> = { onError: 'fail' };
    map((x: number) => x, options);
    map((x: number) => x, policy);
    // @ts-expect-error -- the second argument is the { signal, index, attempt } context, not the index
    map((x: number, index: number) => x + index);
    // @ts-expect-error -- onError is 'fail' or a function
    map((x: number) => x, { onError: 'skip' });
  });
});
