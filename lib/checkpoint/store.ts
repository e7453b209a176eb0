/**
 * A checkpoint's files, and the only code that reads or writes them:
 *
 * - `checkpoint.json`, the format (written once, atomically): a directory without it that is not
 *   empty is someone else's, and is refused rather than written into.
 * - `lock`, the pid and host of the run that holds it (made with `link`, which fails if it exists,
 *   so it appears whole or not at all); a lock whose process is gone is taken over with a warning.
 * - `records.log`, the records, appended. One append-only log rather than a file per input: a
 *   file per input costs a create, an fsync, a rename and a directory fsync each, so a step over
 *   thousands of small inputs (blocks of a big file) would spend its time in the file system; an
 *   append costs one write, and the records of every chunk settled meanwhile share one `fdatasync`
 *   (a group commit). Each record carries the SHA-256 of its bytes, so a torn or damaged record is
 *   found when read. A kill can only tear the last record: that one is dropped (with a warning) and
 *   the log cut back to the last whole record; a failed check anywhere else is a
 *   {@link CheckpointError}, never a wrong result.
 *
 * A record: `u32 header length`, `u32 value length`, 32 bytes of SHA-256 over header and value,
 * the header (`v8.serialize({ task, key, fingerprint })`), the value (`v8.serialize(outputs)`).
 * Later records of a task and key supersede earlier ones; once superseded records outnumber the
 * live ones, the log is rewritten without them when the step ends (atomically, under the lock).
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { constants, rmSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { CheckpointError } from './errors.js';
import type { Checkpoint } from './checkpoint.js';

const FORMAT = 'millrace-checkpoint';
const VERSION = 1;
const LOG_MAGIC = Buffer.from('MLRCKPT1');
const FRAME_HEAD = 4 + 4 + 32;
/** Superseded records are left in the log until there are at least this many (and more than live ones). */
const COMPACT_MIN_STALE = 16;

/** What a step needs of an open checkpoint. */
export interface CheckpointStore {
  /** The recorded outputs of an input under a task, when its fingerprint matches; else undefined. */
  lookup(task: string, key: string, fingerprint: string): readonly unknown[] | undefined;
  /** Records an input's outputs; resolves once they are durable (written and fdatasync'ed). */
  append(task: string, key: string, fingerprint: string, outputs: readonly unknown[]): Promise<void>;
  /**
   * Says, before anything is awaited, that this user is about to release: a later open of the same
   * directory in this process waits for the close instead of meeting the lock.
   */
  closing(): void;
  /** Lets go of the checkpoint (the last user releases the lock and closes the log). */
  release(): Promise<void>;
}

interface Entry {
  readonly task: string;
  readonly key: string;
  readonly fingerprint: string;
  readonly value: Buffer;
  readonly offset: number;
}

/** One open checkpoint per handle, shared by the steps running on it at once. */
const open_ = new WeakMap<Checkpoint<never>, { store: Promise<Log>; users: number }>();

/**
 * Checkpoints of this process still closing, by directory. A step's teardown does not hold up the
 * flow's end (a consumer that stops early, an abort), so a rerun right after it waits for the close
 * rather than finding its own process's lock.
 */
const closing = new Map<string, Promise<void>>();

/**
 * Opens the handle's checkpoint (makes the directory, takes the lock, reads the log), or joins
 * the steps that have it open already.
 */
export async function openStore(checkpoint: Checkpoint<never>): Promise<CheckpointStore> {
  let state = open_.get(checkpoint);
  if (state === undefined) {
    const previous = closing.get(checkpoint.dir);
    state = { store: previous === undefined ? Log.open(checkpoint.dir) : previous.then(() => Log.open(checkpoint.dir)), users: 0 };
    open_.set(checkpoint, state);
  }
  state.users++;
  let log: Log;
  try {
    log = await state.store;
  } catch (error) {
    if (--state.users === 0) open_.delete(checkpoint);
    throw error;
  }
  let released = false;
  /** Set by `closing()`: resolves when `release()` has closed the log (or this step did not close it). */
  let announced: (() => void) | undefined;
  return {
    lookup: (task, key, fingerprint) => log.lookup(task, key, fingerprint),
    append: (task, key, fingerprint, outputs) => log.append(task, key, fingerprint, outputs),
    closing: () => {
      // Only the last user closes the log; the directory counts as closing from this moment on.
      if (announced !== undefined || released || state.users > 1) return;
      const done = new Promise<void>((resolve) => {
        announced = resolve;
      });
      closing.set(checkpoint.dir, done);
      void done.then(() => {
        if (closing.get(checkpoint.dir) === done) closing.delete(checkpoint.dir);
      });
    },
    release: async () => {
      if (released) return;
      released = true;
      if (--state.users > 0) {
        announced?.();
        return;
      }
      open_.delete(checkpoint);
      const closed = log.close();
      const settled = closed.catch(() => undefined);
      if (announced === undefined) {
        closing.set(checkpoint.dir, settled);
        void settled.then(() => {
          if (closing.get(checkpoint.dir) === settled) closing.delete(checkpoint.dir);
        });
      } else {
        void settled.then(announced);
      }
      await closed;
    },
  };
}

class Log {
  readonly #dir: string;
  readonly #path: string;
  readonly #file: FileHandle;
  readonly #lock: Lock;
  readonly #entries: Map<string, Entry>;
  /** Records waiting for the next group commit, and whom to tell. */
  #queue: { bytes: Buffer; done: () => void; failed: (error: unknown) => void }[] = [];
  #flushing: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;
  /** Records in the log, superseded ones included (compaction drops those). */
  #records: number;

  private constructor(dir: string, file: FileHandle, lock: Lock, entries: Map<string, Entry>, records: number) {
    this.#dir = dir;
    this.#path = join(dir, 'records.log');
    this.#file = file;
    this.#lock = lock;
    this.#entries = entries;
    this.#records = records;
  }

  static async open(dir: string): Promise<Log> {
    await mkdir(dir, { recursive: true });
    await checkFormat(dir);
    const lock = await Lock.take(dir);
    try {
      const path = join(dir, 'records.log');
      const { entries, validLength, records } = await readLog(dir, path);
      const file = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND);
      try {
        const { size } = await file.stat();
        if (size === 0) {
          await file.write(LOG_MAGIC);
          await file.datasync();
        } else if (validLength < size) {
          // Only the torn last record (readLog checked): cut it off, so appends follow whole records.
          await file.truncate(validLength);
          await file.datasync();
        }
      } catch (error) {
        await file.close();
        throw error;
      }
      return new Log(dir, file, lock, entries, records);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  lookup(task: string, key: string, fingerprint: string): readonly unknown[] | undefined {
    const entry = this.#entries.get(indexKey(task, key));
    if (entry?.fingerprint !== fingerprint) return undefined;
    let value: unknown;
    try {
      value = deserialize(entry.value);
    } catch (cause) {
      throw this.#damaged(entry.offset, 'a record whose checksum holds cannot be decoded (written by another Node.js version?)', cause);
    }
    if (!Array.isArray(value)) throw this.#damaged(entry.offset, 'a record holds no list of results');
    return value as unknown[];
  }

  append(task: string, key: string, fingerprint: string, outputs: readonly unknown[]): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.error);
    const header = serialize({ task, key, fingerprint });
    const value = serialize(outputs);
    const bytes = frame(header, value);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({
        bytes,
        done: () => {
          // Seen by lookups of this run too (a repeated input reuses it).
          this.#entries.set(indexKey(task, key), { task, key, fingerprint, value, offset: -1 });
          this.#records++;
          resolve();
        },
        failed: reject,
      });
      this.#flushing ??= this.#flush();
    });
  }

  /** Writes every queued record in one write and makes them durable with one fdatasync. */
  async #flush(): Promise<void> {
    // Let the records of chunks settling in this turn join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        await this.#file.write(batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((record) => record.bytes)));
        await this.#file.datasync();
        for (const record of batch) record.done();
      } catch (error) {
        this.#failure = { error };
        for (const record of [...batch, ...this.#queue]) record.failed(error);
        this.#queue = [];
      }
    }
    this.#flushing = undefined;
  }

  async close(): Promise<void> {
    try {
      await this.#flushing;
      await this.#file.close();
      await this.#compact();
    } finally {
      await this.#lock.release();
    }
  }

  /**
   * Rewrites the log without superseded records (an input that changed left its old record behind)
   * once they outnumber the live ones, atomically (write aside, fsync, rename), still under the
   * lock. Live records are all kept, whichever run or step wrote them.
   */
  async #compact(): Promise<void> {
    if (this.#failure || this.#records - this.#entries.size <= Math.max(COMPACT_MIN_STALE, this.#entries.size)) return;
    const frames: Buffer[] = [LOG_MAGIC];
    for (const { task, key, fingerprint, value } of this.#entries.values())
      frames.push(frame(serialize({ task, key, fingerprint }), value));
    try {
      await writeFileAtomic(this.#path, Buffer.concat(frames));
    } catch (error) {
      // The old log is whole and still there: only the space is not reclaimed.
      process.emitWarning(
        `checkpoint ${this.#dir}: could not compact ${this.#path}: ${error instanceof Error ? error.message : String(error)}`,
        {
          code: 'MILLRACE_CHECKPOINT_COMPACT',
        },
      );
    }
  }

  #damaged(offset: number, message: string, cause?: unknown): CheckpointError {
    return new CheckpointError({
      reason: 'damaged',
      dir: this.#dir,
      path: this.#path,
      offset,
      message: `${message} at byte ${offset} of ${this.#path}; remove the directory to start over`,
      cause,
    });
  }
}

function indexKey(task: string, key: string): string {
  return `${task}\0${key}`;
}

function frame(header: Buffer, value: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(FRAME_HEAD + header.length + value.length);
  bytes.writeUInt32BE(header.length, 0);
  bytes.writeUInt32BE(value.length, 4);
  header.copy(bytes, FRAME_HEAD);
  value.copy(bytes, FRAME_HEAD + header.length);
  createHash('sha256').update(bytes.subarray(FRAME_HEAD)).digest().copy(bytes, 8);
  return bytes;
}

/** Reads and checks every record: the index of the latest record of each task and key, and how many bytes are whole records. */
async function readLog(dir: string, path: string): Promise<{ entries: Map<string, Entry>; validLength: number; records: number }> {
  const entries = new Map<string, Entry>();
  let records = 0;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries, validLength: 0, records };
    throw error;
  }
  if (bytes.length === 0) return { entries, validLength: 0, records };
  const damaged = (offset: number, message: string): CheckpointError =>
    new CheckpointError({
      reason: 'damaged',
      dir,
      path,
      offset,
      message: `${message} at byte ${offset} of ${path}; remove the directory to start over`,
    });
  if (bytes.length < LOG_MAGIC.length) return { entries, validLength: 0, records }; // torn while being made
  if (!bytes.subarray(0, LOG_MAGIC.length).equals(LOG_MAGIC)) {
    throw new CheckpointError({ reason: 'foreign', dir, path, message: `${path} is not a millrace record log (no MLRCKPT1 header)` });
  }
  let offset = LOG_MAGIC.length;
  while (offset < bytes.length) {
    const torn = (): { entries: Map<string, Entry>; validLength: number; records: number } => {
      process.emitWarning(
        `checkpoint ${dir}: the last record (byte ${offset} of ${path}) is incomplete, as a crash mid-write leaves it: dropped, its input runs again`,
        { code: 'MILLRACE_CHECKPOINT_TORN' },
      );
      return { entries, validLength: offset, records };
    };
    if (offset + FRAME_HEAD > bytes.length) return torn();
    const headerLength = bytes.readUInt32BE(offset);
    const valueLength = bytes.readUInt32BE(offset + 4);
    const end = offset + FRAME_HEAD + headerLength + valueLength;
    if (end > bytes.length) return torn();
    const sum = createHash('sha256')
      .update(bytes.subarray(offset + FRAME_HEAD, end))
      .digest();
    if (!sum.equals(bytes.subarray(offset + 8, offset + FRAME_HEAD))) {
      // A kill tears only the last record; a bad one with more after it was damaged otherwise.
      if (end === bytes.length) return torn();
      throw damaged(offset, 'a record fails its checksum');
    }
    let header: unknown;
    try {
      header = deserialize(bytes.subarray(offset + FRAME_HEAD, offset + FRAME_HEAD + headerLength));
    } catch {
      throw damaged(offset, 'a record header cannot be decoded');
    }
    if (!isHeader(header)) throw damaged(offset, 'a record header has the wrong shape');
    records++;
    entries.set(indexKey(header.task, header.key), {
      task: header.task,
      key: header.key,
      fingerprint: header.fingerprint,
      value: bytes.subarray(offset + FRAME_HEAD + headerLength, end),
      offset,
    });
    offset = end;
  }
  return { entries, validLength: offset, records };
}

function isHeader(value: unknown): value is { task: string; key: string; fingerprint: string } {
  if (value === null || typeof value !== 'object') return false;
  const { task, key, fingerprint } = value as Record<string, unknown>;
  return typeof task === 'string' && typeof key === 'string' && typeof fingerprint === 'string';
}

/** A new directory gets the format file; an old one must have ours; anything else is refused. */
async function checkFormat(dir: string): Promise<void> {
  const path = join(dir, 'checkpoint.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const present = (await readdir(dir)).filter((name) => !name.startsWith('.checkpoint.json.') && !name.startsWith('.lock.'));
    if (present.length > 0) {
      throw new CheckpointError({
        reason: 'foreign',
        dir,
        path,
        message: `the directory is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', ...' : ''}) and has no ${path}: not a millrace checkpoint, left untouched`,
      });
    }
    await writeFileAtomic(path, `${JSON.stringify({ format: FORMAT, version: VERSION })}\n`);
    return;
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    meta = undefined;
  }
  const { format, version } = (meta ?? {}) as Record<string, unknown>;
  if (format !== FORMAT) {
    throw new CheckpointError({ reason: 'foreign', dir, path, message: `${path} does not describe a millrace checkpoint` });
  }
  if (version !== VERSION) {
    throw new CheckpointError({
      reason: 'foreign',
      dir,
      path,
      message: `${path} is a checkpoint of format version ${String(version)}; this millrace reads version ${VERSION}`,
    });
  }
}

/** Write aside, fsync, rename, fsync the directory: the file is there whole, or not at all (write-file-atomic's way). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path.replace(/([^/]+)$/, '.$1')}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  const file = await open(temporary, 'wx');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(path.slice(0, path.lastIndexOf('/')) || '/');
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await handle.close();
  }
}

/** Locks this process holds: removed if it exits (process.exit, the end of the event loop) while holding them. */
const held = new Set<string>();
let exitHandler = false;

function removeHeldLocks(): void {
  for (const path of held) {
    try {
      rmSync(path, { force: true });
    } catch {
      // The process is ending; a lock left behind is taken over later, its process being gone.
    }
  }
}

/** The lock of one run on a checkpoint. */
class Lock {
  readonly #path: string;
  #held = true;

  private constructor(path: string) {
    this.#path = path;
  }

  static async take(dir: string): Promise<Lock> {
    const path = join(dir, 'lock');
    const content = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`;
    // Written aside, then linked: link fails if the lock exists, and the lock never appears empty.
    const temporary = join(dir, `.lock.${process.pid}.${Math.random().toString(36).slice(2, 10)}`);
    await writeFile(temporary, content, { flag: 'wx' });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await link(temporary, path);
          held.add(path);
          if (!exitHandler) {
            exitHandler = true;
            process.on('exit', removeHeldLocks);
          }
          return new Lock(path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
        }
        const holder = await readHolder(path);
        if (holder !== undefined && (holder.host !== hostname() || isAlive(holder.pid))) {
          throw new CheckpointError({
            reason: 'locked',
            dir,
            path,
            pid: holder.pid,
            message:
              holder.pid === process.pid
                ? `already in use by another step or handle of this process (${path}); one run at a time`
                : `in use by process ${holder.pid} on ${holder.host} (${path}); one run at a time: wait for it, or remove the lock if that process is gone`,
          });
        }
        process.emitWarning(
          `checkpoint ${dir}: taking over the lock of ${holder === undefined ? 'an unreadable holder' : `process ${holder.pid}, which is gone`} (${path})`,
          { code: 'MILLRACE_CHECKPOINT_STALE_LOCK' },
        );
        // Renamed away rather than removed: of two runs taking over at once, one link wins.
        await rename(path, `${temporary}.stale`).catch(() => undefined);
        await rm(`${temporary}.stale`, { force: true });
      }
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await rm(this.#path, { force: true });
    held.delete(this.#path);
  }
}

async function readHolder(path: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    const { pid, host } = (parsed ?? {}) as Record<string, unknown>;
    if (typeof pid === 'number' && Number.isInteger(pid) && pid > 0 && typeof host === 'string') return { pid, host };
  } catch {
    // Unreadable or not ours: treated as stale below.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
