/**
 * Jest globalSetup: one S3 server (Ceph radosgw), one PostgreSQL, one MariaDB
 * and one Redis for the whole run, started in parallel. Test files read the connection info from
 * process.env (see env.ts): jest starts its workers after this returns, and
 * they inherit this process's environment.
 *
 * - Binaries not installed: under CI that is an error (the run fails, it
 *   does not quietly skip); locally a warning, the variables stay unset and
 *   describeIntegration() skips those tests.
 * - Binaries installed but a server fails to start: always an error, with
 *   the daemon's log tail.
 * - SKIP_TEST_SERVERS=1: start nothing (fast unit-test runs while developing).
 */
import { missingCephBinaries, startS3, type S3Server } from './ceph';
import { isCI, mysqlToEnv, postgresToEnv, redisToEnv, s3ToEnv } from './env';
import { missingMariadbBinaries, startMariadb, type MysqlServer } from './mariadb';
import { missingPostgresBinaries, startPostgres, type PostgresServer } from './postgres';
import { missingRedisBinaries, startRedis, type RedisServer } from './redis';

export interface TestServers {
  s3?: S3Server;
  postgres?: PostgresServer;
  mysql?: MysqlServer;
  redis?: RedisServer;
}

/** Where global-teardown.ts finds the servers (jest keeps globalThis from setup to teardown). */
export const SERVERS_KEY = '__cdk8sDbBackupTestServers';

type Started<T> = { server?: T; error?: string; note?: string };

async function maybeStart<T>(label: string, missing: string[], start: () => Promise<T>): Promise<Started<T>> {
  if (missing.length) {
    const why = `${label} is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`;
    return isCI() ? { error: why } : { note: `${why}; its integration tests will be skipped` };
  }
  const t0 = Date.now();
  try {
    const server = await start();
    return { server, note: `up in ${((Date.now() - t0) / 1000).toFixed(1)} s` };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export default async function globalSetup(): Promise<void> {
  if (process.env.SKIP_TEST_SERVERS === '1') {
    process.stderr.write('\n[test servers] SKIP_TEST_SERVERS=1: not starting S3, PostgreSQL, MariaDB or Redis\n');
    return;
  }
  const [pg, s3, my, redis] = await Promise.all([
    maybeStart('PostgreSQL 15', missingPostgresBinaries(), () => startPostgres()),
    maybeStart('Ceph S3 (radosgw)', missingCephBinaries(), () => startS3()),
    maybeStart('MariaDB', missingMariadbBinaries(), () => startMariadb()),
    maybeStart('Redis', missingRedisBinaries(), () => startRedis()),
  ]);

  const errors = [pg.error, s3.error, my.error, redis.error].filter((e): e is string => e !== undefined);
  if (errors.length) {
    // Jest does not run globalTeardown when globalSetup throws.
    await Promise.allSettled([pg.server?.stop(), s3.server?.stop(), my.server?.stop(), redis.server?.stop()]);
    throw new Error(`test servers failed to start:\n${errors.join('\n\n')}`);
  }

  const servers: TestServers = { postgres: pg.server, s3: s3.server, mysql: my.server, redis: redis.server };
  (globalThis as Record<string, unknown>)[SERVERS_KEY] = servers;
  if (pg.server) Object.assign(process.env, postgresToEnv(pg.server));
  if (s3.server) Object.assign(process.env, s3ToEnv(s3.server));
  if (my.server) Object.assign(process.env, mysqlToEnv(my.server));
  if (redis.server) Object.assign(process.env, redisToEnv(redis.server));

  const lines = [
    pg.server ? `PostgreSQL ${pg.server.version} on ${pg.server.host}:${pg.server.port} (${pg.note})` : `PostgreSQL: ${pg.note}`,
    s3.server ? `S3 at ${s3.server.endpoint} (${s3.note})` : `S3: ${s3.note}`,
    my.server ? `MariaDB ${my.server.version} on ${my.server.host}:${my.server.port} (${my.note})` : `MariaDB: ${my.note}`,
    redis.server ? `Redis ${redis.server.version} on ${redis.server.host}:${redis.server.port} (${redis.note})` : `Redis: ${redis.note}`,
  ];
  process.stderr.write(`\n${lines.map((l) => `[test servers] ${l}`).join('\n')}\n`);
}
