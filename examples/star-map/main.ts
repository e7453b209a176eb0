/**
 * `starMap`: each item is a tuple of arguments spread into a task of several parameters (Python's
 * `Pool.starmap`), here Monte Carlo estimates of π from `[seed, samples]` pairs, and a table of
 * compound interest from `[principal, rate, years]` triples.
 *
 * Usage: `npm run example:star-map -- [--tasks N] [--samples N]`
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { flow, starMap, tasks } from 'millrace';

const pi = tasks<typeof import('./pi.tasks.js')>(new URL('./pi.tasks.js', import.meta.url));

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '16' }, samples: { type: 'string', default: '2000000' } } });
const count = Number(values.tasks);
const samples = Number(values.samples);

// Tuples typed as the task's parameters: starMap checks them against estimatePi(seed, samples).
const jobs: [number, number][] = Array.from({ length: count }, (_, i) => [i + 1, samples]);
const estimates = await flow(jobs).pipe(starMap(pi.estimatePi, { chunkSize: 1 })).toArray();
const mean = estimates.reduce((sum, x) => sum + x, 0) / estimates.length;
console.log(`π ≈ ${mean.toFixed(6)} from ${count} × ${samples.toLocaleString('en-US')} samples (error ${Math.abs(mean - Math.PI).toExponential(2)})`);

const scenarios: [number, number, number][] = [
  [1_000, 0.03, 10],
  [1_000, 0.05, 10],
  [1_000, 0.05, 30],
];
const grown = await flow(scenarios).pipe(starMap(pi.futureValue)).toArray();
scenarios.forEach(([principal, rate, years], i) =>
  console.log(`${principal} at ${(rate * 100).toFixed(0)}% for ${years} years → ${(grown[i] ?? NaN).toFixed(2)}`),
);
