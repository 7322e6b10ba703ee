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
import { AssertionSpec, assertionLabel } from '../../../lib/verify-assertions';
import { ConfigError, describeError } from '../errors';
import { withPrivateFile, writePrivateFile } from '../private-file';
import { Captured, capture, childEnv, firstLine } from '../proc';
import { probeFirst, toolFilePath } from '../tool';
import { waitForServer } from '../wait';
import {
  BackupCapability, CheckResult, DumpPlan, Engine, EngineModule, RestoreCapability, RestoredContents, RestorePlan, ToolInfo,
  VerifyCapability, VerifyTarget,
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

/** An SQL identifier in backticks, a backtick doubled. */
export function quoteMysqlIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** The database a backup is verified in: `verify_20261202t000312z_0d6146a8` (lower case, as MySQL may fold it). */
export function mysqlVerifyDatabase(backupId: string): string {
  return `verify_${backupId.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 64);
}

/**
 * Up to this many base tables the verification counts every row exactly (`COUNT(*)`, one query:
 * a scan of each table's smallest index, a fraction of what restoring it took). Beyond it, it
 * sums the statistics' estimates (`information_schema.tables.table_rows`).
 */
export const MYSQL_EXACT_COUNT_TABLES = 1000;

/** How long one of verify's queries (a count, the user's SQL) may take. */
const VERIFY_QUERY_TIMEOUT_MS = 60 * 60_000;

/**
 * What a client said about a failed statement: its `ERROR 1146 (42S02) at line 1: …` line (batch
 * mode may first echo the statement between dashed lines), else its first line.
 */
function clientError(stderr: string): string {
  return stderr.split('\n').find(l => l.startsWith('ERROR ')) ?? firstLine(stderr);
}

/** Names are read hex-encoded: batch mode escapes tabs, newlines and backslashes in values. */
const fromHex = (hex: string) => Buffer.from(hex, 'hex').toString('utf8');
/** A string literal that needs no escaping whatever the server's sql_mode: a hex literal converted to text. */
const textLiteral = (text: string) => `CONVERT(X'${Buffer.from(text, 'utf8').toString('hex')}' USING utf8mb4)`;

class MysqlEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  public readonly database: string;
  public readonly backup: BackupCapability<DumpPlan>;
  public readonly restore: RestoreCapability<RestorePlan>;
  public readonly verify: VerifyCapability;

  constructor(settings: MysqlSettings, env: NodeJS.ProcessEnv) {
    this.database = settings.database;
    const toolEnv = childEnv(env);
    const clientArgs = (file: string, database: string) => [
      `--defaults-extra-file=${file}`, '--connect-timeout=10', '--batch', '--skip-column-names',
      '--default-character-set=utf8mb4', `--database=${database}`,
    ];
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
          // No single pass: the client runs each statement as it reads it, and a dump's DDL
          // (DROP TABLE, CREATE TABLE) commits implicitly, so no transaction can hold a restore
          // back until the checksum matched. The object is checked first, then read again.
          // No parallel load either: mariadb-dump writes one SQL stream, and Debian's myloader
          // (mydumper 0.10) needs mydumper's own directory format; measured on 20 tables, 171 MB,
          // 2 cores, myloader -t 2 took 8.0-10.2 s against 9.0-9.5 s for this client.
        };
      },
    };

    /*
     * verify: the throwaway server (a sidecar on 127.0.0.1) is reached with the usual variables,
     * BACKUP_MYSQL_DATABASE naming a database to connect to (the `mysql` system database); each
     * verified backup gets a fresh database, restored into with the restore capability above.
     */
    this.verify = {
      async prepare(backupId, { serverWaitMs, signal, log }) {
        const tool = await probeFirst(DESCRIPTOR.tools.restore, RELEASE, toolEnv);
        /** One statement in `database`; rejects naming `what` when the client fails. */
        const run = async (database: string, sql: string, timeoutMs = VERIFY_QUERY_TIMEOUT_MS, until = signal): Promise<Captured> => withPrivateFile(
          tool.name, OPTION_FILE, mysqlOptionFile(settings, tool),
          file => capture(tool.name, [...clientArgs(file, database), '--execute', sql], toolEnv, timeoutMs, until));
        const must = async (database: string, sql: string, what: string, timeoutMs?: number, until?: AbortSignal): Promise<string> => {
          const out = await run(database, sql, timeoutMs, until);
          if (out.code !== 0) throw new Error(`${what} failed: ${clientError(out.stderr) || `${tool.name} exited with code ${out.code}`}`);
          return out.stdout;
        };

        await waitForServer(async () => {
          const out = await run(settings.database, 'SELECT 1', 15_000, signal).catch((err: Error) => {
            if (signal.aborted) throw signal.reason;
            return { code: null, signal: null, stdout: '', stderr: err.message };
          });
          return out.code === 0 ? undefined : firstLine(out.stderr) || `${tool.name} exited with code ${out.code}`;
        }, { serverWaitMs, signal, log });

        const name = mysqlVerifyDatabase(backupId);
        const quoted = quoteMysqlIdentifier(name);
        await must(settings.database, `DROP DATABASE IF EXISTS ${quoted}; CREATE DATABASE ${quoted} CHARACTER SET utf8mb4`, `creating the database ${name}`);
        log.info('verify database created', { id: backupId, database: name });

        /** The base tables of the restored database, by name. */
        const baseTables = async (): Promise<{ name: string; estimate: number }[]> => {
          const out = await must(name, "SELECT HEX(table_name), COALESCE(table_rows, 0) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'", 'listing the tables');
          return out.split('\n').filter(l => l !== '').map(l => {
            const [hex, rows] = l.split('\t');
            return { name: fromHex(hex), estimate: Number(rows) };
          });
        };

        const target: VerifyTarget = {
          name,
          engine: new MysqlEngine({ ...settings, database: name }, env),
          async contents(): Promise<RestoredContents> {
            const tables = await baseTables();
            if (tables.length === 0) return { objectUnit: 'tables', objects: 0 };
            if (tables.length > MYSQL_EXACT_COUNT_TABLES) {
              return { objectUnit: 'tables', objects: tables.length, itemUnit: 'rows (estimated)', items: tables.reduce((n, t) => n + t.estimate, 0) };
            }
            const sum = tables.map(t => `(SELECT COUNT(*) FROM ${quoteMysqlIdentifier(t.name)})`).join(' + ');
            const rows = Number((await must(name, `SELECT ${sum}`, 'counting the rows')).trim());
            return { objectUnit: 'tables', objects: tables.length, itemUnit: 'rows', items: rows };
          },
          async check(a: AssertionSpec): Promise<CheckResult> {
            const check = assertionLabel(a);
            try {
              switch (a.type) {
                case 'sql': return { check, ...await checkSql(a.query) };
                case 'minRows': return { check, ...await checkMinRows(a.table, a.min) };
                case 'tablesExist': return { check, ...await checkTablesExist(a.tables) };
                default: return { check, passed: false, detail: `${a.type} is not an assertion ${DESCRIPTOR.title} can check` };
              }
            } catch (err) {
              if (signal.aborted) throw err;
              return { check, passed: false, detail: describeError(err) };
            }
          },
          async cleanup() {
            try {
              // Also after an interruption (not cut short by the signal), but not for longer than a minute.
              await must(settings.database, `DROP DATABASE IF EXISTS ${quoted}`, `dropping the database ${name}`, 60_000, new AbortController().signal);
            } catch (err) {
              log.warn(`could not drop ${name}: ${describeError(err)}`);
            }
          },
        };

        /**
         * One row whose first column is true. MySQL has no boolean type: TRUE is the integer 1,
         * and the client prints it so; any other value (0, NULL, 'yes', 2) fails.
         */
        async function checkSql(sql: string) {
          const out = await run(name, sql);
          if (out.code !== 0) return { passed: false, detail: `the query failed: ${clientError(out.stderr) || `${tool.name} exited with code ${out.code}`}` };
          const rows = out.stdout.split('\n').filter(l => l !== '');
          if (rows.length !== 1) return { passed: false, detail: `the query returned ${rows.length} rows; exactly one is required` };
          const first = rows[0].split('\t')[0];
          const passed = first === '1';
          return { passed, detail: `the query returned ${first}${passed ? '' : '; 1 (true) is required'}` };
        }

        async function checkMinRows(table: string, min: number) {
          const out = await run(name, `SELECT COUNT(*) FROM ${quoteMysqlIdentifier(table)}`);
          if (out.code !== 0) {
            const error = clientError(out.stderr);
            return { passed: false, detail: error.startsWith('ERROR 1146 ') ? `${table} does not exist` : `cannot count the rows of ${table}: ${error}` };
          }
          const rows = Number(out.stdout.trim());
          const passed = rows >= min;
          return { passed, detail: `${table} has ${rows} rows${passed ? '' : `; at least ${min} required`}` };
        }

        async function checkTablesExist(tables: readonly string[]) {
          // Any kind of table counts (base table, view, sequence); names compared exactly, as the server does on Linux.
          const wanted = tables.map(textLiteral).join(', ');
          const out = await must(name, `SELECT HEX(table_name) FROM information_schema.tables WHERE table_schema = DATABASE() AND BINARY table_name IN (${wanted})`, 'listing the tables');
          const found = new Set(out.split('\n').filter(l => l !== '').map(fromHex));
          const missing = tables.filter(t => !found.has(t));
          return missing.length === 0
            ? { passed: true, detail: `all ${tables.length} exist` }
            : { passed: false, detail: `missing: ${missing.join(', ')}` };
        }

        return target;
      },
    };
  }
}

export const mysqlModule: EngineModule<MysqlSettings> = {
  descriptor: DESCRIPTOR,
  readSettings: readMysqlSettings,
  create: (settings, env) => new MysqlEngine(settings, env),
};
