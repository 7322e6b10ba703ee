/**
 * PostgreSQL with pg_dump's custom format (restorable with pg_restore, selectively too). pg_dump's
 * own zlib is off (-Z0): it is single-threaded and several times slower than zstd outside.
 * Connection settings reach pg_dump and psql only as libpq's PG* variables, so the password
 * never appears in argv.
 */
import { Transform, TransformCallback } from 'node:stream';
import { ENV } from '../../../lib/contract';
import { PostgresSettings } from '../config';
import { capture, childEnv, firstLine } from '../proc';
import { DumpCommand, Engine, Preflight, RestoreCommand, RestorePreflight } from './engine';

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

export class PostgresEngine implements Engine {
  public readonly name = 'postgres' as const;
  public readonly format = 'pg_dump-custom';
  public readonly extension = 'pgdump';
  public readonly database: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(settings: PostgresSettings, env: NodeJS.ProcessEnv) {
    this.database = settings.database;
    this.env = childEnv(env, [ENV.PGPASSWORD], {
      // Fail fast on an unreachable host instead of libpq's default of waiting forever.
      PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT || '10',
      PGAPPNAME: env.PGAPPNAME || 'cdk8s-db-backup',
    });
  }

  async preflight(): Promise<Preflight> {
    const tool = await capture('pg_dump', ['--version'], this.env);
    const toolVersion = /\(PostgreSQL\)\s+(\S+)/.exec(tool.stdout)?.[1];
    if (tool.code !== 0 || !toolVersion) {
      throw new Error(`pg_dump --version failed: ${firstLine(tool.stderr || tool.stdout) || `exit code ${tool.code}`}`);
    }
    const server = await capture('psql', [
      '--no-psqlrc', '--no-password', '--tuples-only', '--no-align', '--quiet', '--set=ON_ERROR_STOP=1',
      '--command', "SELECT current_setting('server_version_num') || ' ' || pg_database_size(current_database()) || ' ' || current_setting('server_version')",
    ], this.env);
    if (server.code !== 0) {
      throw new Error(`cannot connect to PostgreSQL: ${firstLine(server.stderr) || `psql exited with code ${server.code}`}`);
    }
    const [versionNum, databaseBytes, ...rest] = server.stdout.trim().split(' ');
    const serverMajor = Math.floor(Number(versionNum) / 10_000);
    const toolMajor = Number(/^\d+/.exec(toolVersion)?.[0]);
    if (!Number.isInteger(serverMajor) || serverMajor < 1) {
      throw new Error(`cannot read the PostgreSQL server version (psql printed '${server.stdout.trim()}')`);
    }
    if (serverMajor > toolMajor) {
      throw new Error(`server is PostgreSQL ${serverMajor} but pg_dump is ${toolMajor}: pg_dump cannot dump a newer server; use an image whose postgresql-client is ${serverMajor} or newer`);
    }
    return {
      tool: { name: 'pg_dump', version: toolVersion },
      server: { version: rest.join(' ') || versionNum },
      // The custom format holds table data but no indexes, so it is rarely larger than this.
      estimatedBytes: Number(databaseBytes) || undefined,
    };
  }

  async dumpCommand(extraArgs: readonly string[]): Promise<DumpCommand> {
    return {
      command: 'pg_dump',
      args: ['--format=custom', '--compress=0', '--no-password', ...extraArgs],
      env: this.env,
      cleanup: async () => undefined,
    };
  }

  async restorePreflight(): Promise<PostgresTarget> {
    const tool = await capture('pg_restore', ['--version'], this.env);
    const toolVersion = /\(PostgreSQL\)\s+(\S+)/.exec(tool.stdout)?.[1];
    if (tool.code !== 0 || !toolVersion) {
      throw new Error(`pg_restore --version failed: ${firstLine(tool.stderr || tool.stdout) || `exit code ${tool.code}`}`);
    }
    const server = await this.query(`SELECT current_setting('server_version_num') || ' ' || ${USER_RELATIONS} || ' ' || current_setting('server_version')`);
    if (server.code !== 0) {
      throw new Error(`cannot connect to the target PostgreSQL: ${firstLine(server.stderr) || `psql exited with code ${server.code}`}`);
    }
    const [versionNum, relations, ...rest] = server.stdout.trim().split(' ');
    return {
      tool: { name: 'pg_restore', version: toolVersion },
      server: { version: rest.join(' ') || versionNum },
      existingTables: Number(relations),
      serverMajor: Math.floor(Number(versionNum) / 10_000),
      toolMajor: Number(/^\d+/.exec(toolVersion)?.[0]),
    };
  }

  async restoreCommand(format: string, extraArgs: readonly string[], preflight: RestorePreflight): Promise<RestoreCommand> {
    if (format !== this.format) throw new Error(`cannot restore a '${format}' backup with pg_restore (expected ${this.format})`);
    const target = preflight as PostgresTarget;
    const dbname = `--dbname=${dbnameConninfo(this.database)}`;
    const cleanup = async () => undefined;
    if (!(target.serverMajor < target.toolMajor)) {
      return { steps: [{ kind: 'tool', command: 'pg_restore', args: [...PG_RESTORE_FLAGS, dbname, ...extraArgs], env: this.env }], cleanup };
    }
    // An older server: pg_restore writes SQL, which psql runs after the filter drops what the
    // older server does not know.
    return {
      steps: [
        { kind: 'tool', command: 'pg_restore', args: ['--no-owner', '--no-privileges', '--file=-', ...extraArgs], env: this.env },
        { kind: 'filter', name: 'drop transaction_timeout', create: () => new DropTransactionTimeout() },
        { kind: 'tool', command: 'psql', args: ['--no-psqlrc', '--no-password', '--quiet', '--set=ON_ERROR_STOP=1', '--single-transaction', dbname, '--file=-'], env: this.env },
      ],
      cleanup,
    };
  }

  /** Runs one SQL statement in the target with psql (tuples only, unaligned). */
  query(sql: string, extraArgs: readonly string[] = []) {
    return capture('psql', [...PSQL_FLAGS, ...extraArgs, '--command', sql], this.env);
  }
}

export interface PostgresTarget extends RestorePreflight {
  readonly serverMajor: number;
  readonly toolMajor: number;
}
