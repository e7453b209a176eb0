/**
 * Merging per-file results into the report both the parallel job and the serial baseline print,
 * so their outputs can be compared byte for byte.
 *
 * @packageDocumentation
 */
import { Counter } from 'millrace';
import type { FileResult } from './analysis.js';

/** The merged result of a run. */
export interface Summary {
  files: number;
  lines: number;
  bytes: number;
  malformed: number;
  matched: number;
  counts: Counter<string>;
}

/** An empty summary to merge file results into. */
export function emptySummary(): Summary {
  return { files: 0, lines: 0, bytes: 0, malformed: 0, matched: 0, counts: new Counter<string>() };
}

/** Adds one file's result to the summary (tier 2 of the map-reduce). */
export function addResult(summary: Summary, result: FileResult): void {
  summary.files++;
  summary.lines += result.lines;
  summary.bytes += result.bytes;
  summary.malformed += result.malformed;
  summary.matched += result.matched;
  summary.counts.update(result.counts); // Python: combined.update(result)
}

/** What `--json` prints: exact, with ties in the top list broken by path. */
export interface JsonReport {
  files: number;
  lines: number;
  malformed: number;
  matched: number;
  top: [string, number][];
}

/** The `--json` report of a summary. */
export function jsonReport(summary: Summary, top: number): JsonReport {
  return {
    files: summary.files,
    lines: summary.lines,
    malformed: summary.malformed,
    matched: summary.matched,
    top: summary.counts.mostCommon(top),
  };
}

const integer = new Intl.NumberFormat('en-US');

/** Bytes in a human unit. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** The human report: the top paths as a table, then totals, time and throughput. */
export function humanReport(summary: Summary, top: number, elapsedMs: number): string {
  const rows = summary.counts.mostCommon(top);
  const seconds = elapsedMs / 1000;
  const countWidth = Math.max(5, ...rows.map(([, n]) => integer.format(n).length));
  const rankWidth = Math.max(1, String(rows.length).length);
  const out: string[] = [];
  out.push(`Top ${rows.length} request paths (successful GETs, static assets excluded)`);
  out.push(`  ${'#'.padStart(rankWidth)}  ${'count'.padStart(countWidth)}  path`);
  rows.forEach(([path, n], i) => out.push(`  ${String(i + 1).padStart(rankWidth)}  ${integer.format(n).padStart(countWidth)}  ${path}`));
  if (rows.length === 0) out.push('  (no successful GETs of non-asset paths)');
  out.push('');
  out.push(
    `files ${integer.format(summary.files)} · lines ${integer.format(summary.lines)} · ${formatBytes(summary.bytes)} read` +
      ` · malformed ${integer.format(summary.malformed)} · matched ${integer.format(summary.matched)}`,
  );
  const perSecond = (n: number): string => (seconds > 0 ? integer.format(Math.round(n / seconds)) : '…');
  out.push(
    `elapsed ${seconds.toFixed(2)} s · ${perSecond(summary.files)} files/s · ${perSecond(summary.lines)} lines/s` +
      ` · ${seconds > 0 ? formatBytes(summary.bytes / seconds) : '…'}/s`,
  );
  return out.join('\n');
}
