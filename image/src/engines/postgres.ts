/**
 * PostgreSQL with pg_dump's custom format (restorable with pg_restore, selectively too). pg_dump's
 * own zlib is off (-Z0): it is single-threaded and several times slower than zstd outside.
 * Connection settings, TLS included (PGSSLMODE, PGSSLROOTCERT), reach pg_dump, pg_restore and
 * psql only as libpq's own PG* variables, so the password never appears in argv.
 */
import * as fs from 'node:fs/promises';
import { Transform, TransformCallback } from 'node:stream';
import { ENV } from '../../../lib/contract';
import { ENGINE_REGISTRY } from '../../../lib/registry';
import { hostName, nonEmpty, postgresSslMode, tcpPortFromText } from '../../../lib/rules';
import { AssertionSpec, assertionLabel } from '../../../lib/verify-assertions';
import { ConfigError, describeError } from '../errors';
import { Logger } from '../log';
import { Captured, capture, childEnv, firstLine } from '../proc';
import { probeFirst } from '../tool';
import { waitForServer } from '../wait';
import {
  BackupCapability, CheckResult, DumpPlan, Engine, EngineModule, ParallelRestore, RestoreCapability, RestoreCommand, RestorePlan, RestoredContents,
  VerifyCapability, VerifyTarget,
} from './engine';

const DESCRIPTOR = ENGINE_REGISTRY.postgres;
const VAR = DESCRIPTOR.env;
/** `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` */
const VERSION = /\(PostgreSQL\)\s+(\S+)/;

const PSQL_FLAGS = ['--no-psqlrc', '--no-password', '--tuples-only', '--no-align', '--quiet', '--set=ON_ERROR_STOP=1'];

/** Tables, partitioned tables, views, sequences… outside the system schemas. */
const USER_RELATIONS = `(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%')`;

/** A libpq connection string naming only the database; everything else comes from PG* variables. */
export function dbnameConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Drops `SET transaction_timeout = 0;` from a plain SQL restore script. pg_dump 17 writes it into
 * every archive, and servers before 17 reject the setting, which with ON_ERROR_STOP fails the whole
 * restore. Lines inside COPY data are passed through untouched: a row may hold any text.
 */
export class DropTransactionTimeout extends Transform {
  private pending = '';
  private inCopy = false;

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending += chunk.toString('latin1');
    const end = this.pending.lastIndexOf('\n');
    if (end < 0) return cb();
    const complete = this.pending.slice(0, end + 1);
    this.pending = this.pending.slice(end + 1);
    cb(null, Buffer.from(this.dropLines(complete), 'latin1'));
  }

  _flush(cb: TransformCallback): void {
    cb(null, Buffer.from(this.dropLines(this.pending), 'latin1'));
  }

  private dropLines(text: string): string {
    const lines = text.split('\n');
    const out: string[] = [];
    for (const line of lines) {
      if (this.inCopy) {
        if (line === '\\.') this.inCopy = false;
      } else if (/^COPY .* FROM stdin;$/.test(line)) {
        this.inCopy = true;
      } else if (line === 'SET transaction_timeout = 0;') {
        continue;
      }
      out.push(line);
    }
    return out.join('\n');
  }
}

/**
 * - `--single-transaction`: all or nothing; a failed restore leaves the target as it was. It rules
 *   out `--jobs`, which is reserved.
 * - `--no-owner --no-privileges`: the target's roles rarely match the source's; objects belong to
 *   the restoring user.
 */
export const PG_RESTORE_FLAGS = ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '--no-password'] as const;

export interface PostgresSettings {
  /** What pg_dump dumps, or pg_restore restores into (PGDATABASE). */
  readonly database: string;
}

/**
 * Checks the PG* variables the constructs write. The rest libpq reads as it always does; only
 * PGDATABASE is required, since pg_dump would otherwise dump the database named like the user.
 */
function readSettings(env: NodeJS.ProcessEnv): PostgresSettings {
  const database = nonEmpty(VAR.DATABASE, env[VAR.DATABASE], "the database, e.g. 'orders'");
  if (env[VAR.HOST]) hostName(VAR.HOST, env[VAR.HOST], 'postgres.db.svc');
  tcpPortFromText(VAR.PORT, env[VAR.PORT], DESCRIPTOR.name);
  if (env[VAR.SSL_MODE]) postgresSslMode(VAR.SSL_MODE, env[VAR.SSL_MODE]!);
  if (env[VAR.SSL_ROOT_CERT]) nonEmpty(VAR.SSL_ROOT_CERT, env[VAR.SSL_ROOT_CERT], "'/etc/ssl/ca.crt'");
  return { database };
}

/** psql on one database, for preflight queries and verify's checks. */
export class PostgresClient {
  /** libpq's variables naming `database`, with the password: for pg_dump, pg_restore and psql. */
  public readonly env: NodeJS.ProcessEnv;

  constructor(public readonly database: string, env: NodeJS.ProcessEnv) {
    this.env = childEnv(env, DESCRIPTOR.secretEnv, {
      [VAR.DATABASE]: database,
      // Fail fast on an unreachable host instead of libpq's default of waiting forever.
      PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT || '10',
      PGAPPNAME: env.PGAPPNAME || 'cdk8s-db-backup',
    });
  }

  /** Runs one SQL statement with psql (tuples only, unaligned). */
  query(sql: string, extraArgs: readonly string[] = []) {
    return capture('psql', [...PSQL_FLAGS, ...extraArgs, '--command', sql], this.env);
  }

  /**
   * Like `query`, for statements that may run long (ANALYZE, a count, the user's query): stopped
   * when `signal` aborts (rejecting with its reason) or after `timeoutMs`.
   */
  longQuery(sql: string, signal: AbortSignal, timeoutMs: number, extraArgs: readonly string[] = []): Promise<Captured> {
    return capture('psql', [...PSQL_FLAGS, ...extraArgs, '--command', sql], this.env, timeoutMs, signal);
  }
}

/** What a restore preflight found, with the majors that choose between pg_restore alone and pg_restore | psql. */
export interface PostgresRestorePlan extends RestorePlan {
  readonly serverMajor: number;
  readonly toolMajor: number;
}

const majorOf = (version: string) => Number(/^\d+/.exec(version)?.[0]);

class PostgresEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  public readonly database: string;
  public readonly backup: BackupCapability<DumpPlan>;
  public readonly restore: RestoreCapability<PostgresRestorePlan>;
  /** Verification on a throwaway server whose maintenance database is `settings.database`. */
  public readonly verify: VerifyCapability;

  constructor(settings: PostgresSettings, env: NodeJS.ProcessEnv) {
    const client = new PostgresClient(settings.database, env);
    this.database = settings.database;
    this.verify = postgresVerify(settings, env);
    this.backup = {
      async preflight() {
        const tool = await probeFirst(DESCRIPTOR.tools.dump, VERSION, client.env);
        const server = await client.query(
          "SELECT current_setting('server_version_num') || ' ' || pg_database_size(current_database()) || ' ' || current_setting('server_version')");
        if (server.code !== 0) {
          throw new Error(`cannot connect to ${DESCRIPTOR.title}: ${firstLine(server.stderr) || `psql exited with code ${server.code}`}`);
        }
        const [versionNum, databaseBytes, ...rest] = server.stdout.trim().split(' ');
        const serverMajor = Math.floor(Number(versionNum) / 10_000);
        const toolMajor = majorOf(tool.version);
        if (!Number.isInteger(serverMajor) || serverMajor < 1) {
          throw new Error(`cannot read the ${DESCRIPTOR.title} server version (psql printed '${server.stdout.trim()}')`);
        }
        if (serverMajor > toolMajor) {
          throw new Error(`server is ${DESCRIPTOR.title} ${serverMajor} but ${tool.name} is ${toolMajor}: ${tool.name} cannot dump a newer server; use an image whose postgresql-client is ${serverMajor} or newer`);
        }
        return {
          tool,
          server: { version: rest.join(' ') || versionNum },
          // The custom format holds table data but no indexes, so it is rarely larger than this.
          estimatedBytes: Number(databaseBytes) || undefined,
        };
      },
      async dumpCommand(plan, extraArgs) {
        return {
          command: plan.tool.name,
          args: ['--format=custom', '--compress=0', '--no-password', ...extraArgs],
          env: client.env,
          cleanup: async () => undefined,
        };
      },
    };
    this.restore = {
      async preflight() {
        const tool = await probeFirst(DESCRIPTOR.tools.restore, VERSION, client.env);
        const server = await client.query(`SELECT current_setting('server_version_num') || ' ' || ${USER_RELATIONS} || ' ' || current_setting('server_version')`);
        if (server.code !== 0) {
          throw new Error(`cannot connect to the target ${DESCRIPTOR.title}: ${firstLine(server.stderr) || `psql exited with code ${server.code}`}`);
        }
        const [versionNum, relations, ...rest] = server.stdout.trim().split(' ');
        return {
          tool,
          server: { version: rest.join(' ') || versionNum },
          existingTables: Number(relations),
          serverMajor: Math.floor(Number(versionNum) / 10_000),
          toolMajor: majorOf(tool.version),
        };
      },
      parallel: true,
      async restoreCommand(plan, extraArgs, _source, parallel) {
        const dbname = `--dbname=${dbnameConninfo(client.database)}`;
        const cleanup = async () => undefined;
        if (parallel) return parallelRestoreCommand(plan, extraArgs, parallel, dbname, client.env);
        if (!(plan.serverMajor < plan.toolMajor)) {
          return {
            steps: [{ kind: 'tool', command: plan.tool.name, args: [...PG_RESTORE_FLAGS, dbname, ...extraArgs], env: client.env }],
            cleanup,
            // A whole archive restored in one transaction: pg_restore reads to its last byte (the
            // end of the last data block, or of the table of contents) before it commits. Options
            // that select part of it (--table, --section, --schema-only…) can let it commit
            // without reading to the end, so then the object is checked first.
            singlePass: extraArgs.length === 0 ? 'pg_restore never got the end of the archive, so its single transaction rolled back and the target kept nothing' : undefined,
          };
        }
        // An older server: pg_restore writes SQL, which psql runs after the filter drops what the
        // older server does not know.
        return {
          steps: [
            { kind: 'tool', command: plan.tool.name, args: ['--no-owner', '--no-privileges', '--file=-', ...extraArgs], env: client.env },
            { kind: 'filter', name: 'drop transaction_timeout', create: () => new DropTransactionTimeout() },
            { kind: 'tool', command: 'psql', args: ['--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1', '--single-transaction', dbname, '--file=-'], env: client.env },
          ],
          cleanup,
          // The runner ends psql's input (its COMMIT) only after the whole object matched.
          singlePass: 'psql never got the end of its script, so its single transaction rolled back and the target kept nothing',
        };
      },
    };
  }
}

/**
 * `pg_restore --jobs=N` needs a file it can seek in: the decompressed archive is spooled to one
 * (dd, so the bytes never pass through Node), and pg_restore starts only once the whole object
 * matched its manifest, so the target never sees a byte of a damaged backup. Each job commits its
 * own work: a restore that fails part-way leaves what it restored (hence `--exit-on-error`).
 */
async function parallelRestoreCommand(
  plan: PostgresRestorePlan, extraArgs: readonly string[], parallel: ParallelRestore, dbname: string, env: NodeJS.ProcessEnv,
): Promise<RestoreCommand> {
  if (plan.serverMajor < plan.toolMajor) {
    throw new ConfigError(`${ENV.RESTORE_PARALLELISM}: ${parallel.jobs} needs a target of ${DESCRIPTOR.title} ${plan.toolMajor} or newer (the image's ${plan.tool.name}); `
      + `this target is ${plan.serverMajor}, which is restored through psql in one stream. Set ${ENV.RESTORE_PARALLELISM}=1 (parallelism: 1).`);
  }
  const created = await fs.open(parallel.spoolFile, 'wx', 0o600);
  await created.close();
  return {
    steps: [{ kind: 'tool', command: 'dd', args: [`of=${parallel.spoolFile}`, 'bs=1M', 'status=none'], env: childEnv(env) }],
    then: {
      kind: 'tool',
      command: plan.tool.name,
      args: ['--no-owner', '--no-privileges', '--exit-on-error', '--no-password', `--jobs=${parallel.jobs}`, dbname, ...extraArgs, parallel.spoolFile],
      env,
    },
    singlePass: `pg_restore --jobs=${parallel.jobs} starts only once the spooled archive matched its sha256, so the target was not touched`,
    cleanup: () => fs.rm(parallel.spoolFile, { force: true }),
  };
}

/** The throwaway database a backup is verified in: `verify_<id>`, lower case, a plain identifier. */
export function verifyDatabaseName(backupId: string): string {
  return `verify_${backupId.toLowerCase().replace(/[^a-z0-9]+/g, '_')}`;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
/** A string literal that means the same whatever standard_conforming_strings says. */
const literal = (text: string) => `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** How long one check on the restored copy may take (a count, ANALYZE, the user's query). */
const CHECK_TIMEOUT_MS = 30 * 60_000;
const FIELD = '\x1f';
const RECORD = '\x1e';
const SEPARATORS = [`--field-separator=${FIELD}`, `--record-separator=${RECORD}`];
/** What minRows and tablesExist accept as a table: tables, partitioned tables, views, materialized views, foreign tables. */
const TABLE_KINDS = "('r', 'p', 'v', 'm', 'f')";
/** The user tables of the current database, partitions included. */
const USER_TABLES = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;

const rowsOf = (out: Captured) => out.stdout.replace(/\n$/, '').split(RECORD).filter(r => r !== '').map(r => r.split(FIELD));
const failure = (out: Captured) => firstLine(out.stderr).trim() || `psql exited with code ${out.code}`;

async function runSql(client: PostgresClient, statement: string): Promise<string> {
  const out = await client.query(statement);
  if (out.code !== 0) throw new Error(`${statement.split(' ').slice(0, 3).join(' ')} failed: ${failure(out)}`);
  return out.stdout.trim();
}

/**
 * Verification on a throwaway PostgreSQL (the verify pod's sidecar), reached with the PG*
 * variables; `settings.database` is its maintenance database, where each verification creates
 * and finally drops its own `verify_<id>` database.
 */
function postgresVerify(settings: PostgresSettings, env: NodeJS.ProcessEnv): VerifyCapability {
  return {
    async prepare(backupId, { serverWaitMs, signal, log }): Promise<VerifyTarget> {
      const admin = new PostgresClient(settings.database, env);
      await waitForServer(async () => {
        const out = await admin.query('SELECT 1');
        return out.code === 0 ? undefined : failure(out);
      }, { serverWaitMs, signal, log });
      const database = verifyDatabaseName(backupId);
      const quoted = quoteIdent(database);
      // A database left by an earlier, killed verification of the same backup.
      await runSql(admin, `DROP DATABASE IF EXISTS ${quoted}`);
      await runSql(admin, `CREATE DATABASE ${quoted}`);
      log.info('verify database created', { id: backupId, database });
      const client = new PostgresClient(database, env);
      return {
        name: database,
        engine: new PostgresEngine({ database }, env),
        contents: checkSignal => countTables(client, checkSignal, log),
        check: (a, checkSignal) => checkAssertion(client, a, checkSignal),
        async cleanup() {
          await runSql(admin, `DROP DATABASE IF EXISTS ${quoted}`).catch(err => log.warn(`could not drop ${database}: ${describeError(err)}`));
        },
      };
    },
  };
}

/**
 * The user tables the restore left, and their rows as the planner estimates them after an ANALYZE
 * (exact for tables smaller than ANALYZE's sample, 30,000 rows by default; close above).
 */
async function countTables(client: PostgresClient, signal: AbortSignal, log: Logger): Promise<RestoredContents> {
  const analyzed = await client.longQuery('ANALYZE', signal, CHECK_TIMEOUT_MS);
  if (analyzed.code !== 0) log.warn(`ANALYZE failed, so the row estimate may be missing: ${failure(analyzed)}`);
  const out = await client.longQuery(
    `SELECT count(*), coalesce(sum(CASE WHEN c.relkind = 'r' AND c.reltuples > 0 THEN c.reltuples ELSE 0 END), 0)::bigint ${USER_TABLES}`,
    signal, CHECK_TIMEOUT_MS, SEPARATORS);
  if (out.code !== 0) throw new Error(`counting the restored tables failed: ${failure(out)}`);
  const [[tables, rows]] = rowsOf(out);
  return { objectUnit: 'tables', objects: Number(tables), itemUnit: 'rows', items: Number(rows) };
}

async function checkAssertion(client: PostgresClient, a: AssertionSpec, signal: AbortSignal): Promise<CheckResult> {
  const check = assertionLabel(a);
  const result = (passed: boolean, detail: string): CheckResult => ({ check, passed, detail });
  switch (a.type) {
    case 'sql': {
      // The user's query must return exactly one row whose first column is true.
      const out = await client.longQuery(a.query, signal, CHECK_TIMEOUT_MS, SEPARATORS);
      if (out.code !== 0) return result(false, `the query failed: ${failure(out)}`);
      const rows = rowsOf(out);
      if (rows.length !== 1) return result(false, `the query returned ${rows.length} rows; exactly one is required`);
      const first = rows[0][0];
      const passed = first === 't' || first === 'true';
      return result(passed, `the query returned '${first}'${passed ? '' : '; true is required'}`);
    }
    case 'minRows': {
      const found = await client.longQuery(
        `SELECT c.oid::regclass::text, c.relkind IN ${TABLE_KINDS} FROM pg_class c WHERE c.oid = to_regclass(${literal(a.table)})`,
        signal, CHECK_TIMEOUT_MS, SEPARATORS);
      if (found.code !== 0) return result(false, `looking up ${a.table} failed: ${failure(found)}`);
      const rows = rowsOf(found);
      if (rows.length === 0) return result(false, `${a.table} does not exist`);
      const [relation, isTable] = rows[0];
      if (isTable !== 't') return result(false, `${a.table} is not a table or view`);
      // Counts no further than the minimum: as cheap on a huge table as on a small one.
      const counted = await client.longQuery(`SELECT count(*) FROM (SELECT 1 FROM ${relation} LIMIT ${a.min}) AS r`, signal, CHECK_TIMEOUT_MS);
      if (counted.code !== 0) return result(false, `counting the rows of ${a.table} failed: ${failure(counted)}`);
      const n = Number(counted.stdout.trim());
      return n >= a.min
        ? result(true, `${a.table} has at least ${a.min} rows`)
        : result(false, `${a.table} has ${n} rows; at least ${a.min} required`);
    }
    case 'tablesExist': {
      const names = `ARRAY[${a.tables.map(literal).join(', ')}]::text[]`;
      const out = await client.longQuery(`SELECT t FROM unnest(${names}) WITH ORDINALITY AS u(t, i)
        WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = to_regclass(t) AND c.relkind IN ${TABLE_KINDS}) ORDER BY i`,
      signal, CHECK_TIMEOUT_MS, SEPARATORS);
      if (out.code !== 0) return result(false, `looking up the tables failed: ${failure(out)}`);
      const missing = rowsOf(out).map(r => r[0]);
      return missing.length === 0
        ? result(true, `all ${a.tables.length} exist`)
        : result(false, `missing: ${missing.join(', ')}`);
    }
    default:
      return result(false, `${DESCRIPTOR.title} cannot check ${a.type} assertions`);
  }
}

export const postgresModule: EngineModule<PostgresSettings> = {
  descriptor: DESCRIPTOR,
  readSettings,
  create: (settings, env) => new PostgresEngine(settings, env),
};
