// Task module the documentation examples refer to as './text.tasks.js': has a per-worker setup.
let collator: Intl.Collator | undefined;
export function setup(locale: string): void {
  collator = new Intl.Collator(locale, { sensitivity: 'base' });
}
export function word(s: string): string {
  return s.trim().toLowerCase();
}
export function count(n: number, _s: string): number {
  return n + 1;
}
export function sameWord(a: string, b: string): boolean {
  return (collator ?? new Intl.Collator()).compare(a, b) === 0;
}
