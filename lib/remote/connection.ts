/**
 * Redis endpoints: a `redis://` URL or an object, turned into the connection options the queue
 * library takes, with reconnection that never gives up (liveness is bounded by the backend's own
 * watchdog, not by ioredis, which by default retries forever and queues commands meanwhile).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';

/**
 * Where Redis is, as an object (the alternative to a `redis://user:password@host:port/db` URL;
 * `rediss://` turns TLS on).
 *
 * @example
 * ```ts
 * import type { RedisEndpoint } from 'millrace';
 * const endpoint: RedisEndpoint = { host: '10.0.0.5', port: 6379, db: 2 };
 * ```
 * @category Scale-out
 */
export interface RedisEndpoint {
  /**
   * Host name or address.
   * @defaultValue `'127.0.0.1'`
   */
  readonly host?: string;
  /**
   * TCP port.
   * @defaultValue `6379`
   */
  readonly port?: number;
  /**
   * ACL user name.
   * @defaultValue none
   */
  readonly username?: string;
  /**
   * Password.
   * @defaultValue none
   */
  readonly password?: string;
  /**
   * Database number.
   * @defaultValue `0`
   */
  readonly db?: number;
  /**
   * Connect with TLS.
   * @defaultValue `false`
   */
  readonly tls?: boolean;
}

/** The ioredis options both sides use. */
export interface RedisClientOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: Record<string, never>;
  connectTimeout: number;
  retryStrategy: (times: number) => number;
  maxRetriesPerRequest: null;
}

/**
 * Parses a `redis://` / `rediss://` URL or a {@link RedisEndpoint}.
 *
 * @throws {@link InvalidOptionError} for another scheme or a malformed URL
 */
export function parseRedisEndpoint(
  connection: string | RedisEndpoint,
): Required<Pick<RedisEndpoint, 'host' | 'port' | 'db' | 'tls'>> & RedisEndpoint {
  if (typeof connection !== 'string') {
    return {
      ...connection,
      host: connection.host ?? '127.0.0.1',
      port: connection.port ?? 6379,
      db: connection.db ?? 0,
      tls: connection.tls ?? false,
    };
  }
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    throw new InvalidOptionError('connection', connection, 'a redis://host:port URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidOptionError('connection', connection, 'a redis:// or rediss:// URL');
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new InvalidOptionError('connection', connection, 'a database number after the port (redis://host:port/0)');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    tls: url.protocol === 'rediss:',
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** The endpoint as text for messages, without credentials. */
export function describeEndpoint(connection: string | RedisEndpoint): string {
  const { host, port, db, tls } = parseRedisEndpoint(connection);
  return `${tls ? 'rediss' : 'redis'}://${host.includes(':') ? `[${host}]` : host}:${port}/${db}`;
}

/** ioredis options: quick reconnect attempts (at most a second apart), forever. */
export function redisClientOptions(connection: string | RedisEndpoint): RedisClientOptions {
  const endpoint = parseRedisEndpoint(connection);
  return {
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.tls ? { tls: {} } : {}),
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
    maxRetriesPerRequest: null,
  };
}
