/**
 * Chunk sizing: a fixed size when the user sets one, else adaptive, so that each chunk takes
 * roughly a target time in the worker. Small fast items get large chunks (the per-message cost is
 * paid rarely); a slow item per file gets chunks of one (work spreads evenly over the workers).
 *
 * @packageDocumentation
 */

/**
 * The worker time one chunk should take: long enough that the hand-over between two chunks (a
 * message each way and a thread wake-up, 0.1-0.3 ms, during which the worker waits) costs a few
 * percent at most, short enough that the last chunks leave little imbalance. 16 ms beat 8 and 24
 * on the pure-compute and skewed benchmarks (bench/, "compute" and "skew").
 */
export const TARGET_CHUNK_MS = 16;
/**
 * The largest automatic chunk, which bounds memory per chunk and the reorder window. For trivial
 * tasks the main thread's cloning is the cost, and past a few thousand items a chunk gets dearer
 * per item (16k numbers cost ~30% more main-thread CPU per item than 4-8k: bench/, "overhead").
 */
export const MAX_AUTO_CHUNK = 8192;
/** How much an automatic chunk may grow from one chunk to the next, so one noisy timing cannot jump. */
const GROWTH = 8;

/** Decides how many items the next chunk gets. */
export interface ChunkSizer {
  /** Size for the next chunk. */
  next(): number;
  /** Feeds back how long a chunk of `items` took in the worker. */
  record(items: number, elapsedMs: number): void;
}

/**
 * A fixed size, or adaptive: starts at 1 item a chunk (`concurrency` items when a worker runs that
 * many at once, and always a multiple of it), then aims each chunk at
 * {@link TARGET_CHUNK_MS} of worker time using a moving average of the time per item.
 */
export function createChunkSizer(fixed: number | undefined, concurrency = 1): ChunkSizer {
  if (fixed !== undefined) return { next: () => fixed, record: () => {} };
  // A worker runs `concurrency` items of a chunk at once: a chunk is a whole number of such waves.
  const waves = (items: number): number => Math.max(concurrency, Math.ceil(items / concurrency) * concurrency);
  let size = waves(1);
  let msPerItem: number | undefined;
  return {
    next: () => size,
    record(items, elapsedMs) {
      const sample = elapsedMs / items;
      // Weigh by item count so big chunks (better timings) count more than probes of one item.
      const weight = Math.min(0.5, items / (items + size));
      msPerItem = msPerItem === undefined ? sample : msPerItem * (1 - weight) + sample * weight;
      const ideal = msPerItem > 0 ? TARGET_CHUNK_MS / msPerItem : MAX_AUTO_CHUNK;
      size = waves(Math.max(1, Math.min(MAX_AUTO_CHUNK, Math.floor(ideal), size * GROWTH)));
    },
  };
}
