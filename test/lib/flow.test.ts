import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import highland from 'highland';
import { describe, expect, it } from 'vitest';
import { Flow, flow, FlowConsumedError, map, parallelMap, take, tasks, throughHighland } from 'millrace';
import { naturals, probe } from '../fixtures/harness.js';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

/** A sync generator that records how far it got and whether its finally ran. */
function countingGenerator(limit = Infinity): { iterable: Iterable<number>; state: { pulled: number; finalized: boolean } } {
  const state = { pulled: 0, finalized: false };
  function* generate(): Generator<number> {
    try {
      for (let i = 0; i < limit; i++) {
        state.pulled++;
        yield i;
      }
    } finally {
      state.finalized = true;
    }
  }
  return { iterable: { [Symbol.iterator]: generate }, state };
}

describe('flow sources', () => {
  it('reads an array', async () => {
    expect(await flow([1, 2, 3]).toArray()).toEqual([1, 2, 3]);
  });

  it('reads any iterable: a Set, a Map, a generator', async () => {
    expect(await flow(new Set(['a', 'b'])).toArray()).toEqual(['a', 'b']);
    expect(await flow(new Map([[1, 'one']])).toArray()).toEqual([[1, 'one']]);
    expect(await flow(countingGenerator(3).iterable).toArray()).toEqual([0, 1, 2]);
  });

  it('stops a sync generator when the consumer breaks (its finally runs)', async () => {
    const { iterable, state } = countingGenerator();
    const seen: number[] = [];
    for await (const x of flow(iterable)) {
      seen.push(x);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(state.finalized).toBe(true);
    expect(state.pulled).toBe(3);
  });

  it('reads an async iterable, and runs its finally when the consumer stops early', async () => {
    let finalized = false;
    async function* letters(): AsyncGenerator<string> {
      try {
        for (const c of 'abcdef') yield c;
      } finally {
        finalized = true;
      }
    }
    expect(await flow(letters()).toArray()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    finalized = false;
    expect(await flow(letters()).pipe(take(2)).toArray()).toEqual(['a', 'b']);
    expect(finalized).toBe(true);
  });

  it('reads a Node Readable in object mode, and destroys it when the consumer breaks', async () => {
    expect(await flow(Readable.from([{ a: 1 }, { a: 2 }])).toArray()).toEqual([{ a: 1 }, { a: 2 }]);
    const endless = Readable.from(countingGenerator().iterable);
    for await (const x of flow<number>(endless)) {
      if (x === 2) break;
    }
    expect(endless.destroyed).toBe(true);
  });

  it('reads a Node Readable of bytes as Buffer chunks', async () => {
    const bytes = new PassThrough();
    bytes.write(Buffer.from('hello, '));
    bytes.end(Buffer.from('world'));
    const chunks = await flow<Buffer>(bytes).toArray();
    expect(chunks.every((chunk) => Buffer.isBuffer(chunk))).toBe(true);
    expect(Buffer.concat(chunks).toString()).toBe('hello, world');
  });

  it('passes a Readable error through unchanged', async () => {
    const error = new Error('disk on fire');
    const failing = new Readable({
      objectMode: true,
      read() {
        this.destroy(error);
      },
    });
    await expect(flow(failing).toArray()).rejects.toBe(error);
  });

  it('reads a highland stream (not async-iterable itself)', async () => {
    const stream = highland([1, 2, 3]);
    expect(Symbol.asyncIterator in stream).toBe(false);
    expect(await flow(stream).toArray()).toEqual([1, 2, 3]);
  });

  it('stops pulling a highland stream when the consumer stops early, and destroys it', async () => {
    let generated = 0;
    const stream = highland<number>((push, next) => {
      push(null, generated++);
      next();
    });
    expect(await flow(stream).pipe(take(3)).toArray()).toEqual([0, 1, 2]);
    const after = generated;
    expect((stream as unknown as { ended: boolean }).ended).toBe(true);
    // Nothing keeps generating once the flow is done.
    await new Promise((resolve) => setImmediate(resolve));
    expect(generated).toBe(after);
  });

  it('passes a highland stream error through', async () => {
    const error = new Error('highland broke');
    const stream = highland<number>((push) => {
      push(error);
    });
    await expect(flow(stream).toArray()).rejects.toBe(error);
  });

  it('rejects what is not a source with a TypeError when the flow is made', () => {
    expect(() => flow(42 as never)).toThrow(TypeError);
    expect(() => flow({ length: 2 } as never)).toThrow(/iterable/);
  });

  it('is lazy: nothing is read until the flow is consumed', async () => {
    const source = probe([1, 2, 3]);
    const pending = flow(source).pipe(map((x: number) => x * 2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.opened).toBe(0);
    expect(await pending.toArray()).toEqual([2, 4, 6]);
    expect(source.stats.pulled).toBe(3);
  });
});

describe('aborting a flow', () => {
  /** A source whose reads never settle until it is closed. */
  function stuckSource(): AsyncIterable<number> & { closed: boolean } {
    const state = {
      closed: false,
      [Symbol.asyncIterator]: (): AsyncIterator<number> => ({
        next: () => new Promise<IteratorResult<number>>(() => undefined),
        return: async () => {
          state.closed = true;
          return { done: true, value: undefined };
        },
      }),
    };
    return state;
  }

  it('rejects with signal.reason while a read of the source is pending (no steps), and closes it', async () => {
    const source = stuckSource();
    const controller = new AbortController();
    const reason = new Error('gave up waiting');
    const pending = flow(source, { signal: controller.signal }).toArray();
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(source.closed).toBe(true);
  });

  it('rejects with signal.reason while a read is pending through steps, and closes the source', async () => {
    const source = stuckSource();
    const controller = new AbortController();
    const reason = new Error('gave up waiting');
    const pending = flow(source, { signal: controller.signal })
      .pipe(map((x: number) => x))
      .toArray();
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(source.closed).toBe(true);
  });

  it('rejects with signal.reason while a Readable has no data yet, and destroys it', async () => {
    const idle = new Readable({ objectMode: true, read() {} });
    const controller = new AbortController();
    const reason = new Error('stream too slow');
    const pending = flow(idle, { signal: controller.signal }).toArray();
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(idle.destroyed).toBe(true);
  });

  it('closes a generator source when aborted between values (no steps)', async () => {
    const { iterable, state } = countingGenerator();
    const controller = new AbortController();
    const reason = new Error('enough');
    const run = async (): Promise<void> => {
      for await (const x of flow(iterable, { signal: controller.signal })) if (x === 2) controller.abort(reason);
    };
    await expect(run()).rejects.toBe(reason);
    expect(state.finalized).toBe(true);
  });
});

describe('a flow is consumed once', () => {
  it('a second toArray rejects with FlowConsumedError', async () => {
    const numbers = flow([1, 2]);
    expect(await numbers.toArray()).toEqual([1, 2]);
    await expect(numbers.toArray()).rejects.toBeInstanceOf(FlowConsumedError);
  });

  it('a piped flow cannot be consumed or piped again', async () => {
    const numbers = flow([1, 2]);
    const doubled = numbers.pipe(map((x: number) => x * 2));
    expect(() => numbers.pipe(map((x: number) => x))).toThrow(FlowConsumedError);
    await expect(numbers.toArray()).rejects.toBeInstanceOf(FlowConsumedError);
    expect(() => numbers[Symbol.asyncIterator]()).toThrow(FlowConsumedError);
    expect(await doubled.toArray()).toEqual([2, 4]);
  });

  it('every sink claims the flow', async () => {
    const sinks: ((f: Flow<number>) => unknown)[] = [
      (f) => f.toArray(),
      (f) => f.reduce((a, x) => a + x, 0),
      (f) => f.forEach(() => undefined),
      (f) => f.toNodeStream().resume(),
      (f) => f.toHighland().resume(),
    ];
    for (const sink of sinks) {
      const numbers = flow([1]);
      await sink(numbers);
      await expect(numbers.toArray()).rejects.toThrow(FlowConsumedError);
    }
  });
});

describe('flow sinks', () => {
  it('toArray collects in emission order', async () => {
    expect(await flow(new Set([3, 1, 2])).toArray()).toEqual([3, 1, 2]);
  });

  it('reduce folds (accumulator, value) in order, like Array.prototype.reduce, and awaits an async reducer', async () => {
    expect(await flow(['a', 'b', 'c']).reduce((acc, s) => acc + s, '>')).toBe('>abc');
    expect(await flow([1, 2, 3]).reduce(async (acc, x) => acc * 10 + x, 0)).toBe(123);
    expect(await flow<number>([]).reduce((acc, x) => acc + x, 7)).toBe(7);
  });

  it('forEach calls the action with each value and index, awaiting each before pulling the next', async () => {
    const events: string[] = [];
    const source = probe(['x', 'y'], { onPull: (i) => events.push(`pull ${i}`) });
    await flow(source).forEach(async (value, index) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      events.push(`${index}:${value}`);
    });
    expect(events).toEqual(['pull 0', '0:x', 'pull 1', '1:y']);
  });

  it('forEach: an action that throws rejects with that error and closes the source', async () => {
    const error = new Error('action failed');
    const source = probe(naturals);
    await expect(
      flow(source).forEach((x) => {
        if (x === 2) throw error;
      }),
    ).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  it('for await iterates the values', async () => {
    const seen: number[] = [];
    for await (const x of flow([1, 2, 3]).pipe(map((n: number) => n + 1))) seen.push(x);
    expect(seen).toEqual([2, 3, 4]);
  });

  it('toNodeStream is a real object-mode Readable that pipes into a Writable', async () => {
    const readable = flow([1, 2, 3])
      .pipe(map((n: number) => ({ n })))
      .toNodeStream();
    expect(readable).toBeInstanceOf(Readable);
    expect(readable.readableObjectMode).toBe(true);
    const received: unknown[] = [];
    const sink = new Writable({
      objectMode: true,
      write(chunk, _encoding, done) {
        received.push(chunk);
        done();
      },
    });
    await pipeline(readable, sink);
    expect(received).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('toNodeStream reads nothing until the Readable is read', async () => {
    const source = probe(naturals);
    const readable = flow(source).toNodeStream();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.pulled).toBe(0);
    readable.destroy();
  });

  it('toNodeStream: destroying the Readable closes the flow and its source', async () => {
    const source = probe(naturals);
    const readable = flow(source).toNodeStream();
    const first: unknown = await new Promise((resolve) => readable.once('data', resolve));
    expect(first).toBe(0);
    readable.destroy();
    await new Promise((resolve) => readable.once('close', resolve));
    expect(source.stats.returned).toBe(true);
  });

  it('toNodeStream: a flow error becomes the stream error', async () => {
    const error = new Error('mid-flow');
    const readable = flow(probe(naturals, { failAt: 3, error })).toNodeStream();
    await expect(pipeline(readable, new Writable({ objectMode: true, write: (_c, _e, done) => done() }))).rejects.toBe(error);
  });

  it('toHighland gives a highland stream of the values', async () => {
    const stream = flow([1, 2, 3]).toHighland();
    expect(highland.isStream(stream)).toBe(true);
    const values = await new Promise<number[]>((resolve) => stream.map((x) => x * 2).toArray(resolve));
    expect(values).toEqual([2, 4, 6]);
  });

  it('toHighland: a highland take() closes the flow and its source (unlike highland issues 172 and 691)', async () => {
    const source = probe(naturals);
    const values = await new Promise<number[]>((resolve) => flow(source).toHighland().take(2).toArray(resolve));
    expect(values).toEqual([0, 1]);
    for (let i = 0; i < 5 && !source.stats.returned; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.returned).toBe(true);
    expect(source.stats.pulled).toBe(2);
  });

  it('toHighland: a stop further down a highland chain closes the flow too', async () => {
    const source = probe(naturals);
    const values = await new Promise<number[]>((resolve) =>
      flow(source)
        .toHighland()
        .map((x) => x * 2)
        .filter((x) => x % 4 === 0)
        .take(3)
        .toArray(resolve),
    );
    expect(values).toEqual([0, 4, 8]);
    for (let i = 0; i < 5 && !source.stats.returned; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.returned).toBe(true);
  });

  it('toHighland: pulling values one at a time does not close the flow between pulls', async () => {
    const source = probe([1, 2, 3]);
    const stream = flow(source).toHighland();
    const pull = (): Promise<unknown> =>
      // highland types `error` as Error but passes null when there is none.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
      new Promise((resolve, reject) => stream.pull((error, value) => (error ? reject(error) : resolve(value))));
    expect(await pull()).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.returned).toBe(false);
    expect(await pull()).toBe(2);
    expect(await pull()).toBe(3);
    expect(highland.isNil(await pull())).toBe(true);
  });

  it('toHighland is lazy like highland: nothing is read until the highland stream is consumed', async () => {
    const source = probe(naturals);
    const stream = flow(source).toHighland();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.pulled).toBe(0);
    const first = await new Promise<number[]>((resolve) => stream.take(1).toArray(resolve));
    expect(first).toEqual([0]);
    expect(source.stats.pulled).toBe(1);
  });

  it('toHighland: a flow error reaches highland as a stream error', async () => {
    const error = new Error('mid-flow');
    const stream = flow(probe(naturals, { failAt: 2, error })).toHighland();
    const seen: number[] = [];
    const caught = await new Promise<unknown>((resolve) => {
      stream
        .stopOnError(resolve)
        .each((x) => {
          seen.push(x);
        })
        .done(() => resolve('ended without error'));
    });
    expect(caught).toBe(error);
    expect(seen).toEqual([0, 1]);
  });

  it('toHighland: destroying the highland stream closes the flow and its source', async () => {
    const source = probe(naturals);
    const stream = flow(source).toHighland();
    const first = await new Promise<number>((resolve, reject) =>
      // highland types `error` as Error but passes null when there is none.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
      stream.pull((error, value) => (error ? reject(error) : resolve(value as number))),
    );
    expect(first).toBe(0);
    stream.destroy();
    for (let i = 0; i < 5 && !source.stats.returned; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(source.stats.returned).toBe(true);
  });
});

describe('throughHighland', () => {
  it('runs a millrace operator inside a highland pipeline', async () => {
    const doubled = await new Promise<number[]>((resolve) =>
      highland([1, 2, 3])
        .through(throughHighland(map((x: number) => x * 2)))
        .toArray(resolve),
    );
    expect(doubled).toEqual([2, 4, 6]);
    const squares = await new Promise<number[]>((resolve) =>
      highland([1, 2, 3])
        .through(throughHighland(parallelMap(math.square)))
        .toArray(resolve),
    );
    expect(squares).toEqual([1, 4, 9]);
  });

  it('stops the highland source when the highland consumer stops early', async () => {
    let generated = 0;
    const source = highland<number>((push, next) => {
      push(null, generated++);
      next();
    });
    const values = await new Promise<number[]>((resolve) =>
      source
        .through(throughHighland(map((x: number) => x + 100)))
        .take(3)
        .toArray(resolve),
    );
    expect(values).toEqual([100, 101, 102]);
    for (let i = 0; i < 5 && !(source as unknown as { ended: boolean }).ended; i++) await new Promise((resolve) => setImmediate(resolve));
    expect((source as unknown as { ended: boolean }).ended).toBe(true);
    const after = generated;
    await new Promise((resolve) => setImmediate(resolve));
    expect(generated).toBe(after);
  });
});
