/**
 * MySQL and MariaDB with `mariadb-dump` (or `mysqldump`) as plain SQL, restorable with
 * `mariadb <database> < dump.sql` into a database of any name (the dump has no CREATE DATABASE/USE).
 *
 * The password never reaches argv or the tool's environment (MYSQL_PWD would put it in
 * /proc/<pid>/environ): every connection setting goes into a private option file, passed as
 * `--defaults-extra-file`, which must be the first argument, and removed when the tool ends.
 */
import { ENV } from '../../../lib/contract';
import { readPort, required } from '../config';
import { ConfigError } from '../errors';
import { withPrivateFile, writePrivateFile } from '../private-file';
import { capture, childEnv, firstLine } from '../proc';
import { DumpCommand, Engine, Preflight, RestoreCommand, RestorePreflight } from './engine';

export interface MysqlSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  /** false: `skip-ssl`; true: the client's default (MariaDB 11.4+ clients require and verify TLS). */
  readonly tls: boolean;
}

/**
 * - `--single-transaction`: one consistent InnoDB snapshot (REPEATABLE READ) without locking
 *   tables, so writes go on during the dump; it also turns `--lock-tables` off. (MyISAM tables
 *   are not snapshotted: nothing short of a global read lock makes them consistent.)
 * - `--quick`: rows are streamed, not buffered per table in the client.
 * - `--routines --events --triggers`: the schema code a restore needs, not only the tables.
 * - `--hex-blob`: binary columns as hex, safe whatever the restore's character set.
 * - `--default-character-set=utf8mb4`: 4-byte characters (emoji) survive.
 * - `--no-tablespaces`: MySQL 8 requires the PROCESS privilege for tablespace info, which only
 *   NDB uses; without it a least-privilege user cannot dump.
 */
export const MYSQL_DUMP_FLAGS = [
  '--single-transaction', '--quick', '--routines', '--events', '--triggers',
  '--hex-blob', '--default-character-set=utf8mb4', '--no-tablespaces',
] as const;

const DUMP_TOOLS = ['mariadb-dump', 'mysqldump'] as const;
const CLIENT_FOR: Record<typeof DUMP_TOOLS[number], string> = { 'mariadb-dump': 'mariadb', 'mysqldump': 'mysql' };

export function readMysqlSettings(env: NodeJS.ProcessEnv): MysqlSettings {
  const host = required(env, ENV.MYSQL_HOST, "the server's host name, e.g. 'mysql.db.svc'");
  const port = readPort(env, ENV.MYSQL_PORT, 'MySQL', 3306);
  const user = required(env, ENV.MYSQL_USER, "the user to dump as, e.g. 'backup'");
  const database = required(env, ENV.MYSQL_DATABASE, 'the database to dump');
  if (/[\r\n]/.test(host + user + database)) {
    throw new ConfigError(`${ENV.MYSQL_HOST}, ${ENV.MYSQL_USER} and ${ENV.MYSQL_DATABASE} must be single-line values.`);
  }
  const tls = env[ENV.MYSQL_TLS] ?? 'true';
  if (tls !== 'true' && tls !== 'false') {
    throw new ConfigError(`${ENV.MYSQL_TLS}: '${tls}' must be 'true' or 'false'.`);
  }
  return { host, port, user, password: env[ENV.MYSQL_PASSWORD] || undefined, database, tls: tls === 'true' };
}

/** A value for a MySQL option file: double-quoted, with the escapes the client's parser undoes. */
function optionValue(value: string): string {
  const escaped = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return `"${escaped}"`;
}

export class MysqlEngine implements Engine {
  public readonly name = 'mysql' as const;
  public readonly format = 'mysqldump-sql';
  public readonly extension = 'sql';
  public readonly database: string;
  private readonly settings: MysqlSettings;
  private readonly env: NodeJS.ProcessEnv;
  private tool: typeof DUMP_TOOLS[number] | undefined;
  private client: string | undefined;

  constructor(env: NodeJS.ProcessEnv) {
    this.settings = readMysqlSettings(env);
    this.database = this.settings.database;
    this.env = childEnv(env);
  }

  /** The `[client]` group every client tool reads: connection settings and the password. */
  optionFile(): string {
    const s = this.settings;
    const lines = ['[client]', `host=${optionValue(s.host)}`, `port=${s.port}`, `user=${optionValue(s.user)}`];
    if (s.password !== undefined) lines.push(`password=${optionValue(s.password)}`);
    // 'localhost' would otherwise mean a unix socket, which never exists in the backup pod.
    lines.push('protocol=TCP');
    if (!s.tls) lines.push('skip-ssl');
    lines.push('');
    return lines.join('\n');
  }

  async preflight(): Promise<Preflight> {
    let version: string | undefined;
    let lastError = '';
    for (const name of DUMP_TOOLS) {
      try {
        const out = await capture(name, ['--version'], this.env);
        version = dumpToolRelease(out.stdout);
        if (out.code === 0 && version) {
          this.tool = name;
          break;
        }
        lastError = `${name} --version failed: ${firstLine(out.stderr || out.stdout) || `exit code ${out.code}`}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    if (!this.tool || !version) throw new Error(`no MySQL dump tool: ${lastError}`);
    const client = CLIENT_FOR[this.tool];
    const query = 'SELECT VERSION(), (SELECT COALESCE(SUM(data_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE())';
    const server = await withPrivateFile(client, 'my.cnf', this.optionFile(), file => capture(client, [
      `--defaults-extra-file=${file}`, '--connect-timeout=10', '--batch', '--skip-column-names',
      `--database=${this.settings.database}`, '--execute', query,
    ], this.env));
    if (server.code !== 0) {
      throw new Error(`cannot connect to MySQL: ${firstLine(server.stderr) || `${client} exited with code ${server.code}`}`);
    }
    const [serverVersion, dataBytes] = server.stdout.trim().split('\t');
    if (!serverVersion) throw new Error(`cannot read the MySQL server version (${client} printed '${server.stdout.trim()}')`);
    return {
      tool: { name: this.tool, version },
      server: { version: serverVersion },
      // Table data without indexes: the SQL text is usually of this order (hex blobs double).
      estimatedBytes: Number(dataBytes) || undefined,
    };
  }

  async restorePreflight(): Promise<RestorePreflight> {
    let lastError = '';
    for (const client of Object.values(CLIENT_FOR)) {
      let version: string | undefined;
      try {
        const out = await capture(client, ['--version'], this.env);
        version = dumpToolRelease(out.stdout);
        if (out.code !== 0 || !version) {
          lastError = `${client} --version failed: ${firstLine(out.stderr || out.stdout) || `exit code ${out.code}`}`;
          continue;
        }
      } catch (err) {
        lastError = (err as Error).message;
        continue;
      }
      const query = 'SELECT VERSION(), (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE())';
      const server = await withPrivateFile(client, 'my.cnf', this.optionFile(), file => capture(client, [
        `--defaults-extra-file=${file}`, '--connect-timeout=10', '--batch', '--skip-column-names',
        `--database=${this.settings.database}`, '--execute', query,
      ], this.env));
      if (server.code !== 0) {
        throw new Error(`cannot connect to the target MySQL: ${firstLine(server.stderr) || `${client} exited with code ${server.code}`}`);
      }
      const [serverVersion, tables] = server.stdout.trim().split('\t');
      this.client = client;
      return { tool: { name: client, version }, server: { version: serverVersion || null }, existingTables: Number(tables) };
    }
    throw new Error(`no MySQL client: ${lastError}`);
  }

  async restoreCommand(format: string, extraArgs: readonly string[]): Promise<RestoreCommand> {
    if (format !== this.format) throw new Error(`cannot restore a '${format}' backup with the MySQL client (expected ${this.format})`);
    const client = this.client ?? CLIENT_FOR[DUMP_TOOLS[0]];
    const file = await writePrivateFile(client, 'my.cnf', this.optionFile());
    return {
      steps: [{
        kind: 'tool',
        command: client,
        // Without --force the client stops at the first failed statement and exits non-zero.
        args: [`--defaults-extra-file=${file.path}`, '--batch', '--default-character-set=utf8mb4', `--database=${this.settings.database}`, ...extraArgs],
        env: this.env,
      }],
      cleanup: file.remove,
    };
  }

  async dumpCommand(extraArgs: readonly string[]): Promise<DumpCommand> {
    const tool = this.tool ?? DUMP_TOOLS[0];
    const file = await writePrivateFile(tool, 'my.cnf', this.optionFile());
    return {
      command: tool,
      // The database goes first among the positional arguments, so extra args may name tables.
      args: [`--defaults-extra-file=${file.path}`, ...MYSQL_DUMP_FLAGS, this.settings.database, ...extraArgs],
      env: this.env,
      cleanup: file.remove,
    };
  }
}

/**
 * The release a dump tool reports, not the tool's own number: 'mariadb-dump  Ver 10.19 Distrib
 * 10.11.6-MariaDB, …' (MariaDB 10.x), 'mariadb-dump from 11.8.9-MariaDB, client 10.20 …' (11.x,
 * Debian trixie's, found by the image test), 'mysqldump  Ver 8.0.36 for Linux …' (MySQL).
 */
export function dumpToolRelease(versionOutput: string): string | undefined {
  return (/Distrib\s+([^\s,]+)/.exec(versionOutput) ?? /\bfrom\s+([^\s,]+),/.exec(versionOutput) ?? /Ver\s+(\S+)/.exec(versionOutput))?.[1];
}
