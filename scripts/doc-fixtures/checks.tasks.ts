// Task module the documentation examples refer to as './checks.tasks.js'.
export function isValid(s: string): boolean {
  return /^[^@\s]+@[^@\s]+\.[a-z]+$/i.test(s);
}
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n)) throw new RangeError(`isPrime needs an integer, got ${n}`);
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
