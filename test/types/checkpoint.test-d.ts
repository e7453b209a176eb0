// Type tests of checkpoints: run by `vitest run --typecheck`, never executed.
import { describe, expectTypeOf, it } from 'vitest';
import {
  checkpoint,
  parallelMap,
  reduceBy,
  tasks,
  unorderedMap,
  type Block,
  type Checkpoint,
  type CheckpointOptions,
  type Operator,
} from 'millrace';

const math = tasks<typeof import('../fixtures/math.tasks.js')>(new URL('../fixtures/math.tasks.js', import.meta.url));

describe('checkpoint', () => {
  it('is typed by the item: key and fingerprint functions take it', () => {
    expectTypeOf(checkpoint('dir')).toEqualTypeOf<Checkpoint>();
    expectTypeOf(checkpoint<{ id: string }>('dir', { key: (doc) => doc.id })).toEqualTypeOf<Checkpoint<{ id: string }>>();
    checkpoint<{ id: string }>('dir', { fingerprint: async (doc) => doc.id });
    // @ts-expect-error -- a key is a string
    checkpoint<number>('dir', { key: (x: number) => x });
    // @ts-expect-error -- 'mtime' is not a fingerprint
    checkpoint('dir', { fingerprint: 'mtime' });
    const options: CheckpointOptions<Block> = { fingerprint: 'content', codeVersion: undefined };
    expectTypeOf(options.key).toEqualTypeOf<((item: Block) => string) | undefined>();
  });

  it('is an option of the worker-backed steps, for any item type, and accepts undefined', () => {
    expectTypeOf(parallelMap(math.square, { checkpoint: checkpoint<number>('dir', { key: String }) })).toEqualTypeOf<
      Operator<number, number>
    >();
    unorderedMap(math.word, { checkpoint: checkpoint<string>('dir') });
    unorderedMap(math.word, { checkpoint: undefined });
    reduceBy(math.word, math.count, 0, { combine: (a, b) => a + b, checkpoint: checkpoint('dir') });
  });
});
