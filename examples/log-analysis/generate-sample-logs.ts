/**
 * A deterministic generator of realistic access logs in the combined format, gzipped: Zipf-like
 * popularity over several thousand paths, mixed methods and statuses, static assets, query
 * strings, odd but valid lines, and a small share of malformed lines. The same options give the
 * same bytes on every machine.
 *
 * Usage: `npm run sample-logs -- --files 16 --lines 100000 --seed 1 --out DIR`
 *
 * @packageDocumentation
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);

/** Options of {@link generateSampleLogs}. */
export interface SampleLogOptions {
  /** Directory to write into (created; existing sample files are overwritten). */
  readonly out: string;
  /** How many files. */
  readonly files: number;
  /** Lines per file. */
  readonly lines: number;
  /** Seed of the pseudo-random generator. */
  readonly seed: number;
  /** Stops between files when aborted. */
  readonly signal?: AbortSignal;
}

/** mulberry32: small, fast, and the same everywhere. */
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

type Rng = () => number;

/** `items[index]`, which the callers keep in range (noUncheckedIndexedAccess cannot know that). */
function at<T>(items: ArrayLike<T>, index: number): T {
  if (index < 0 || index >= items.length) throw new RangeError(`index ${index} is outside 0..${items.length - 1}`);
  return items[index] as T;
}
const pick = <T>(rng: Rng, items: readonly T[]): T => at(items, Math.floor(rng() * items.length));

/** Picks by weight: `table` holds [cumulative weight, value] pairs. */
function weighted<T>(entries: readonly (readonly [number, T])[]): (rng: Rng) => T {
  const total = entries.reduce((sum, [w]) => sum + w, 0);
  let running = 0;
  const table = entries.map(([w, v]) => [(running += w) / total, v] as const);
  return (rng) => {
    const r = rng();
    for (const [edge, value] of table) if (r < edge) return value;
    return at(table, table.length - 1)[1];
  };
}

/** Picks rank k (0-based) with probability proportional to 1 / (k + 1)^s: Zipf-like popularity. */
function zipf<T>(items: readonly T[], s: number): (rng: Rng) => T {
  const cumulative = new Float64Array(items.length);
  let sum = 0;
  for (let k = 0; k < items.length; k++) cumulative[k] = sum += 1 / (k + 1) ** s;
  return (rng) => {
    const r = rng() * sum;
    let lo = 0;
    let hi = items.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (at(cumulative, mid) < r) lo = mid + 1;
      else hi = mid;
    }
    return at(items, lo);
  };
}

const WORDS = [
  'alpha',
  'anchor',
  'apple',
  'arrow',
  'autumn',
  'basket',
  'beacon',
  'birch',
  'blue',
  'breeze',
  'bridge',
  'canyon',
  'cedar',
  'cloud',
  'copper',
  'coral',
  'delta',
  'desert',
  'ember',
  'falcon',
  'fern',
  'forest',
  'garden',
  'glacier',
  'granite',
  'harbor',
  'hazel',
  'island',
  'ivory',
  'jade',
  'juniper',
  'lagoon',
  'lantern',
  'maple',
  'meadow',
  'mesa',
  'nebula',
  'oak',
  'orbit',
  'pebble',
  'pine',
  'prairie',
  'quartz',
  'raven',
  'ridge',
  'river',
  'sable',
  'sierra',
  'spruce',
  'summit',
  'thistle',
  'tundra',
  'valley',
  'willow',
  'zephyr',
];

/** Several thousand distinct page paths, in a seeded order (rank 0 is the most popular). */
function pagePaths(rng: Rng): string[] {
  const paths = new Set<string>(['/', '/about', '/contact', '/cart', '/checkout', '/login', '/search', '/pricing', '/faq']);
  while (paths.size < 6000) {
    const kind = rng();
    if (kind < 0.3) paths.add(`/products/${Math.floor(rng() * 40_000)}`);
    else if (kind < 0.5) paths.add(`/blog/${2015 + Math.floor(rng() * 10)}/${pick(rng, WORDS)}-${pick(rng, WORDS)}`);
    else if (kind < 0.65) paths.add(`/docs/${pick(rng, WORDS)}/${pick(rng, WORDS)}.html`);
    else if (kind < 0.8) paths.add(`/api/v1/${pick(rng, ['users', 'orders', 'items', 'carts'])}/${Math.floor(rng() * 20_000)}`);
    else if (kind < 0.9) paths.add(`/category/${pick(rng, WORDS)}`);
    else paths.add(`/users/${pick(rng, WORDS)}${Math.floor(rng() * 1000)}`);
  }
  const list = [...paths];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [list[i], list[j]] = [at(list, j), at(list, i)];
  }
  return list;
}

function assetPaths(rng: Rng): string[] {
  const assets: string[] = ['/favicon.ico', '/static/app.js', '/static/vendor.js', '/static/site.css', '/static/print.css'];
  const extensions = ['png', 'jpg', 'gif', 'png', 'jpg', 'JPG'];
  while (assets.length < 400) {
    const kind = rng();
    if (kind < 0.7) assets.push(`/img/${pick(rng, WORDS)}-${Math.floor(rng() * 500)}.${pick(rng, extensions)}`);
    else if (kind < 0.85) assets.push(`/static/js/${pick(rng, WORDS)}.${Math.floor(rng() * 1e6).toString(16)}.js`);
    else assets.push(`/static/css/${pick(rng, WORDS)}.css`);
  }
  return assets;
}

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'curl/8.5.0',
  'python-requests/2.31.0',
  '-',
];
const REFERERS = ['https://www.google.com/', 'https://duckduckgo.com/', 'https://news.ycombinator.com/', 'https://www.example.com/'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

function timestamp(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

const method = weighted<string>([
  [88, 'GET'],
  [7, 'POST'],
  [3, 'HEAD'],
  [1, 'PUT'],
  [1, 'DELETE'],
]);
const getStatus = weighted<number>([
  [82, 200],
  [7, 304],
  [5, 404],
  [3, 301],
  [1, 302],
  [1, 403],
  [1, 500],
]);
const otherStatus = weighted<number>([
  [60, 200],
  [15, 201],
  [10, 302],
  [10, 400],
  [5, 500],
]);

/** A malformed line of one of several kinds. */
function malformedLine(rng: Rng, good: string): string {
  switch (Math.floor(rng() * 6)) {
    case 0:
      return good.slice(0, Math.floor(rng() * good.length)); // truncated mid-write
    case 1:
      return '';
    case 2:
      return good.replace(/" (\d{3}) /, '" OK ');
    case 3:
      return good.replace(/\[[^\]]+\] /, '');
    case 4:
      return `\u0000\u0000${pick(rng, WORDS)} garbage ${Math.floor(rng() * 1e9)}`;
    default:
      return good.replace(/"$/, ''); // unterminated user agent
  }
}

/** The text of one sample file, one line at a time joined into chunks. */
function fileText(
  seed: number,
  fileIndex: number,
  lineCount: number,
  pages: (r: Rng) => string,
  assets: (r: Rng) => string,
  clients: (r: Rng) => string,
): string {
  const rng = random(seed * 7919 + fileIndex + 1);
  let clock = Date.UTC(2024, 2, 1) + fileIndex * 86_400_000;
  const parts: string[] = [];
  for (let i = 0; i < lineCount; i++) {
    clock += Math.floor(rng() * 400);
    const ip = clients(rng);
    const user = rng() < 0.02 ? pick(rng, WORDS) : '-';
    const verb = method(rng);
    const asset = rng() < 0.3;
    let target = asset ? assets(rng) : pages(rng);
    if (!asset && rng() < 0.2)
      target += rng() < 0.5 ? `?utm_source=${pick(rng, WORDS)}` : `?page=${1 + Math.floor(rng() * 9)}&sort=${pick(rng, WORDS)}`;
    const status = verb === 'GET' ? getStatus(rng) : otherStatus(rng);
    const size = status === 304 || verb === 'HEAD' ? '-' : String(200 + Math.floor(rng() * 60_000));
    const referer = rng() < 0.4 ? '-' : `${pick(rng, REFERERS)}${rng() < 0.5 ? '' : pick(rng, WORDS)}`;
    const agent = pick(rng, USER_AGENTS);
    let request = `${verb} ${target} HTTP/1.1`;
    let tail = '';
    const odd = rng();
    // Odd but valid lines: what real servers write now and then.
    if (odd < 0.002) request = '-';
    else if (odd < 0.004) request = `${verb} http://www.example.com${target} HTTP/1.1`;
    else if (odd < 0.006) request = `${verb} ${target} HTTP/1.0`;
    else if (odd < 0.008) tail = ` "${ip}" rt=0.${Math.floor(rng() * 900)}`;
    const line = `${ip} - ${user} [${timestamp(clock)}] "${request}" ${request === '-' ? 408 : status} ${size} "${referer}" "${odd > 0.998 ? 'Mozilla/5.0 (\\"quoted\\" agent)' : agent}"${tail}`;
    parts.push(rng() < 0.005 ? malformedLine(rng, line) : line);
  }
  return `${parts.join('\n')}\n`;
}

/**
 * Writes `files` gzipped sample logs named `access-0001.log.gz`, ... into `out`.
 *
 * @param options - see {@link SampleLogOptions}
 * @returns the paths written
 */
export async function generateSampleLogs(options: SampleLogOptions): Promise<string[]> {
  const { out, files, lines, seed } = options;
  for (const [name, value] of Object.entries({ files, lines, seed })) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`--${name} must be a non-negative integer, not ${value}`);
  }
  const rng = random(seed);
  const pages = zipf(pagePaths(rng), 1.05);
  const assets = zipf(assetPaths(rng), 1.2);
  const ips = Array.from({ length: 3000 }, (_, i) =>
    i % 50 === 49
      ? `2001:db8::${Math.floor(rng() * 0xffff).toString(16)}`
      : `${1 + Math.floor(rng() * 223)}.${Math.floor(rng() * 256)}.${Math.floor(rng() * 256)}.${1 + Math.floor(rng() * 254)}`,
  );
  const clients = zipf(ips, 0.9);
  await mkdir(out, { recursive: true });
  const written: string[] = [];
  // zlib compresses on libuv's thread pool: compress one file while generating the next.
  let pending: Promise<void> = Promise.resolve();
  try {
    for (let f = 0; f < files; f++) {
      options.signal?.throwIfAborted();
      const path = join(out, `access-${String(f + 1).padStart(4, '0')}.log.gz`);
      const text = fileText(seed, f, lines, pages, assets, clients);
      await pending;
      pending = gzipAsync(text).then((zipped) => writeFile(path, zipped));
      written.push(path);
    }
    await pending;
  } catch (error) {
    // Let the write in flight finish before the caller cleans up, and report the first failure.
    await pending.catch(() => undefined);
    throw error;
  }
  return written;
}

/**
 * Generates the sample corpus into `dir` unless a complete one with these options is there;
 * written to a temporary folder and renamed, so an interrupted run leaves nothing half-made.
 *
 * @returns the directory
 */
export async function ensureSampleLogs(
  dir: string,
  options: Omit<SampleLogOptions, 'out'> & { readonly onGenerate?: () => void },
): Promise<string> {
  const stamp = JSON.stringify({ files: options.files, lines: options.lines, seed: options.seed, version: 1 });
  const marker = join(dir, '.complete');
  try {
    const { readFile } = await import('node:fs/promises');
    if ((await readFile(marker, 'utf8')) === stamp) return dir;
  } catch {
    // Not there yet.
  }
  options.onGenerate?.();
  const temporary = `${dir}.tmp-${process.pid}`;
  await rm(temporary, { recursive: true, force: true });
  try {
    await generateSampleLogs({
      files: options.files,
      lines: options.lines,
      seed: options.seed,
      out: temporary,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await writeFile(join(temporary, '.complete'), stamp);
    await rm(dir, { recursive: true, force: true });
    await rename(temporary, dir);
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
  return dir;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: 'string', default: '8' },
      lines: { type: 'string', default: '50000' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'sample-logs' },
    },
  });
  const started = performance.now();
  const paths = await generateSampleLogs({
    out: resolve(values.out),
    files: Number(values.files),
    lines: Number(values.lines),
    seed: Number(values.seed),
  });
  console.error(
    `wrote ${paths.length} files × ${values.lines} lines to ${resolve(values.out)} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
