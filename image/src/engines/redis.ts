/**
 * Redis with `redis-cli --rdb -`: the server sends an RDB snapshot as it would to a replica, and
 * redis-cli writes it to stdout. Restore: put the file where `dir`/`dbfilename` point and start
 * redis-server. The password reaches redis-cli only as its own REDISCLI_AUTH variable, never `-a`.
 *
 * The server's `repl-diskless-sync-delay` (5 s by default) delays the start of every dump. With
 * diskless sync (the default since Redis 7) redis-cli cannot trim the 40-byte end marker from a
 * pipe, so it follows the RDB's checksum; redis-server and redis-check-rdb stop reading before it.
 */
import { ENV } from '../../../lib/contract';
import { readPort, required } from '../config';
import { ConfigError } from '../errors';
import { capture, childEnv, firstLine } from '../proc';
import { DumpCommand, Engine, Preflight } from './engine';

export interface RedisSettings {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
}

export function readRedisSettings(env: NodeJS.ProcessEnv): RedisSettings {
  return {
    host: required(env, ENV.REDIS_HOST, "the server's host name, e.g. 'redis.cache.svc'"),
    port: readPort(env, ENV.REDIS_PORT, 'Redis', 6379),
    user: env[ENV.REDIS_USER] || undefined,
  };
}

export class RedisEngine implements Engine {
  public readonly name = 'redis' as const;
  public readonly format = 'redis-rdb';
  public readonly extension = 'rdb';
  /** An RDB holds every logical database of the server. */
  public readonly database = undefined;
  private readonly connection: string[];
  private readonly env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv) {
    const s = readRedisSettings(env);
    this.connection = ['-h', s.host, '-p', String(s.port), ...(s.user ? ['--user', s.user] : []), '--no-auth-warning'];
    this.env = childEnv(env, [ENV.REDISCLI_AUTH]);
  }

  async preflight(): Promise<Preflight> {
    const tool = await capture('redis-cli', ['--version'], this.env);
    const toolVersion = /redis-cli\s+(\S+)/.exec(tool.stdout)?.[1];
    if (tool.code !== 0 || !toolVersion) {
      throw new Error(`redis-cli --version failed: ${firstLine(tool.stderr || tool.stdout) || `exit code ${tool.code}`}`);
    }
    // redis-cli exits 0 on an error reply and reports a failed AUTH on stderr only: the reply is
    // checked, not the exit code.
    const info = await capture('redis-cli', [...this.connection, 'INFO'], this.env);
    const serverVersion = /^redis_version:(\S+)/m.exec(info.stdout)?.[1];
    if (info.code !== 0 || !serverVersion) {
      const why = firstLine(info.stderr) || firstLine(info.stdout) || `redis-cli exited with code ${info.code}`;
      throw new Error(`cannot connect to Redis: ${why}`);
    }
    const usedMemory = Number(/^used_memory:(\d+)/m.exec(info.stdout)?.[1]);
    return {
      tool: { name: 'redis-cli', version: toolVersion },
      server: { version: serverVersion },
      // The RDB is compact (LZF strings, packed encodings): rarely larger than memory in use.
      estimatedBytes: usedMemory || undefined,
    };
  }

  async restorePreflight(): Promise<never> {
    throw new ConfigError("restore is not supported for Redis: an RDB file is loaded by redis-server at start; download the backup, decompress it and put it where the server's 'dir' and 'dbfilename' point, then start the server");
  }

  async restoreCommand(): Promise<never> {
    return this.restorePreflight();
  }

  async dumpCommand(extraArgs: readonly string[]): Promise<DumpCommand> {
    return {
      command: 'redis-cli',
      args: [...this.connection, ...extraArgs, '--rdb', '-'],
      env: this.env,
      cleanup: async () => undefined,
    };
  }
}
