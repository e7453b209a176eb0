// Task module the documentation examples refer to as './words.tasks.js'.
export function word(s: string): string {
  return s.toLowerCase();
}
export function count(n: number, _s: string): number {
  return n + 1;
}
export function wordPairs(line: string, emit: (word: string, one: number) => void): void {
  for (const word of line.split(' ')) if (word !== '') emit(word, 1);
}
export function add(a: number, b: number): number {
  return a + b;
}
