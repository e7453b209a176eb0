import { describe, expect, it } from 'vitest';
import { flow, parallelMap, tasks } from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

describe('parallelMap', () => {
  it('maps values in input order through real worker threads', async () => {
    const input = Array.from({ length: 1000 }, (_, i) => i);
    expect(await flow(input).pipe(parallelMap(math.square)).toArray()).toEqual(input.map((x) => x * x));
  });
});
