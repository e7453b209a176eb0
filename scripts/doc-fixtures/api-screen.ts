// The names the README's one-screen sketch uses without defining them (its fence says
// `prelude=api-screen`, so each example module imports them from here).
import { tasks } from 'millrace';

export const numbers = Array.from({ length: 1000 }, (_, i) => i);
// Starts with a word seen twice: the sketch promises `[['a', 2], ...]`.
export const words = ['a', 'b', 'a', 'c'];
export const text = tasks<typeof import('./text.tasks.js')>(new URL('./text.tasks.js', import.meta.url));
export const values = [1, 2, 3];
export const source = numbers;
export const signal = AbortSignal.timeout(60_000);
export const f = (x: number): number => x * 2;
export const g = (x: number): boolean => x % 3 === 0;
