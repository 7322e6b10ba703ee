/**
 * A throwaway Redis server: its own temp dir, a random port on 127.0.0.1, run
 * as the `redis` system user, gone after stop(). A password (`requirepass`)
 * is set, so a test can show that a wrong one fails. No persistence of its
 * own (`--save ''`, no AOF); `repl-diskless-sync-delay 0` so `redis-cli --rdb`
 * starts at once instead of waiting 5 s for more replicas.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { freePort, isAddressInUse } from './ports';
import {
  Daemon,
  logTails,
  makeTempDir,
  missingExecutables,
  run,
  runAsFor,
  startFailure,
  stopOnce,
  tailFile,
  waitUntil,
} from './proc';

/** How a test reaches the server (also what global-setup publishes through process.env). */
export interface RedisConnection {
  readonly host: string;
  readonly port: number;
  readonly password: string;
  /** e.g. `7.0.15`. */
  readonly version: string;
}

/** The variables through which global-setup tells test files how to reach the server. */
const TEST_ENV = {
  host: 'TEST_REDIS_HOST',
  port: 'TEST_REDIS_PORT',
  password: 'TEST_REDIS_PASSWORD',
  version: 'TEST_REDIS_VERSION',
} as const;

export function redisToEnv(c: RedisConnection): Record<string, string> {
  return {
    [TEST_ENV.host]: c.host,
    [TEST_ENV.port]: String(c.port),
    [TEST_ENV.password]: c.password,
    [TEST_ENV.version]: c.version,
  };
}

/** The Redis server global-setup started, or undefined when it started none. */
export function redisFromEnv(env: NodeJS.ProcessEnv = process.env): RedisConnection | undefined {
  const host = env[TEST_ENV.host];
  const port = Number(env[TEST_ENV.port]);
  const password = env[TEST_ENV.password];
  if (!host || !Number.isInteger(port) || port <= 0 || !password) return undefined;
  return { host, port, password, version: env[TEST_ENV.version] || '' };
}

export interface RedisServer extends RedisConnection {
  readonly pid: number;
  readonly dir: string;
  readonly logFile: string;
  /** Stops the server by PID and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Binaries this module runs that are not installed (empty when all are there). */
export function missingRedisBinaries(): string[] {
  return missingExecutables(['/usr/bin/redis-server', '/usr/bin/redis-cli']);
}

/**
 * Runs a redis-cli command against `c`; the password goes through REDISCLI_AUTH, never argv.
 * Resolves with its stdout.
 */
export async function redisCli(c: Pick<RedisConnection, 'host' | 'port' | 'password'>, args: readonly string[], input?: string): Promise<string> {
  const { stdout } = await run(['redis-cli', '-h', c.host, '-p', String(c.port), ...args], {
    env: { PATH: process.env.PATH, REDISCLI_AUTH: c.password },
    input,
    timeoutMs: 60_000,
  });
  return stdout;
}

export interface StartRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--dir', d, '--dbfilename', 'dump.rdb']` to load an RDB. */
  readonly args?: readonly string[];
  /** Milliseconds to wait for the server to answer PING. */
  readonly readyTimeoutMs?: number;
  /** The password (random by default). */
  readonly password?: string;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const missing = missingRedisBinaries();
  if (missing.length) {
    throw new Error(`Redis is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`);
  }
  const runAs = runAsFor('redis');
  const dir = makeTempDir('redis', runAs);
  const logFile = path.join(dir, 'redis.log');
  const password = options.password ?? randomBytes(18).toString('hex');
  let daemon: Daemon | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      daemon = new Daemon(
        'redis-server',
        [
          'redis-server',
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--save', '',
          '--appendonly', 'no',
          '--repl-diskless-sync-delay', '0',
          '--dir', dir,
          '--requirepass', password,
          ...(options.args ?? []),
        ],
        logFile,
        { runAs },
      );
      const conn = { host: '127.0.0.1', port, password };
      try {
        const d = daemon;
        await waitUntil(
          `redis-server on 127.0.0.1:${port}`,
          async () => (await redisCli(conn, ['PING'])).trim() === 'PONG',
          { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 50, daemons: [d] },
        );
      } catch (e) {
        await daemon.stop('SIGKILL');
        if (attempt < 3 && isAddressInUse(tailFile(logFile, 20))) continue;
        throw e;
      }
      const version = /redis_version:(\S+)/.exec(await redisCli(conn, ['INFO', 'server']))?.[1] ?? '';
      const server = daemon;
      return {
        ...conn,
        version,
        pid: server.pid ?? -1,
        dir,
        logFile,
        stop: stopOnce(() => server.stop('SIGKILL'), dir),
      };
    }
  } catch (e) {
    await daemon?.stop('SIGKILL');
    throw startFailure(`Redis failed to start: ${(e as Error).message}\n${logTails([logFile])}`, dir);
  }
}
