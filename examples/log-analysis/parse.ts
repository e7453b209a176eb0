/**
 * Parsing and counting for the log analysis: one precompiled regular expression for the combined
 * log format, and a tally that both the parallel task (analysis.ts) and the serial baseline
 * (serial.ts) use, so they run exactly the same code.
 *
 * @packageDocumentation
 */
import { Counter } from 'millrace';

/**
 * One line of the Apache/nginx *combined* format:
 * `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`, e.g.
 * `203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /a.html?x=1 HTTP/1.1" 200 2326 "-" "curl/8.0"`.
 *
 * Captures: 1 method, 2 request target (when the request line is `METHOD TARGET[ PROTOCOL]`),
 * 3 status. A request line of another shape (nginx logs `"-"` for a connection that sent none)
 * still makes a valid line, just not a countable request. Quoted fields may hold `\"` escapes;
 * their pattern is the unrolled `[^"\\]*(?:\\.[^"\\]*)*`, linear even on hostile input. Fields
 * after the user agent (nginx's `"$http_x_forwarded_for"`, timings) are allowed.
 */
export const COMBINED_LOG_LINE =
  /^\S+ \S+ \S+ \[[^\]]+\] "(?:([A-Za-z]+) ([^\s"]+)(?: [^\s"]+)?|[^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) (?:\d+|-) "[^"\\]*(?:\\.[^"\\]*)*" "[^"\\]*(?:\\.[^"\\]*)*"(?: .*)?$/;

/** Static assets, left out of the counts. */
const ASSET = /\.(?:js|css|png|jpg|gif|ico)$/i;

/** What one line is, for tests and tools: `undefined` when it is malformed. */
export interface ParsedLine {
  readonly method: string | undefined;
  readonly target: string | undefined;
  readonly status: number;
  /** The URL path (no query string or fragment), when the target has one. */
  readonly path: string | undefined;
}

/**
 * Parses one combined-format line.
 *
 * @param line - the line, without its terminator
 * @returns the fields the analysis uses, or `undefined` for a malformed line
 */
export function parseLine(line: string): ParsedLine | undefined {
  const match = COMBINED_LOG_LINE.exec(line);
  if (match === null) return undefined;
  const target = match[2];
  return { method: match[1], target, status: Number(match[3]), path: target === undefined ? undefined : pathOf(target) };
}

/**
 * The URL path of a request target: origin form (`/a/b?q`) or absolute form
 * (`http://host/a/b?q`, as sent to proxies); `undefined` for anything else (`*`, garbage).
 */
export function pathOf(target: string): string | undefined {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* '/' */) {
    const scheme = target.indexOf('://');
    if (scheme <= 0) return undefined;
    start = target.indexOf('/', scheme + 3);
    if (start < 0) return '/';
  }
  let end = target.length;
  const query = target.indexOf('?', start);
  if (query >= 0) end = query;
  const fragment = target.indexOf('#', start);
  if (fragment >= 0 && fragment < end) end = fragment;
  return start === 0 && end === target.length ? target : target.slice(start, end);
}

/** Whether a path is a static asset (`.js .css .png .jpg .gif .ico`, any case). */
export function isAsset(path: string): boolean {
  return ASSET.test(path);
}

/** A copy of a string that shares no memory with the string it was sliced from. */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** One file's counts: what the task returns (plain data, structured-cloneable). */
export interface Tally {
  /** Lines read. */
  lines: number;
  /** Lines that are not combined-format log lines (skipped). */
  malformed: number;
  /** Successful GETs of non-asset paths: the requests counted in `counts`. */
  matched: number;
  /** Requests per path. */
  counts: Map<string, number>;
}

/**
 * Counts lines into a tally: request paths of successful (200) `GET`s that are not static assets;
 * malformed lines are skipped and counted.
 */
export class LogTally {
  lines = 0;
  malformed = 0;
  matched = 0;
  readonly counts = new Counter<string>();

  /** Counts one line. */
  add(line: string): void {
    this.lines++;
    const match = COMBINED_LOG_LINE.exec(line);
    if (match === null) {
      this.malformed++;
      return;
    }
    // Compare the status as text: no number parsing for the lines that do not count.
    const [, method, target = '', status] = match;
    if (method !== 'GET' || status !== '200') return;
    const path = pathOf(target);
    if (path === undefined || ASSET.test(path)) return;
    this.matched++;
    const counts = this.counts;
    const count = counts.get(path);
    // A new key is copied: the path is a slice of the line, itself a slice of the whole decoded
    // chunk, which a key kept as it is would keep alive (thousands of keys, tens of KiB each).
    if (count === undefined) counts.set(ownCopy(path), 1);
    else counts.set(path, count + 1);
  }

  /** The counts as plain data. */
  result(): Tally {
    return { lines: this.lines, malformed: this.malformed, matched: this.matched, counts: this.counts };
  }
}
