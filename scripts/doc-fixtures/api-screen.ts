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
// The stream-algebra lines.
export const urls = ['https://example.org/1', 'https://example.org/2'];
/** Stands in for an HTTP call (the docs check has no network). */
export const fetchJson = async (url: string): Promise<{ url: string }> => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return { url };
};
export const ids = [1, 2, 3];
export const names = ['one', 'two'];
export const events = Array.from({ length: 20 }, (_, i) => ({ id: i }));
let sent = 0;
/** Stands in for sending a batch somewhere; counts what was sent. */
export const send = (batch: readonly { id: number }[]): void => {
  sent += batch.length;
};
export const sentCount = (): number => sent;
export const rows = [
  { path: '/a', hits: 3 },
  { path: '/b', hits: 5 },
  { path: '/a', hits: 1 },
];
export const lines = ['ok', 'ERROR upstream', 'ok'];
export const isError = (line: string): boolean => line.startsWith('ERROR');
