/**
 * What a record is keyed by: the input's identity and fingerprint (Bazel's action inputs), and
 * the task's identity (the action): module, export, bound and setup arguments, code version. A
 * record is reused only when all of them match, so a changed input or task never reuses one.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import { InvalidOptionError } from '../errors.js';
import { resolveTaskModule, type AnyTaskRef } from '../tasks.js';
import type { CheckpointOptions } from './checkpoint.js';

/** An input's identity and fingerprint. */
export interface InputId {
  readonly key: string;
  readonly fingerprint: string;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('base64url');

/**
 * The task identity of a step: a hash of its kind (how items are passed), every task's module
 * (relative to the checkpoint, so moving both together keeps it), export, bound and setup
 * arguments (their structured clone), what else the step sends (a fold's initial value), and
 * the code version (given, or each module file's content).
 */
export async function taskIdentity(
  dir: string,
  kind: string,
  tasks: readonly AnyTaskRef[],
  extra: unknown,
  codeVersion: string | undefined,
): Promise<string> {
  const parts = await Promise.all(
    tasks.map(async (task) => {
      const url = resolveTaskModule(task.moduleUrl);
      const path = url.startsWith('file:') ? fileURLToPath(url) : undefined;
      return {
        module: path === undefined ? url : relative(dir, path),
        exportName: task.exportName,
        boundArgs: task.boundArgs,
        setupArgs: task.setupArgs,
        code: codeVersion ?? (path === undefined ? url : sha256(await readFile(path))),
      };
    }),
  );
  return sha256(serialize({ kind, parts, extra }));
}

/** Says which input an item is, and its fingerprint; throws InvalidOptionError for an item it cannot name. */
export async function inputId<In>(item: In, options: CheckpointOptions<In>): Promise<InputId> {
  const { fingerprint = 'stat' } = options;
  const custom = typeof fingerprint === 'function' ? fingerprint : undefined;
  const how = typeof fingerprint === 'function' ? 'stat' : fingerprint;
  if (options.key !== undefined) {
    const name = options.key(item);
    if (typeof name !== 'string') throw new InvalidOptionError('key', name, 'a string from the key function');
    return { key: `key:${name}`, fingerprint: custom ? await custom(item) : sha256(serialize(item)) };
  }
  if (typeof item === 'string') {
    const path = resolve(item);
    return { key: `file:${path}`, fingerprint: custom ? await custom(item) : await fileFingerprint(path, how) };
  }
  if (isBlock(item)) {
    if (item.kind === 'range') {
      const { path, start, end } = item;
      const print = custom
        ? await custom(item)
        : how === 'content'
          ? await rangeHash(path, start, end)
          : await fileFingerprint(path, 'stat');
      return { key: `range:${path}:${start}-${end}`, fingerprint: print };
    }
    // The bytes are at hand (and may move to the worker next): hashed now, whatever the option.
    return {
      key: `bytes:${item.source}:${item.start}+${item.bytes.byteLength}`,
      fingerprint: custom ? await custom(item) : sha256(item.bytes),
    };
  }
  throw new InvalidOptionError(
    'key',
    item,
    'a key function (checkpoint(dir, { key: (item) => string })) for items that are not paths or blocks from readBlocks',
  );
}

interface BlockLike {
  readonly kind: 'range' | 'bytes';
}
type RangeLike = BlockLike & { readonly kind: 'range'; readonly path: string; readonly start: number; readonly end: number };
type BytesLike = BlockLike & { readonly kind: 'bytes'; readonly source: string; readonly start: number; readonly bytes: Uint8Array };

function isBlock(item: unknown): item is RangeLike | BytesLike {
  if (item === null || typeof item !== 'object') return false;
  const block = item as Record<string, unknown>;
  if (block.kind === 'range') return typeof block.path === 'string' && typeof block.start === 'number' && typeof block.end === 'number';
  if (block.kind === 'bytes')
    return typeof block.source === 'string' && typeof block.start === 'number' && block.bytes instanceof Uint8Array;
  return false;
}

async function fileFingerprint(path: string, how: 'stat' | 'content'): Promise<string> {
  try {
    if (how === 'content') {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
      return `sha256:${hash.digest('base64url')}`;
    }
    const { size, mtimeMs } = await stat(path);
    return `stat:${size}:${mtimeMs}`;
  } catch (error) {
    // The task reports a missing file as it would without a checkpoint (an InputFileError naming
    // it); a string that names no file is an input all the same, changed when such a file appears.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw error;
  }
}

async function rangeHash(path: string, start: number, end: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, end - start)));
    for (let at = start; at < end;) {
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, end - at), at);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    return `sha256:${hash.digest('base64url')}`;
  } finally {
    await file.close();
  }
}
