// The consumer program of `.ci/consumer-check`: a project that installed the packed tarball (with
// production dependencies only), compiled by tsc with the recommended tsconfig of
// docs/guides/getting-started.md and run by plain node. It uses every public entry point in its
// main form, pins the inferred types (a wrong type fails tsc) and asserts every value.
// Adding an export? Add one line below: `await values('name', typeOf(...).is<Flow<T>>(), [...]);`.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import {
  aggregateByKey,
  checkpoint,
  Checkpoint,
  aggregations,
  batch,
  concat,
  distinct,
  drop,
  dropWhile,
  scan,
  sortBy,
  takeWhile,
  tee,
  throttle,
  bind,
  CloneError,
  CodeVersionMismatchError,
  Counter,
  createPool,
  defineOperator,
  dispatch,
  filter,
  flatMap,
  flow,
  FlowConsumedError,
  glob,
  InputFileError,
  InvalidOptionError,
  lines,
  map,
  merge,
  MillraceError,
  parallelMap,
  PartitionOwnerError,
  pipe,
  Pool,
  progress,
  ProgressBar,
  readBlocks,
  readLines,
  RedisUnavailableError,
  reduce,
  reduceBy,
  RemoteWorkerError,
  sharedPool,
  starMap,
  take,
  TaskError,
  TaskLoadError,
  TaskModuleOutsideRootError,
  tasks,
  TaskTimeoutError,
  tap,
  throughHighland,
  topK,
  toTransform,
  unorderedMap,
  WorkerCrashedError,
  WorkerExitError,
  zip,
  bullmq,
  startWorker,
  type BullmqOptions,
  type DispatchSpec,
  type Flow,
  type Operator,
  type PoolBackend,
  type RemoteWorker,
  type RemoteWorkerOptions,
  type TaskRef,
} from 'millrace';
import { checkOperator, ConformanceError, probeSource, type ConformanceResult } from 'millrace/testing';
import { equal, passedChecks, rejects, typeOf, values } from './check.js';

// Any process warning (MaxListenersExceededWarning, a deprecation, ...) fails the run; the script
// that runs this program also fails on any output to stderr.
const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));

const math = tasks<typeof import('./math.tasks.js')>(new URL('./math.tasks.js', import.meta.url));
typeOf(math.square).is<TaskRef<[number], number>>();
typeOf(math.add).is<TaskRef<[number, number], number>>();
typeOf(math.squareLater).is<TaskRef<[number], number>>();
typeOf(bind(math.scale, 10)).is<TaskRef<[number], number>>();

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const squaresOf = (n: number): number[] => range(n).map((x) => x * x);

// Sources ------------------------------------------------------------------------------------
await values('an array', typeOf(flow([1, 2, 3])).is<Flow<number>>(), [1, 2, 3]);
await values('an iterable', typeOf(flow(new Set(['a', 'b']))).is<Flow<string>>(), ['a', 'b']);
await values(
  'a generator',
  typeOf(
    flow(
      (function* () {
        yield* [1, 2];
      })(),
    ),
  ).is<Flow<number>>(),
  [1, 2],
);
await values(
  'an async iterable',
  typeOf(
    flow(
      (async function* () {
        yield* [1, 2];
      })(),
    ),
  ).is<Flow<number>>(),
  [1, 2],
);
await values('an object-mode Readable', typeOf(flow<number>(Readable.from([1, 2, 3]))).is<Flow<number>>(), [1, 2, 3]);
await values('a highland stream (from toHighland)', typeOf(flow(flow([1, 2]).toHighland())).is<Flow<number>>(), [1, 2]);

const dir = mkdtempSync(join(tmpdir(), 'millrace-consumer-'));
writeFileSync(join(dir, 'a.log'), 'GET /a\nPOST /b\n');
writeFileSync(join(dir, 'b.log.gz'), gzipSync('GET /c\nGET /d\n'));
await values('glob', typeOf(glob('*.log*', { cwd: dir, sort: true })).is<Flow<string>>(), ['a.log', 'b.log.gz']);
await values('readLines (gzip sniffed)', typeOf(readLines(join(dir, 'b.log.gz'))).is<Flow<string>>(), ['GET /c', 'GET /d']);
await equal(
  'readBlocks + blockLines in workers',
  typeOf(
    readBlocks(join(dir, 'a.log'))
      .pipe(unorderedMap(math.blockLineCount))
      .reduce((a, n) => a + n, 0),
  ).is<Promise<number>>(),
  2,
);
await values(
  'merge',
  typeOf(merge(flow([1]), flow([2])))
    .is<Flow<number>>()
    .toArray()
    .then((xs) => xs.sort()),
  [1, 2],
);
await values('zip', typeOf(zip(flow([1, 2]), flow(['a', 'b']))).is<Flow<[number, string]>>(), [
  [1, 'a'],
  [2, 'b'],
]);
await values('readLines of a byte Readable', readLines(Readable.from([Buffer.from('x\ny')])), ['x', 'y']);
await values('readLines with a separator', readLines(Readable.from([Buffer.from('x;y')]), { separator: ';' }), ['x', 'y']);
await values('glob then lines()', typeOf(glob('*', { cwd: dir, sort: true, absolute: true }).pipe(lines())).is<Flow<string>>(), [
  'GET /a',
  'POST /b',
  'GET /c',
  'GET /d',
]);

// In-thread operators --------------------------------------------------------------------------
await values('map', typeOf(flow([1, 2]).pipe(map((n) => `#${n}`))).is<Flow<string>>(), ['#1', '#2']);
await values('map (async)', typeOf(flow([1, 2]).pipe(map(async (n) => n + 1))).is<Flow<number>>(), [2, 3]);
await values('filter', typeOf(flow([1, 2, 3, 4]).pipe(filter((n) => n % 2 === 0))).is<Flow<number>>(), [2, 4]);
const isString = (x: unknown): x is string => typeof x === 'string';
await values('filter (type guard)', typeOf(flow(['a', 1, 'b']).pipe(filter(isString))).is<Flow<string>>(), ['a', 'b']);
await values('flatMap', typeOf(flow([1, 2]).pipe(flatMap((n) => [n, n]))).is<Flow<number>>(), [1, 1, 2, 2]);
await values('batch', typeOf(flow([1, 2, 3]).pipe(batch(2))).is<Flow<number[]>>(), [[1, 2], [3]]);
await values('take', typeOf(flow(range(100)).pipe(take(2))).is<Flow<number>>(), [0, 1]);
await values('drop', typeOf(flow([1, 2, 3]).pipe(drop(2))).is<Flow<number>>(), [3]);
await values('takeWhile', typeOf(flow([1, 2, 3, 1]).pipe(takeWhile((n) => n < 3))).is<Flow<number>>(), [1, 2]);
await values('dropWhile', typeOf(flow([1, 2, 3, 1]).pipe(dropWhile((n) => n < 3))).is<Flow<number>>(), [3, 1]);
await values('distinct', typeOf(flow(['a', 'b', 'a']).pipe(distinct())).is<Flow<string>>(), ['a', 'b']);
await values('scan', typeOf(flow([1, 2, 3]).pipe(scan((sum: number, n: number) => sum + n, 0))).is<Flow<number>>(), [1, 3, 6]);
await values('sortBy', typeOf(flow(['bb', 'a', 'ccc']).pipe(sortBy((w: string) => w.length))).is<Flow<string>>(), ['a', 'bb', 'ccc']);
await values('throttle', typeOf(flow([1, 2, 3]).pipe(throttle({ items: 100, perMs: 10 }))).is<Flow<number>>(), [1, 2, 3]);
await values('concat', typeOf(concat([1], flow(['a']))).is<Flow<number | string>>(), [1, 'a']);
{
  const [left, right] = typeOf(tee(flow([1, 2]))).is<[Flow<number>, Flow<number>]>();
  await equal('tee: both branches see every item', await Promise.all([left.toArray(), right.toArray()]), [
    [1, 2],
    [1, 2],
  ]);
}
const tapped: number[] = [];
await values('tap', typeOf(flow([1, 2]).pipe(tap((n) => tapped.push(n)))).is<Flow<number>>(), [1, 2]);
await equal('tap saw every item', tapped, [1, 2]);
await values('reduce (operator)', typeOf(flow([1, 2, 3]).pipe(reduce((sum: number, n: number) => sum + n, 0))).is<Flow<number>>(), [6]);
const countWords = reduceBy(
  (w: string) => w,
  (n: number) => n + 1,
  0,
);
await values('reduceBy (in thread)', typeOf(flow(['a', 'b', 'a']).pipe(countWords)).is<Flow<[string, number]>>(), [
  ['a', 2],
  ['b', 1],
]);
const doubledText = typeOf(
  pipe(
    map((n: number) => n * 2),
    map((n: number) => `${n}`),
  ),
).is<Operator<number, string>>();
await values('pipe (standalone)', flow([1, 2]).pipe(doubledText), ['2', '4']);
const progressLog: string[] = [];
const progressStream = { isTTY: false, write: (text: string) => progressLog.push(text) };
await values('progress', typeOf(flow([1, 2, 3]).pipe(progress({ total: 3, stream: progressStream }))).is<Flow<number>>(), [1, 2, 3]);
await equal('progress reported 3/3', progressLog.join('').includes('3/3'), true);
const bar = new ProgressBar({ total: 2, stream: { write: () => true } });
bar.start();
bar.tick(2);
bar.stop('done');
await equal('ProgressBar', bar.summaryLine().includes('2/2'), true);

// Worker operators on the shared pool ----------------------------------------------------------
await values('parallelMap', typeOf(flow([1, 2, 3]).pipe(parallelMap(math.square))).is<Flow<number>>(), [1, 4, 9]);
await values('parallelMap of an async task', typeOf(flow([1, 2, 3]).pipe(parallelMap(math.squareLater))).is<Flow<number>>(), [1, 4, 9]);
await values('async task, concurrency 8', flow(range(40)).pipe(parallelMap(math.squareLater, { concurrency: 8 })), squaresOf(40));
await values('a task reads its taskSignal()', flow([1, 2]).pipe(parallelMap(math.signalState)), ['running', 'running']);
await values('parallelMap with bind', typeOf(flow([1, 2]).pipe(parallelMap(bind(math.scale, 10)))).is<Flow<number>>(), [10, 20]);
const unordered = typeOf(flow(range(50)).pipe(unorderedMap(math.square, { chunkSize: 7 }))).is<Flow<number>>();
await values(
  'unorderedMap',
  unordered.toArray().then((xs) => xs.sort((a, b) => a - b)),
  squaresOf(50),
);
await values(
  'starMap',
  typeOf(
    flow([
      [1, 2],
      [3, 4],
    ] as [number, number][]).pipe(starMap(math.add)),
  ).is<Flow<number>>(),
  [3, 7],
);
const sumByParity = reduceBy(math.parity, math.sum, 0, { combine: (a, b) => a + b });
const byParity = typeOf(flow(range(10)).pipe(sumByParity)).is<Flow<['even' | 'odd', number]>>();
await values('reduceBy (two-tier)', byParity, [
  ['even', 20],
  ['odd', 25],
]);
// Keyed aggregation: pairs made in the workers, folded by owner threads per partition -----------
const words = ['to be or not to be', 'to see or not'];
await values(
  'aggregateByKey (a fold, combine)',
  typeOf(flow(words).pipe(aggregateByKey(math.wordPairs, math.add, 0, { combine: math.add })))
    .is<Flow<[string, number]>>()
    .toArray()
    .then((pairs) => pairs.sort(([a], [b]) => (a < b ? -1 : 1))),
  [
    ['be', 2],
    ['not', 2],
    ['or', 2],
    ['see', 1],
    ['to', 3],
  ],
);
await values(
  'aggregateByKey (aggregations.count, 3 partitions) + topK',
  typeOf(
    flow(words).pipe(
      aggregateByKey(math.wordPairs, aggregations.count, { partitions: 3 }),
      topK(2, ([key, n]) => n * 100 - key.charCodeAt(0)),
    ),
  ).is<Flow<[string, number]>>(),
  [
    ['to', 3],
    ['be', 2],
  ],
);
{
  // A CSV of 20,000 lines over 5,000 keys, read in blocks, summed per key with a 1 MB budget: the
  // owners spill sorted runs to disk and merge them; the result is the serial one.
  const csv = join(dir, 'pairs.csv');
  const expected = new Map<string, number>();
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const key = `user-${(i * 7919) % 5_000}`;
    lines.push(`${key},${i % 10}`);
    expected.set(key, (expected.get(key) ?? 0) + (i % 10));
  }
  writeFileSync(csv, `${lines.join('\n')}\n`);
  const spillDir = mkdtempSync(join(tmpdir(), 'millrace-consumer-spill-'));
  const summed = await readBlocks(csv, { blockSize: 16_384 })
    .pipe(aggregateByKey(math.csvPairs, aggregations.mean, { memoryBudgetMb: 0.05, tempDir: spillDir }))
    .toArray();
  typeOf(summed).is<[string, { count: number; sum: number; mean: number }][]>();
  await equal('aggregateByKey over readBlocks: every key', summed.length, expected.size);
  await equal(
    'aggregateByKey over readBlocks, spilled: the serial sums',
    summed.every(([key, { sum, count }]) => sum === expected.get(key) && count === 4),
    true,
  );
  await equal('aggregateByKey: its spill directory is removed', readdirSync(spillDir).length, 0);
  rmSync(spillDir, { recursive: true, force: true });
  await rejects(
    'aggregateByKey: a fold that throws fails the flow with PartitionOwnerError',
    () =>
      flow([[12, 13]])
        .pipe(aggregateByKey(math.pairsOf, math.addUnless13, 0))
        .toArray(),
    PartitionOwnerError,
    (error) =>
      error.problem === 'task-failed' && error.key === 'n' && error.cause instanceof RangeError && error.message.includes('addUnless13'),
  );
}
// Checkpoints: a rerun resumes what was recorded and computes only what is new -------------------
{
  const ckptDir = join(dir, 'ckpt');
  const first = typeOf(checkpoint(ckptDir, { key: (x: number) => String(x) })).is<Checkpoint<number>>();
  await values(
    'checkpoint: a first run computes every item',
    flow([1, 2, 3]).pipe(parallelMap(math.square, { checkpoint: first })),
    [1, 4, 9],
  );
  await equal('checkpoint: recorded', [first.computed, first.resumed], [3, 0]);
  const rerun = checkpoint(ckptDir, { key: (x: number) => String(x) });
  await values(
    'checkpoint: a rerun with one new item',
    flow([1, 2, 3, 4]).pipe(parallelMap(math.square, { checkpoint: rerun })),
    [1, 4, 9, 16],
  );
  await equal('checkpoint: the rerun resumed 3 and computed 1', [rerun.computed, rerun.resumed], [1, 3]);
}
await values(
  'transferResult',
  flow([3]).pipe(
    parallelMap(math.bytes),
    map((b) => [b.length, b[0]]),
  ),
  [[3, 7]],
);
const squaresSpec: DispatchSpec<number, number> = {
  name: 'squares',
  ordered: true,
  request: (items) => ({ mode: 'call', task: math.square, items }),
  outputs: (response) => response.results,
};
const squares = typeOf(defineOperator('squares', (source: AsyncIterable<number>, context) => dispatch(source, context, squaresSpec))).is<
  Operator<number, number>
>();
await values('defineOperator + dispatch', flow([2, 3]).pipe(squares), [4, 9]);
await equal('sharedPool', sharedPool() instanceof Pool, true);

// Sinks ----------------------------------------------------------------------------------------
await equal('toArray', typeOf(flow([1, 2]).toArray()).is<Promise<number[]>>(), [1, 2]);
const counted = typeOf(flow(['a', 'b', 'a']).reduce((c, w) => c.update([[w, 1]]), new Counter<string>())).is<Promise<Counter<string>>>();
await equal(
  'reduce (sink)',
  counted.then((c) => c.mostCommon(1)),
  [['a', 2]],
);
const each: string[] = [];
const eachDone = typeOf(flow(['x', 'y']).forEach((v, i) => void each.push(`${i}${v}`))).is<Promise<void>>();
await equal(
  'forEach',
  eachDone.then(() => each),
  ['0x', '1y'],
);
const iterated: number[] = [];
for await (const n of flow(range(10)).pipe(parallelMap(math.square))) if (iterated.push(n) === 3) break;
await equal('for await with break', iterated, [0, 1, 4]);
await values('toNodeStream', typeOf(flow([1, 2]).toNodeStream()).is<Readable>(), [1, 2]);
const written: string[] = [];
const sink = new Writable({ objectMode: true, write: (chunk: string, _encoding, done) => done(void written.push(chunk)) });
await pipeline(flow(['a', 'b']).toNodeStream(), toTransform(map((s: string) => s.toUpperCase())), sink);
await equal('toTransform in a Node pipeline', written, ['A', 'B']);
const highlandOut = typeOf(throughHighland(map((n: number) => n * 10))(flow([1, 2]).toHighland())).is<Highland.Stream<number>>();
await values('throughHighland + toHighland', flow(highlandOut), [10, 20]);
const passThrough = new PassThrough({ objectMode: true });
flow([1]).toNodeStream().pipe(passThrough);
await once(passThrough, 'readable');
await equal('toNodeStream pipes', passThrough.read() as unknown, 1);

// Errors, with instanceof ------------------------------------------------------------------------
await rejects(
  'TaskError',
  () => flow([1, 2, 3]).pipe(parallelMap(math.failOnTwo)).toArray(),
  TaskError,
  (e) =>
    e.index === 1 &&
    e.item === 2 &&
    e.task.endsWith('#failOnTwo') &&
    e.cause instanceof RangeError &&
    e.cause.message === 'two is out of range',
);
const skipped: TaskError[] = [];
// onError also receives a WorkerCrashedError for an item that kills its worker: narrow first.
const skipFailures = parallelMap(math.failOnTwo, {
  onError: (e) => {
    if (e instanceof TaskError) skipped.push(e);
  },
});
await values('onError skips failing items', flow([1, 2, 3]).pipe(skipFailures), [1, 3]);
await equal(
  'onError saw a TaskError for item 2',
  skipped.map((e) => [e instanceof TaskError, e.item]),
  [[true, 2]],
);
await rejects(
  'InvalidOptionError',
  async () => parallelMap(math.square, { chunkSize: 0 }),
  InvalidOptionError,
  (e) => e.option === 'chunkSize',
);
const once1 = flow([1]);
await once1.toArray();
await rejects('FlowConsumedError', () => once1.toArray(), FlowConsumedError);
const squareAnything = math.square as unknown as TaskRef<[() => number], number>; // functions cannot cross threads
await rejects(
  'CloneError',
  () =>
    flow([() => 1])
      .pipe(parallelMap(squareAnything))
      .toArray(),
  CloneError,
);
const missing = tasks<{ nothere(x: number): number }>(new URL('./math.tasks.js', import.meta.url));
await rejects(
  'TaskLoadError',
  () => flow([1]).pipe(parallelMap(missing.nothere)).toArray(),
  TaskLoadError,
  (e) => e.available.includes('square'),
);
await rejects(
  'TaskTimeoutError',
  () =>
    flow([1])
      .pipe(parallelMap(math.hang, { timeoutMs: 200 }))
      .toArray(),
  TaskTimeoutError,
  (e) => e.timeoutMs === 200,
);
await rejects('WorkerCrashedError', () => flow([1]).pipe(parallelMap(math.crash)).toArray(), WorkerCrashedError);
await rejects(
  'InputFileError',
  () => readLines(join(dir, 'nope.log')).toArray(),
  InputFileError,
  (e) => e.problem === 'missing',
);
const aborted = AbortSignal.abort(new RangeError('stop'));
await rejects('an abort rejects with the reason', () => flow(range(10), { signal: aborted }).toArray(), RangeError);
for (const error of [
  new WorkerExitError(1),
  new RedisUnavailableError({ endpoint: 'redis://127.0.0.1:1', waitedMs: 1 }),
  new CodeVersionMismatchError({ jobVersion: 'a', workerVersion: 'b', workerHost: 'h' }),
  new RemoteWorkerError({ message: 'm', jobId: '1' }),
  new TaskModuleOutsideRootError({ moduleUrl: 'file:///x.js', root: '/y' }),
]) {
  await equal(`${error.name} is a MillraceError`, error instanceof MillraceError && error instanceof Error, true);
}
// Scale-out needs Redis and the optional bullmq peer: its types are checked here, not run.
typeOf(bullmq).is<(options: BullmqOptions) => PoolBackend>();
typeOf(startWorker).is<(options: RemoteWorkerOptions) => Promise<RemoteWorker>>();

// millrace/testing -------------------------------------------------------------------------------
const conformance = checkOperator(() => map((x: number) => x * 2), { input: [1, 2, 3], expected: [2, 4, 6] });
await equal(
  'checkOperator',
  typeOf(conformance)
    .is<Promise<ConformanceResult>>()
    .then((r) => r.passed.length > 0),
  true,
);
await rejects('ConformanceError', () => checkOperator(() => map((x: number) => x * 2), { input: [1], expected: [3] }), ConformanceError);
const probe = probeSource([1, 2, 3], { endless: true });
await values('probeSource', flow(probe).pipe(take(2)), [1, 2]);
await equal('probeSource was closed', probe.returned, true);

// Task progress and process isolation -----------------------------------------------------------
const reported: string[] = [];
await values(
  'reportProgress inside tasks',
  flow([2, 3]).pipe(
    parallelMap(math.reportAndReturn),
    progress({ count: 'reported', stream: { isTTY: false, write: (text: string) => reported.push(text) } }),
  ),
  [2, 3],
);
await equal('progress counted the reported 5', reported.join('').startsWith('progress: 5 '), true);
{
  await using processes = createPool({ isolation: 'process', threads: 2 });
  await values('isolation: process', flow([1, 2, 3]).pipe(parallelMap(math.square, { pool: processes })), [1, 4, 9]);
  await rejects(
    'a segfault in a child process',
    () =>
      flow([1])
        .pipe(parallelMap(math.segfault, { pool: processes }))
        .toArray(),
    WorkerCrashedError,
    (e) => e.reason === 'signal' && e.signal === 'SIGSEGV',
  );
  await values('the process pool goes on', flow([4]).pipe(parallelMap(math.square, { pool: processes })), [16]);
}

// A real job of the item-level kind: users enriched from a flaky HTTP service -------------------
// Every 25th request fails with HTTP 500; retries run only the failed items, so the service sees
// one request per user plus one per failure, on the main thread and in workers alike.
{
  const counts = { requests: 0, failed: 0 };
  const server = createServer((request, response) => {
    counts.requests++;
    const id = Number(/\/users\/(\d+)/.exec(request.url ?? '')?.[1]);
    if (counts.requests % 25 === 0) {
      counts.failed++;
      response.writeHead(500).end();
    } else {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, score: id * 3 }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scores = range(300).map((id) => id * 3);
  try {
    const reported: TaskError<number>[] = [];
    const mainThread = flow(range(300)).pipe(
      map(
        async (id, { signal }) => {
          const response = await fetch(`${base}/users/${id}`, { signal });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          return ((await response.json()) as { score: number }).score;
        },
        { concurrency: 16, retries: 3, retryDelayMs: 1, onError: (error) => reported.push(error) },
      ),
    );
    typeOf(mainThread).is<Flow<number>>();
    await values('flaky service, main-thread map with retries', mainThread, scores);
    await equal('main thread: one request per user plus one per failure', counts.requests, 300 + counts.failed);
    await equal('main thread: nothing reported', reported.length, 0);
    counts.requests = 0;
    counts.failed = 0;
    await using pool = createPool({ threads: 2 });
    const inWorkers = flow(range(300)).pipe(
      unorderedMap(bind(math.fetchUser, base), { pool, chunkSize: 1, concurrency: 8, retries: 3, retryDelayMs: 1 }),
      map((user) => user.score),
      batch(300),
      map((all: number[]) => all.sort((a, b) => a - b)),
    );
    await values('flaky service, in workers, chunk size 1, 8 at once each', inWorkers, [scores]);
    await equal('workers: one request per user plus one per failure', counts.requests, 300 + counts.failed);
  } finally {
    server.close();
  }
  // A bad line of a big JSON-lines file is named by its line number.
  const records = join(dir, 'records.jsonl');
  writeFileSync(
    records,
    `${range(2_000)
      .map((i) => (i === 1_234 ? '{"broken' : JSON.stringify({ i })))
      .join('\n')}\n`,
  );
  await rejects(
    'a bad line names its file, line and offset',
    () => readBlocks(records, { blockSize: 4096 }).pipe(unorderedMap(math.parseJsonLines)).toArray(),
    TaskError,
    (error) => error.record?.line === 1_235 && error.record.source === records && error.message.includes(`${records}:1235`),
  );
}

// A pool of 16 threads and 64 chunks in flight: no process warning may appear -------------------
{
  await using pool = createPool({ threads: 16 });
  typeOf(pool).is<Pool>();
  const wide = { pool, chunkSize: 1, maxInFlight: 64 };
  await values('16 threads, maxInFlight 64', flow(range(2_000)).pipe(parallelMap(math.square, wide)), squaresOf(2_000));
  const sorted = map((xs: number[]) => xs.sort((a, b) => a - b));
  await values('16 threads, unordered', flow(range(500)).pipe(unorderedMap(math.squareLater, wide), batch(500), sorted), [squaresOf(500)]);
  await equal('the pool has 16 threads', pool.threads, 16);
}

rmSync(dir, { recursive: true, force: true });
// Let any warning emitted late (they are delivered on process.nextTick) reach the listener.
await new Promise((resolve) => setImmediate(resolve));
console.log(`consumer check: ${passedChecks()} checks passed`);
if (warnings.length > 0) {
  console.log(`consumer check failed: ${warnings.length} process warning(s):`);
  for (const warning of warnings) console.log(`  ${warning.name}: ${warning.message}`);
  process.exit(1);
}
console.log('consumer check: no process warnings');
