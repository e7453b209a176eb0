// Real Redis and real worker processes for the scale-out tests: a redis-server on a free loopback
// port with persistence off, stopped by pid (or a proxy to MILLRACE_TEST_REDIS_URL); `millrace
// worker` processes spawned from source.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ensureRedis } from './redis-setup.js';
import { nodeScript } from '../fixtures/node-script.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A TCP port on the loopback interface that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Resolves when `pattern` shows up on the stream; rejects if the process exits first. */
export function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (data: Buffer): void => {
      seen += data.toString();
      if (pattern.test(seen)) {
        child[stream]!.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`${what} exited (code ${code}) before it was ready:\n${seen}`));
    child[stream]!.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Sends `signal` to a child by pid and waits for it to exit. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  process.kill(child.pid!, signal);
  const [code] = (await exited) as [number | null];
  return code;
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Makes this Redis unreachable, as if its server had died. */
  stop(): Promise<void>;
}

/**
 * A Redis of its own for a test, on a free loopback port: a fresh redis-server (persistence off),
 * or, with MILLRACE_TEST_REDIS_URL (a scratch Redis: its database is emptied first), a proxy to
 * that Redis, so that `stop()` can still take it away.
 * Where neither is available, redis-server is installed first (as root, with apt-get) or this
 * fails at once naming what to install; see redis-setup.ts. Given a `port` (a stopped one's), it
 * comes back on that port.
 */
export async function startRedis(port?: number): Promise<RedisServer> {
  const source = await ensureRedis();
  if (source.kind === 'server') return startServer(source.command, port);
  emptied ??= emptyDatabase(source.url);
  await emptied;
  return startProxy(source.url, port);
}

let emptied: Promise<void> | undefined;

/**
 * Empties the database of MILLRACE_TEST_REDIS_URL once per test process: the tests count the keys
 * their queues leave, so what an earlier run left would fail them (a fresh redis-server is empty).
 */
async function emptyDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const commands: string[][] = [];
  if (target.password !== '') {
    const user = target.username === '' ? [] : [decodeURIComponent(target.username)];
    commands.push(['AUTH', ...user, decodeURIComponent(target.password)]);
  }
  const db = target.pathname.replace(/^\//, '');
  if (db !== '') commands.push(['SELECT', db]);
  commands.push(['FLUSHDB']);
  const socket = connect(Number(target.port || 6379), target.hostname);
  try {
    await once(socket, 'connect');
    // RESP: each command is an array of bulk strings; each reply here is one line (+OK or -ERR).
    socket.write(commands.map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''));
    let replies = '';
    while (replies.split('\r\n').length <= commands.length) {
      const [data] = (await once(socket, 'data')) as [Buffer];
      replies += data.toString();
    }
    const failed = replies.split('\r\n').find((line) => line.startsWith('-'));
    if (failed !== undefined) throw new Error(`MILLRACE_TEST_REDIS_URL: emptying the test database failed: ${failed.slice(1)}`);
  } finally {
    socket.destroy();
  }
}

async function startServer(command: string, wanted?: number): Promise<RedisServer> {
  const port = wanted ?? (await freePort());
  const child = spawn(command, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', (error) => reject(new Error(`${command}: ${error.message}`))));
  await Promise.race([waitForLine(child, 'stdout', /Ready to accept connections/, command), spawnFailed]);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProcess(child, 'SIGKILL');
    },
  };
}

/** Forwards a free loopback port to the Redis at `url`; stopping it cuts every connection. */
async function startProxy(url: string, port = 0): Promise<RedisServer> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined); // the other side is destroyed with it just below
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(address.port);
  let stopped: Promise<void> | undefined;
  return {
    url: proxied.href,
    port: address.port,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
  };
}

export interface WorkerProcess {
  readonly process: ChildProcess;
  /** Everything the worker wrote to stderr so far. */
  readonly stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `millrace worker` from source (bin/millrace.ts, see nodeScript) and waits until it is ready. */
export async function startWorkerProcess(
  redisUrl: string,
  queue: string,
  extra: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    [
      ...nodeScript('bin/millrace.ts'),
      'worker',
      '--redis',
      redisUrl,
      '--queue',
      queue,
      '--concurrency',
      '2',
      '--lock-ms',
      '1000',
      ...extra,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MILLRACE_CODE_VERSION: '', ...env } },
  );
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  await waitForLine(child, 'stdout', /millrace worker ready/, 'millrace worker');
  return { process: child, stderr: () => stderr, stop: (signal = 'SIGTERM') => stopProcess(child, signal) };
}
