/**
 * A throwaway MariaDB server (Debian's): its own temp dir, a random port on
 * 127.0.0.1, run as the `mysql` system user, gone after stop().
 *
 * `mariadbd --no-defaults`: nothing in /etc/mysql is read. Over TCP the
 * `backup` user needs its password, like a backup job; root has no password
 * and reaches the server only through the unix socket (unix_socket auth for
 * the OS user running the test, or no password), for test setup.
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
} from './proc';
import { ENGINE_REGISTRY } from '../../lib/registry';

/** How a test reaches the server (also what global-setup publishes through process.env). */
export interface MysqlConnection {
  /** Always 127.0.0.1: the server listens nowhere else. */
  readonly host: string;
  readonly port: number;
  /** The unix socket; root connects here without a password. */
  readonly socket: string;
  /** A user that needs `password` over TCP and has the grants a logical backup needs. */
  readonly user: string;
  readonly password: string;
  /** Server version, e.g. `10.11.19-MariaDB`. */
  readonly version: string;
}

/** The variables through which global-setup tells test files how to reach the server. */
const TEST_ENV = {
  host: 'TEST_MYSQL_HOST',
  port: 'TEST_MYSQL_PORT',
  socket: 'TEST_MYSQL_SOCKET',
  user: 'TEST_MYSQL_USER',
  password: 'TEST_MYSQL_PASSWORD',
  version: 'TEST_MYSQL_VERSION',
} as const;

export function mysqlToEnv(c: MysqlConnection): Record<string, string> {
  return {
    [TEST_ENV.host]: c.host,
    [TEST_ENV.port]: String(c.port),
    [TEST_ENV.socket]: c.socket,
    [TEST_ENV.user]: c.user,
    [TEST_ENV.password]: c.password,
    [TEST_ENV.version]: c.version,
  };
}

/** The MariaDB server global-setup started, or undefined when it started none. */
export function mysqlFromEnv(env: NodeJS.ProcessEnv = process.env): MysqlConnection | undefined {
  const host = env[TEST_ENV.host];
  const port = Number(env[TEST_ENV.port]);
  const socket = env[TEST_ENV.socket];
  const password = env[TEST_ENV.password];
  if (!host || !Number.isInteger(port) || port <= 0 || !socket || !password) return undefined;
  return { host, port, socket, user: env[TEST_ENV.user] || 'backup', password, version: env[TEST_ENV.version] || '' };
}

/** Root helpers that need only the connection info (usable from any jest worker). */
export interface MysqlAdmin {
  /** Runs SQL as root via the unix socket; resolves with the client's tab-separated, header-less stdout. */
  sql(sql: string, db?: string): Promise<string>;
  /** CREATE DATABASE (utf8mb4); the backup user can read everything in it. */
  createDatabase(name: string): Promise<void>;
}

export interface MysqlServer extends MysqlConnection, MysqlAdmin {
  readonly pid: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Stops the server (SIGKILL by PID: its data is deleted next) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const BINARIES = ['/usr/sbin/mariadbd', '/usr/bin/mariadb-install-db', '/usr/bin/mariadb', '/usr/bin/mariadb-dump'];

/** Binaries this module runs that are not installed (empty when all are there). */
export function missingMariadbBinaries(): string[] {
  return missingExecutables(BINARIES);
}

/** Quotes an SQL identifier. */
export function quoteMysqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

export function mysqlAdmin(conn: Pick<MysqlConnection, 'socket'>): MysqlAdmin {
  const sql = async (text: string, db?: string): Promise<string> => {
    const { stdout } = await run(
      ['mariadb', '--no-defaults', `--socket=${conn.socket}`, '--user=root', '--batch', '--skip-column-names', '--default-character-set=utf8mb4', ...(db ? [`--database=${db}`] : [])],
      { input: text, timeoutMs: 120_000 },
    );
    return stdout;
  };
  return {
    sql,
    createDatabase: async (name: string) => {
      await sql(`CREATE DATABASE ${quoteMysqlIdent(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;`);
    },
  };
}

export async function startMariadb(options: { readyTimeoutMs?: number } = {}): Promise<MysqlServer> {
  const missing = missingMariadbBinaries();
  if (missing.length) {
    throw new Error(`MariaDB is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`);
  }
  const runAs = runAsFor('mysql');
  const dir = makeTempDir('mariadb', runAs);
  const dataDir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const logFile = path.join(dir, 'mariadbd.log');
  let daemon: Daemon | undefined;
  try {
    mkdirOwned(dataDir, runAs, 0o700);
    await run(
      [
        'mariadb-install-db', '--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal',
        '--skip-test-db', ...(runAs ? [`--user=${runAs.user}`] : []),
      ],
      { runAs, timeoutMs: 120_000 },
    );

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      daemon = new Daemon(
        'mariadbd',
        [
          'mariadbd', '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socket}`,
          `--pid-file=${path.join(dir, 'mariadbd.pid')}`,
          '--bind-address=127.0.0.1',
          `--port=${port}`,
          '--skip-name-resolve',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_bin',
          // Durability is pointless for a server deleted after the run.
          '--innodb-flush-log-at-trx-commit=0',
          '--innodb-doublewrite=0',
          '--skip-log-bin',
          '--innodb-buffer-pool-size=256M',
          `--log-error=${logFile}`,
        ],
        path.join(dir, 'mariadbd.stderr'),
        { runAs },
      );
      try {
        const d = daemon;
        await waitUntil(
          `mariadbd on 127.0.0.1:${port}`,
          async () => {
            await run(['mariadb', '--no-defaults', `--socket=${socket}`, '--user=root', '--connect-timeout=1', '-e', 'SELECT 1'], { timeoutMs: 5_000 });
            return true;
          },
          { timeoutMs: options.readyTimeoutMs ?? 60_000, intervalMs: 100, daemons: [d] },
        );
        break;
      } catch (e) {
        await daemon.stop('SIGKILL');
        // Another process took the port between freePort() and mariadbd's bind.
        if (attempt < 3 && isAddressInUse(tailFile(logFile, 20))) continue;
        throw e;
      }
    }

    const password = randomBytes(18).toString('hex');
    const admin = mysqlAdmin({ socket });
    // What a consistent logical backup of any database needs, and what we tell users to grant.
    await admin.sql([
      `CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '${password}';`,
      "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, PROCESS ON *.* TO 'backup'@'127.0.0.1';",
    ].join('\n'));
    const version = (await admin.sql('SELECT VERSION();')).trim();
    const server = daemon;
    return {
      host: '127.0.0.1',
      port,
      socket,
      user: 'backup',
      password,
      version,
      ...admin,
      pid: server.pid ?? -1,
      dataDir,
      logFile,
      // SIGKILL: its data is deleted next.
      stop: stopOnce(() => server.stop('SIGKILL'), dir),
    };
  } catch (e) {
    await daemon?.stop('SIGKILL');
    throw startFailure(`MariaDB failed to start: ${(e as Error).message}\n${logTails([logFile, path.join(dir, 'mariadbd.stderr')])}`, dir);
  }
}

/** The runner's variables for connecting to `server` as its backup user, to `database`. */
export function mysqlRunnerEnv(server: MysqlConnection, database: string): Record<string, string> {
  const v = ENGINE_REGISTRY.mysql.env;
  return { [v.HOST]: server.host, [v.PORT]: String(server.port), [v.USER]: server.user, [v.PASSWORD]: server.password, [v.DATABASE]: database };
}
