// toTransform: any operator as a Node object-mode Transform, with backpressure and teardown.
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { defineOperator, map, parallelMap, take, tap, TaskError, tasks, toTransform } from 'millrace';
import { probeSource } from 'millrace/testing';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

// `T` only types what the test reads back (`collector<number>()`), which is what it is for.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see above
function collector<T>(): { sink: Writable; values: T[] } {
  const values: T[] = [];
  const sink = new Writable({
    objectMode: true,
    write(value: T, _encoding, done) {
      values.push(value);
      done();
    },
  });
  return { sink, values };
}

describe('toTransform', () => {
  it('runs an in-thread operator inside stream.pipeline', async () => {
    const { sink, values } = collector<string>();
    await pipeline(Readable.from(['a', 'b', 'c']), toTransform(map((s: string) => s.toUpperCase())), sink);
    expect(values).toEqual(['A', 'B', 'C']);
  });

  it('runs a worker-backed operator, results in input order', async () => {
    const input = Array.from({ length: 500 }, (_, i) => i);
    const { sink, values } = collector<number>();
    await pipeline(Readable.from(input), toTransform(parallelMap(math.square)), sink);
    expect(values).toEqual(input.map((x) => x * x));
  });

  it('handles empty input (an aggregation still emits)', async () => {
    const { sink, values } = collector<number>();
    const count = defineOperator<number, number>('count', async function* (source) {
      let n = 0;
      for await (const _ of source) n++;
      yield n;
    });
    await pipeline(Readable.from([]), toTransform(count), sink);
    expect(values).toEqual([0]);
  });

  it('applies backpressure: a stalled consumer stops the source being read', async () => {
    let pulled = 0;
    function* numbers() {
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        yield i;
      }
    }
    const received: number[] = [];
    let release: (() => void) | undefined;
    let arrived!: () => void;
    const firstArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 2,
      write(value: number, _encoding, done) {
        received.push(value);
        if (received.length === 1) {
          // Hold the first write: nothing downstream drains until released.
          release = () => done();
          arrived();
        } else {
          done();
        }
      },
    });
    const running = pipeline(
      Readable.from(numbers(), { highWaterMark: 2 }),
      toTransform(
        tap((_x: number) => undefined),
        { highWaterMark: 2 },
      ),
      sink,
    );
    await firstArrived;
    // Give the pipeline many turns of the event loop to over-read if backpressure were broken.
    for (let i = 0; i < 200; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(pulled).toBeLessThan(50);
    release?.();
    await running;
    expect(received).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it('destroying the stream stops the operator and closes its source', async () => {
    let closed = false;
    const watched = defineOperator<number, number>('watched', async function* (source) {
      try {
        for await (const x of source) yield x;
      } finally {
        closed = true;
      }
    });
    const transform = toTransform(watched);
    transform.write(1);
    const [first] = (await once(transform, 'data')) as [number];
    expect(first).toBe(1);
    transform.destroy();
    await once(transform, 'close');
    expect(closed).toBe(true);
  });

  it('a failing consumer tears down a worker-backed operator and its endless source', async () => {
    const probe = probeSource([1, 2, 3], { endless: true });
    let seen = 0;
    const sink = new Writable({
      objectMode: true,
      write(_value: number, _encoding, done) {
        done(++seen === 3 ? new Error('sink full') : null);
      },
    });
    await expect(pipeline(Readable.from(probe), toTransform(parallelMap(math.square)), sink)).rejects.toThrow('sink full');
    await probe.whenClosed;
    expect(probe.returned).toBe(true);
  });

  it('an operator failure fails the pipeline with that error', async () => {
    const { sink } = collector<number>();
    const failure = pipeline(Readable.from([1, 13, 2]), toTransform(parallelMap(math.failOn)), sink);
    await expect(failure).rejects.toBeInstanceOf(TaskError);
  });

  it('an operator that stops early (take) delivers its outputs, then stops an endless upstream', async () => {
    const probe = probeSource([1, 2, 3], { endless: true });
    const { sink, values } = collector<number>();
    // Node reports a stage that ended before its input as an error; what matters is that every
    // output arrived and the endless source was closed instead of read forever.
    await expect(pipeline(Readable.from(probe), toTransform(take<number>(2)), sink)).rejects.toThrow();
    expect(values).toEqual([1, 2]);
    await probe.whenClosed;
  });

  it('an operator that stops early at the end of a finite input finishes cleanly', async () => {
    const { sink, values } = collector<number>();
    await pipeline(Readable.from([1, 2]), toTransform(take<number>(2)), sink);
    expect(values).toEqual([1, 2]);
  });

  it('aborting the signal destroys the stream with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const probe = probeSource([1], { endless: true });
    const sink = new Writable({
      objectMode: true,
      write(_value: number, _encoding, done) {
        controller.abort(reason);
        done();
      },
    });
    await expect(
      pipeline(
        Readable.from(probe),
        toTransform(
          map((x: number) => x),
          { signal: controller.signal },
        ),
        sink,
      ),
    ).rejects.toBe(reason);
    await probe.whenClosed;
  });
});
