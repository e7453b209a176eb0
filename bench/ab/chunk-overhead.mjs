// A/B of two builds on the engine's per-chunk path:
// `node bench/ab/chunk-overhead.mjs DIST [chunkSize] [retries] [items] [maxInFlight]` runs
// parallelMap(x => x * 2) over in-memory numbers on 2 threads from the build in DIST (a `dist/`
// folder: this clone's, or another commit's built in a clone of its own) and prints items/s and the
// process's CPU per item (and, on Linux, the main thread's). With `maxInFlight` it runs
// unorderedMap at that depth instead (the overhead scenario's deep chunk-size-1 variant uses 64).
// Interleave the two builds' runs on a shared machine; compare medians.
import { readFileSync } from 'node:fs';

const [dist, chunkSizeArg = '1', retriesArg = '0', itemsArg, depthArg] = process.argv.slice(2);
if (dist === undefined) throw new Error('usage: node bench/ab/chunk-overhead.mjs DIST [chunkSize] [retries] [items] [maxInFlight]');
const base = new URL(`file://${dist.startsWith('/') ? '' : `${process.cwd()}/`}${dist}/`);
const { flow, parallelMap, unorderedMap, tasks, createPool } = await import(new URL('lib/index.js', base).href);
const micro = tasks(new URL('bench/tasks/micro.tasks.js', base));
const chunkSize = Number(chunkSizeArg);
const retries = Number(retriesArg);
const n = Number(itemsArg ?? (chunkSize === 1 ? 100_000 : 5_000_000));
const pool = createPool({ threads: 2 });
const items = Array.from({ length: n }, (_, i) => i);
const depth = depthArg === undefined ? undefined : Number(depthArg);
const options = { chunkSize, pool, ...(retries > 0 ? { retries } : {}), ...(depth !== undefined ? { maxInFlight: depth } : {}) };
const map = depth === undefined ? parallelMap : unorderedMap;
/** The main thread's CPU time in µs, from /proc (Linux); undefined elsewhere. */
function mainThreadCpuUs() {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // clock ticks of 10 ms
  } catch {
    return undefined;
  }
}
await flow(items.slice(0, 2_000))
  .pipe(map(micro.double, options))
  .reduce((s, x) => s + x, 0);
const main0 = mainThreadCpuUs();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await flow(items)
  .pipe(map(micro.double, options))
  .reduce((s, x) => s + x, 0);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const main1 = mainThreadCpuUs();
console.log(
  JSON.stringify({
    dist,
    chunkSize,
    retries,
    ...(depth !== undefined ? { maxInFlight: depth } : {}),
    itemsPerS: Math.round((n / wall) * 1000),
    cpuUsPerItem: +((cpu.user + cpu.system) / n).toFixed(2),
    ...(main0 !== undefined && main1 !== undefined ? { mainCpuUsPerItem: +((main1 - main0) / n).toFixed(2) } : {}),
  }),
);
await pool.close();
