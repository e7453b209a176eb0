// Issue 18: a worker trusts nothing it reads from Redis. Hostile jobs are written straight into the
// queue (bullmq's Queue.add and raw Redis commands), as anyone who can write to that Redis could;
// real redis-server processes (one with a password and an ACL user, one with mutual TLS) and real
// `millrace worker` processes, as in bullmq.test.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serialize } from 'node:v8';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bullmq,
  createPool,
  flow,
  InvalidOptionError,
  JobRefusedError,
  parallelMap,
  PoisonJobError,
  RedisAuthError,
  tasks,
  type Pool,
} from 'millrace';
import {
  freePort,
  repoRoot,
  startRedis,
  startWorkerProcess,
  stopProcess,
  waitForLine,
  type RedisServer,
  type WorkerProcess,
} from './harness.js';
import { ensureRedis } from './redis-setup.js';
import { describeEndpoint, redactConnection } from '../../lib/backends/bullmq/connection.js';
import { nodeScript } from '../fixtures/node-script.js';

const CODE_VERSION = 'security-test';

let redis: RedisServer;
/** A scratch directory: the workers' `--root`, its sibling `<root>x`, and a folder outside both. */
let scratch: string;
let root: string;
let outside: string;
const started: WorkerProcess[] = [];
const closers: { close(): Promise<unknown> }[] = [];
const servers: ChildProcess[] = [];

/** The task module inside the root; each export writes nothing, so only refused modules leave marks. */
const GOOD = `export function double(x) { return 2 * x; }
export function triple(x) { return 3 * x; }
/** Ends its worker process (not only its thread): a job that kills whoever runs it. */
export function die(x) { process.kill(process.pid, 'SIGKILL'); return x; }
`;

/** A module that leaves a mark when imported and when called: refused modules must do neither. */
function evilModule(dir: string): string {
  return `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(join(dir, 'imported'))}, 'x');
export function pwn(marker) { writeFileSync(marker, 'x'); return 1; }
`;
}

async function worker(queue: string, extra: readonly string[] = [], url = redis.url): Promise<WorkerProcess> {
  const process = await startWorkerProcess(url, queue, ['--root', root, '--code-version', CODE_VERSION, ...extra]);
  started.push(process);
  return process;
}

function queueOf(name: string, port = redis.port): Queue {
  const queue = new Queue(name, { connection: { host: '127.0.0.1', port } });
  closers.push(queue);
  return queue;
}

function eventsOf(name: string): QueueEvents {
  const events = new QueueEvents(name, { connection: { host: '127.0.0.1', port: redis.port } });
  closers.push(events);
  return events;
}

/** A job as a millrace producer would write it, around any decoded request, even a hostile one. */
function jobData(request: unknown): Record<string, unknown> {
  return { protocol: 1, codeVersion: CODE_VERSION, task: 'x', request: serialize(request).toString('base64') };
}

function callRequest(moduleUrl: string, exportName: string, boundArgs: unknown[], items: unknown): Record<string, unknown> {
  return { mode: 'call', task: { moduleUrl, exportName, boundArgs, setupArgs: [] }, items };
}

/** The failedReason a job ends with (it must fail, not complete and not hang). */
async function failureOf(job: Job, events: QueueEvents): Promise<string> {
  try {
    const value: unknown = await job.waitUntilFinished(events);
    return `completed: ${String(value)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function remotePool(queue: string, options: Partial<Parameters<typeof bullmq>[0]> = {}): Pool {
  return createPool({
    backend: bullmq({ connection: redis.url, queue, capacity: 2, redisTimeoutMs: 5_000, root, codeVersion: CODE_VERSION, ...options }),
  });
}

/** A redis-server of this test's own with extra arguments (a password, TLS); undefined when the tests use MILLRACE_TEST_REDIS_URL. */
async function startOwnRedis(args: (port: number) => string[]): Promise<number | undefined> {
  const source = await ensureRedis();
  if (source.kind !== 'server') return undefined;
  const port = await freePort();
  const child = spawn(source.command, ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  await waitForLine(child, 'stdout', /Ready to accept connections/, source.command);
  return port;
}

/** Runs `redis-cli`-free commands through a bullmq Queue's ioredis client. */
async function redisCall(queue: Queue, ...args: string[]): Promise<unknown> {
  const client = (await queue.client) as unknown as { call(...args: string[]): Promise<unknown> };
  return client.call(...args);
}

beforeAll(async () => {
  redis = await startRedis();
  scratch = realpathSync(mkdtempSync(join(tmpdir(), 'millrace-sec-')));
  root = join(scratch, 'root');
  outside = join(scratch, 'outside');
  for (const dir of [root, outside, `${root}x`]) mkdirSync(dir);
  writeFileSync(join(root, 'good.mjs'), GOOD);
  writeFileSync(join(outside, 'evil.mjs'), evilModule(outside));
  writeFileSync(join(`${root}x`, 'evil.mjs'), evilModule(`${root}x`));
  symlinkSync(join(outside, 'evil.mjs'), join(root, 'link.mjs'));
}, 600_000);

afterAll(async () => {
  await Promise.all(closers.map((closer) => closer.close().catch(() => undefined)));
  await Promise.all(started.map((process) => process.stop('SIGKILL')));
  await Promise.all(servers.map((server) => stopProcess(server, 'SIGKILL')));
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await redis?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('a worker decides what code it runs (#1)', () => {
  it('refuses every module that is not a file inside its root, before importing it', async () => {
    const marker = join(scratch, 'pwned');
    const evil = join(outside, 'evil.mjs');
    const cases: [string, string, unknown[]][] = [
      ['node:child_process', 'execFileSync', ['/usr/bin/touch', [marker]]],
      ['node:fs', 'writeFileSync', [marker, 'x']],
      [evil, 'pwn', [marker]],
      [relative(root, evil), 'pwn', [marker]],
      ['link.mjs', 'pwn', [marker]],
      [`${pathToFileURL(root).href}/%2e%2e/outside/evil.mjs`, 'pwn', [marker]],
      [pathToFileURL(evil).href, 'pwn', [marker]],
      [`data:text/javascript,${encodeURIComponent(evilModule(outside))}`, 'pwn', [marker]],
      [pathToFileURL(join(`${root}x`, 'evil.mjs')).href, 'pwn', [marker]],
      ['../rootx/evil.mjs', 'pwn', [marker]],
      ['http://127.0.0.1:9/evil.mjs', 'pwn', [marker]],
    ];
    const only = await worker('modules', ['--concurrency', '1']);
    const queue = queueOf('modules');
    const events = eventsOf('modules');
    await events.waitUntilReady();
    for (const [moduleUrl, exportName, boundArgs] of cases) {
      const job = await queue.add('hostile', jobData(callRequest(moduleUrl, exportName, boundArgs, [{}])));
      const reason = await failureOf(job, events);
      expect(reason, moduleUrl).toMatch(/"kind":"refused","reason":"module"/);
      expect(existsSync(marker), moduleUrl).toBe(false);
    }
    expect(existsSync(join(outside, 'imported'))).toBe(false);
    expect(existsSync(join(`${root}x`, 'imported'))).toBe(false);
    expect(only.stderr()).toMatch(/refused job \S+: task module "node:child_process" is refused/);
    // A module inside the root still runs.
    const good = await queue.add('good', jobData(callRequest('good.mjs', 'double', [], [21])));
    expect(await failureOf(good, events)).toMatch(/^completed/);
  }, 60_000);

  it('runs only the allow-listed modules and exports, and the producer sees a JobRefusedError with the job id', async () => {
    await worker('allowed', ['--allow', 'good.mjs#double']);
    const good = tasks<{ double(x: number): number; triple(x: number): number }>(pathToFileURL(join(root, 'good.mjs')));
    const pool = remotePool('allowed');
    try {
      expect(await flow([1, 2]).pipe(parallelMap(good.double, { pool })).toArray()).toEqual([2, 4]);
      const error: unknown = await flow([1, 2])
        .pipe(parallelMap(good.triple, { pool }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(JobRefusedError);
      const refused = error as JobRefusedError;
      expect(refused.reason).toBe('module');
      expect(refused.jobId).toMatch(/^[0-9a-z]+-\d+/);
      expect(refused.message).toContain(refused.jobId);
      expect(refused.message).toMatch(/good\.mjs#triple.*allow-list/);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('a worker checks every job before it runs it (#2, #3, #4, poison)', () => {
  it('fails a job with a fake-large items array alone, with its id, and no worker dies (#2)', async () => {
    const fleet = await Promise.all([worker('large'), worker('large'), worker('large')]);
    const queue = queueOf('large');
    const events = eventsOf('large');
    await events.waitUntilReady();
    const sparse: unknown[] = [];
    sparse.length = 2 ** 31;
    for (const items of [{ length: 2 ** 31 }, sparse]) {
      const job = await queue.add('hostile', jobData(callRequest('good.mjs', 'double', [], items)));
      const reason = await failureOf(job, events);
      expect(reason).toMatch(/"kind":"refused","reason":"malformed"/);
      expect(reason).toMatch(/items/);
    }
    expect(fleet.map((member) => member.process.exitCode)).toEqual([null, null, null]);
    expect(fleet.some((member) => /refused job \S+: the chunk has/.test(member.stderr()))).toBe(true);
    const good = await queue.add('good', jobData(callRequest('good.mjs', 'double', [], [1])));
    expect(await failureOf(good, events)).toMatch(/^completed/);
  }, 60_000);

  it('fails a job with items: null (and other bad shapes) at once, and the slot takes the next job (#3)', async () => {
    await worker('shape', ['--concurrency', '1']);
    const queue = queueOf('shape');
    const events = eventsOf('shape');
    await events.waitUntilReady();
    const bad: unknown[] = [
      callRequest('good.mjs', 'double', [], null),
      callRequest('good.mjs', 'double', null as unknown as unknown[], [1]),
      { mode: 'call', task: { moduleUrl: 42, exportName: 'double', boundArgs: [], setupArgs: [] }, items: [1] },
      { mode: 'other', items: [] },
      'not an object',
    ];
    for (const request of bad) {
      const job = await queue.add('hostile', jobData(request));
      expect(await failureOf(job, events)).toMatch(/"kind":"refused","reason":"malformed"/);
    }
    const good = await queue.add('good', jobData(callRequest('good.mjs', 'double', [], [1])));
    expect(await failureOf(good, events)).toMatch(/^completed/);
  }, 60_000);

  it('fails a job whose data or options are not JSON, with its id (#4)', async () => {
    const queue = queueOf('json');
    const events = eventsOf('json');
    await events.waitUntilReady();
    // Queued before any worker listens, then broken in place: the worker reads them as they are.
    const brokenData = await queue.add('hostile', jobData(callRequest('good.mjs', 'double', [], [1])));
    const brokenOpts = await queue.add('hostile', jobData(callRequest('good.mjs', 'double', [], [1])));
    await redisCall(queue, 'HSET', `bull:json:${brokenData.id!}`, 'data', '{not json');
    await redisCall(queue, 'HSET', `bull:json:${brokenOpts.id!}`, 'opts', '{not json');
    const only = await worker('json', ['--concurrency', '1']);
    expect(await failureOf(brokenData, events)).toMatch(/"kind":"refused","reason":"malformed".*data is not JSON/);
    expect(await failureOf(brokenOpts, events)).toMatch(/"kind":"refused","reason":"malformed".*opts is not JSON/);
    expect(only.stderr()).toContain(`refused job ${brokenData.id!}: the job's data is not JSON`);
    const good = await queue.add('good', jobData(callRequest('good.mjs', 'double', [], [1])));
    expect(await failureOf(good, events)).toMatch(/^completed/);
  }, 60_000);

  it('does not hand a job that kills its workers to the whole fleet: it fails as a PoisonJobError', async () => {
    const fleet = await Promise.all([worker('poison'), worker('poison'), worker('poison')]);
    const good = tasks<{ die(x: number): number }>(pathToFileURL(join(root, 'good.mjs')));
    const pool = remotePool('poison', { redisTimeoutMs: 60_000 });
    try {
      const error: unknown = await flow([1])
        .pipe(parallelMap(good.die, { pool }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PoisonJobError);
      expect((error as PoisonJobError).jobId).toMatch(/^[0-9a-z]+-\d+/);
      // maxStalledCount 1 (the default): the job ran on two workers, and the third lives.
      expect(fleet.filter((member) => member.process.exitCode === null && member.process.signalCode === null)).toHaveLength(1);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('secrets are never printed (#5)', () => {
  it('redacts the password of a malformed URL in the message and in InvalidOptionError.value', () => {
    let error: unknown;
    try {
      bullmq({ connection: 'redis://:hunter2@host:notaport', queue: 'q', codeVersion: 'v' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    const invalid = error as InvalidOptionError;
    expect(invalid.message).not.toContain('hunter2');
    expect(JSON.stringify(invalid.value)).not.toContain('hunter2');
    expect(invalid.value).toBe('redis://:***@host:notaport');
    expect(() => bullmq({ connection: 'redis://admin:hunter2@host/x', queue: 'q', codeVersion: 'v' })).toThrow(
      /redis:\/\/admin:\*\*\*@host\/x/,
    );
  });

  it('redacts the password whatever characters it holds, and describes endpoints without it', () => {
    expect(redactConnection('redis://user:pa@ss/w#rd@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactConnection('rediss://:hunter2@[::1]:notaport')).toBe('rediss://:***@[::1]:notaport');
    expect(redactConnection('redis://host:6379')).toBe('redis://host:6379');
    expect(redactConnection({ host: 'h', password: 'hunter2' })).toEqual({ host: 'h', password: '***' });
    expect(describeEndpoint('redis://admin:hunter2@10.0.0.5:6379/2')).toBe('redis://admin:***@10.0.0.5:6379/2');
    expect(describeEndpoint({ host: '10.0.0.5', password: 'hunter2', tls: { servername: 'r' } })).toBe('rediss://:***@10.0.0.5:6379/0');
  });

  it('redacts it on the command line too', async () => {
    const child = spawn(
      process.execPath,
      [...nodeScript('bin/millrace.ts'), 'worker', '--redis', 'redis://:hunter2@host:notaport', '--queue', 'q', '--code-version', 'v'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).not.toBe(0);
    expect(output).not.toContain('hunter2');
    expect(output).toContain('redis://:***@host:notaport');
  }, 30_000);
});

describe('permanent Redis errors are not outages (#7)', () => {
  let port: number | undefined;
  beforeAll(async () => {
    port = await startOwnRedis((p) => ['--port', String(p), '--requirepass', 'right-password']);
  }, 60_000);

  it('fails the flow at once with a RedisAuthError on a wrong password, the password redacted', async (context) => {
    if (port === undefined) return context.skip();
    // A long redisTimeoutMs: only a failure that does not wait for it can end this test in time.
    const pool = createPool({
      backend: bullmq({
        connection: `redis://:wrong-password@127.0.0.1:${port}`,
        queue: 'auth',
        root,
        codeVersion: 'v',
        redisTimeoutMs: 600_000,
      }),
    });
    try {
      const error: unknown = await flow([1])
        .pipe(parallelMap(tasks<{ double(x: number): number }>(pathToFileURL(join(root, 'good.mjs'))).double, { pool }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisAuthError);
      const auth = error as RedisAuthError;
      expect(auth.code).toBe('WRONGPASS');
      expect(auth.endpoint).toBe(`redis://:***@127.0.0.1:${port}/0`);
      expect(auth.message).toMatch(/authentication/);
      expect(auth.message).not.toContain('wrong-password');
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('fails the flow with a RedisAuthError when the ACL user may not use the queue (NOPERM)', async (context) => {
    if (port === undefined) return context.skip();
    const adminQueue = new Queue('acl-admin', { connection: { host: '127.0.0.1', port, password: 'right-password' } });
    closers.push(adminQueue);
    await redisCall(adminQueue, 'ACL', 'SETUSER', 'reader', 'on', '>reader-password', '~*', '&*', '+@read', '+@connection', '+info');
    const pool = createPool({
      backend: bullmq({
        connection: `redis://reader:reader-password@127.0.0.1:${port}`,
        queue: 'acl',
        root,
        codeVersion: 'v',
        redisTimeoutMs: 600_000,
      }),
    });
    try {
      const error: unknown = await flow([1])
        .pipe(parallelMap(tasks<{ double(x: number): number }>(pathToFileURL(join(root, 'good.mjs'))).double, { pool }))
        .toArray()
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisAuthError);
      expect((error as RedisAuthError).code).toBe('NOPERM');
      expect((error as RedisAuthError).message).not.toContain('reader-password');
    } finally {
      await pool.close();
    }
  }, 30_000);

  it("runs a flow with the ACL user the scale-out guide recommends (the queue's keys and channels only)", async (context) => {
    if (port === undefined) return context.skip();
    const adminQueue = new Queue('acl-admin', { connection: { host: '127.0.0.1', port, password: 'right-password' } });
    closers.push(adminQueue);
    // The guide's command, word for word.
    await redisCall(adminQueue, 'ACL', 'SETUSER', 'millrace', 'on', '>a-long-random-password', 'resetkeys', '~bull:logs:*');
    await redisCall(adminQueue, 'ACL', 'SETUSER', 'millrace', 'resetchannels', '&bull:logs:*', '+@all', '-@dangerous', '+info');
    await redisCall(adminQueue, 'ACL', 'SETUSER', 'millrace', '+client|setname', '+client|getname', '+client|list');
    const url = `redis://millrace:a-long-random-password@127.0.0.1:${port}`;
    await worker('logs', [], url);
    const pool = createPool({ backend: bullmq({ connection: url, queue: 'logs', root, codeVersion: CODE_VERSION }) });
    try {
      const good = tasks<{ double(x: number): number }>(pathToFileURL(join(root, 'good.mjs')));
      expect(await flow([1, 2, 3]).pipe(parallelMap(good.double, { pool })).toArray()).toEqual([2, 4, 6]);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('makes millrace worker exit non-zero with one line naming authentication', async (context) => {
    if (port === undefined) return context.skip();
    const child = spawn(
      process.execPath,
      [
        ...nodeScript('bin/millrace.ts'),
        'worker',
        '--redis',
        `redis://:wrong-password@127.0.0.1:${port}`,
        '--queue',
        'q',
        '--code-version',
        'v',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/refused access: authentication failed/);
    expect(stderr).not.toContain('wrong-password');
  }, 30_000);
});

describe('an unserved queue speaks (#8)', () => {
  it('warns once, naming the queue and the command that starts a worker for it, and keeps waiting', async () => {
    const pool = remotePool('nobody-serves-this', { unservedWarningMs: 50 });
    const controller = new AbortController();
    const warned = new Promise<Error>((resolve) => {
      const onWarning = (warning: Error): void => {
        if (warning.name !== 'MillraceUnservedQueueWarning') return;
        process.off('warning', onWarning);
        resolve(warning);
      };
      process.on('warning', onWarning);
    });
    const good = tasks<{ double(x: number): number }>(pathToFileURL(join(root, 'good.mjs')));
    const running = flow([1], { signal: controller.signal })
      .pipe(parallelMap(good.double, { pool }))
      .toArray()
      .catch((caught: unknown) => caught);
    try {
      const warning = await warned;
      expect(warning.message).toContain('"nobody-serves-this"');
      expect(warning.message).toContain(`npx millrace worker --redis ${redis.url.replace(/\/?$/, '')}/0 --queue nobody-serves-this`);
      controller.abort(new Error('stop waiting'));
      expect(await running).toMatchObject({ message: 'stop waiting' });
    } finally {
      await pool.close();
    }
  }, 30_000);
});

describe('TLS like the rest of Node (#6)', () => {
  let port: number | undefined;
  let certs: string;
  beforeAll(async () => {
    certs = join(scratch, 'certs');
    mkdirSync(certs);
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=millrace test CA',
    );
    for (const name of ['server', 'client']) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      writeFileSync(join(certs, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      );
    }
    port = await startOwnRedis((p) => [
      '--port',
      '0',
      '--tls-port',
      String(p),
      '--tls-cert-file',
      join(certs, 'server.crt'),
      '--tls-key-file',
      join(certs, 'server.key'),
      '--tls-ca-cert-file',
      join(certs, 'ca.crt'),
      '--tls-auth-clients',
      'yes',
    ]);
  }, 60_000);

  it('runs a flow over mutual TLS: a private CA and a client certificate on both sides', async (context) => {
    if (port === undefined) return context.skip();
    const file = (name: string): Buffer => readFileSync(join(certs, name));
    await startWorkerProcess(`rediss://127.0.0.1:${port}`, 'tls', [
      '--root',
      root,
      '--code-version',
      CODE_VERSION,
      '--tls-ca',
      join(certs, 'ca.crt'),
      '--tls-cert',
      join(certs, 'client.crt'),
      '--tls-key',
      join(certs, 'client.key'),
    ]).then((process) => started.push(process));
    const good = tasks<{ double(x: number): number }>(pathToFileURL(join(root, 'good.mjs')));
    const pool = createPool({
      backend: bullmq({
        connection: { host: '127.0.0.1', port, tls: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') } },
        queue: 'tls',
        root,
        codeVersion: CODE_VERSION,
      }),
    });
    try {
      expect(await flow([1, 2, 3]).pipe(parallelMap(good.double, { pool })).toArray()).toEqual([2, 4, 6]);
    } finally {
      await pool.close();
    }
  }, 60_000);
});
