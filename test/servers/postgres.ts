/**
 * A throwaway PostgreSQL 15 server: its own temp dir, a random port on
 * 127.0.0.1, run as the `postgres` system user, gone after stop().
 *
 * Authentication is set up the way the backup runner meets it in production:
 * over TCP every role needs its password (scram-sha-256), so a test can show
 * that a wrong password fails; the superuser has no password and reaches the
 * server only through the unix socket (trust), for test setup.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { freePort, isAddressInUse } from './ports';
import {
  Daemon,
  logTails,
  makeTempDir,
  missingExecutables,
  mkdirOwned,
  run,
  runAsFor,
  startFailure,
  stopOnce,
  tailFile,
  waitUntil,
  writeOwned,
} from './proc';
import { ENGINE_REGISTRY } from '../../lib/registry';

/** Debian's postgresql-15 layout. */
export const PG_BINDIR = '/usr/lib/postgresql/15/bin';

/** How a test reaches the server (also what global-setup publishes through process.env). */
export interface PostgresConnection {
  /** Always 127.0.0.1: the server listens nowhere else. */
  readonly host: string;
  readonly port: number;
  /** Directory of the unix socket; the superuser connects here without a password. */
  readonly socketDir: string;
  readonly superuser: string;
  /** A login role that needs `password` over TCP and can read every table (pg_read_all_data): what a backup job gets. */
  readonly user: string;
  readonly password: string;
  /** Server major version, e.g. 15. */
  readonly version: number;
}

/** The variables through which global-setup tells test files how to reach the server. */
const TEST_ENV = {
  host: 'TEST_PG_HOST',
  port: 'TEST_PG_PORT',
  socketDir: 'TEST_PG_SOCKET_DIR',
  superuser: 'TEST_PG_SUPERUSER',
  user: 'TEST_PG_USER',
  password: 'TEST_PG_PASSWORD',
  version: 'TEST_PG_VERSION',
} as const;

export function postgresToEnv(c: PostgresConnection): Record<string, string> {
  return {
    [TEST_ENV.host]: c.host,
    [TEST_ENV.port]: String(c.port),
    [TEST_ENV.socketDir]: c.socketDir,
    [TEST_ENV.superuser]: c.superuser,
    [TEST_ENV.user]: c.user,
    [TEST_ENV.password]: c.password,
    [TEST_ENV.version]: String(c.version),
  };
}

/** The PostgreSQL server global-setup started, or undefined when it started none. */
export function postgresFromEnv(env: NodeJS.ProcessEnv = process.env): PostgresConnection | undefined {
  const host = env[TEST_ENV.host];
  const port = Number(env[TEST_ENV.port]);
  const socketDir = env[TEST_ENV.socketDir];
  const password = env[TEST_ENV.password];
  if (!host || !Number.isInteger(port) || port <= 0 || !socketDir || !password) return undefined;
  return {
    host,
    port,
    socketDir,
    superuser: env[TEST_ENV.superuser] || 'postgres',
    user: env[TEST_ENV.user] || 'backup',
    password,
    version: Number(env[TEST_ENV.version]) || 0,
  };
}

/** Superuser helpers that need only the connection info (usable from any jest worker). */
export interface PostgresAdmin {
  /** Runs SQL as the superuser via the unix socket; resolves with psql's unaligned, tuples-only stdout. */
  psql(sql: string, db?: string): Promise<string>;
  /** CREATE DATABASE; the backup role can connect to it and read everything in it. */
  createDatabase(name: string): Promise<void>;
}

export interface PostgresServer extends PostgresConnection, PostgresAdmin {
  readonly pid: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Stops the server (immediate shutdown, by PID) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  readonly bindir?: string;
  /** Milliseconds to wait for the server to accept connections. */
  readonly readyTimeoutMs?: number;
}

/** Binaries this module runs that are not installed (empty when all are there). */
export function missingPostgresBinaries(bindir = PG_BINDIR): string[] {
  return missingExecutables(['initdb', 'postgres', 'pg_isready', 'psql'].map((b) => path.join(bindir, b)));
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Row count and md5 over every row of each table, in `id` order: equal only for identical data. */
export async function tableDigests(admin: PostgresAdmin, db: string, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) {
    out[t] = (await admin.psql(`SELECT count(*) || ':' || md5(string_agg(x::text, '|' ORDER BY x.id)) FROM ${quoteIdent(t)} x;`, db)).trim();
  }
  return out;
}

export function postgresAdmin(conn: PostgresConnection, bindir = PG_BINDIR): PostgresAdmin {
  const psql = async (sql: string, db = 'postgres'): Promise<string> => {
    const { stdout } = await run(
      [
        path.join(bindir, 'psql'),
        '--no-psqlrc',
        '--quiet',
        '--tuples-only',
        '--no-align',
        '--set=ON_ERROR_STOP=1',
        '--host', conn.socketDir,
        '--port', String(conn.port),
        '--username', conn.superuser,
        '--dbname', db,
        '--file', '-',
      ],
      { input: sql, timeoutMs: 120_000 },
    );
    return stdout;
  };
  return {
    psql,
    createDatabase: async (name: string) => {
      await psql(`CREATE DATABASE ${quoteIdent(name)};`);
    },
  };
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bindir = options.bindir ?? PG_BINDIR;
  const missing = missingPostgresBinaries(bindir);
  if (missing.length) {
    throw new Error(`PostgreSQL 15 is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`);
  }
  const runAs = runAsFor('postgres');
  const dir = makeTempDir('pg', runAs);
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  let daemon: Daemon | undefined;
  try {
    mkdirOwned(dataDir, runAs, 0o700);
    await run(
      [
        path.join(bindir, 'initdb'),
        '--pgdata', dataDir,
        '--username', 'postgres',
        '--auth', 'trust',
        '--no-sync',
        '--encoding', 'UTF8',
        '--locale', 'C',
      ],
      { runAs, timeoutMs: 120_000 },
    );
    writeOwned(
      path.join(dataDir, 'pg_hba.conf'),
      [
        '# Written by test/servers/postgres.ts.',
        '# Superuser setup goes through the unix socket without a password;',
        '# everything over TCP must present its password, like a backup job does.',
        'local all all trust',
        'host  all all 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
      runAs,
      0o600,
    );

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      daemon = new Daemon(
        'postgres',
        [
          path.join(bindir, 'postgres'),
          '-D', dataDir,
          '-c', 'listen_addresses=127.0.0.1',
          '-c', `port=${port}`,
          '-c', `unix_socket_directories=${dir}`,
          '-c', 'password_encryption=scram-sha-256',
          // Durability is pointless for a server deleted after the run, and fsync is slow here.
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
          '-c', 'logging_collector=off',
        ],
        logFile,
        { runAs },
      );
      try {
        const d = daemon;
        await waitUntil(
          `postgres on 127.0.0.1:${port}`,
          async () => {
            await run([path.join(bindir, 'pg_isready'), '--quiet', '--host', '127.0.0.1', '--port', String(port), '--timeout', '1'], {
              timeoutMs: 5_000,
            });
            return true;
          },
          { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 50, daemons: [d] },
        );
        break;
      } catch (e) {
        await daemon.stop('SIGKILL');
        // Another process took the port between freePort() and postgres' bind.
        if (attempt < 3 && isAddressInUse(tailFile(logFile, 20))) continue;
        throw e;
      }
    }

    const password = randomBytes(18).toString('hex');
    const base = { host: '127.0.0.1', port, socketDir: dir, superuser: 'postgres', user: 'backup', password, version: 0 };
    const admin = postgresAdmin(base, bindir);
    // pg_read_all_data: the least a logical backup needs, and what we tell users to grant.
    await admin.psql(`CREATE ROLE backup LOGIN PASSWORD '${password}'; GRANT pg_read_all_data TO backup;`);
    const versionNum = Number((await admin.psql('SHOW server_version_num;')).trim());
    const server = daemon;
    return {
      ...base,
      version: Math.floor(versionNum / 10_000),
      ...admin,
      pid: server.pid ?? -1,
      dataDir,
      logFile,
      // SIGQUIT to the postmaster is `pg_ctl stop -m immediate`: no checkpoint, we delete the data anyway.
      stop: stopOnce(() => server.stop('SIGQUIT', 5_000), dir),
    };
  } catch (e) {
    await daemon?.stop('SIGKILL');
    throw startFailure(`PostgreSQL failed to start: ${(e as Error).message}\n${logTails([logFile])}`, dir);
  }
}

/** The runner's variables for connecting to `server` as its backup user, to `database`. */
export function postgresRunnerEnv(server: PostgresConnection, database: string): Record<string, string> {
  const v = ENGINE_REGISTRY.postgres.env;
  return { [v.HOST]: server.host, [v.PORT]: String(server.port), [v.USER]: server.user, [v.PASSWORD]: server.password, [v.DATABASE]: database };
}
