/**
 * Redis endpoints: a `redis://` URL or an object, turned into the connection options the queue
 * library takes, with reconnection that never gives up (liveness is bounded by the backend's own
 * watchdog, not by ioredis, which by default retries forever and queues commands meanwhile).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../../errors.js';

/**
 * TLS settings for the connection to Redis, with the names of Node's `tls.connect` options (which
 * ioredis passes on): a private CA to trust, a client certificate for Redis's `tls-auth-clients`.
 *
 * @example
 * Type-checked only: it reads certificate files that the example does not have.
 * ```ts norun
 * import { readFileSync } from 'node:fs';
 * import type { RedisEndpoint, RedisTlsOptions } from 'millrace';
 * const tls: RedisTlsOptions = {
 *   ca: readFileSync('certs/ca.crt'),
 *   cert: readFileSync('certs/client.crt'),
 *   key: readFileSync('certs/client.key'),
 *   servername: 'redis.internal',
 * };
 * const endpoint: RedisEndpoint = { host: '10.0.0.5', port: 6380, tls };
 * ```
 * @category Scale-out
 */
export interface RedisTlsOptions {
  /**
   * The certificate authorities to trust for the server's certificate (PEM).
   * @defaultValue Node's bundled root certificates (plus `NODE_EXTRA_CA_CERTS`)
   */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /**
   * The client certificate chain to present (PEM), for a Redis with `tls-auth-clients yes`.
   * @defaultValue none
   */
  readonly cert?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /**
   * The client certificate's private key (PEM).
   * @defaultValue none
   */
  readonly key?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /**
   * The server name to check the certificate against (SNI), when it is not the host name.
   * @defaultValue the endpoint's `host`
   */
  readonly servername?: string | undefined;
  /**
   * Refuse a server whose certificate does not verify. Turn it off only to try things out.
   * @defaultValue `true`
   */
  readonly rejectUnauthorized?: boolean | undefined;
}

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
   * Connect with TLS: `true` with Node's defaults, or {@link RedisTlsOptions} (a private CA, a
   * client certificate).
   * @defaultValue `false`
   */
  readonly tls?: boolean | RedisTlsOptions;
}

type Pem = string | Buffer | (string | Buffer)[];
/** {@link RedisTlsOptions} as ioredis (Node's `tls.connect`) takes them: mutable arrays. */
interface ClientTls {
  ca?: Pem;
  cert?: Pem;
  key?: Pem;
  servername?: string;
  rejectUnauthorized?: boolean;
}

function clientTls(tls: RedisTlsOptions): ClientTls {
  // Array.isArray does not narrow a readonly array; a copy of each makes the mutable array ioredis types.
  const pem = (value: RedisTlsOptions['ca']): Pem | undefined =>
    typeof value === 'string' || Buffer.isBuffer(value) || value === undefined ? value : value.slice();
  const result: ClientTls = {};
  for (const field of ['ca', 'cert', 'key'] as const) {
    const value = pem(tls[field]);
    if (value !== undefined) result[field] = value;
  }
  if (tls.servername !== undefined) result.servername = tls.servername;
  if (tls.rejectUnauthorized !== undefined) result.rejectUnauthorized = tls.rejectUnauthorized;
  return result;
}

/** The ioredis options both sides use. */
export interface RedisClientOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: ClientTls;
  connectTimeout: number;
  retryStrategy: (times: number) => number | null;
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
    // The error's message and `value` end up in logs: never with the password in them.
    throw new InvalidOptionError('connection', redactConnection(connection), 'a redis://host:port URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidOptionError('connection', redactConnection(connection), 'a redis:// or rediss:// URL');
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new InvalidOptionError('connection', redactConnection(connection), 'a database number after the port (redis://host:port/0)');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    tls: url.protocol === 'rediss:',
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** The endpoint as text for messages, the password redacted (`redis://user:***@host:6379/0`). */
export function describeEndpoint(connection: string | RedisEndpoint): string {
  const { host, port, db, tls, username, password } = parseRedisEndpoint(connection);
  const user = username === undefined ? '' : encodeURIComponent(username);
  const credentials = password !== undefined ? `${user}:***@` : user !== '' ? `${user}@` : '';
  return `${tls === false ? 'redis' : 'rediss'}://${credentials}${host.includes(':') ? `[${host}]` : host}:${port}/${db}`;
}

/**
 * A connection as given, with its password replaced by `***`, whatever its shape: a URL (even one
 * that does not parse, such as `redis://:secret@host:notaport`) or an endpoint object. For
 * messages and error fields, which end up in logs.
 */
export function redactConnection(connection: unknown): unknown {
  if (typeof connection === 'string') {
    // Everything between `//` and the last `@` is user info, whatever characters the password
    // holds (a `/`, a `#` or an `@` that should have been escaped): keep the user name only.
    const start = connection.indexOf('//');
    const at = connection.lastIndexOf('@');
    if (start < 0 || at < start) return connection;
    const info = connection.slice(start + 2, at);
    const colon = info.indexOf(':');
    return `${connection.slice(0, start + 2)}${colon < 0 ? info : `${info.slice(0, colon)}:***`}${connection.slice(at)}`;
  }
  if (connection !== null && typeof connection === 'object' && 'password' in connection) {
    return { ...connection, password: '***' };
  }
  return connection;
}

/** Set once Redis refused the credentials or the ACL: the connections made with it stop reconnecting. */
export interface AuthRefusal {
  refused: boolean;
}

/**
 * ioredis options: quick reconnect attempts (at most a second apart), forever, unless `refusal`
 * says Redis refused the credentials: then reconnecting cannot help, and the clients end (which
 * also lets BullMQ give up waiting for them to become ready).
 */
export function redisClientOptions(connection: string | RedisEndpoint, refusal?: AuthRefusal): RedisClientOptions {
  const endpoint = parseRedisEndpoint(connection);
  return {
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.tls === false ? {} : { tls: endpoint.tls === true ? {} : clientTls(endpoint.tls) }),
    connectTimeout: 5_000,
    retryStrategy: (times) => (refusal?.refused === true ? null : Math.min(100 * times, 1_000)),
    maxRetriesPerRequest: null,
  };
}

/**
 * Redis's error code when an error says the credentials or the ACL refused us (`WRONGPASS`,
 * `NOAUTH`, `NOPERM`): permanent, unlike a connection failure. Undefined for any other error.
 */
export function authErrorCode(error: unknown): 'WRONGPASS' | 'NOAUTH' | 'NOPERM' | undefined {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  const match = /^(?:ReplyError: )?(WRONGPASS|NOAUTH|NOPERM)\b/.exec(message);
  return match ? (match[1] as 'WRONGPASS' | 'NOAUTH' | 'NOPERM') : undefined;
}
