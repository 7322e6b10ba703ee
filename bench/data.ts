/**
 * The bench's databases: realistic, poorly compressible rows (ids, timestamps, UUIDs, amounts, a
 * short enum-like text and a 160-character hex payload; ~2:1 with zstd). pgbench's tables
 * compress ~40:1 and would hide every compression cost.
 */
import { PostgresServer, quoteIdent } from '../test/servers/postgres';

const ROW_BYTES = 250;
/** Rows per INSERT: ~50 MB, so that sessions share the work evenly and each stays far below psql's 120 s timeout (test/servers). */
const BATCH = 200_000;

function rowsFor(gb: number): number {
  return Math.max(1, Math.round((gb * 1e9) / ROW_BYTES));
}

/** Rows `from`..`to` (inclusive) into `table`. */
function insertRows(table: string, from: number, to: number): string {
  return `INSERT INTO ${quoteIdent(table)} SELECT g, timestamptz '2026-01-01' + random() * interval '300 days', gen_random_uuid(),
    round((random() * 100000)::numeric, 2), (ARRAY['order','refund','payout','fee'])[1 + (g % 4)],
    md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(g::text)
    FROM generate_series(${from}, ${to}) g`;
}

/**
 * A database of `tables` tables holding ~`gb` GB together (one table: `events`; more: `events_01`…).
 * The inserts run `jobs` at a time (one session each): generating rows is CPU-bound in PostgreSQL.
 */
export async function makeDatabase(pg: PostgresServer, db: string, gb: number, tables = 1, jobs = 2): Promise<void> {
  await pg.createDatabase(db);
  const rows = rowsFor(gb / tables);
  const inserts: string[] = [];
  for (let t = 1; t <= tables; t++) {
    const table = tables === 1 ? 'events' : `events_${String(t).padStart(2, '0')}`;
    await pg.psql(`CREATE TABLE ${quoteIdent(table)} (
      id bigint PRIMARY KEY, created_at timestamptz NOT NULL, account uuid NOT NULL,
      amount numeric(12,2) NOT NULL, kind text NOT NULL, payload text NOT NULL)`, db);
    for (let start = 1; start <= rows; start += BATCH) inserts.push(insertRows(table, start, Math.min(rows, start + BATCH - 1)));
  }
  const worker = async () => {
    for (let sql = inserts.shift(); sql !== undefined; sql = inserts.shift()) await pg.psql(sql, db);
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  await pg.psql('VACUUM ANALYZE', db);
}

export async function databaseBytes(pg: PostgresServer, db: string): Promise<number> {
  return Number((await pg.psql(`SELECT pg_database_size(${`'${db.replace(/'/g, "''")}'`})`)).trim());
}

/** Rows in every user table together: what a restore must have brought back. */
export async function totalRows(pg: PostgresServer, db: string): Promise<number> {
  const tables = (await pg.psql('SELECT tablename FROM pg_tables WHERE schemaname = \'public\' ORDER BY 1', db)).trim().split('\n').filter(Boolean);
  if (!tables.length) return 0;
  return Number((await pg.psql(`SELECT ${tables.map(t => `(SELECT count(*) FROM ${quoteIdent(t)})`).join(' + ')}`, db)).trim());
}

/**
 * How a database changes by 2 % of its rows a day, two ways:
 * - `uniform`: 2 % of the rows, anywhere in the table, get a new amount and payload (updated rows
 *   move to the table's end in the dump, so nearly every stretch of the dump changes a little:
 *   the hard case for deduplication);
 * - `append`: the oldest 2 % of the rows are deleted and as many new rows appended (an event log).
 */
export const DAILY_PATTERNS = ['uniform', 'append'] as const;
export type DailyPattern = typeof DAILY_PATTERNS[number];

export async function changeOneDay(pg: PostgresServer, db: string, pattern: DailyPattern, day: number, gb: number): Promise<void> {
  const rows = rowsFor(gb);
  const n = Math.max(1, Math.round(rows * 0.02));
  if (pattern === 'uniform') {
    // A different 2 % each day: ids whose residue mod 50 is the day's.
    await pg.psql(`UPDATE events SET amount = round((random() * 100000)::numeric, 2),
      payload = md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(id::text)
      WHERE id % 50 = ${day % 50}`, db);
  } else {
    const first = (day - 1) * n + 1;
    await pg.psql(`DELETE FROM events WHERE id < ${first + n}; ${insertRows('events', rows + first, rows + first + n - 1)}`, db);
  }
  // What autovacuum would have done by the next night: dead rows do not reach the dump anyway.
  await pg.psql('VACUUM events', db);
}
