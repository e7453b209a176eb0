// Runs the three custom operators of docs/guides/custom-operators.md:
//   npm run example:custom-operators
import { flow, map, tasks } from 'millrace';
import { dedupe } from './dedupe.js';
import { parallelFilter } from './parallel-filter.js';
import { window } from './window.js';

const checks = tasks<typeof import('./checks.tasks.js')>(new URL('./checks.tasks.js', import.meta.url));

const visits = ['/a', '/b', '/a', '/c', '/b'];
console.log('dedupe:', await flow(visits).pipe(dedupe()).toArray());

const users = [
  { id: 1, name: 'ada' },
  { id: 2, name: 'alan' },
  { id: 1, name: 'ada again' },
];
console.log(
  'dedupe by key:',
  await flow(users)
    .pipe(
      dedupe((user) => user.id),
      map((user) => user.name),
    )
    .toArray(),
);

async function* ticks(): AsyncGenerator<number> {
  for (let i = 0; i < 7; i++) {
    if (i === 5) await new Promise((resolve) => setTimeout(resolve, 50)); // a pause: the time limit closes the window
    yield i;
  }
}
console.log(
  'window:',
  await flow(ticks())
    .pipe(window({ count: 3, ms: 20 }))
    .toArray(),
);

const candidates = Array.from({ length: 50 }, (_, i) => 1_000_000 + i);
console.log('parallelFilter:', await flow(candidates).pipe(parallelFilter(checks.isPrime)).toArray());
