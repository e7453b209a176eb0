/**
 * Node stream interop both ways: a Node `Readable` as a flow's source, and the flow piped into a
 * Node `Writable` with `stream/promises`' `pipeline` (backpressure included: the flow pulls only as
 * fast as the file is written). Here: numbers, factorised in worker threads, written as NDJSON.
 *
 * Usage: `npm run example:node-streams -- [--count N] [--out FILE]` (default: stdout)
 *
 * @packageDocumentation
 */
import { createWriteStream } from 'node:fs';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { flow, parallelMap, tasks } from 'millrace';
import type { Factored } from './factor.tasks.js';

const math = tasks<typeof import('./factor.tasks.js')>(new URL('./factor.tasks.js', import.meta.url));
const { values } = parseArgs({ options: { count: { type: 'string', default: '20' }, out: { type: 'string' } } });
const count = Number(values.count);

// Any object-mode Readable works as a source; here, large numbers to factorise.
const numbers = Readable.from(
  (function* () {
    for (let i = 0; i < count; i++) yield 1_000_000_007 * (i + 1) + 12_345 * i;
  })(),
);

const toNdjson = new Transform({
  writableObjectMode: true,
  transform(record: Factored, _encoding, done) {
    done(null, `${JSON.stringify(record)}\n`);
  },
});
const sink: Writable = values.out ? createWriteStream(values.out) : process.stdout;

await pipeline(flow<number>(numbers).pipe(parallelMap(math.factor)).toNodeStream(), toNdjson, sink);
if (values.out) console.error(`wrote ${count} records to ${values.out}`);
