// Type tests for readBlocks / blockLines: run by `vitest run --typecheck`.
import { Readable } from 'node:stream';
import { describe, expectTypeOf, it } from 'vitest';
import { blockLines, glob, parallelMap, readBlocks, tasks, unorderedMap, type Block, type Flow } from 'millrace';
import type { Tally } from '../../examples/log-analysis/parse.js';

const t = tasks<typeof import('../../examples/big-file/tally.tasks.js')>(new URL('../../examples/big-file/tally.tasks.js', import.meta.url));

describe('readBlocks', () => {
  it('is a flow of blocks from a path, a URL, a list, a Readable or an async iterable of bytes', () => {
    expectTypeOf(readBlocks('big.log')).toEqualTypeOf<Flow<Block>>();
    expectTypeOf(readBlocks(new URL('file:///big.log.gz'))).toEqualTypeOf<Flow<Block>>();
    expectTypeOf(readBlocks(['a.log', new URL('file:///b.log')], { blockSize: 1 << 20 })).toEqualTypeOf<Flow<Block>>();
    expectTypeOf(readBlocks(process.stdin)).toEqualTypeOf<Flow<Block>>();
    expectTypeOf(readBlocks(Readable.from([Buffer.from('a\n')]))).toEqualTypeOf<Flow<Block>>();
  });

  it('feeds a task taking a Block; results keep the task type', () => {
    expectTypeOf(readBlocks('big.log').pipe(unorderedMap(t.tallyBlock))).toEqualTypeOf<Flow<Tally>>();
    expectTypeOf(readBlocks('big.log').pipe(parallelMap(t.tallyBlock))).toEqualTypeOf<Flow<Tally>>();
  });

  it('rejects a flow of paths (it would be read as bytes) and a RegExp separator for cutting', () => {
    // @ts-expect-error a Flow<string> is not a byte stream: give a glob pattern or a list
    readBlocks(glob('*.log'));
    // @ts-expect-error blocks are cut at a string's bytes, not at a RegExp
    readBlocks('big.log', { separator: /\n/ });
  });
});

describe('blockLines', () => {
  it('yields strings, and narrows blocks by kind', () => {
    const block = {} as Block;
    expectTypeOf(blockLines(block)).toEqualTypeOf<IterableIterator<string>>();
    expectTypeOf(blockLines(block, { separator: /\r?\n/ })).toEqualTypeOf<IterableIterator<string>>();
    if (block.kind === 'range') expectTypeOf(block.end).toEqualTypeOf<number>();
    else expectTypeOf(block.bytes).toEqualTypeOf<Uint8Array>();
  });
});
