#!/usr/bin/env node
/**
 * The `millrace` command. `millrace worker` runs chunk jobs from a BullMQ queue on this host (see
 * the scale-out guide); Ctrl-C (or SIGTERM) lets the running chunks finish, then exits; a second
 * Ctrl-C exits at once (the chunks it held are re-run elsewhere).
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseRedisEndpoint, type RedisEndpoint } from '../lib/backends/bullmq/connection.js';
import { startWorker } from '../lib/backends/bullmq/worker.js';

const USAGE = `Usage: millrace worker --redis redis://host:port --queue NAME [options]

Runs millrace chunk jobs from a BullMQ queue on this host's worker threads, loading task
modules from this host's copy of the code (paths relative to --root).

Options:
  --redis URL            Redis, redis://[user:password@]host:port[/db] (rediss:// for TLS)  (required)
  --queue NAME           the queue the flows use (the bullmq backend's queue option)       (required)
  --concurrency N        chunks at once, one worker thread each (default: CPU count)
  --root DIR             where task module paths are resolved from (default: current directory);
                         only files whose real path is inside it are run (node_modules/ included)
  --allow PATH[#EXPORT]  run only this task module (relative to --root), or only this export of
                         it; repeat for several (default: any module under --root)
  --tls-ca FILE          trust this CA (PEM) for the server's certificate (turns TLS on)
  --tls-cert FILE        present this client certificate (PEM), for tls-auth-clients (turns TLS on)
  --tls-key FILE         the client certificate's private key (PEM)
  --max-job-items N      refuse jobs with more items (default 1000000)
  --max-job-bytes N      refuse jobs whose encoded chunk is bigger (default 67108864, 64 MiB)
  --code-version V       this build's version (default: $MILLRACE_CODE_VERSION, else name@version
                         of the nearest package.json); jobs of another version are refused
  --lock-ms N            job lock duration; a dead worker's jobs re-run after about 2×N ms (default 5000)
  --max-stalled N        times a job may lose its worker and be handed to another before it
                         fails as poison (default 1)
  --prefix P             BullMQ key prefix (default: bull)
  -h, --help             this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'worker') {
    process.stderr.write(`millrace: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        redis: { type: 'string' },
        queue: { type: 'string' },
        concurrency: { type: 'string' },
        root: { type: 'string' },
        allow: { type: 'string', multiple: true },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'max-job-items': { type: 'string' },
        'max-job-bytes': { type: 'string' },
        'max-stalled': { type: 'string' },
        'code-version': { type: 'string' },
        'lock-ms': { type: 'string' },
        prefix: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`millrace worker: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.redis === undefined || values.queue === undefined) {
    process.stderr.write(`millrace worker: --redis and --queue are required\n\n${USAGE}`);
    return 2;
  }
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  // TLS files make an endpoint object of the URL (parsed here, so a malformed one is reported with
  // its password redacted, like any other).
  const tlsFiles = { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] };
  let connection: string | RedisEndpoint = values.redis;
  if (tlsFiles.ca !== undefined || tlsFiles.cert !== undefined || tlsFiles.key !== undefined) {
    const endpoint = parseRedisEndpoint(values.redis);
    const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    for (const [field, file] of Object.entries(tlsFiles) as ['ca' | 'cert' | 'key', string | undefined][]) {
      if (file === undefined) continue;
      try {
        tls[field] = readFileSync(file);
      } catch (error) {
        process.stderr.write(`millrace worker: --tls-${field} ${file}: ${error instanceof Error ? error.message : String(error)}\n`);
        return 2;
      }
    }
    connection = { ...endpoint, tls: { ...(typeof endpoint.tls === 'object' ? endpoint.tls : {}), ...tls } };
  }
  const worker = await startWorker({
    connection,
    queue: values.queue,
    ...(values.concurrency !== undefined ? { concurrency: Number(values.concurrency) } : {}),
    ...(values.root !== undefined ? { root: values.root } : {}),
    ...(values.allow !== undefined ? { allow: values.allow } : {}),
    ...(values['max-job-items'] !== undefined ? { maxJobItems: Number(values['max-job-items']) } : {}),
    ...(values['max-job-bytes'] !== undefined ? { maxJobBytes: Number(values['max-job-bytes']) } : {}),
    ...(values['max-stalled'] !== undefined ? { maxStalledCount: Number(values['max-stalled']) } : {}),
    ...(values['code-version'] !== undefined ? { codeVersion: values['code-version'] } : {}),
    ...(values['lock-ms'] !== undefined ? { lockDurationMs: Number(values['lock-ms']) } : {}),
    ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
    log,
  });
  // Tests and supervisors wait for this line on stdout.
  process.stdout.write(`millrace worker ready: queue=${values.queue} code-version=${worker.codeVersion} pid=${process.pid}\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log(`millrace worker: ${signal} again, exiting without waiting; held chunks will be re-run elsewhere`);
        process.exit(130);
      }
      stopping = true;
      log(`millrace worker: ${signal}: taking no more jobs; finishing the running ones, then exiting (${signal} again to exit now)`);
      worker.close().then(
        () => resolve(0),
        (error: unknown) => {
          log(`millrace worker: error while stopping: ${error instanceof Error ? error.message : String(error)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`millrace: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
