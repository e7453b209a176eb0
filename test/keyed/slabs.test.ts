import { describe, expect, it } from 'vitest';
import { releaseSlab, SlabLedger, SlabPool } from '../../lib/keyed/slabs.js';

describe('slabs (the map side reuses shared memory for its batches)', () => {
  it('leases a slab once until the lease is released, then the same slab again', () => {
    const pool = new SlabPool(8 * 2 ** 20);
    const first = pool.take(100, 700)!;
    expect(first.slab.values.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(first.slab.values.length).toBeGreaterThanOrEqual(100);
    expect(first.slab.units.length).toBeGreaterThanOrEqual(700);
    const second = pool.take(100, 700)!;
    expect(second.slab.values.buffer).not.toBe(first.slab.values.buffer);
    first.slab.numberKeys[3] = 1;
    releaseSlab({ state: first.slab.state, lease: first.lease });
    const again = pool.take(50, 300)!;
    expect(again.slab.values.buffer).toBe(first.slab.values.buffer);
    // A reused slab says no key is a number until told.
    expect(again.slab.numberKeys[3]).toBe(0);
  });

  it('ignores a release of a lease that no longer holds the slab (a late one never frees a later batch)', () => {
    const pool = new SlabPool(8 * 2 ** 20);
    const first = pool.take(10, 10)!;
    const stale = { state: first.slab.state, lease: first.lease };
    releaseSlab(stale);
    const later = pool.take(10, 10)!;
    expect(later.slab).toBe(first.slab);
    expect(later.lease).not.toBe(first.lease);
    releaseSlab(stale);
    // Still leased by the later batch: the pool makes another slab.
    expect(pool.take(10, 10)!.slab).not.toBe(first.slab);
  });

  it('makes a bigger slab for a batch of longer keys, and none past its cap (the batch gets buffers of its own)', () => {
    const pool = new SlabPool(2 * 2 ** 20);
    const small = pool.take(8192, 8192 * 4)!;
    releaseSlab({ state: small.slab.state, lease: small.lease });
    const long = pool.take(8192, 8192 * 40)!;
    expect(long.slab.values.buffer).not.toBe(small.slab.values.buffer);
    expect(long.slab.units.length).toBeGreaterThanOrEqual(8192 * 40);
    expect(pool.take(8192, 8192 * 40)).toBeUndefined();
    expect(pool.bytes).toBeLessThanOrEqual(2 * 2 ** 20);
  });

  it('a ledger releases what a closed run left leased, and only that', () => {
    const pool = new SlabPool(8 * 2 ** 20);
    const ledger = new SlabLedger();
    const folded = pool.take(10, 10)!;
    const unfolded = pool.take(10, 10)!;
    ledger.hold({ state: folded.slab.state, lease: folded.lease });
    ledger.hold({ state: unfolded.slab.state, lease: unfolded.lease });
    releaseSlab({ state: folded.slab.state, lease: folded.lease });
    const reused = pool.take(10, 10)!;
    expect(reused.slab).toBe(folded.slab);
    ledger.releaseAll();
    // The unfolded batch's slab is free again; the reused one still belongs to its new batch.
    expect(pool.take(10, 10)!.slab).toBe(unfolded.slab);
    expect(Atomics.load(reused.slab.state, 0)).toBe(reused.lease);
  });
});
