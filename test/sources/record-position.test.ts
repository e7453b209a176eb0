// A bad line in a block has an address: a task that throws while iterating blockLines(block) names
// the file, the 1-based line number and the byte offset of that line, in the message and as fields.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, InputFileError, readBlocks, readLines, TaskError, tasks, unorderedMap, type Pool } from 'millrace';

const blockTasks = tasks<typeof import('../fixtures/blocks.tasks.js')>(new URL('../fixtures/blocks.tasks.js', import.meta.url));

const LINES = 50_000;
const BAD = 37_123; // 1-based
let dir: string;
let text: string;
let badOffset: number;
let pool: Pool;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-record-'));
  const lines = Array.from({ length: LINES }, (_, i) =>
    i + 1 === BAD ? '{"user": 37123, "name": "trunc' : JSON.stringify({ user: i + 1, name: `ü${i}` }),
  );
  text = `${lines.join('\n')}\n`;
  badOffset = Buffer.byteLength(`${lines.slice(0, BAD - 1).join('\n')}\n`);
  await writeFile(join(dir, 'users.jsonl'), text);
  await writeFile(join(dir, 'users.jsonl.gz'), gzipSync(text));
  pool = createPool({ threads: 2 });
});

afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

async function failureOf(promise: Promise<unknown>): Promise<TaskError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(TaskError);
  return error as TaskError;
}

describe('record provenance', () => {
  it('a plain file (range blocks): file, line and byte offset, as fields and in the message', async () => {
    const path = join(dir, 'users.jsonl');
    const error = await failureOf(
      readBlocks(path, { blockSize: 64 * 1024 })
        .pipe(unorderedMap(blockTasks.parseAll, { pool }))
        .toArray(),
    );
    expect(error.record).toMatchObject({ source: path, line: BAD, byteOffset: badOffset });
    expect(error.record!.lineInBlock).toBeGreaterThan(0);
    expect(error.message).toContain(`${path}:${BAD} (byte offset ${badOffset})`);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it('a gzip file (bytes blocks): the line number and the offset in the decompressed data', async () => {
    const path = join(dir, 'users.jsonl.gz');
    const error = await failureOf(
      readBlocks(path, { blockSize: 64 * 1024 })
        .pipe(unorderedMap(blockTasks.parseAll, { pool }))
        .toArray(),
    );
    expect(error.record).toMatchObject({ source: path, line: BAD, byteOffset: badOffset });
  });

  it('a stream: the line within its block and the offset, the line number unknown', async () => {
    const error = await failureOf(
      readBlocks(Readable.from([Buffer.from(text)]), { blockSize: 64 * 1024 })
        .pipe(unorderedMap(blockTasks.parseAll, { pool }))
        .toArray(),
    );
    expect(error.record).toMatchObject({ line: undefined, byteOffset: badOffset });
    expect(error.message).toMatch(/line \d+ of the block \(byte offset \d+\)/);
  });

  it('an error after the block was read to its end names no line', async () => {
    const error = await failureOf(
      readBlocks(join(dir, 'users.jsonl'), { blockSize: 64 * 1024 })
        .pipe(unorderedMap(blockTasks.failAfterReading, { pool }))
        .toArray(),
    );
    expect(error.record).toBeUndefined();
  });
});

describe('inputs that name nothing', () => {
  it('readBlocks given a pattern that matches nothing fails naming the pattern', async () => {
    const pattern = join(dir, 'nothing-*.jsonl');
    const error = await readBlocks(pattern)
      .toArray()
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(error).toBeInstanceOf(InputFileError);
    expect(error).toMatchObject({ path: pattern, problem: 'no-match' });
    expect((error as Error).message).toBe(`${pattern}: no file matches this pattern`);
  });

  it('readLines given a pattern says it reads one file, and what reads a pattern', async () => {
    const pattern = join(dir, 'nothing-*.jsonl');
    const error = await readLines(pattern)
      .toArray()
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(error).toMatchObject({ path: pattern, problem: 'missing' });
    expect((error as Error).message).toContain('readLines reads one file');
  });
});
