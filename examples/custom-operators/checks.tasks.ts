// Task module for the custom-operator examples: runs in worker threads.

/** Whether `n` is prime, by trial division (CPU work worth sending to a worker). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n)) throw new RangeError(`isPrime needs an integer, got ${n}`);
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** Whether a string looks like an e-mail address. */
export function isValid(s: string): boolean {
  return /^[^@\s]+@[^@\s]+\.[a-z]+$/i.test(s);
}
