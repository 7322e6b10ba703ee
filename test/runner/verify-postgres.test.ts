/**
 * `verify` with PostgreSQL against real servers (PostgreSQL 15 as the throwaway server, Ceph
 * radosgw as the storage), the runner as a real process: a good backup passes and its result is
 * stored next to it without touching it; a corrupted, truncated or empty backup and each failing
 * assertion fail with the right final line; list, prune and check understand the results.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket } from './s3-helpers';
import { backupIdOf } from '../../image/src/key';
import { VerifyResultDocument, parseVerifyResult, verifyResultKey } from '../../image/src/verify-result';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';
import { postgresRunnerEnv, quoteIdent } from '../servers/postgres';

jest.setTimeout(180_000);

const PGV = ENGINE_REGISTRY.postgres.env;

describeIntegration('runner: verify with PostgreSQL and radosgw, the .verify.json result', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let source: string;
  let empty: string;
  let role: string;
  let rolePassword: string;
  const prefix = 'prod';
  let good: string; // the id of a backup of `source`
  let goodKey: string;

  beforeAll(async () => {
    pg = requirePostgres();
    b = await createTestBucket('verify');
    source = uniqueName('vsrc').replace(/-/g, '_');
    empty = uniqueName('vempty').replace(/-/g, '_');
    role = uniqueName('verifier').replace(/-/g, '_');
    rolePassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB PASSWORD '${rolePassword}';`);
    await pg.createDatabase(source);
    await pg.createDatabase(empty);
    await pg.psql(`
      CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
      CREATE SCHEMA sales;
      CREATE TABLE sales."Orders" (id serial PRIMARY KEY, note text);
      INSERT INTO sales."Orders" (note) SELECT 'n' || g FROM generate_series(1, 3) g;
    `, source);
    await buildRunner();
    const run = await runRunner(backupEnv('orders'));
    expect(run.code).toBe(0);
    goodKey = run.last.key as string;
    good = backupIdOf(goodKey);
  });

  afterAll(() => b?.s3.destroy());

  function backupEnv(series: string, database = source, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: series,
      ...postgresRunnerEnv(pg, database),
      [ENV.PROGRESS_INTERVAL_MS]: '100',
      ...extra,
    });
  }

  /** The verify run's variables: the throwaway server is the test server, its maintenance database `postgres`. */
  function verifyEnv(series: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return backupEnv(series, 'postgres', { [PGV.USER]: role, [PGV.PASSWORD]: rolePassword, ...extra });
  }

  const assertions = (...a: unknown[]) => ({ [ENV.VERIFY_ASSERTIONS]: JSON.stringify(a) });

  async function readText(key: string): Promise<string> {
    const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
    return out.Body!.transformToString();
  }

  async function readBytes(key: string): Promise<Buffer> {
    const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  const readResult = async (dataKey: string): Promise<VerifyResultDocument> =>
    parseVerifyResult(verifyResultKey(dataKey), await readText(verifyResultKey(dataKey)));

  const verifyDatabases = async () => (await pg.psql("SELECT datname FROM pg_database WHERE datname LIKE 'verify\\_%' ORDER BY 1;")).trim();

  /**
   * A copy of the good backup under another id in `series`, its data changed by `change`; with
   * `consistent`, its manifest is rewritten to match the changed data (a dump that was bad when
   * written), otherwise it keeps the original's size and sha256. Resolves with the copy's data key.
   */
  async function copyBackup(series: string, change: (d: Buffer) => Buffer, consistent = false): Promise<string> {
    const id = `20200101T000000Z-${randomBytes(4).toString('hex')}`;
    const key = `${prefix}/${series}/${id}${goodKey.slice(goodKey.indexOf('.'))}`;
    const data = change(await readBytes(goodKey));
    const manifest = JSON.parse(await readText(`${goodKey}.manifest.json`));
    Object.assign(manifest, { key });
    if (consistent) {
      Object.assign(manifest, { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    }
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: data }));
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${key}.manifest.json`, Body: JSON.stringify(manifest) }));
    return key;
  }

  test('a good backup passes with passing assertions of each kind; the result is stored next to it, the backup untouched', async () => {
    const before = await b.objects();
    const done = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verify-done-')), 'done');
    const run = await runRunner(verifyEnv('orders', {
      [ENV.VERIFY_DONE_FILE]: done,
      [ENV.VERIFY_SQL]: 'SELECT count(*) = 20000 FROM items',
      ...assertions({ type: 'minRows', table: 'items', min: 20000 }, { type: 'tablesExist', tables: ['items', 'sales."Orders"'] },
        { type: 'minRows', table: 'sales."Orders"', min: 3 }),
    }), ['verify']);
    expect(fs.existsSync(done)).toBe(true);
    fs.rmSync(path.dirname(done), { recursive: true });
    expect(run.code).toBe(0);
    const checks = run.lines.filter(l => l.msg === 'check');
    expect(checks.map(c => [c.check, c.passed, c.detail])).toEqual([
      ['restore', true, expect.stringMatching(/^restored \d+ bytes in \d+\.\d s$/)],
      ['contents', true, 'restored 2 tables (20003 rows)'],
      ['sql', true, "the query returned 't'"],
      ['minRows(items, 20000)', true, 'items has at least 20000 rows'],
      ['tablesExist(items, sales."Orders")', true, 'all 2 exist'],
      ['minRows(sales."Orders", 3)', true, 'sales."Orders" has at least 3 rows'],
    ]);
    expect(run.last).toMatchObject({
      level: 'info',
      msg: 'verify passed',
      id: good,
      target: `verify_${good.toLowerCase().replace('-', '_')}`,
      failed: [],
      bytes: expect.any(Number),
      contents: { objectUnit: 'tables', objects: 2, itemUnit: 'rows', items: 20003 },
      resultKey: verifyResultKey(goodKey),
    });
    expect(run.last.restoreDurationSeconds).toBeGreaterThan(0);
    // The throwaway database is gone.
    expect(await verifyDatabases()).toBe('');

    const result = await readResult(goodKey);
    expect(result).toMatchObject({
      formatVersion: 1,
      backupId: good,
      key: goodKey,
      engine: 'postgres',
      passed: true,
      restore: { durationSeconds: run.last.restoreDurationSeconds, bytes: run.last.bytes },
      contents: { objectUnit: 'tables', objects: 2, itemUnit: 'rows', items: 20003 },
      server: { version: expect.stringMatching(/^15\./) },
      target: `verify_${good.toLowerCase().replace('-', '_')}`,
    });
    expect(result.restore.rawBytes).toBeGreaterThan(result.restore.bytes);
    expect(result.checks.map(c => c.check)).toEqual(checks.map(c => c.check));
    expect(Date.parse(result.verifiedAt)).toBeGreaterThan(Date.now() - 120_000);
    // Only the result was added: the backup and its manifest have the same size and ETag.
    const after = await b.objects();
    expect(after).toEqual({ ...before, [verifyResultKey(goodKey)]: expect.any(String) });
    expect(run.output).not.toContain(rolePassword);
  });

  test('failing assertions of each kind: each names itself and what it found, in the final line too', async () => {
    const run = await runRunner(verifyEnv('orders', {
      [ENV.VERIFY_SQL]: 'SELECT count(*) = 1 FROM items',
      ...assertions({ type: 'minRows', table: 'sales."Orders"', min: 10 }, { type: 'minRows', table: 'nope', min: 1 },
        { type: 'tablesExist', tables: ['items', 'nope', 'sales.orders'] }, { type: 'sql', query: 'SELECT * FROM items LIMIT 2' },
        { type: 'sql', query: 'SELECT * FROM missing_table' }),
    }), ['verify', good]);
    expect(run.code).toBe(1);
    const failed = run.lines.filter(l => l.msg === 'check' && !l.passed).map(l => `${l.check as string}: ${l.detail as string}`);
    expect(failed).toEqual([
      "sql: the query returned 'f'; true is required",
      'minRows(sales."Orders", 10): sales."Orders" has 3 rows; at least 10 required',
      'minRows(nope, 1): nope does not exist',
      'tablesExist(items, nope, sales.orders): missing: nope, sales.orders',
      'sql: the query returned 2 rows; exactly one is required',
      'sql: the query failed: relation "missing_table" does not exist',
    ]);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: `verify failed: ${failed.join('; ')}`,
      checks: ['restore', 'contents', 'sql', 'minRows(sales."Orders", 10)', 'minRows(nope, 1)', 'tablesExist(items, nope, sales.orders)', 'sql', 'sql'],
      failed: ['sql', 'minRows(sales."Orders", 10)', 'minRows(nope, 1)', 'tablesExist(items, nope, sales.orders)', 'sql', 'sql'],
    });
    // The result records the failure; it replaced the earlier passing one.
    expect(await readResult(goodKey)).toMatchObject({ passed: false, contents: { objects: 2 } });
    expect(await verifyDatabases()).toBe('');
  });

  test('a corrupted object (same size): the restore check fails before the target sees a byte; the result says so', async () => {
    const key = await copyBackup('corrupt', d => {
      const c = Buffer.from(d);
      c[100] = 255 - c[100];
      return c;
    });
    const run = await runRunner(verifyEnv('corrupt'), ['verify']);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({ level: 'error', id: backupIdOf(key), failed: ['restore'], restoreDurationSeconds: null, contents: null });
    expect(run.last.msg).toMatch(/^verify failed: restore: .*sha256 .*$/);
    expect(run.lines.some(l => l.msg === 'check' && l.check === 'contents')).toBe(false);
    expect(await readResult(key)).toMatchObject({ passed: false, restore: { durationSeconds: null }, contents: null, server: null });
    expect(await verifyDatabases()).toBe('');
  });

  test('a truncated object: refused as damaged before anything starts, no result written', async () => {
    const key = await copyBackup('truncated', d => d.subarray(0, d.length - 100));
    const run = await runRunner(verifyEnv('truncated'), ['verify', backupIdOf(key)]);
    expect(run.code).toBe(1);
    expect(run.last.msg).toMatch(new RegExp(`^verify failed: backup ${backupIdOf(key)} is damaged: .* is \\d+ bytes but its manifest records \\d+: the object is truncated or was changed$`));
    expect(Object.keys(await b.objects())).not.toContain(verifyResultKey(key));
  });

  test('a dump truncated when written (its manifest agrees): the restore fails, the result says so', async () => {
    // A whole zstd frame of the first half of the dump: valid compressed data, an incomplete archive.
    const key = await copyBackup('short-dump', d => zstdOf(d), true);
    const run = await runRunner(verifyEnv('short-dump'), ['verify']);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({ level: 'error', failed: ['restore'] });
    expect(run.last.msg).toMatch(/^verify failed: restore: .*pg_restore/);
    expect(await readResult(key)).toMatchObject({ passed: false, restore: { durationSeconds: null } });
    expect(await verifyDatabases()).toBe('');
  });

  test('a backup of an empty database: restores nothing, so it fails without any assertion', async () => {
    const made = await runRunner(backupEnv('empty', empty));
    expect(made.code).toBe(0);
    const run = await runRunner(verifyEnv('empty'), ['verify']);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: 'verify failed: contents: restored nothing: 0 tables (0 rows); a verification that restores nothing fails',
      failed: ['contents'],
      contents: { objectUnit: 'tables', objects: 0, itemUnit: 'rows', items: 0 },
    });
    expect(run.last.restoreDurationSeconds).toBeGreaterThan(0);
    expect(await readResult(made.last.key as string)).toMatchObject({ passed: false, contents: { objects: 0 } });
  });

  test('an unknown id: not found, nothing verified, no result written', async () => {
    const before = await b.objects();
    const run = await runRunner(verifyEnv('orders'), ['verify', '20190101T000000Z-00000000']);
    expect(run.code).toBe(1);
    expect(run.last.msg).toMatch(/^verify failed: backup 20190101T000000Z-00000000 not found at /);
    expect(await b.objects()).toEqual(before);
  });

  test('list shows the latest verification; check passes with results stored; prune removes a result with its backup', async () => {
    const series = 'lifecycle';
    const first = await runRunner(backupEnv(series));
    await new Promise(r => setTimeout(r, 1100));
    const second = await runRunner(backupEnv(series));
    expect([first.code, second.code]).toEqual([0, 0]);
    const [older, newer] = [first.last.key as string, second.last.key as string];
    expect((await runRunner(verifyEnv(series), ['verify', backupIdOf(older)])).code).toBe(0);
    const failing = await runRunner(verifyEnv(series, assertions({ type: 'minRows', table: 'items', min: 20001 })), ['verify']);
    expect(failing.code).toBe(1);

    const listed = await runRunner(backupEnv(series), ['list']);
    expect(listed.code).toBe(0);
    const verified = Object.fromEntries(listed.lines.filter(l => l.msg === 'backup').map(l => [l.key, l.verified]));
    expect(verified[older]).toMatchObject({ passed: true, contents: { objectUnit: 'tables', objects: 2, items: 20003 } });
    expect(verified[newer]).toMatchObject({ passed: false });
    expect((verified[older] as any).restoreDurationSeconds).toBeGreaterThan(0);
    expect(Date.parse((verified[older] as any).at)).not.toBeNaN();
    expect(listed.last).toMatchObject({ backups: 2, incomplete: 0, orphanedVerifyResults: 0 });

    const checked = await runRunner(backupEnv(series, source, { [ENV.CHECK_READ_DATA]: 'true' }), ['check']);
    expect(checked.code).toBe(0);
    expect(checked.last).toMatchObject({ msg: expect.stringMatching(/^check passed/), backups: 2, problems: [], leftovers: 0 });

    const pruned = await runRunner(backupEnv(series, source, { [ENV.KEEP_LAST]: '1' }), ['prune']);
    expect(pruned.code).toBe(0);
    expect(pruned.last).toMatchObject({ msg: 'prune complete', kept: 1, removed: 1, failures: 0 });
    const left = Object.keys(await b.objects()).filter(k => k.startsWith(`${prefix}/${series}/`)).sort();
    expect(left).toEqual([newer, `${newer}.manifest.json`, verifyResultKey(newer)].sort());

    // A result whose backup is gone (written after a prune, say) is a leftover: check passes, prune removes it.
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: verifyResultKey(older), Body: await readText(verifyResultKey(newer)) }));
    const checkedAgain = await runRunner(backupEnv(series), ['check']);
    expect(checkedAgain).toMatchObject({ code: 0 });
    expect(checkedAgain.last).toMatchObject({ problems: [], leftovers: 1 });
    const prunedAgain = await runRunner(backupEnv(series, source, { [ENV.KEEP_LAST]: '1' }), ['prune']);
    expect(prunedAgain.last).toMatchObject({ msg: 'prune complete', removed: 0, orphanedVerifyResultsRemoved: 1 });
    expect(Object.keys(await b.objects())).not.toContain(verifyResultKey(older));
    await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: verifyResultKey(newer) }));
  });
});

/** The first half of the decompressed dump, compressed again as one complete zstd frame. */
function zstdOf(compressed: Buffer): Buffer {
  const raw = execFileSync('zstd', ['-d', '-c'], { input: compressed, maxBuffer: 268_435_456 });
  return execFileSync('zstd', ['-c', '-q'], { input: raw.subarray(0, Math.floor(raw.length / 2)), maxBuffer: 268_435_456 });
}
