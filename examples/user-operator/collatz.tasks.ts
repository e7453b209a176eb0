/**
 * Task module of the user-operator example.
 *
 * @packageDocumentation
 */

/** How many Collatz steps `n` takes to reach 1: a small CPU-bound function. */
export function collatzSteps(n: number): number {
  let steps = 0;
  for (let x = n; x !== 1; steps++) x = x % 2 === 0 ? x / 2 : 3 * x + 1;
  return steps;
}
