/**
 * MySQL and MariaDB with `mariadb-dump` (or `mysqldump`) as plain SQL, restorable with
 * `mariadb <database> < dump.sql` into a database of any name (the dump has no CREATE DATABASE/USE).
 *
 * The password never reaches argv or the tool's environment (MYSQL_PWD would put it in
 * /proc/<pid>/environ): every connection setting, TLS included, goes into a private option file,
 * passed as `--defaults-extra-file`, which must be the first argument, and removed when the tool
 * ends.
 */
import { ENGINE_REGISTRY } from '../../../lib/registry';
import { booleanFromText, hostName, mysqlDatabaseName, nonEmpty, tcpPortFromText } from '../../../lib/rules';
import { ConfigError } from '../errors';
import { withPrivateFile, writePrivateFile } from '../private-file';
import { capture, childEnv, firstLine } from '../proc';
import { probeFirst, toolFilePath } from '../tool';
import {
  BackupCapability, DumpPlan, Engine, EngineModule, RestoreCapability, RestorePlan, ToolInfo,
} from './engine';

const DESCRIPTOR = ENGINE_REGISTRY.mysql;
const VAR = DESCRIPTOR.env;
const OPTION_FILE = 'my.cnf';

export interface MysqlSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  /** false: `skip-ssl`; true: the client's default (MariaDB 11.4+ clients require and verify TLS). */
  readonly tls: boolean;
  /** A CA certificate that verifies the server's certificate (`ssl-ca`). */
  readonly tlsCaFile?: string;
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

/**
 * The release a dump tool or client reports, not the tool's own number: 'mariadb-dump  Ver 10.19
 * Distrib 10.11.6-MariaDB, …' (MariaDB 10.x), 'mariadb-dump from 11.8.9-MariaDB, client 10.20 …'
 * (11.x, Debian trixie's, found by the image test), 'mysqldump  Ver 8.0.36 for Linux …' (MySQL).
 */
const RELEASE = [/Distrib\s+([^\s,]+)/, /\bfrom\s+([^\s,]+),/, /Ver\s+(\S+)/];

export function dumpToolRelease(versionOutput: string): string | undefined {
  return RELEASE.map(p => p.exec(versionOutput)?.[1]).find(v => v !== undefined);
}

export function readMysqlSettings(env: NodeJS.ProcessEnv): MysqlSettings {
  const host = hostName(VAR.HOST, env[VAR.HOST], 'mysql.db.svc');
  const port = tcpPortFromText(VAR.PORT, env[VAR.PORT], DESCRIPTOR.name);
  const user = nonEmpty(VAR.USER, env[VAR.USER], "the user to connect as, e.g. 'backup'");
  if (/[\r\n]/.test(user)) throw new ConfigError(`${VAR.USER}: must be a single line.`);
  const database = mysqlDatabaseName(VAR.DATABASE, nonEmpty(VAR.DATABASE, env[VAR.DATABASE], "the database, e.g. 'shop'"));
  const tls = booleanFromText(VAR.TLS, env[VAR.TLS], true);
  const tlsCaFile = env[VAR.TLS_CA_FILE] ? toolFilePath(VAR.TLS_CA_FILE, env[VAR.TLS_CA_FILE]) : undefined;
  if (tlsCaFile && !tls) {
    throw new ConfigError(`${VAR.TLS_CA_FILE}: a CA certificate verifies a TLS connection, but ${VAR.TLS} is 'false'; remove one of them.`);
  }
  return { host, port, user, password: env[VAR.PASSWORD] || undefined, database, tls, tlsCaFile };
}

/** A value for a MySQL option file: double-quoted, with the escapes the client's parser undoes. */
function optionValue(value: string): string {
  const escaped = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return `"${escaped}"`;
}

/** MariaDB's tools report a release like '10.11.6-MariaDB'; MySQL's a bare '8.0.36'. */
const isMariadb = (tool: ToolInfo) => /mariadb/i.test(tool.version);

/**
 * The `[client]` group every client tool reads: connection and TLS settings and the password.
 * The TLS options differ between the two families, and each rejects the other's: `tool` is the
 * one that reads the file.
 */
export function mysqlOptionFile(s: MysqlSettings, tool: ToolInfo): string {
  const lines = ['[client]', `host=${optionValue(s.host)}`, `port=${s.port}`, `user=${optionValue(s.user)}`];
  if (s.password !== undefined) lines.push(`password=${optionValue(s.password)}`);
  // 'localhost' would otherwise mean a unix socket, which never exists in the backup pod.
  lines.push('protocol=TCP');
  const mariadb = isMariadb(tool);
  if (!s.tls) lines.push(mariadb ? 'skip-ssl' : 'ssl-mode=DISABLED');
  if (s.tlsCaFile) {
    // With a CA, TLS is required and the server's certificate and host name verified: MariaDB's
    // clients before 11.4 would otherwise fall back to clear text when the server has no TLS.
    lines.push(`ssl-ca=${optionValue(s.tlsCaFile)}`, mariadb ? 'ssl-verify-server-cert' : 'ssl-mode=VERIFY_IDENTITY');
  }
  lines.push('');
  return lines.join('\n');
}

class MysqlEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  public readonly database: string;
  public readonly backup: BackupCapability<DumpPlan>;
  public readonly restore: RestoreCapability<RestorePlan>;

  constructor(settings: MysqlSettings, env: NodeJS.ProcessEnv) {
    this.database = settings.database;
    const toolEnv = childEnv(env);
    /** One query in the target database through `client`, of the same family as `tool`. */
    const query = (tool: ToolInfo, client: string, sql: string) => withPrivateFile(
      client, OPTION_FILE, mysqlOptionFile(settings, tool), file => capture(client, [
        `--defaults-extra-file=${file}`, '--connect-timeout=10', '--batch', '--skip-column-names',
        `--database=${settings.database}`, '--execute', sql,
      ], toolEnv));

    this.backup = {
      async preflight() {
        const tool = await probeFirst(DESCRIPTOR.tools.dump, RELEASE, toolEnv);
        // mariadb-dump ships with mariadb and mysqldump with mysql: the registry lists both in that order.
        const client = DESCRIPTOR.tools.restore[(DESCRIPTOR.tools.dump as readonly string[]).indexOf(tool.name)];
        const server = await query(tool, client, 'SELECT VERSION(), (SELECT COALESCE(SUM(data_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE())');
        if (server.code !== 0) {
          throw new Error(`cannot connect to ${DESCRIPTOR.title}: ${firstLine(server.stderr) || `${client} exited with code ${server.code}`}`);
        }
        const [serverVersion, dataBytes] = server.stdout.trim().split('\t');
        if (!serverVersion) throw new Error(`cannot read the ${DESCRIPTOR.title} server version (${client} printed '${server.stdout.trim()}')`);
        return {
          tool,
          server: { version: serverVersion },
          // Table data without indexes: the SQL text is usually of this order (hex blobs double).
          estimatedBytes: Number(dataBytes) || undefined,
        };
      },
      async dumpCommand(plan, extraArgs) {
        const file = await writePrivateFile(plan.tool.name, OPTION_FILE, mysqlOptionFile(settings, plan.tool));
        return {
          command: plan.tool.name,
          // The database is the one positional argument (pass-through arguments are options only),
          // after `--`: a database named `--all-databases` would otherwise be read as that option.
          args: [`--defaults-extra-file=${file.path}`, ...MYSQL_DUMP_FLAGS, ...extraArgs, '--', settings.database],
          env: toolEnv,
          cleanup: file.remove,
        };
      },
    };

    this.restore = {
      async preflight() {
        const tool = await probeFirst(DESCRIPTOR.tools.restore, RELEASE, toolEnv);
        const server = await query(tool, tool.name, 'SELECT VERSION(), (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE())');
        if (server.code !== 0) {
          throw new Error(`cannot connect to the target ${DESCRIPTOR.title}: ${firstLine(server.stderr) || `${tool.name} exited with code ${server.code}`}`);
        }
        const [serverVersion, tables] = server.stdout.trim().split('\t');
        return { tool, server: { version: serverVersion || null }, existingTables: Number(tables) };
      },
      async restoreCommand(plan, extraArgs) {
        const file = await writePrivateFile(plan.tool.name, OPTION_FILE, mysqlOptionFile(settings, plan.tool));
        return {
          steps: [{
            kind: 'tool',
            command: plan.tool.name,
            // Without --force the client stops at the first failed statement and exits non-zero.
            args: [`--defaults-extra-file=${file.path}`, '--batch', '--default-character-set=utf8mb4', `--database=${settings.database}`, ...extraArgs],
            env: toolEnv,
          }],
          cleanup: file.remove,
        };
      },
    };
  }
}

export const mysqlModule: EngineModule<MysqlSettings> = {
  descriptor: DESCRIPTOR,
  readSettings: readMysqlSettings,
  create: (settings, env) => new MysqlEngine(settings, env),
};
