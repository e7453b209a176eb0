// Task module the documentation examples refer to as './math.tasks.js' (type-checked with them).
export function square(x: number): number {
  return x * x;
}
export function add(a: number, b: number): number {
  return a + b;
}
export function scale(factor: number, x: number): number {
  return factor * x;
}
export async function slowSquare(x: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  return x * x;
}
export function sqrtStrict(x: number): number {
  if (x < 0) throw new RangeError(`no real square root of ${x}`);
  return Math.sqrt(x);
}
