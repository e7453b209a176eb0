/**
 * Task module of the word-frequency example: tokenising a file (tier 1 of the map), and the key
 * and fold functions the two-tier reduceBy runs inside the workers.
 *
 * @packageDocumentation
 */
import { readLines } from 'millrace';

/** Letters and digits, with inner apostrophes (don't, o'clock). */
const WORD = /[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu;

/** The lower-cased words of a text file (gzip or plain), in order. */
export async function wordsOf(path: string): Promise<string[]> {
  const words: string[] = [];
  for await (const line of readLines(path)) {
    for (const match of line.toLowerCase().matchAll(WORD)) words.push(match[0]);
  }
  return words;
}

/** The key of a word: itself. */
export function word(w: string): string {
  return w;
}

/** Counts one more occurrence. */
export function count(n: number, _w: string): number {
  return n + 1;
}
