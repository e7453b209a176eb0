// Compiled by .ci/consumer-check only after `npm install @types/highland` (a user who uses
// highland): then millrace's highland streams are highland's full `Highland.Stream<T>`, merged
// with the part millrace declares itself, not a narrower type.
import highland from 'highland';
import { flow, map, throughHighland, type Flow } from 'millrace';
import { typeOf } from '../src/check.js';

typeOf(flow(highland([1, 2, 3]))).is<Flow<number>>();
typeOf(
  flow([1, 2, 3])
    .toHighland()
    .map((n) => `${n}`),
).is<Highland.Stream<string>>();
typeOf(
  highland([1, 2])
    .through(throughHighland(map((n: number) => n * 10)))
    .collect(),
).is<Highland.Stream<number[]>>();
