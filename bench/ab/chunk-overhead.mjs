// A/B of two builds on the engine's per-chunk path: `node bench/ab/chunk-overhead.mjs DIST [chunkSize] [retries] [items]`
// runs parallelMap(x => x * 2) over in-memory numbers on 2 threads from the build in DIST (a `dist/`
// folder: this clone's, or another commit's built in a clone of its own) and prints items/s and the
// process's CPU per item. Interleave the two builds' runs on a shared machine; compare medians.
const [dist, chunkSizeArg = '1', retriesArg = '0', itemsArg] = process.argv.slice(2);
if (dist === undefined) throw new Error('usage: node bench/ab/chunk-overhead.mjs DIST [chunkSize] [retries] [items]');
const base = new URL(`file://${dist.startsWith('/') ? '' : `${process.cwd()}/`}${dist}/`);
const { flow, parallelMap, tasks, createPool } = await import(new URL('lib/index.js', base).href);
const micro = tasks(new URL('bench/tasks/micro.tasks.js', base));
const chunkSize = Number(chunkSizeArg);
const retries = Number(retriesArg);
const n = Number(itemsArg ?? (chunkSize === 1 ? 100_000 : 5_000_000));
const pool = createPool({ threads: 2 });
const items = Array.from({ length: n }, (_, i) => i);
const options = { chunkSize, pool, ...(retries > 0 ? { retries } : {}) };
await flow(items.slice(0, 2_000))
  .pipe(parallelMap(micro.double, options))
  .reduce((s, x) => s + x, 0);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await flow(items)
  .pipe(parallelMap(micro.double, options))
  .reduce((s, x) => s + x, 0);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    dist,
    chunkSize,
    retries,
    itemsPerS: Math.round((n / wall) * 1000),
    cpuUsPerItem: +((cpu.user + cpu.system) / n).toFixed(2),
  }),
);
await pool.close();
