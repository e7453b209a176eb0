/**
 * Task module of the Node streams example.
 *
 * @packageDocumentation
 */

/** The prime factors of `n`, smallest first, by trial division. */
export function primeFactors(n: number): number[] {
  const factors: number[] = [];
  let x = n;
  for (let p = 2; p * p <= x; p += p === 2 ? 1 : 2) {
    while (x % p === 0) {
      factors.push(p);
      x /= p;
    }
  }
  if (x > 1) factors.push(x);
  return factors;
}

/** One output record. */
export interface Factored {
  n: number;
  factors: number[];
}

/** `n` with its prime factors. */
export function factor(n: number): Factored {
  return { n, factors: primeFactors(n) };
}
