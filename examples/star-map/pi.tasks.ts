/**
 * Task module of the starMap example: functions of several arguments.
 *
 * @packageDocumentation
 */

/**
 * Estimates π by Monte Carlo: the share of `samples` random points of the unit square that fall
 * inside the quarter circle, times 4. Seeded (mulberry32), so a run is reproducible.
 */
export function estimatePi(seed: number, samples: number): number {
  let state = seed >>> 0;
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const x = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    state = (state + 0x6d2b79f5) >>> 0;
    t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const y = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    if (x * x + y * y < 1) inside++;
  }
  return (4 * inside) / samples;
}

/** Compound interest: the value of `principal` after `years` at `rate` a year, compounded monthly. */
export function futureValue(principal: number, rate: number, years: number): number {
  return principal * (1 + rate / 12) ** (12 * years);
}
