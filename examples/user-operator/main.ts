/**
 * A user-defined operator (`movingAverage`, from ./moving-average.ts) used in `.pipe()` between
 * built-in operators: Collatz step counts computed in worker threads, smoothed on the main thread.
 *
 * Usage: `npm run example:user-operator -- [--count N] [--window N]`
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { flow, map, parallelMap, take, tasks } from 'millrace';
import { movingAverage } from './moving-average.js';

const collatz = tasks<typeof import('./collatz.tasks.js')>(new URL('./collatz.tasks.js', import.meta.url));
const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' }, window: { type: 'string', default: '1000' } } });
const count = Number(values.count);
const window = Number(values.window);

function* naturals(from: number): Generator<number> {
  for (let n = from; ; n++) yield n;
}

// An endless source: take() ends the flow, which closes the generator and stops the workers.
const smoothed = await flow(naturals(1))
  .pipe(
    take(count),
    parallelMap(collatz.collatzSteps),
    movingAverage(window),
    map((average: number) => Math.round(average * 100) / 100),
  )
  .toArray();

const every = Math.max(1, Math.floor(smoothed.length / 5));
console.log(`moving average (window ${window}) of Collatz steps for 1..${count}:`);
for (let i = 0; i < smoothed.length; i += every) {
  // smoothed[i] averages the step counts of n = i + 1 .. i + window.
  const last = Math.min(i + every, smoothed.length) === smoothed.length ? smoothed.length - 1 : i;
  console.log(`  n = ${last + window}: ${smoothed[last]}`);
}
