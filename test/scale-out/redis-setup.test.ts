// Where the scale-out tests get Redis from (redis-setup.ts), every branch with an injected PATH,
// environment, uid and apt-get, so nothing on this machine is installed or removed; and the real
// harness on a PATH without Redis or apt-get, which must fail at once naming what to install.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './harness.js';
import { planRedis, resolveRedis, type RedisEnvironment } from './redis-setup.js';

/** A machine whose executables are exactly `executables` (absolute paths). */
function fakeMachine(fields: { path: string; executables: string[]; uid?: number; env?: Record<string, string> }): RedisEnvironment {
  const executables = new Set(fields.executables);
  return { env: { PATH: fields.path, ...fields.env }, uid: fields.uid, isExecutable: (path) => executables.has(path) };
}

const lockDir = join(mkdtempSync(join(tmpdir(), 'millrace-redis-setup-')), 'lock');
afterAll(() => rmSync(join(lockDir, '..'), { recursive: true, force: true }));

describe('planRedis', () => {
  it('uses MILLRACE_TEST_REDIS_URL first, even with redis-server on PATH', () => {
    const env = { MILLRACE_TEST_REDIS_URL: 'redis://10.0.0.5:6380' };
    const machine = fakeMachine({ path: '/usr/bin', executables: ['/usr/bin/redis-server'], env });
    expect(planRedis(machine)).toEqual({ kind: 'url', url: 'redis://10.0.0.5:6380' });
  });

  it('rejects a MILLRACE_TEST_REDIS_URL that is not a redis:// URL, naming the variable', () => {
    const plan = planRedis(fakeMachine({ path: '', executables: [], env: { MILLRACE_TEST_REDIS_URL: 'localhost:6379' } }));
    const message: unknown = expect.stringContaining('MILLRACE_TEST_REDIS_URL must be a redis://host:port URL');
    expect(plan).toMatchObject({ kind: 'missing', message });
  });

  it('finds redis-server on PATH, the first directory first', () => {
    const machine = fakeMachine({ path: '/opt/redis/bin:/usr/bin', executables: ['/usr/bin/redis-server', '/opt/redis/bin/redis-server'] });
    expect(planRedis(machine)).toEqual({ kind: 'server', command: '/opt/redis/bin/redis-server' });
  });

  it('falls back to valkey-server', () => {
    const executables = ['/usr/local/bin/valkey-server', '/usr/bin/apt-get'];
    const machine = fakeMachine({ path: '/usr/bin:/usr/local/bin', executables, uid: 0 });
    expect(planRedis(machine)).toEqual({ kind: 'server', command: '/usr/local/bin/valkey-server' });
  });

  it('plans an apt-get install as root when apt-get is there', () => {
    expect(planRedis(fakeMachine({ path: '/usr/sbin:/usr/bin', executables: ['/usr/bin/apt-get'], uid: 0 }))).toEqual({
      kind: 'install',
      aptGet: '/usr/bin/apt-get',
    });
  });

  it.each([
    ['not root', fakeMachine({ path: '/usr/bin', executables: ['/usr/bin/apt-get'], uid: 1000 }), 'not root'],
    ['no apt-get', fakeMachine({ path: '/usr/bin', executables: [], uid: 0 }), 'no apt-get'],
    ['no uid (Windows)', fakeMachine({ path: '/usr/bin', executables: ['/usr/bin/apt-get'] }), 'not root'],
  ])('otherwise gives one line naming what to install (%s)', (_case, machine, why) => {
    const plan = planRedis(machine);
    expect(plan.kind).toBe('missing');
    const message = plan.kind === 'missing' ? plan.message : '';
    expect(message).not.toContain('\n');
    expect(message).toContain(why);
    expect(message).toContain('apt-get install redis-server');
    expect(message).toContain('MILLRACE_TEST_REDIS_URL');
  });
});

describe('resolveRedis', () => {
  it('installs with apt-get once, saying so in one line, then uses the installed redis-server', async () => {
    const installed: string[] = [];
    const executables = ['/usr/bin/apt-get'];
    const machine = fakeMachine({ path: '/usr/bin', executables, uid: 0 });
    const isExecutable = (path: string): boolean => executables.includes(path) || installed.includes(path);
    const log: string[] = [];
    const source = await resolveRedis({
      environment: { ...machine, isExecutable },
      install: async (aptGet) => {
        expect(aptGet).toBe('/usr/bin/apt-get');
        installed.push('/usr/bin/redis-server');
      },
      log: (line) => log.push(line),
      lockDir,
    });
    expect(source).toEqual({ kind: 'server', command: '/usr/bin/redis-server' });
    expect(installed).toHaveLength(1);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^scale-out tests: no redis-server on PATH; installing it with '\/usr\/bin\/apt-get install redis-server'/);
  });

  it('rejects with the one-line message, and installs nothing, where it cannot install', async () => {
    let installs = 0;
    const setup = {
      environment: fakeMachine({ path: '/usr/bin', executables: ['/usr/bin/apt-get'], uid: 1000 }),
      install: async () => {
        installs++;
      },
      log: () => undefined,
      lockDir,
    };
    await expect(resolveRedis(setup)).rejects.toThrow(/^The scale-out tests need Redis.*not root.*apt-get install redis-server/);
    expect(installs).toBe(0);
  });
});

describe('the harness on a machine without Redis or apt-get', () => {
  it('fails at once with one line naming what to install (it used to wait 60 s for a hook timeout)', async () => {
    const emptyPath = mkdtempSync(join(tmpdir(), 'millrace-empty-path-'));
    try {
      const script =
        "import('./test/scale-out/harness.ts').then((h) => h.startRedis())" +
        '.then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })';
      const env: Record<string, string | undefined> = { ...process.env, PATH: emptyPath };
      delete env['MILLRACE_TEST_REDIS_URL'];
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^The scale-out tests need Redis.*no apt-get.*install redis-server/);
    } finally {
      rmSync(emptyPath, { recursive: true, force: true });
    }
  }, 20_000);
});
