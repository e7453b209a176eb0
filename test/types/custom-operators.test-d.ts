// Custom operators are typed exactly like the built-ins: defineOperator, dispatch, the adapters.
import type { Transform } from 'node:stream';
import { describe, expectTypeOf, it } from 'vitest';
import {
  defineOperator,
  dispatch,
  flow,
  map,
  pipe,
  tasks,
  throughHighland,
  toTransform,
  type Flow,
  type ChunkRequest,
  type ChunkResponse,
  type DispatchSpec,
  type Operator,
  type OperatorContext,
  type TaskRef,
} from 'millrace';
import { checkOperator, type ConformanceResult } from 'millrace/testing';
import { dedupe } from '../../examples/custom-operators/dedupe.js';
import { parallelFilter } from '../../examples/custom-operators/parallel-filter.js';
import { window } from '../../examples/custom-operators/window.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));
const checks = tasks<typeof import('../../examples/custom-operators/checks.tasks.js')>(
  new URL('../../examples/custom-operators/checks.tasks.js', import.meta.url),
);

describe('defineOperator', () => {
  it('makes an Operator of the declared types, usable in flows and pipe', () => {
    const runningTotal = defineOperator<number, number>('runningTotal', async function* (source, context) {
      expectTypeOf(source).toEqualTypeOf<AsyncIterable<number>>();
      expectTypeOf(context).toEqualTypeOf<OperatorContext>();
      let total = 0;
      for await (const x of source) yield (total += x);
    });
    expectTypeOf(runningTotal).toEqualTypeOf<Operator<number, number>>();
    expectTypeOf(
      flow([1, 2]).pipe(
        runningTotal,
        map((n) => n.toFixed(1)),
      ),
    ).toEqualTypeOf<Flow<string>>();
    expectTypeOf(pipe(runningTotal, runningTotal)).toEqualTypeOf<Operator<number, number>>();
  });

  it('rejects a transform that yields the wrong type', () => {
    // @ts-expect-error: the operator promises strings but yields numbers
    defineOperator<number, string>('wrong', async function* (source) {
      for await (const x of source) yield x;
    });
  });

  it('keeps generic custom operators generic', () => {
    expectTypeOf(flow(['a', 'a']).pipe(dedupe())).toEqualTypeOf<Flow<string>>();
    expectTypeOf(flow([{ id: 1 }]).pipe(dedupe((row) => row.id))).toEqualTypeOf<Flow<{ id: number }>>();
    expectTypeOf(flow([1, 2]).pipe(window({ count: 2, ms: 10 }))).toEqualTypeOf<Flow<number[]>>();
  });
});

describe('worker-backed custom operators', () => {
  it('infers the item type from the task reference', () => {
    expectTypeOf(checks.isPrime).toEqualTypeOf<TaskRef<[n: number], boolean>>();
    expectTypeOf(flow([1, 2]).pipe(parallelFilter(checks.isPrime))).toEqualTypeOf<Flow<number>>();
    // @ts-expect-error: isPrime takes numbers, the flow carries strings
    flow(['x']).pipe(parallelFilter(checks.isPrime));
    // @ts-expect-error: a predicate must return a boolean; square returns a number
    parallelFilter(math.square);
  });

  it('types dispatch outputs from the spec', () => {
    const squares = defineOperator<number, number>('squares', (source, context) => {
      const outputs = dispatch(source, context, {
        name: 'square',
        ordered: true,
        request: (items) => ({ mode: 'call', task: math.square, items }),
        outputs: (response) => response.results,
      });
      expectTypeOf(outputs).toEqualTypeOf<AsyncIterable<number>>();
      return outputs;
    });
    expectTypeOf(flow([1]).pipe(squares)).toEqualTypeOf<Flow<number>>();
  });
});

describe('adapters and the conformance kit', () => {
  it('toTransform gives a Node Transform, throughHighland a highland through-function', () => {
    expectTypeOf(toTransform(map((s: string) => s.length))).toEqualTypeOf<Transform>();
    expectTypeOf(throughHighland(map((s: string) => s.length))).toEqualTypeOf<
      (stream: Highland.Stream<string>) => Highland.Stream<number>
    >();
  });

  it('checkOperator takes a factory and input of the operator input type', () => {
    expectTypeOf(checkOperator(() => dedupe<number>(), { input: [1, 2] })).resolves.toEqualTypeOf<ConformanceResult>();
    // @ts-expect-error: the sample input must be of the operator's input type
    void checkOperator(() => dedupe<number>(), { input: ['a'] });
  });
});

describe('the typed contract', () => {
  it("outputs see the results typed by what the request's task gives, and a task that gives another type does not compile", () => {
    const words = tasks<{ shout(word: string): string; length(word: string): number }>(new URL('file:///x.tasks.js'));
    const lengths: DispatchSpec<string, number> = {
      name: 'length',
      ordered: true,
      request: (items) => ({ mode: 'call', task: words.length, items }),
      outputs: (response) => {
        expectTypeOf(response.results).toEqualTypeOf<number[]>();
        return response.results;
      },
    };
    expectTypeOf(lengths.outputs).returns.toEqualTypeOf<readonly number[]>();
    const wrong: DispatchSpec<string, number> = {
      name: 'shout',
      ordered: true,
      // @ts-expect-error shout gives strings, the spec's results are numbers
      request: (items) => ({ mode: 'call', task: words.shout, items }),
      outputs: (response) => response.results,
    };
    expectTypeOf(wrong.name).toEqualTypeOf<string>();
    // Results of another type than the outputs: say so with the third type parameter.
    const shouted: DispatchSpec<string, number, string> = {
      name: 'shout',
      ordered: true,
      request: (items) => ({ mode: 'call', task: words.shout, items }),
      outputs: (response) => response.results.map((s) => s.length),
    };
    expectTypeOf(shouted.ordered).toEqualTypeOf<boolean>();
  });

  it('a request whose task does not take the items does not compile', () => {
    const words = tasks<{ shout(word: string): string; double(x: number): number }>(new URL('file:///x.tasks.js'));
    const right: DispatchSpec<number, number> = {
      name: 'double',
      ordered: true,
      request: (items) => ({ mode: 'call', task: words.double, items }),
      outputs: (response) => response.results,
    };
    expectTypeOf(right.name).toEqualTypeOf<string>();
    const wrong: DispatchSpec<number, number> = {
      name: 'shout',
      ordered: true,
      // @ts-expect-error shout takes strings, the items are numbers
      request: (items) => ({ mode: 'call', task: words.shout, items }),
      outputs: (response) => response.results,
    };
    expectTypeOf(wrong.ordered).toEqualTypeOf<boolean>();
    // A request for items of no known type takes any task, as a backend sees it.
    const untypedResponse: ChunkResponse = { results: ['any'], failures: [], elapsedMs: 0 };
    expectTypeOf(untypedResponse.results).toEqualTypeOf<unknown[]>();
    const untyped: ChunkRequest = { mode: 'call', task: words.shout, items: [1, 2] };
    expectTypeOf(untyped.items).toEqualTypeOf<readonly unknown[]>();
  });
});
