/**
 * Redis with `redis-cli --rdb -`: the server sends an RDB snapshot as it would to a replica, and
 * redis-cli writes it to stdout. The password reaches redis-cli only as its own REDISCLI_AUTH
 * variable, never `-a`.
 *
 * A restore cannot load an RDB into a running server: redis-server reads its RDB only when it
 * starts. So `restore` writes the RDB into a file (BACKUP_REDIS_RESTORE_FILE, e.g. on the volume of
 * a Redis that is scaled down): into a temporary file in the same directory first, checked with
 * redis-check-rdb, synced, and only then renamed into place, so a failed restore never leaves a
 * partial or damaged file where a Redis would start from it. `verify` restores the same way into
 * the file a throwaway redis-server in the pod waits for, then counts and checks its keys.
 *
 * The server's `repl-diskless-sync-delay` (5 s by default) delays the start of every dump. With
 * diskless sync (the default since Redis 7) redis-cli cannot trim the 40-byte end marker from a
 * pipe, so it follows the RDB's checksum; redis-server and redis-check-rdb stop reading before it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ENV } from '../../../lib/contract';
import { ENGINE_REGISTRY } from '../../../lib/registry';
import { booleanFromText, hostName, nonEmpty, tcpPortFromText } from '../../../lib/rules';
import { AssertionSpec, assertionLabel } from '../../../lib/verify-assertions';
import { ConfigError } from '../errors';
import { Logger } from '../log';
import { capture, childEnv, firstLine } from '../proc';
import { probeFirst, toolFilePath } from '../tool';
import { waitForServer } from '../wait';
import {
  BackupCapability, CheckResult, DumpPlan, Engine, EngineModule, RestoreCapability, RestoreCommand, RestorePlan,
  RestoredContents, VerifyCapability, VerifyTarget,
} from './engine';

const DESCRIPTOR = ENGINE_REGISTRY.redis;
const VAR = DESCRIPTOR.env;
/** `redis-cli 7.0.15` */
const VERSION = /redis-cli\s+(\S+)/;
/** `redis-check-rdb 7.0.15` */
const CHECK_VERSION = /redis-check-rdb\s+(\S+)/;

export interface RedisSettings {
  /** Unset only for a restore into a file (BACKUP_REDIS_RESTORE_FILE set), which talks to no server. */
  readonly host?: string;
  readonly port: number;
  /** An ACL user; without it redis-cli authenticates as `default`. */
  readonly user?: string;
  readonly tls: boolean;
  /** A CA certificate that verifies the server's certificate (with TLS). */
  readonly tlsCaFile?: string;
  /** Where `restore` and `verify` write the RDB (BACKUP_REDIS_RESTORE_FILE); only they need it. */
  readonly restoreFile?: string;
}

/**
 * BACKUP_REDIS_RESTORE_FILE: an absolute, normalized path of a file (not a directory) on one line.
 * Not opened here: reading the configuration touches no disk.
 */
export function restoreFilePath(field: string, raw: string | undefined): string {
  const file = nonEmpty(field, raw, "'/data/dump.rdb'");
  const base = path.posix.basename(file);
  if (!file.startsWith('/') || /[\0\r\n]/.test(file) || file.endsWith('/') || path.posix.normalize(file) !== file || base === '.' || base === '..') {
    throw new ConfigError(`${field}: '${file}' must be the absolute path of the RDB file a Redis starts from, normalized and on one line, e.g. '/data/dump.rdb'.`);
  }
  return file;
}

export function readRedisSettings(env: NodeJS.ProcessEnv): RedisSettings {
  // A restore writes a file and talks to no server: then the host may be left out.
  const host = env[VAR.HOST] || !env[VAR.RESTORE_FILE] ? hostName(VAR.HOST, env[VAR.HOST], 'redis.cache.svc') : undefined;
  const port = tcpPortFromText(VAR.PORT, env[VAR.PORT], DESCRIPTOR.name);
  const user = env[VAR.USER] ? nonEmpty(VAR.USER, env[VAR.USER], "'backup'") : undefined;
  const tls = booleanFromText(VAR.TLS, env[VAR.TLS], false);
  const tlsCaFile = env[VAR.TLS_CA_FILE] ? toolFilePath(VAR.TLS_CA_FILE, env[VAR.TLS_CA_FILE]) : undefined;
  if (tlsCaFile && !tls) {
    throw new ConfigError(`${VAR.TLS_CA_FILE}: a CA certificate verifies a TLS connection, but ${VAR.TLS} is not 'true'; set ${VAR.TLS}=true or remove ${VAR.TLS_CA_FILE}.`);
  }
  const restoreFile = env[VAR.RESTORE_FILE] ? restoreFilePath(VAR.RESTORE_FILE, env[VAR.RESTORE_FILE]) : undefined;
  return { host, port, user, tls, tlsCaFile, restoreFile };
}

/** redis-cli's connection arguments: no secret among them. A ConfigError without a host. */
export function redisConnectionArgs(s: RedisSettings): string[] {
  return [
    '-h', hostName(VAR.HOST, s.host, 'redis.cache.svc'), '-p', String(s.port),
    ...(s.user ? ['--user', s.user] : []),
    ...(s.tls ? ['--tls'] : []),
    ...(s.tlsCaFile ? ['--cacert', s.tlsCaFile] : []),
    '--no-auth-warning',
  ];
}

/** What a restore preflight found: the file to write and whether it replaces one. */
export interface RedisRestorePlan extends RestorePlan {
  /** BACKUP_REDIS_RESTORE_FILE. */
  readonly file: string;
  /** The file exists and BACKUP_RESTORE_FORCE allows replacing it. */
  readonly replaces: boolean;
}

/** How long redis-check-rdb may take on the restored file (it reads every key; ~100 MB/s and more). */
const CHECK_TIMEOUT_MS = 60 * 60_000;

function missingRestoreFile(command: string): ConfigError {
  return new ConfigError(`${VAR.RESTORE_FILE}: not set. A Redis ${command} writes the RDB into the file a redis-server loads when it starts; `
    + "set it to that file's absolute path, e.g. '/data/dump.rdb' on the volume of the stopped Redis.");
}

/** `lstat`, or undefined when nothing is there. */
async function lstatOrUndefined(file: string) {
  return fs.lstat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

/** Checks the file's directory is there and writable, and what is at the file now. */
async function inspectTarget(file: string): Promise<{ exists: boolean }> {
  const dir = path.posix.dirname(file);
  const dirStat = await fs.stat(dir).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    throw new ConfigError(`${VAR.RESTORE_FILE}: the directory ${dir} does not exist; mount the Redis volume there (RedisRestoreJob's volume) or name a file in an existing directory.`);
  }
  try {
    await fs.access(dir, fs.constants.W_OK);
    await fs.access(dir, fs.constants.X_OK);
  } catch {
    throw new ConfigError(`${VAR.RESTORE_FILE}: the directory ${dir} is not writable by the runner (uid ${process.getuid?.() ?? '?'}); the restore writes a temporary file there and renames it into place.`);
  }
  const st = await lstatOrUndefined(file);
  if (st && !st.isFile()) {
    throw new ConfigError(`${VAR.RESTORE_FILE}: ${file} exists and is not a regular file; name the RDB file itself, e.g. '${dir === '/' ? '' : dir}/dump.rdb'.`);
  }
  return { exists: st !== undefined };
}

/** fsync of a directory, so a rename in it survives a crash; not every file system allows it. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

/** The line after redis-check-rdb's `--- RDB ERROR DETECTED ---`: what is wrong, and where. */
function rdbCheckCause(output: string): string | undefined {
  const lines = output.split('\n').map(l => l.trim()).filter(Boolean);
  const at = lines.findIndex(l => l.includes('RDB ERROR DETECTED'));
  return at >= 0 ? lines[at + 1] : undefined;
}

/** Runs redis-check-rdb on `file`; rejects with its cause unless it reports the RDB sound. */
export async function checkRdbFile(tool: string, file: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<void> {
  const out = await capture(tool, [file], env, CHECK_TIMEOUT_MS, signal);
  if (out.code !== 0) {
    const why = rdbCheckCause(`${out.stdout}\n${out.stderr}`) ?? (out.signal ? `killed by ${out.signal}` : `exit code ${out.code}`);
    throw new Error(`${tool} rejected the restored RDB: ${why}; it was not put in place`);
  }
}

/** The redis-cli invocations of one server: short commands, replies read from stdout. */
class RedisCli {
  constructor(private readonly tool: string, private readonly connection: readonly string[], private readonly env: NodeJS.ProcessEnv) {}

  /** One command; each argument reaches the server as it is (argv, never a shell). */
  run(args: readonly string[], timeoutMs = 30_000) {
    return capture(this.tool, [...this.connection, ...args], this.env, timeoutMs);
  }

  /** Keys over every logical database (`INFO keyspace`). */
  async keyCount(): Promise<number> {
    const out = await this.run(['INFO', 'keyspace']);
    if (out.code !== 0 || !/^# Keyspace/m.test(out.stdout)) {
      throw new Error(`cannot count the keys of the verify server: ${firstLine(out.stderr) || firstLine(out.stdout) || `redis-cli exited with code ${out.code}`}`);
    }
    let keys = 0;
    for (const m of out.stdout.matchAll(/^db\d+:keys=(\d+)/gm)) keys += Number(m[1]);
    return keys;
  }

  /** Whether `key` exists in database 0. */
  async exists(key: string): Promise<boolean> {
    const out = await this.run(['-n', '0', 'EXISTS', key]);
    const reply = out.stdout.trim();
    if (out.code !== 0 || !/^\d+$/.test(reply)) {
      throw new Error(`EXISTS failed on the verify server: ${firstLine(out.stderr) || firstLine(out.stdout) || `redis-cli exited with code ${out.code}`}`);
    }
    return reply !== '0';
  }
}

/** How many key names a failed keysExist lists. */
const MAX_LISTED = 10;

class RedisVerifyTarget implements VerifyTarget {
  public readonly name: string;

  constructor(
    public readonly engine: Engine,
    private readonly settings: RedisSettings & { readonly restoreFile: string },
    private readonly cli: RedisCli,
    private readonly serverWaitMs: number,
    private readonly log: Logger,
  ) {
    this.name = settings.restoreFile;
  }

  /** Waits until the server started from the restored file answers with its data loaded, then counts. */
  async contents(signal: AbortSignal): Promise<RestoredContents> {
    await waitForServer(async () => {
      const out = await this.cli.run(['INFO', 'persistence'], 10_000).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
      const loading = /^loading:(\d)/m.exec(out.stdout)?.[1];
      if (out.code === 0 && loading === '0') return undefined;
      return loading === '1' ? 'still loading the RDB' : firstLine(out.stderr) || firstLine(out.stdout) || `redis-cli exited with code ${out.code}`;
    }, {
      serverWaitMs: this.serverWaitMs,
      signal,
      log: this.log,
      intervalMs: 500,
      what: `the verify server at ${this.settings.host}:${this.settings.port}`,
      waitingMessage: 'waiting for the verify server to load the restored RDB',
      hint: '(see the redis container\'s log)',
    });
    signal.throwIfAborted();
    return { objectUnit: 'keys', objects: await this.cli.keyCount() };
  }

  async check(a: AssertionSpec, signal: AbortSignal): Promise<CheckResult> {
    const check = assertionLabel(a);
    signal.throwIfAborted();
    switch (a.type) {
      case 'minKeys': {
        const keys = await this.cli.keyCount();
        const passed = keys >= a.min;
        return { check, passed, detail: `${keys} keys over every database${passed ? '' : `; at least ${a.min} required`}` };
      }
      case 'keysExist': {
        const missing: string[] = [];
        for (const key of a.keys) {
          signal.throwIfAborted();
          if (!await this.cli.exists(key)) missing.push(key);
        }
        if (missing.length === 0) return { check, passed: true, detail: `all ${a.keys.length} keys exist in database 0` };
        const listed = missing.slice(0, MAX_LISTED).map(k => JSON.stringify(k)).join(', ');
        const more = missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : '';
        return { check, passed: false, detail: `${missing.length} of ${a.keys.length} keys missing in database 0: ${listed}${more}` };
      }
      default:
        return { check, passed: false, detail: `${a.type} is not an assertion ${DESCRIPTOR.title} can check` };
    }
  }

  /** Nothing to drop: the file and the throwaway server go with the pod. */
  async cleanup(): Promise<void> {
    return undefined;
  }
}

class RedisEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  /** An RDB holds every logical database of the server. */
  public readonly database = undefined;
  public readonly backup: BackupCapability<DumpPlan>;
  public readonly restore: RestoreCapability<RedisRestorePlan>;
  public readonly verify: VerifyCapability;

  /** `force`: replace an existing restore file (BACKUP_RESTORE_FORCE; never for verify). */
  constructor(settings: RedisSettings, env: NodeJS.ProcessEnv, force: boolean) {
    const connection = () => redisConnectionArgs(settings);
    const toolEnv = childEnv(env, DESCRIPTOR.secretEnv);
    // The restore's own tools talk to no server: no secret at all.
    const fileEnv = childEnv(env);
    this.backup = {
      async preflight() {
        const tool = await probeFirst(DESCRIPTOR.tools.dump, VERSION, toolEnv);
        // redis-cli exits 0 on an error reply and reports a failed AUTH on stderr only: the reply
        // is checked, not the exit code.
        const info = await capture(tool.name, [...connection(), 'INFO'], toolEnv);
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
          args: [...connection(), ...extraArgs, '--rdb', '-'],
          env: toolEnv,
          cleanup: async () => undefined,
        };
      },
    };
    this.restore = {
      async preflight() {
        const file = settings.restoreFile;
        if (!file) throw missingRestoreFile('restore');
        const tool = await probeFirst(DESCRIPTOR.tools.restore, CHECK_VERSION, fileEnv);
        const { exists } = await inspectTarget(file);
        if (exists && !force) {
          throw new ConfigError(`${VAR.RESTORE_FILE}: ${file} already exists, and a restore never replaces an RDB by mistake. Stop the Redis that starts from it,`
            + ` then set ${ENV.RESTORE_FORCE}=true (RedisRestoreJob's allowNonEmptyTarget) to replace it, or restore into another file.`);
        }
        // No server: a Redis loads the file when it starts.
        return { tool, server: { version: null }, existingTables: exists ? 1 : 0, file, replaces: exists };
      },
      async restoreCommand(plan): Promise<RestoreCommand> {
        const dir = path.posix.dirname(plan.file);
        // Same directory, so the rename into place is atomic; a dot name a Redis never loads.
        const temp = path.posix.join(dir, `.${path.posix.basename(plan.file)}.${randomBytes(4).toString('hex')}.restoring`);
        const created = await fs.open(temp, 'wx', 0o644);
        await created.close();
        const cleanup = () => fs.rm(temp, { force: true });
        return {
          // dd writes its stdin into the file and syncs it before it exits 0.
          steps: [{ kind: 'tool', command: 'dd', args: [`of=${temp}`, 'bs=1M', 'conv=fsync', 'status=none'], env: fileEnv }],
          // Nothing is visible before commit, which runs only after the whole object matched.
          singlePass: `the RDB was written to a temporary file that was removed, never put in place at ${plan.file}`,
          async commit(signal: AbortSignal) {
            await checkRdbFile(plan.tool.name, temp, fileEnv, signal);
            // Readable by a Redis running as another user (the runner's umask may differ).
            await fs.chmod(temp, 0o644);
            if (plan.replaces) {
              await fs.rename(temp, plan.file);
            } else {
              await placeExclusively(temp, plan.file);
            }
            await syncDirectory(dir);
          },
          cleanup,
        };
      },
    };
    this.verify = {
      async prepare(_backupId, options) {
        const file = settings.restoreFile;
        if (!file) throw missingRestoreFile('verify');
        const { exists } = await inspectTarget(file);
        if (exists) {
          throw new ConfigError(`${VAR.RESTORE_FILE}: ${file} exists before the restore; the throwaway Redis must start from the restored RDB only, so give verify an empty directory (a fresh emptyDir).`);
        }
        const tool = await probeFirst(DESCRIPTOR.tools.dump, VERSION, toolEnv);
        const cli = new RedisCli(tool.name, connection(), toolEnv);
        // The server starts only once the file is there: one that answers now holds something else.
        const ping = await cli.run(['PING'], 10_000);
        if (ping.code === 0 && ping.stdout.trim() === 'PONG') {
          throw new Error(`a Redis server already answers at ${settings.host}:${settings.port} before the backup is restored;`
            + ` the verify server must start from ${file} once the restore put it there`);
        }
        options.log.info('verify target', { file, server: `${settings.host}:${settings.port}` });
        const engine = new RedisEngine({ ...settings, restoreFile: file }, env, false);
        return new RedisVerifyTarget(engine, { ...settings, restoreFile: file }, cli, options.serverWaitMs, options.log);
      },
    };
  }
}

/**
 * Puts `temp` at `file` only if nothing is there: a hard link fails if `file` appeared meanwhile.
 * Where the file system has no hard links, a last check and a rename.
 */
async function placeExclusively(temp: string, file: string): Promise<void> {
  const appeared = () => new ConfigError(`${VAR.RESTORE_FILE}: ${file} appeared while the restore ran; it was left as it is. Set ${ENV.RESTORE_FORCE}=true to replace it.`);
  try {
    await fs.link(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw appeared();
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
    if (await lstatOrUndefined(file)) throw appeared();
    await fs.rename(temp, file);
    return;
  }
  await fs.rm(temp, { force: true });
}

export const redisModule: EngineModule<RedisSettings> = {
  descriptor: DESCRIPTOR,
  readSettings: readRedisSettings,
  create: (settings, env) => new RedisEngine(settings, env, booleanFromText(ENV.RESTORE_FORCE, env[ENV.RESTORE_FORCE], false)),
};
