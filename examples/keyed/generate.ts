/**
 * Writes the input of the keyed example and benchmark: `key,value` lines, `value` an integer in
 * 1..1000, keys `u<id>` for `keys` distinct ids, either each key in turn (uniform: every key appears
 * when lines >= keys) or Zipf-distributed (`--zipf S`: the key of rank r is drawn with weight
 * 1 / r^S). Deterministic for a seed. Prints `{"file","lines","keys","sum"}` as JSON (the distinct
 * keys and the total of the values written).
 *
 * Usage: `npx tsx examples/keyed/generate.ts FILE [--lines N] [--keys N] [--zipf S] [--seed N]`
 * (defaults: 8,000,000 lines, 1,000,000 keys, uniform, seed 1).
 *
 * @packageDocumentation
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** What {@link generateKeyedInput} wrote. */
export interface KeyedInput {
  readonly file: string;
  readonly lines: number;
  /** How many distinct keys the file holds. */
  readonly keys: number;
  /** The total of the values. */
  readonly sum: number;
}

/** Options of {@link generateKeyedInput}. */
export interface KeyedInputOptions {
  readonly lines: number;
  readonly keys: number;
  /** Zipf exponent; uniform when absent. */
  readonly zipf?: number | undefined;
  readonly seed?: number | undefined;
}

/** A small, fast, seeded PRNG (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes the file and says what is in it.
 *
 * @param file - where to write
 * @param options - lines, keys, zipf, seed
 * @returns what was written
 */
export async function generateKeyedInput(file: string, options: KeyedInputOptions): Promise<KeyedInput> {
  const { lines, keys } = options;
  const next = random(options.seed ?? 1);
  let rank: () => number;
  if (options.zipf === undefined) {
    let i = 0;
    rank = () => i++ % keys;
  } else {
    const cumulative = new Float64Array(keys);
    let total = 0;
    for (let r = 0; r < keys; r++) cumulative[r] = total += 1 / Math.pow(r + 1, options.zipf);
    rank = () => {
      const target = next() * total;
      let low = 0;
      let high = keys - 1;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (cumulative[middle]! < target) low = middle + 1;
        else high = middle;
      }
      return low;
    };
  }
  // Ranks scattered over the ids (7919 is prime, so this is a bijection for any key count it does not divide).
  const scatter = keys % 7919 === 0 ? 1 : 7919;
  const seen = options.zipf === undefined ? undefined : new Uint8Array(keys);
  let distinct = options.zipf === undefined ? Math.min(lines, keys) : 0;
  let sum = 0;
  const out = createWriteStream(file);
  let chunk: string[] = [];
  for (let i = 0; i < lines; i++) {
    const r = rank();
    if (seen !== undefined && seen[r] === 0) {
      seen[r] = 1;
      distinct++;
    }
    const value = 1 + Math.floor(next() * 1000);
    sum += value;
    chunk.push(`u${(r * scatter) % keys},${value}\n`);
    if (chunk.length === 65_536) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk = [];
    }
  }
  out.end(chunk.join(''));
  await once(out, 'finish');
  return { file, lines, keys: distinct, sum };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { lines: { type: 'string' }, keys: { type: 'string' }, zipf: { type: 'string' }, seed: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new Error('usage: generate.ts FILE [--lines N] [--keys N] [--zipf S] [--seed N]');
  const input = await generateKeyedInput(positionals[0]!, {
    lines: Number(values.lines ?? 8_000_000),
    keys: Number(values.keys ?? 1_000_000),
    zipf: values.zipf === undefined ? undefined : Number(values.zipf),
    seed: Number(values.seed ?? 1),
  });
  console.log(JSON.stringify(input));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
