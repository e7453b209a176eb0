// Where the scale-out tests get Redis from, so that `npm ci && npm test` passes on a fresh machine:
// MILLRACE_TEST_REDIS_URL if set, else redis-server (or valkey-server) on PATH, else an apt-get
// install when running as root, else an immediate one-line error naming what to install (instead of
// a hook timing out after 60 s without naming Redis). The decision is a pure function of PATH, the
// environment, the uid and what is executable, so every branch is unit-tested without touching the
// machine (redis-setup.test.ts).
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

/** What the decision looks at; the real machine's is {@link machine}. */
export interface RedisEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The effective uid; undefined where there is none (Windows). */
  readonly uid: number | undefined;
  readonly isExecutable: (path: string) => boolean;
}

export type RedisPlan =
  /** Use this Redis as given (the tests reach it through a proxy they can cut). */
  | { readonly kind: 'url'; readonly url: string }
  /** Start this redis-server (or valkey-server) binary on a free port. */
  | { readonly kind: 'server'; readonly command: string }
  /** Install redis-server with this apt-get, then look again. */
  | { readonly kind: 'install'; readonly aptGet: string }
  /** Fail at once with this one-line message. */
  | { readonly kind: 'missing'; readonly message: string };

export const SERVER_COMMANDS = ['redis-server', 'valkey-server'] as const;

const WHAT_TO_INSTALL =
  'install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis; Fedora: dnf install redis) ' +
  'or valkey-server, ' +
  'or set MILLRACE_TEST_REDIS_URL=redis://host:port to a scratch Redis';

/** The first `name` on `PATH` that is executable. */
export function findOnPath(name: string, environment: RedisEnvironment): string | undefined {
  for (const dir of (environment.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (environment.isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Decides where the scale-out tests get Redis from. */
export function planRedis(environment: RedisEnvironment): RedisPlan {
  const url = environment.env['MILLRACE_TEST_REDIS_URL'];
  if (url !== undefined && url !== '') {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      protocol = '';
    }
    if (protocol !== 'redis:') return { kind: 'missing', message: `MILLRACE_TEST_REDIS_URL must be a redis://host:port URL, not '${url}'` };
    return { kind: 'url', url };
  }
  for (const name of SERVER_COMMANDS) {
    const command = findOnPath(name, environment);
    if (command !== undefined) return { kind: 'server', command };
  }
  const aptGet = findOnPath('apt-get', environment);
  if (aptGet !== undefined && environment.uid === 0) return { kind: 'install', aptGet };
  const why = aptGet === undefined ? 'no apt-get to install it with' : 'not root, so not installing it with apt-get';
  const message = `The scale-out tests need Redis, and there is no redis-server or valkey-server on PATH (${why}): ${WHAT_TO_INSTALL}.`;
  return { kind: 'missing', message };
}

/** This machine, as {@link planRedis} sees it. */
export function machine(): RedisEnvironment {
  return {
    env: process.env,
    uid: process.getuid?.(),
    isExecutable: (path) => {
      try {
        accessSync(path, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
  };
}

export type RedisSource = { readonly kind: 'url'; readonly url: string } | { readonly kind: 'server'; readonly command: string };

/** What {@link resolveRedis} uses; tests replace parts of it. */
export interface RedisSetup {
  readonly environment: RedisEnvironment;
  readonly install: (aptGet: string) => Promise<void>;
  readonly log: (line: string) => void;
  readonly lockDir: string;
}

let resolved: Promise<RedisSource> | undefined;

/**
 * Where to get Redis from on this machine, installing redis-server first if that is the plan;
 * once per process (and across processes through a lock directory, so test files running in
 * parallel never run two apt-gets at once). Rejects with a one-line error when Redis cannot be had.
 */
export function ensureRedis(): Promise<RedisSource> {
  resolved ??= resolveRedis({
    environment: machine(),
    install: aptGetInstall,
    log: (line) => console.log(line),
    lockDir: join(tmpdir(), 'millrace-test-redis-install.lock'),
  });
  return resolved;
}

/** {@link ensureRedis} without the memo, for a given setup. */
export async function resolveRedis(setup: RedisSetup): Promise<RedisSource> {
  const plan = planRedis(setup.environment);
  if (plan.kind === 'url' || plan.kind === 'server') return plan;
  if (plan.kind === 'missing') throw new Error(plan.message);
  const release = await lock(setup.lockDir);
  try {
    const again = planRedis(setup.environment); // another test process may have installed it meanwhile
    if (again.kind === 'url' || again.kind === 'server') return again;
    if (again.kind === 'missing') throw new Error(again.message);
    setup.log(`scale-out tests: no redis-server on PATH; installing it with '${again.aptGet} install redis-server' (running as root)`);
    await setup.install(again.aptGet);
  } finally {
    release();
  }
  const after = planRedis(setup.environment);
  if (after.kind === 'server') return after;
  throw new Error(`apt-get installed redis-server, but it is still not on PATH: ${WHAT_TO_INSTALL}.`);
}

const run = promisify(execFile);

async function aptGetInstall(aptGet: string): Promise<void> {
  const options = { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 * 1024 * 1024 };
  try {
    await run(aptGet, ['update', '-qq'], options);
    await run(aptGet, ['install', '-y', '-qq', '--no-install-recommends', 'redis-server'], options);
  } catch (error) {
    const output =
      String((error as { stderr?: string | Buffer }).stderr ?? '')
        .trim()
        .split('\n')
        .pop() ?? '';
    throw new Error(`Installing redis-server with apt-get failed (${output || String(error)}): ${WHAT_TO_INSTALL}.`, { cause: error });
  }
}

/** Takes a lock directory (holding the owner's pid), waiting while a live process holds it. */
async function lock(dir: string): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (!holderAlive(dir)) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    await delay(250); // another process is installing; apt-get takes seconds to minutes
  }
}

function holderAlive(dir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
  } catch {
    // Made but no pid yet: its holder is writing it, unless the directory is old (a crash).
    try {
      return Date.now() - statSync(dir).mtimeMs < 10_000;
    } catch {
      return false;
    }
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
