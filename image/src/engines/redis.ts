/**
 * Redis with `redis-cli --rdb -`: the server sends an RDB snapshot as it would to a replica, and
 * redis-cli writes it to stdout. The password reaches redis-cli only as its own REDISCLI_AUTH
 * variable, never `-a`. There is no restore: an RDB is loaded by redis-server at start (put the
 * file where `dir`/`dbfilename` point and start the server), so the engine has no restore
 * capability and the runner refuses `restore` for it.
 *
 * The server's `repl-diskless-sync-delay` (5 s by default) delays the start of every dump. With
 * diskless sync (the default since Redis 7) redis-cli cannot trim the 40-byte end marker from a
 * pipe, so it follows the RDB's checksum; redis-server and redis-check-rdb stop reading before it.
 */
import { ENGINE_REGISTRY } from '../../../lib/registry';
import { booleanFromText, hostName, nonEmpty, tcpPortFromText } from '../../../lib/rules';
import { ConfigError } from '../errors';
import { capture, childEnv, firstLine } from '../proc';
import { probeFirst, toolFilePath } from '../tool';
import { BackupCapability, DumpPlan, Engine, EngineModule } from './engine';

const DESCRIPTOR = ENGINE_REGISTRY.redis;
const VAR = DESCRIPTOR.env;
/** `redis-cli 7.0.15` */
const VERSION = /redis-cli\s+(\S+)/;

export interface RedisSettings {
  readonly host: string;
  readonly port: number;
  /** An ACL user; without it redis-cli authenticates as `default`. */
  readonly user?: string;
  readonly tls: boolean;
  /** A CA certificate that verifies the server's certificate (with TLS). */
  readonly tlsCaFile?: string;
}

export function readRedisSettings(env: NodeJS.ProcessEnv): RedisSettings {
  const host = hostName(VAR.HOST, env[VAR.HOST], 'redis.cache.svc');
  const port = tcpPortFromText(VAR.PORT, env[VAR.PORT], DESCRIPTOR.name);
  const user = env[VAR.USER] ? nonEmpty(VAR.USER, env[VAR.USER], "'backup'") : undefined;
  const tls = booleanFromText(VAR.TLS, env[VAR.TLS], false);
  const tlsCaFile = env[VAR.TLS_CA_FILE] ? toolFilePath(VAR.TLS_CA_FILE, env[VAR.TLS_CA_FILE]) : undefined;
  if (tlsCaFile && !tls) {
    throw new ConfigError(`${VAR.TLS_CA_FILE}: a CA certificate verifies a TLS connection, but ${VAR.TLS} is not 'true'; set ${VAR.TLS}=true or remove ${VAR.TLS_CA_FILE}.`);
  }
  return { host, port, user, tls, tlsCaFile };
}

/** redis-cli's connection arguments: no secret among them. */
export function redisConnectionArgs(s: RedisSettings): string[] {
  return [
    '-h', s.host, '-p', String(s.port),
    ...(s.user ? ['--user', s.user] : []),
    ...(s.tls ? ['--tls'] : []),
    ...(s.tlsCaFile ? ['--cacert', s.tlsCaFile] : []),
    '--no-auth-warning',
  ];
}

class RedisEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  /** An RDB holds every logical database of the server. */
  public readonly database = undefined;
  public readonly backup: BackupCapability<DumpPlan>;

  constructor(settings: RedisSettings, env: NodeJS.ProcessEnv) {
    const connection = redisConnectionArgs(settings);
    const toolEnv = childEnv(env, DESCRIPTOR.secretEnv);
    this.backup = {
      async preflight() {
        const tool = await probeFirst(DESCRIPTOR.tools.dump, VERSION, toolEnv);
        // redis-cli exits 0 on an error reply and reports a failed AUTH on stderr only: the reply
        // is checked, not the exit code.
        const info = await capture(tool.name, [...connection, 'INFO'], toolEnv);
        const serverVersion = /^redis_version:(\S+)/m.exec(info.stdout)?.[1];
        if (info.code !== 0 || !serverVersion) {
          const why = firstLine(info.stderr) || firstLine(info.stdout) || `${tool.name} exited with code ${info.code}`;
          throw new Error(`cannot connect to ${DESCRIPTOR.title}: ${why}`);
        }
        const usedMemory = Number(/^used_memory:(\d+)/m.exec(info.stdout)?.[1]);
        return {
          tool,
          server: { version: serverVersion },
          // The RDB is compact (LZF strings, packed encodings): rarely larger than memory in use.
          estimatedBytes: usedMemory || undefined,
        };
      },
      async dumpCommand(plan, extraArgs) {
        return {
          command: plan.tool.name,
          args: [...connection, ...extraArgs, '--rdb', '-'],
          env: toolEnv,
          cleanup: async () => undefined,
        };
      },
    };
  }
}

export const redisModule: EngineModule<RedisSettings> = {
  descriptor: DESCRIPTOR,
  readSettings: readRedisSettings,
  create: (settings, env) => new RedisEngine(settings, env),
};
