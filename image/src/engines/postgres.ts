/**
 * PostgreSQL with pg_dump's custom format (restorable with pg_restore, selectively too). pg_dump's
 * own zlib is off (-Z0): it is single-threaded and several times slower than zstd outside.
 * Connection settings reach pg_dump and psql only as libpq's PG* variables, so the password
 * never appears in argv.
 */
import { ENV } from '../../../lib/contract';
import { PostgresSettings } from '../config';
import { capture, childEnv, firstLine } from '../proc';
import { DumpCommand, Engine, Preflight } from './engine';

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
}
