import { describe, expect, it } from 'vitest';
import { releaseSlab, SlabPool } from '../../lib/keyed/slabs.js';

describe('slabs (the map side reuses shared memory for its batches)', () => {
  it('hands out a slab once until it is released, then the same slab again', () => {
    const pool = new SlabPool(8 * 2 ** 20);
    const first = pool.take(100, 700)!;
    expect(first.values.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(first.values.length).toBeGreaterThanOrEqual(100);
    expect(first.units.length).toBeGreaterThanOrEqual(700);
    const second = pool.take(100, 700)!;
    expect(second.values.buffer).not.toBe(first.values.buffer);
    first.numberKeys[3] = 1;
    releaseSlab(first.state);
    const again = pool.take(50, 300)!;
    expect(again.values.buffer).toBe(first.values.buffer);
    // A reused slab says no key is a number until told.
    expect(again.numberKeys[3]).toBe(0);
  });

  it('makes a bigger slab for a batch of longer keys, and none past its cap (the batch gets buffers of its own)', () => {
    const pool = new SlabPool(2 * 2 ** 20);
    const small = pool.take(8192, 8192 * 4)!;
    releaseSlab(small.state);
    const long = pool.take(8192, 8192 * 40)!;
    expect(long.values.buffer).not.toBe(small.values.buffer);
    expect(long.units.length).toBeGreaterThanOrEqual(8192 * 40);
    expect(pool.take(8192, 8192 * 40)).toBeUndefined();
    expect(pool.bytes).toBeLessThanOrEqual(2 * 2 ** 20);
  });
});
