/**
 * Every server jest's globalSetup starts (global-setup.ts starts them all, in parallel), and the
 * registry engines that have none here. test/registry.test.ts checks that each engine in
 * lib/registry.ts is served by one entry of TEST_SERVERS or listed in STAND_IN_ONLY: a new engine
 * adds its server file in this folder and its entry below.
 */
import { missingCephBinaries, s3FromEnv, s3ToEnv, startS3, type S3Server } from './ceph';
import { missingMariadbBinaries, mysqlFromEnv, mysqlToEnv, startMariadb, type MysqlServer } from './mariadb';
import { missingPostgresBinaries, postgresFromEnv, postgresToEnv, startPostgres, type PostgresServer } from './postgres';
import { missingMonitoringBinaries, monitoringFromEnv, monitoringToEnv, startMonitoring, type MonitoringServers } from './pushgateway';
import { missingRedisBinaries, redisFromEnv, redisToEnv, startRedis, type RedisServer } from './redis';
import type { EngineName } from '../../lib/registry';

export interface RunningServer {
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The servers' names, as tests name them in describeIntegration's needs. 'pushgateway' is a
 * Pushgateway together with the Prometheus that scrapes it (one entry, so no start order to keep).
 */
export type ServerKind = 's3' | 'postgres' | 'mysql' | 'redis' | 'pushgateway';

export interface TestServer<S extends RunningServer = RunningServer> {
  readonly kind: ServerKind;
  /** The registry engine whose integration tests run against it; none for the S3 server and the Pushgateway. */
  readonly engine?: EngineName;
  /** How messages name it: 'PostgreSQL 15'. */
  readonly label: string;
  /** Executables it needs that are not installed (.ci/install-servers.sh installs them). */
  missingBinaries(): string[];
  start(): Promise<S>;
  /** The TEST_* variables through which test files find it. */
  toEnv(server: S): Record<string, string>;
  /** How a test file reads them back: undefined when global-setup did not start it. */
  fromEnv(env: NodeJS.ProcessEnv): object | undefined;
  /** Where it runs, for the setup summary. */
  summary(server: S): string;
}

/** Checks an entry against its own server type; the list holds them all (methods compare bivariantly). */
function testServer<S extends RunningServer>(server: TestServer<S>): TestServer {
  return server;
}

export const TEST_SERVERS: readonly TestServer[] = [
  testServer<PostgresServer>({
    kind: 'postgres',
    engine: 'postgres',
    label: 'PostgreSQL 15',
    missingBinaries: () => missingPostgresBinaries(),
    start: () => startPostgres(),
    toEnv: postgresToEnv,
    fromEnv: postgresFromEnv,
    summary: s => `PostgreSQL ${s.version} on ${s.host}:${s.port}`,
  }),
  testServer<S3Server>({
    kind: 's3',
    label: 'Ceph S3 (radosgw)',
    missingBinaries: missingCephBinaries,
    start: () => startS3(),
    toEnv: s3ToEnv,
    fromEnv: s3FromEnv,
    summary: s => `S3 at ${s.endpoint}`,
  }),
  testServer<MysqlServer>({
    kind: 'mysql',
    engine: 'mysql',
    label: 'MariaDB',
    missingBinaries: missingMariadbBinaries,
    start: () => startMariadb(),
    toEnv: mysqlToEnv,
    fromEnv: mysqlFromEnv,
    summary: s => `MariaDB ${s.version} on ${s.host}:${s.port}`,
  }),
  testServer<RedisServer>({
    kind: 'redis',
    engine: 'redis',
    label: 'Redis',
    missingBinaries: missingRedisBinaries,
    start: () => startRedis(),
    toEnv: redisToEnv,
    fromEnv: redisFromEnv,
    summary: s => `Redis ${s.version} on ${s.host}:${s.port}`,
  }),
  testServer<MonitoringServers>({
    kind: 'pushgateway',
    label: 'Prometheus Pushgateway and Prometheus',
    missingBinaries: missingMonitoringBinaries,
    start: () => startMonitoring(),
    toEnv: monitoringToEnv,
    fromEnv: monitoringFromEnv,
    summary: s => `Pushgateway at ${s.pushgateway.url}, Prometheus scraping it at ${s.prometheus.url}`,
  }),
];

/**
 * Registry engines no test server can be had for on these machines, and why. Their runner tests
 * drive it with STAND-IN tools (test/runner/stand-ins.ts); the real round trip runs elsewhere. The
 * one place an engine may go without a test server.
 */
export const STAND_IN_ONLY: { readonly [E in EngineName]?: string } = {
  mongo: 'no MongoDB server or mongo-tools in Debian, and their npm packages download them at run time (no network here); '
    + 'the real round trip needs MONGO_URL and mongo-tools',
};
