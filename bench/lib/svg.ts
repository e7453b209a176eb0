/** The speedup-vs-threads chart, as a self-contained SVG. */
import type { Series } from './scenario.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A line chart of speedup over serial against thread count, with the ideal (linear) line and the core count. */
export function speedupChart(series: readonly Series[], cores: number, title: string): string {
  const width = 640;
  const height = 400;
  const margin = { left: 60, right: 220, top: 40, bottom: 50 };
  const maxThreads = Math.max(cores, ...series.flatMap((s) => s.points.map((p) => p.threads)));
  const maxSpeedup = Math.max(cores, ...series.flatMap((s) => s.points.map((p) => p.speedup))) * 1.1;
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (threads: number): number => margin.left + ((threads - 1) / Math.max(1, maxThreads - 1)) * plotWidth;
  const y = (speedup: number): number => margin.top + plotHeight - (speedup / maxSpeedup) * plotHeight;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2 - margin.right / 2}" y="22" text-anchor="middle" font-size="14">${escape(title)}</text>`);
  for (let t = 1; t <= maxThreads; t++) {
    parts.push(`<line x1="${x(t)}" y1="${margin.top}" x2="${x(t)}" y2="${margin.top + plotHeight}" stroke="#eee"/>`);
    parts.push(`<text x="${x(t)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${t}</text>`);
  }
  const step = maxSpeedup > 6 ? 1 : 0.5;
  for (let s = 0; s <= maxSpeedup; s += step) {
    parts.push(`<line x1="${margin.left}" y1="${y(s)}" x2="${margin.left + plotWidth}" y2="${y(s)}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 8}" y="${y(s) + 4}" text-anchor="end">${s}</text>`);
  }
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 10}" text-anchor="middle">worker threads</text>`);
  parts.push(`<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">speedup over serial</text>`);
  // Ideal: linear up to the core count, flat after it.
  const ideal = Array.from({ length: maxThreads }, (_, i) => `${x(i + 1)},${y(Math.min(i + 1, cores))}`).join(' ');
  parts.push(`<polyline points="${ideal}" fill="none" stroke="#999" stroke-dasharray="5 4"/>`);
  parts.push(
    `<line x1="${x(cores)}" y1="${margin.top}" x2="${x(cores)}" y2="${margin.top + plotHeight}" stroke="#bbb" stroke-dasharray="2 3"/>`,
  );
  const legendX = margin.left + plotWidth + 16;
  parts.push(
    `<line x1="${legendX}" y1="${margin.top + 6}" x2="${legendX + 20}" y2="${margin.top + 6}" stroke="#999" stroke-dasharray="5 4"/>`,
  );
  parts.push(`<text x="${legendX + 26}" y="${margin.top + 10}">ideal (${cores} cores)</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = [...s.points].sort((a, b) => a.threads - b.threads);
    parts.push(
      `<polyline points="${points.map((p) => `${x(p.threads)},${y(p.speedup)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    for (const p of points)
      parts.push(
        `<circle cx="${x(p.threads)}" cy="${y(p.speedup)}" r="3" fill="${color}"><title>${escape(s.label)}: ${p.threads} threads, ${p.speedup.toFixed(2)}x</title></circle>`,
      );
    const ly = margin.top + 26 + i * 20;
    parts.push(`<line x1="${legendX}" y1="${ly - 4}" x2="${legendX + 20}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${legendX + 26}" y="${ly}">${escape(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
