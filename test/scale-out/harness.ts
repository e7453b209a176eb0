// Real Redis and real worker processes for the scale-out tests: a redis-server on a free loopback
// port with persistence off, stopped by pid; `millrace worker` processes spawned from source.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

async function freePort(): Promise<number> {
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
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts redis-server on a free loopback port (or on `port`, to bring a stopped one back), persistence off. */
export async function startRedis(port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('error', () => undefined);
  await waitForLine(child, 'stdout', /Ready to accept connections/, 'redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    stop: async () => {
      await stopProcess(child, 'SIGKILL');
    },
  };
}

export interface WorkerProcess {
  readonly process: ChildProcess;
  /** Everything the worker wrote to stderr so far. */
  readonly stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `millrace worker` from source (node --import tsx bin/millrace.ts) and waits until it is ready. */
export async function startWorkerProcess(
  redisUrl: string,
  queue: string,
  extra: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bin/millrace.ts', 'worker', '--redis', redisUrl, '--queue', queue, '--concurrency', '2', '--lock-ms', '1000', ...extra],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MILLRACE_CODE_VERSION: '', ...env } },
  );
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  await waitForLine(child, 'stdout', /millrace worker ready/, 'millrace worker');
  return { process: child, stderr: () => stderr, stop: (signal = 'SIGTERM') => stopProcess(child, signal) };
}
