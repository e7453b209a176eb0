// Task module the documentation examples refer to as './words.tasks.js'.
export function word(s: string): string {
  return s.toLowerCase();
}
export function count(n: number, _s: string): number {
  return n + 1;
}
