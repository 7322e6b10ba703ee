/**
 * How test files find the servers global-setup.ts started. Jest runs test
 * files in worker processes that share nothing with globalSetup but the
 * environment they inherit, so connection info travels as TEST_* variables.
 */
import { randomBytes } from 'node:crypto';
import type { S3Connection } from './ceph';
import { mysqlAdmin, type MysqlAdmin, type MysqlConnection } from './mariadb';
import { postgresAdmin, type PostgresAdmin, type PostgresConnection } from './postgres';
import type { RedisConnection } from './redis';

/** The variables global-setup.ts sets; nothing else should write them. */
export const TEST_ENV = {
  s3Endpoint: 'TEST_S3_ENDPOINT',
  s3Region: 'TEST_S3_REGION',
  s3AccessKeyId: 'TEST_S3_ACCESS_KEY_ID',
  s3SecretAccessKey: 'TEST_S3_SECRET_ACCESS_KEY',
  pgHost: 'TEST_PG_HOST',
  pgPort: 'TEST_PG_PORT',
  pgSocketDir: 'TEST_PG_SOCKET_DIR',
  pgSuperuser: 'TEST_PG_SUPERUSER',
  pgUser: 'TEST_PG_USER',
  pgPassword: 'TEST_PG_PASSWORD',
  pgVersion: 'TEST_PG_VERSION',
  mysqlHost: 'TEST_MYSQL_HOST',
  mysqlPort: 'TEST_MYSQL_PORT',
  mysqlSocket: 'TEST_MYSQL_SOCKET',
  mysqlUser: 'TEST_MYSQL_USER',
  mysqlPassword: 'TEST_MYSQL_PASSWORD',
  mysqlVersion: 'TEST_MYSQL_VERSION',
  redisHost: 'TEST_REDIS_HOST',
  redisPort: 'TEST_REDIS_PORT',
  redisPassword: 'TEST_REDIS_PASSWORD',
  redisVersion: 'TEST_REDIS_VERSION',
} as const;

export type ServerKind = 's3' | 'postgres' | 'mysql' | 'redis';

/** Under CI a missing server is a failure, never a skip: a green run must have run every test. */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

export function s3ToEnv(c: S3Connection): Record<string, string> {
  return {
    [TEST_ENV.s3Endpoint]: c.endpoint,
    [TEST_ENV.s3Region]: c.region,
    [TEST_ENV.s3AccessKeyId]: c.accessKeyId,
    [TEST_ENV.s3SecretAccessKey]: c.secretAccessKey,
  };
}

export function postgresToEnv(c: PostgresConnection): Record<string, string> {
  return {
    [TEST_ENV.pgHost]: c.host,
    [TEST_ENV.pgPort]: String(c.port),
    [TEST_ENV.pgSocketDir]: c.socketDir,
    [TEST_ENV.pgSuperuser]: c.superuser,
    [TEST_ENV.pgUser]: c.user,
    [TEST_ENV.pgPassword]: c.password,
    [TEST_ENV.pgVersion]: String(c.version),
  };
}

export function mysqlToEnv(c: MysqlConnection): Record<string, string> {
  return {
    [TEST_ENV.mysqlHost]: c.host,
    [TEST_ENV.mysqlPort]: String(c.port),
    [TEST_ENV.mysqlSocket]: c.socket,
    [TEST_ENV.mysqlUser]: c.user,
    [TEST_ENV.mysqlPassword]: c.password,
    [TEST_ENV.mysqlVersion]: c.version,
  };
}

export function redisToEnv(c: RedisConnection): Record<string, string> {
  return {
    [TEST_ENV.redisHost]: c.host,
    [TEST_ENV.redisPort]: String(c.port),
    [TEST_ENV.redisPassword]: c.password,
    [TEST_ENV.redisVersion]: c.version,
  };
}

/** The MariaDB server global-setup started, or undefined when it started none. */
export function mysqlFromEnv(env: NodeJS.ProcessEnv = process.env): MysqlConnection | undefined {
  const host = env[TEST_ENV.mysqlHost];
  const port = Number(env[TEST_ENV.mysqlPort]);
  const socket = env[TEST_ENV.mysqlSocket];
  const password = env[TEST_ENV.mysqlPassword];
  if (!host || !Number.isInteger(port) || port <= 0 || !socket || !password) return undefined;
  return { host, port, socket, user: env[TEST_ENV.mysqlUser] || 'backup', password, version: env[TEST_ENV.mysqlVersion] || '' };
}

/** The Redis server global-setup started, or undefined when it started none. */
export function redisFromEnv(env: NodeJS.ProcessEnv = process.env): RedisConnection | undefined {
  const host = env[TEST_ENV.redisHost];
  const port = Number(env[TEST_ENV.redisPort]);
  const password = env[TEST_ENV.redisPassword];
  if (!host || !Number.isInteger(port) || port <= 0 || !password) return undefined;
  return { host, port, password, version: env[TEST_ENV.redisVersion] || '' };
}

/** The S3 server global-setup started, or undefined when it started none. */
export function s3FromEnv(env: NodeJS.ProcessEnv = process.env): S3Connection | undefined {
  const endpoint = env[TEST_ENV.s3Endpoint];
  const accessKeyId = env[TEST_ENV.s3AccessKeyId];
  const secretAccessKey = env[TEST_ENV.s3SecretAccessKey];
  if (!endpoint || !accessKeyId || !secretAccessKey) return undefined;
  return { endpoint, region: env[TEST_ENV.s3Region] || 'us-east-1', accessKeyId, secretAccessKey };
}

/** The PostgreSQL server global-setup started, or undefined when it started none. */
export function postgresFromEnv(env: NodeJS.ProcessEnv = process.env): PostgresConnection | undefined {
  const host = env[TEST_ENV.pgHost];
  const port = Number(env[TEST_ENV.pgPort]);
  const socketDir = env[TEST_ENV.pgSocketDir];
  const password = env[TEST_ENV.pgPassword];
  if (!host || !Number.isInteger(port) || port <= 0 || !socketDir || !password) return undefined;
  return {
    host,
    port,
    socketDir,
    superuser: env[TEST_ENV.pgSuperuser] || 'postgres',
    user: env[TEST_ENV.pgUser] || 'backup',
    password,
    version: Number(env[TEST_ENV.pgVersion]) || 0,
  };
}

function missingMessage(kind: ServerKind): string {
  const what = { s3: 'the S3 server (Ceph radosgw)', postgres: 'PostgreSQL', mysql: 'MariaDB', redis: 'Redis' }[kind];
  return (
    `${what} for integration tests is not available: jest's globalSetup (test/servers/global-setup.ts) did not start it. ` +
    'Install the servers with `sudo .ci/install-servers.sh`, and check that jest\'s config has that globalSetup and that SKIP_TEST_SERVERS is not set.'
  );
}

export function available(kind: ServerKind, env: NodeJS.ProcessEnv = process.env): boolean {
  const fromEnv = { s3: s3FromEnv, postgres: postgresFromEnv, mysql: mysqlFromEnv, redis: redisFromEnv }[kind];
  return fromEnv(env) !== undefined;
}

/** The S3 server; throws with the reason when there is none. */
export function requireS3(): S3Connection {
  const c = s3FromEnv();
  if (!c) throw new Error(missingMessage('s3'));
  return c;
}

/** The PostgreSQL server plus superuser helpers (psql, createDatabase); throws with the reason when there is none. */
export function requirePostgres(): PostgresConnection & PostgresAdmin {
  const c = postgresFromEnv();
  if (!c) throw new Error(missingMessage('postgres'));
  return { ...c, ...postgresAdmin(c) };
}

/** The MariaDB server plus root helpers (sql, createDatabase); throws with the reason when there is none. */
export function requireMysql(): MysqlConnection & MysqlAdmin {
  const c = mysqlFromEnv();
  if (!c) throw new Error(missingMessage('mysql'));
  return { ...c, ...mysqlAdmin(c) };
}

/** The Redis server; throws with the reason when there is none. */
export function requireRedis(): RedisConnection {
  const c = redisFromEnv();
  if (!c) throw new Error(missingMessage('redis'));
  return c;
}

/**
 * Options for `new S3Client(...)` against the test server. Plain data, so
 * this module does not depend on the SDK; the literal types match S3ClientConfig.
 */
export function s3ClientConfig(c: S3Connection = requireS3()) {
  return {
    endpoint: c.endpoint,
    region: c.region,
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    // No wildcard DNS for bucket.127.0.0.1.
    forcePathStyle: true,
    // The SDK's default (CRC32 trailers on every request) is AWS-only behaviour.
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
  };
}

/**
 * A name no other test uses: every test file shares one S3 server and one
 * PostgreSQL server for the whole run, so buckets and databases must not
 * collide. Valid as a bucket name (lower case, digits, '-', 3..63 chars) and
 * as an unquoted SQL identifier once '-' is replaced.
 */
export function uniqueName(prefix = 'test'): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
  return `${clean.slice(0, 40)}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * `describe` for tests that need real servers. When a server is missing it
 * skips locally (with the reason in the test name) but under CI it fails, so
 * CI can never pass by running none of them.
 */
export function describeIntegration(name: string, needs: readonly ServerKind[], fn: () => void): void {
  const missing = needs.filter((k) => !available(k));
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  if (isCI()) {
    describe(name, () => {
      test('has its test servers', () => {
        throw new Error(missing.map(missingMessage).join('\n'));
      });
    });
    return;
  }
  describe.skip(`${name} [skipped: no ${missing.join(', ')} server; run .ci/install-servers.sh]`, fn);
}
