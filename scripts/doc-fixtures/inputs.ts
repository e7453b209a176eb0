// The files the documentation examples read, written into the folder they run in
// (scripts/run-doc-examples.ts): a few lines of combined-format access log each, gzipped where the
// name says so. Small on purpose: one example prints every line of access.log.gz.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const PATHS = ['/', '/about', '/faq', '/api/items', '/'];
const STATUSES = [200, 200, 404, 500, 200];

/** `count` access-log lines; every fourth is a server error, every fifth names an ERROR. */
function accessLog(count: number, seed: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const k = (i + seed) % PATHS.length;
    const note = (i + seed) % 5 === 0 ? 'ERROR upstream timeout' : 'ok';
    lines.push(
      `10.0.0.${(i % 7) + 1} - - [27/Nov/2026:10:00:${String(i % 60).padStart(2, '0')} +0000] ` +
        `"GET ${PATHS[k] ?? '/'} HTTP/1.1" ${STATUSES[k] ?? 200} 512 "-" "curl/8" ${note}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const FILES: Record<string, number> = {
  'logs/access.log.gz': 8,
  'logs/app-1.log.gz': 6,
  'logs/app-2.log.gz': 5,
  'access.log.gz': 4,
  'access.log.1.gz': 4,
  'app.log.gz': 6,
  'a.log.gz': 5,
  'b.log.gz': 3,
  'a.log': 3,
  'c.log': 3,
  'legacy.log': 4,
  'app.log': 6,
  'big.log': 40,
  'big.log.gz': 40,
};

/** Writes the input files below `dir`. */
export function writeDocInputs(dir: string): void {
  Object.entries(FILES).forEach(([name, count], seed) => {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    const text = accessLog(count, seed);
    writeFileSync(path, name.endsWith('.gz') ? gzipSync(text) : text);
  });
}
