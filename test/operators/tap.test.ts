import { describe, expect, it } from 'vitest';
import { createPool, flow, tap } from 'millrace';
import { naturals, operatorContract, probe } from '../fixtures/harness.js';

const pool = createPool({ threads: 1 }); // never started: tap runs in the main thread

describe('tap', () => {
  it('passes values through unchanged, calling the action with each value and index in order', async () => {
    const seen: [string, number][] = [];
    expect(
      await flow(['a', 'b'])
        .pipe(tap((s: string, i) => seen.push([s, i])))
        .toArray(),
    ).toEqual(['a', 'b']);
    expect(seen).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
  });

  it('awaits an async action before emitting the value and pulling the next', async () => {
    const events: string[] = [];
    const source = probe([1, 2], { onPull: (i) => events.push(`pull ${i}`) });
    for await (const x of flow(source).pipe(
      tap(async (n: number) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        events.push(`tapped ${n}`);
      }),
    )) {
      events.push(`got ${x}`);
    }
    expect(events).toEqual(['pull 0', 'tapped 1', 'got 1', 'pull 1', 'tapped 2', 'got 2']);
  });

  it('emits nothing and calls nothing for an empty input', async () => {
    let calls = 0;
    expect(
      await flow<number>([])
        .pipe(tap(() => calls++))
        .toArray(),
    ).toEqual([]);
    expect(calls).toBe(0);
  });

  it('ends the flow with the error the action threw, unchanged, and closes the source', async () => {
    const error = new Error('side effect failed');
    const source = probe(naturals);
    await expect(
      flow(source)
        .pipe(
          tap((x: number) => {
            if (x === 2) throw error;
          }),
        )
        .toArray(),
    ).rejects.toBe(error);
    expect(source.stats.returned).toBe(true);
  });

  operatorContract<number, number>({ make: () => tap(() => undefined), input: naturals, pool: () => pool });
});
