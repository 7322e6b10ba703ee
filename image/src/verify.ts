/**
 * `verify` (PostgreSQL, the engine whose registry entry has the verify capability): restores a
 * backup into a fresh database on a throwaway server (a sidecar on localhost) and checks it: the
 * restore succeeded, it has user tables, and the user's BACKUP_VERIFY_SQL returns true. One JSON
 * line per check, then the result.
 */
import { chooseBackup, readCatalog } from './catalog';
import { PostgresClient, PostgresSettings, postgresModule } from './engines/postgres';
import { describeError } from './errors';
import { Logger } from './log';
import { firstLine } from './proc';
import { runRestore } from './restore';
import { Storage } from './storage/storage';
import { ENV } from '../../lib/contract';

/** How long to wait for the sidecar to accept connections. */
const SERVER_WAIT_MS = 120_000;

export interface VerifySettings {
  /** The throwaway server, connected to its maintenance database (PGDATABASE). */
  readonly server: PostgresSettings;
  /** BACKUP_VERIFY_SQL; undefined: no SQL check. */
  readonly sql?: string;
}

export function readVerifySettings(env: NodeJS.ProcessEnv): VerifySettings {
  const query = env[ENV.VERIFY_SQL];
  return { server: postgresModule.readSettings(env), sql: query && query.trim() ? query : undefined };
}

export interface VerifyOptions {
  readonly storage: Storage;
  readonly prefix: string;
  readonly ref: string;
  readonly settings: VerifySettings;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly progressIntervalMs: number;
  readonly serverWaitMs?: number;
}

export interface CheckResult {
  readonly check: string;
  readonly passed: boolean;
  readonly detail: string;
}

/** Resolves with the checks; `passed` only if every one passed. */
export interface VerifyResult {
  readonly id: string;
  readonly database: string;
  readonly passed: boolean;
  readonly checks: CheckResult[];
  /** How long restoring the backup took (what a recovery would take); undefined when the restore failed. */
  readonly restoreDurationSeconds?: number;
  /** Stored bytes of the verified backup; undefined when the restore failed. */
  readonly bytes?: number;
}

export async function runVerify(o: VerifyOptions): Promise<VerifyResult> {
  const { env, log, signal } = o;
  const catalog = await readCatalog(o.storage, o.prefix, signal);
  const { entry } = await chooseBackup(o.storage, catalog, o.ref, `${o.storage.location} under ${o.prefix}`, log, signal);
  const database = `verify_${entry.id.toLowerCase().replace(/-/g, '_')}`;
  const admin = new PostgresClient(o.settings.server.database, env);
  await waitForServer(admin, o.serverWaitMs ?? SERVER_WAIT_MS, signal, log);
  const quoted = `"${database}"`;
  await sql(admin, `DROP DATABASE IF EXISTS ${quoted}`);
  await sql(admin, `CREATE DATABASE ${quoted}`);
  log.info('verify database created', { id: entry.id, database });

  const target = new PostgresClient(database, env);
  const checks: CheckResult[] = [];
  let restoreDurationSeconds: number | undefined;
  let bytes: number | undefined;
  const record = (c: CheckResult) => {
    checks.push(c);
    log.log(c.passed ? 'info' : 'error', 'check', { ...c });
  };
  try {
    try {
      const r = await runRestore({
        storage: o.storage,
        engine: postgresModule.create({ ...o.settings.server, database }, env),
        prefix: o.prefix,
        ref: entry.id,
        extraArgs: [],
        force: false,
        env,
        log,
        signal,
        progressIntervalMs: o.progressIntervalMs,
        catalog,
      });
      restoreDurationSeconds = r.durationSeconds;
      bytes = r.bytes;
      record({ check: 'restore', passed: true, detail: `restored ${r.bytes} bytes in ${r.durationSeconds.toFixed(1)} s` });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      record({ check: 'restore', passed: false, detail: describeError(err) });
    }
    if (checks[0].passed) {
      const tables = Number(await sql(target, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`));
      record({ check: 'tables', passed: tables > 0, detail: `${tables} user tables` });
      if (o.settings.sql) record(await checkSql(target, o.settings.sql));
    }
  } finally {
    await sql(admin, `DROP DATABASE IF EXISTS ${quoted}`).catch(err => log.warn(`could not drop ${database}: ${describeError(err)}`));
  }
  const passed = checks.every(c => c.passed) && checks.length > 0;
  return { id: entry.id, database, passed, checks, restoreDurationSeconds, bytes };
}

const FIELD = '\x1f';
const RECORD = '\x1e';

/** BACKUP_VERIFY_SQL must return exactly one row whose first column is true. */
async function checkSql(client: PostgresClient, query: string): Promise<CheckResult> {
  const out = await client.query(query, [`--field-separator=${FIELD}`, `--record-separator=${RECORD}`]);
  if (out.code !== 0) return { check: 'sql', passed: false, detail: `${ENV.VERIFY_SQL} failed: ${firstLine(out.stderr) || `psql exited with code ${out.code}`}` };
  const rows = out.stdout.replace(/\n$/, '').split(RECORD).filter(r => r !== '');
  if (rows.length !== 1) return { check: 'sql', passed: false, detail: `${ENV.VERIFY_SQL} returned ${rows.length} rows; exactly one is required` };
  const first = rows[0].split(FIELD)[0];
  const passed = first === 't' || first === 'true';
  return { check: 'sql', passed, detail: `${ENV.VERIFY_SQL} returned '${first}'${passed ? '' : '; true is required'}` };
}

async function sql(client: PostgresClient, statement: string): Promise<string> {
  const out = await client.query(statement);
  if (out.code !== 0) throw new Error(`${statement.split(' ').slice(0, 3).join(' ')} failed: ${firstLine(out.stderr) || `psql exited with code ${out.code}`}`);
  return out.stdout.trim();
}

async function waitForServer(client: PostgresClient, timeoutMs: number, signal: AbortSignal, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let logged = false;
  for (;;) {
    signal.throwIfAborted();
    const out = await client.query('SELECT 1');
    if (out.code === 0) return;
    const why = firstLine(out.stderr) || `psql exited with code ${out.code}`;
    if (Date.now() > deadline) throw new Error(`the verify server did not accept connections within ${Math.round(timeoutMs / 1000)} s: ${why}`);
    if (!logged) log.info('waiting for the verify server', { reason: why });
    logged = true;
    await new Promise(r => setTimeout(r, 1_000));
  }
}
