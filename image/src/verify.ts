/**
 * `verify` (PostgreSQL): restores a backup into a fresh database on a throwaway server (a sidecar
 * on localhost) and checks it: the restore succeeded, it has user tables, and the user's
 * BACKUP_VERIFY_SQL returns true. One JSON line per check, then the result.
 */
import { readCatalog, resolveBackup } from './catalog';
import { PostgresEngine } from './engines/postgres';
import { ConfigError, describeError } from './errors';
import { Logger } from './log';
import { firstLine } from './proc';
import { runRestore } from './restore';
import { Storage } from './storage/storage';
import { ENV } from '../../lib/contract';

/** How long to wait for the sidecar to accept connections. */
const SERVER_WAIT_MS = 120_000;

export interface VerifyOptions {
  readonly storage: Storage;
  readonly prefix: string;
  readonly ref: string;
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
export async function runVerify(o: VerifyOptions): Promise<{ id: string; database: string; passed: boolean; checks: CheckResult[] }> {
  const { env, log, signal } = o;
  const catalog = await readCatalog(o.storage, o.prefix);
  const entry = resolveBackup(catalog, o.ref, `${o.storage.location}/${o.prefix}`);
  const database = `verify_${entry.id.toLowerCase().replace(/-/g, '_')}`;
  const maintenanceDb = env[ENV.PGDATABASE] || 'postgres';
  const admin = new PostgresEngine({ database: maintenanceDb }, { ...env, [ENV.PGDATABASE]: maintenanceDb });
  await waitForServer(admin, o.serverWaitMs ?? SERVER_WAIT_MS, signal, log);
  const quoted = `"${database}"`;
  await sql(admin, `DROP DATABASE IF EXISTS ${quoted}`);
  await sql(admin, `CREATE DATABASE ${quoted}`);
  log.info('verify database created', { id: entry.id, database });

  const target = new PostgresEngine({ database }, { ...env, [ENV.PGDATABASE]: database });
  const checks: CheckResult[] = [];
  const record = (c: CheckResult) => {
    checks.push(c);
    log.log(c.passed ? 'info' : 'error', 'check', { ...c });
  };
  try {
    try {
      const r = await runRestore({
        storage: o.storage,
        engine: target,
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
      record({ check: 'restore', passed: true, detail: `restored ${r.bytes} bytes in ${r.durationSeconds.toFixed(1)} s` });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      record({ check: 'restore', passed: false, detail: describeError(err) });
    }
    if (checks[0].passed) {
      const tables = Number(await sql(target, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`));
      record({ check: 'tables', passed: tables > 0, detail: `${tables} user tables` });
      const query = env[ENV.VERIFY_SQL];
      if (query && query.trim()) record(await checkSql(target, query));
    }
  } finally {
    await sql(admin, `DROP DATABASE IF EXISTS ${quoted}`).catch(err => log.warn(`could not drop ${database}: ${describeError(err)}`));
  }
  const passed = checks.every(c => c.passed) && checks.length > 0;
  return { id: entry.id, database, passed, checks };
}

const FIELD = '\x1f';
const RECORD = '\x1e';

/** BACKUP_VERIFY_SQL must return exactly one row whose first column is true. */
async function checkSql(engine: PostgresEngine, query: string): Promise<CheckResult> {
  const out = await engine.query(query, [`--field-separator=${FIELD}`, `--record-separator=${RECORD}`]);
  if (out.code !== 0) return { check: 'sql', passed: false, detail: `${ENV.VERIFY_SQL} failed: ${firstLine(out.stderr) || `psql exited with code ${out.code}`}` };
  const rows = out.stdout.replace(/\n$/, '').split(RECORD).filter(r => r !== '');
  if (rows.length !== 1) return { check: 'sql', passed: false, detail: `${ENV.VERIFY_SQL} returned ${rows.length} rows; exactly one is required` };
  const first = rows[0].split(FIELD)[0];
  const passed = first === 't' || first === 'true';
  return { check: 'sql', passed, detail: `${ENV.VERIFY_SQL} returned '${first}'${passed ? '' : '; true is required'}` };
}

async function sql(engine: PostgresEngine, statement: string): Promise<string> {
  const out = await engine.query(statement);
  if (out.code !== 0) throw new Error(`${statement.split(' ').slice(0, 3).join(' ')} failed: ${firstLine(out.stderr) || `psql exited with code ${out.code}`}`);
  return out.stdout.trim();
}

async function waitForServer(engine: PostgresEngine, timeoutMs: number, signal: AbortSignal, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let logged = false;
  for (;;) {
    signal.throwIfAborted();
    const out = await engine.query('SELECT 1');
    if (out.code === 0) return;
    const why = firstLine(out.stderr) || `psql exited with code ${out.code}`;
    if (Date.now() > deadline) throw new Error(`the verify server did not accept connections within ${Math.round(timeoutMs / 1000)} s: ${why}`);
    if (!logged) log.info('waiting for the verify server', { reason: why });
    logged = true;
    await new Promise(r => setTimeout(r, 1_000));
  }
}

export function checkVerifyEngine(engine: string): void {
  if (engine !== 'postgres') throw new ConfigError(`verify supports only PostgreSQL for now; ${ENV.ENGINE} is '${engine}'`);
}
