/**
 * list, restore and verify against real servers: PostgreSQL 15 and Ceph radosgw (and file://).
 * Backups are made by the runner itself; restores go into databases owned by a role that can
 * write, as a restore job's user would be.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket } from './s3-helpers';
import { backupIdOf } from '../../image/src/key';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, requireS3, uniqueName } from '../servers/env';
import { postgresRunnerEnv, quoteIdent, tableDigests } from '../servers/postgres';

jest.setTimeout(180_000);

const TABLES = ['items', 'kinds'];
const PGV = ENGINE_REGISTRY.postgres.env;

describeIntegration('runner: list, restore, verify with PostgreSQL and radosgw', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let source: string;
  let digests: Record<string, string>;
  let role: string;
  let rolePassword: string;
  const prefix = 'prod';
  const backups: string[] = []; // ids, oldest first

  beforeAll(async () => {
    pg = requirePostgres();
    b = await createTestBucket('restore');
    source = uniqueName('rsrc').replace(/-/g, '_');
    role = uniqueName('restorer').replace(/-/g, '_');
    rolePassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB PASSWORD '${rolePassword}';`);
    await pg.createDatabase(source);
    await pg.psql(`
      CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
      CREATE TABLE kinds (id serial PRIMARY KEY, j jsonb, b bytea, a text[], nul text);
      INSERT INTO kinds (j, b, a, nul) SELECT jsonb_build_object('k', g), decode(md5(g::text), 'hex'),
        ARRAY['a', g::text, E'quote\\'s'], CASE WHEN g % 3 = 0 THEN NULL ELSE 'v' END FROM generate_series(1, 500) g;
    `, source);
    digests = await digestsOf(source);
    await buildRunner();
    for (let i = 0; i < 2; i++) {
      const run = await runRunner(backupEnv());
      expect(run.code).toBe(0);
      backups.push(backupIdOf(run.last.key as string));
      // Distinct timestamps, so "latest" is well defined.
      await new Promise(r => setTimeout(r, 1100));
    }
    // A later change: restoring the older backup must not contain it.
    await pg.psql('INSERT INTO items VALUES (0, \'after\');', source);
  });

  afterAll(() => b?.s3.destroy());

  function backupEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: 'orders',
      ...postgresRunnerEnv(pg, source),
      [ENV.PROGRESS_INTERVAL_MS]: '100',
      ...extra,
    });
  }

  /** The same series, with the engine variables naming `target` as the restoring role. */
  function targetEnv(target: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return backupEnv({ [PGV.USER]: role, [PGV.PASSWORD]: rolePassword, [PGV.DATABASE]: target, ...extra });
  }

  async function newTarget(): Promise<string> {
    const name = uniqueName('rtgt').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${quoteIdent(name)} OWNER ${quoteIdent(role)};`);
    return name;
  }

  const digestsOf = (db: string) => tableDigests(pg, db, TABLES);

  const userTables = async (db: string) => Number((await pg.psql('SELECT count(*) FROM pg_tables WHERE schemaname = \'public\';', db)).trim());

  async function dataKey(id: string): Promise<string> {
    return Object.keys(await b.objects()).find(k => k.includes(id) && !k.endsWith('.manifest.json'))!;
  }

  test('list: complete backups newest first; data without a manifest is not listed', async () => {
    const orphan = `${prefix}/orders/20200101T000000Z-deadbeef.pgdump.zst`;
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: orphan, Body: Buffer.from('not a backup') }));
    const run = await runRunner(backupEnv(), ['list']);
    expect(run.code).toBe(0);
    const listed = run.lines.filter(l => l.msg === 'backup');
    expect(listed.map(l => l.id)).toEqual([...backups].reverse());
    expect(listed[0]).toMatchObject({ engine: 'postgres', database: source, compression: 'zstd', tool: { name: 'pg_dump' } });
    expect(listed[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(run.last).toMatchObject({ msg: 'list complete', backups: 2, newest: backups[1], incomplete: 1 });
    await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: orphan }));
  });

  test('restore latest: identical rows, in a single pass (one read, checked while restoring)', async () => {
    const target = await newTarget();
    const run = await runRunner(targetEnv(target), ['restore']);
    expect(run.code).toBe(0);
    const msgs = run.lines.map(l => l.msg);
    expect(msgs.indexOf('single pass')).toBeGreaterThan(msgs.indexOf('restore target'));
    expect(run.lines.find(l => l.msg === 'integrity verified')).toMatchObject({ pass: 'single', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(run.output).not.toContain('MaxListenersExceededWarning');
    expect(run.last).toMatchObject({ msg: 'restore complete', id: backups[1], targetDatabase: target });
    expect(await digestsOf(target)).toEqual(digests);
    expect(run.output).not.toContain(rolePassword);
  });

  test('restore by id (the older backup)', async () => {
    const target = await newTarget();
    const run = await runRunner(targetEnv(target), ['restore', backups[0]]);
    expect(run.code).toBe(0);
    expect(run.last).toMatchObject({ msg: 'restore complete', id: backups[0] });
    expect(await digestsOf(target)).toEqual(digests);
  });

  test('refuses a target that already has tables, unless forced', async () => {
    const target = await newTarget();
    await pg.psql(`CREATE TABLE keep_me (x int); ALTER TABLE keep_me OWNER TO ${quoteIdent(role)};`, target);
    const run = await runRunner(targetEnv(target), ['restore']);
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(new RegExp(`^configuration error: the target database ${target} already has 1 tables.*set ${ENV.RESTORE_FORCE}=true`));
    expect(await userTables(target)).toBe(1);
    const forced = await runRunner(targetEnv(target, { [ENV.RESTORE_FORCE]: 'true' }), ['restore']);
    expect(forced.code).toBe(0);
    expect(await digestsOf(target)).toEqual(digests);
  });

  test('an unknown id: not found, with the newest ids', async () => {
    const target = await newTarget();
    const run = await runRunner(targetEnv(target), ['restore', '20200101T000000Z-00000000']);
    expect(run.code).toBe(1);
    const location = `s3://${b.bucket}/${prefix} (${requireS3().endpoint}) under ${prefix}/orders/`;
    expect(run.last.msg).toBe(`restore failed: backup 20200101T000000Z-00000000 not found at ${location}; the newest are ${backups[1]}, ${backups[0]}`);
  });

  describe('a damaged backup is refused and the target is never written', () => {
    /** A copy of the newest backup (data + manifest) under a new id, so the others stay intact. */
    async function copyBackup(
      mutate: (data: Buffer) => Buffer, withManifest = true, mutateManifest: (m: Record<string, unknown>) => Record<string, unknown> = m => m,
    ): Promise<string> {
      const key = await dataKey(backups[1]);
      const get = async (k: string) => {
        const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: k }));
        return Buffer.from(await out.Body!.transformToByteArray());
      };
      const id = `29990101T000000Z-${randomBytes(4).toString('hex')}`;
      const newKey = key.replace(backups[1], id);
      const manifest = JSON.parse((await get(`${key}.manifest.json`)).toString());
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: newKey, Body: mutate(await get(key)) }));
      if (withManifest) {
        await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${newKey}.manifest.json`, Body: JSON.stringify(mutateManifest({ ...manifest, key: newKey })) }));
      }
      return id;
    }

    /** `restoreArgs`: pass-through arguments, which turn the single pass off (two reads). */
    async function expectRefused(id: string, message: RegExp, restoreArgs: string[] = []) {
      const target = await newTarget();
      const run = await runRunner(targetEnv(target), ['restore', id, ...restoreArgs.length ? ['--', ...restoreArgs] : []]);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(message);
      if (restoreArgs.length) expect(run.lines.some(l => l.source === 'pg_restore')).toBe(false);
      expect(await userTables(target)).toBe(0);
      return run;
    }

    const flipAt = (at: (length: number) => number) => (d: Buffer) => {
      const c = Buffer.from(d);
      c[at(c.length)] = 255 - c[at(c.length)];
      return c;
    };
    const SINGLE_PASS_ROLLED_BACK = 'pg_restore never got the end of the archive, so its single transaction rolled back and the target kept nothing';
    const sha256Mismatch = (pass: string) => new RegExp(`^restore failed: .*has sha256 [0-9a-f]{64} but its manifest records [0-9a-f]{64}: the object is corrupt or was changed \\((${pass})\\)`);

    test('single pass, one bit flipped in the middle: the target keeps nothing, the sha256 names the cause', async () => {
      const id = await copyBackup(flipAt(n => Math.floor(n / 2)));
      const run = await expectRefused(id, sha256Mismatch('single pass, while restoring|read again after the single-pass restore failed'));
      expect(run.last.msg).toContain(SINGLE_PASS_ROLLED_BACK);
      expect(run.lines.some(l => l.msg === 'single pass')).toBe(true);
      await deleteBackup(id);
    });

    test('single pass, one bit flipped in the last byte: pg_restore never gets the end, nothing is committed', async () => {
      const id = await copyBackup(flipAt(n => n - 1));
      const run = await expectRefused(id, sha256Mismatch('single pass, while restoring'));
      expect(run.last.msg).toContain(SINGLE_PASS_ROLLED_BACK);
      await deleteBackup(id);
    });

    test('single pass, truncated with a manifest that records the shorter size: nothing is committed', async () => {
      const cut = 50;
      const id = await copyBackup(d => d.subarray(0, d.length - cut), true, m => ({ ...m, bytes: (m.bytes as number) - cut }));
      const run = await expectRefused(id, sha256Mismatch('single pass, while restoring|read again after the single-pass restore failed'));
      expect(run.last.msg).toContain(SINGLE_PASS_ROLLED_BACK);
      await deleteBackup(id);
    });

    test('with restore arguments (they may select part of the archive): two reads, the object checked before pg_restore starts', async () => {
      const id = await copyBackup(flipAt(n => Math.floor(n / 2)));
      await expectRefused(id, sha256Mismatch('integrity check before the restore'), ['--no-comments']);
      await deleteBackup(id);
    });

    test('truncated', async () => {
      const id = await copyBackup(d => d.subarray(0, d.length - 100));
      await expectRefused(id, /^restore failed: .* is \d+ bytes but its manifest records \d+: the object is truncated or was changed$/);
      await deleteBackup(id);
    });

    test('a missing manifest: not found', async () => {
      const id = await copyBackup(d => d, false);
      const target = await newTarget();
      const run = await runRunner(targetEnv(target), ['restore', id]);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(new RegExp(`^restore failed: backup ${id} not found at .* \\(only an incomplete leftover without a manifest has that id\\)`));
      await deleteBackup(id);
    });

    test('verify of a corrupted backup fails', async () => {
      const id = await copyBackup(d => {
        const c = Buffer.from(d);
        c[100] = 255 - c[100];
        return c;
      });
      const run = await runRunner(targetEnv('postgres'), ['verify', id]);
      expect(run.code).toBe(1);
      expect(run.lines.find(l => l.msg === 'check')).toMatchObject({ check: 'restore', passed: false });
      expect(run.last).toMatchObject({ level: 'error', failed: ['restore'], id });
      expect(run.last.msg).toMatch(/^verify failed: restore: /);
      await deleteBackup(id);
    });

    async function deleteBackup(id: string) {
      for (const k of Object.keys(await b.objects()).filter(x => x.includes(id))) {
        await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: k }));
      }
    }
  });

  describe('parallelism: the archive spooled while its sha256 is checked, then pg_restore --jobs', () => {
    const spoolDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'restore-spool-'));
    const parallelEnv = (target: string, dir: string, extra: NodeJS.ProcessEnv = {}) => targetEnv(target, {
      [ENV.RESTORE_PARALLELISM]: '2', [ENV.RESTORE_SPOOL_LIMIT_BYTES]: String(2 ** 30), [ENV.RESTORE_SPOOL_DIR]: dir, ...extra,
    });

    test('identical rows; pg_restore --jobs=2 starts only after the sha256 matched; the spool is removed', async () => {
      const target = await newTarget();
      const dir = spoolDir();
      const run = await runRunner(parallelEnv(target, dir), ['restore']);
      expect(run.code).toBe(0);
      const msgs = run.lines.map(l => l.msg);
      expect(run.lines.find(l => l.msg === 'parallel restore')).toMatchObject({ jobs: 2, spoolDir: dir });
      expect(msgs.indexOf('spooled archive restoring')).toBeGreaterThan(msgs.indexOf('integrity verified'));
      expect(await digestsOf(target)).toEqual(digests);
      expect(fs.readdirSync(dir)).toEqual([]);
    });

    test('a damaged object: the target is never touched, pg_restore never starts, the spool is removed', async () => {
      const key = await dataKey(backups[1]);
      const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
      const data = Buffer.from(await out.Body!.transformToByteArray());
      data[data.length - 1] = 255 - data[data.length - 1];
      const id = `29990202T000000Z-${randomBytes(4).toString('hex')}`;
      const newKey = key.replace(backups[1], id);
      const manifest = JSON.parse(Buffer.from(await (await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: `${key}.manifest.json` }))).Body!.transformToByteArray()).toString());
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: newKey, Body: data }));
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${newKey}.manifest.json`, Body: JSON.stringify({ ...manifest, key: newKey }) }));
      try {
        const target = await newTarget();
        const dir = spoolDir();
        const run = await runRunner(parallelEnv(target, dir), ['restore', id]);
        expect(run.code).toBe(1);
        expect(run.last.msg).toMatch(/has sha256 [0-9a-f]{64} but its manifest records [0-9a-f]{64}: the object is corrupt or was changed \(single pass, while restoring\); pg_restore --jobs=2 starts only once the spooled archive matched its sha256, so the target was not touched$/);
        expect(run.lines.some(l => l.msg === 'spooled archive restoring' || l.source === 'pg_restore')).toBe(false);
        expect(await userTables(target)).toBe(0);
        expect(fs.readdirSync(dir)).toEqual([]);
      } finally {
        for (const k of [newKey, `${newKey}.manifest.json`]) await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: k }));
      }
    });

    test.each<[string, (dir: string) => NodeJS.ProcessEnv, RegExp]>([
      ['a spool limit smaller than the archive', dir => ({ [ENV.RESTORE_SPOOL_LIMIT_BYTES]: '1000', [ENV.RESTORE_SPOOL_DIR]: dir }),
        new RegExp(`^configuration error: ${ENV.RESTORE_SPOOL_LIMIT_BYTES}: backup \\S+ is \\d+ bytes before compression, more than the spool's limit of 1000; raise the spool's size limit \\(spoolSizeLimit\\) to at least \\d+ MiB`)],
      ['no spool limit', dir => ({ [ENV.RESTORE_SPOOL_LIMIT_BYTES]: '', [ENV.RESTORE_SPOOL_DIR]: dir }), new RegExp(`^configuration error: ${ENV.RESTORE_SPOOL_LIMIT_BYTES}: not set`)],
      ['a spool directory that does not exist', () => ({ [ENV.RESTORE_SPOOL_DIR]: '/nonexistent-spool' }),
        new RegExp(`^configuration error: ${ENV.RESTORE_SPOOL_DIR}: the spool directory /nonexistent-spool cannot be written \\(ENOENT\\)`)],
      ['parallelism 0', dir => ({ [ENV.RESTORE_PARALLELISM]: '0', [ENV.RESTORE_SPOOL_DIR]: dir }), new RegExp(`^configuration error: ${ENV.RESTORE_PARALLELISM}: 0 must be a whole number from 1`)],
    ])('%s: exit 2 before any byte moves, the target untouched', async (_what, extra, message) => {
      const target = await newTarget();
      const dir = spoolDir();
      const run = await runRunner(parallelEnv(target, dir, extra(dir)), ['restore']);
      expect(run.code).toBe(2);
      expect(run.last.msg).toMatch(message);
      expect(run.lines.some(l => l.msg === 'restore target' || l.msg === 'progress')).toBe(false);
      expect(await userTables(target)).toBe(0);
    });

    test('verify with parallelism 2 passes', async () => {
      const dir = spoolDir();
      const run = await runRunner(parallelEnv('postgres', dir, { [ENV.VERIFY_SQL]: 'SELECT count(*) = 20000 FROM items' }), ['verify', backups[1]]);
      expect(run.code).toBe(0);
      expect(run.lines.find(l => l.msg === 'parallel restore')).toMatchObject({ jobs: 2 });
      expect(run.lines.filter(l => l.msg === 'check').every(l => l.passed)).toBe(true);
    });
  });

  test('verify: restore into a fresh database, tables present, VERIFY_SQL true → exit 0, the done file created', async () => {
    const done = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verify-done-')), 'done');
    const run = await runRunner(targetEnv('postgres', { [ENV.VERIFY_SQL]: 'SELECT count(*) = 20000 FROM items', [ENV.VERIFY_DONE_FILE]: done }), ['verify']);
    expect(fs.existsSync(done)).toBe(true);
    fs.rmSync(path.dirname(done), { recursive: true });
    expect(run.code).toBe(0);
    const checks = run.lines.filter(l => l.msg === 'check');
    expect(checks.map(c => [c.check, c.passed])).toEqual([['restore', true], ['contents', true], ['sql', true]]);
    expect(run.last).toMatchObject({ level: 'info', msg: 'verify passed', id: backups[1] });
    // The throwaway database is gone afterwards.
    expect((await pg.psql(`SELECT count(*) FROM pg_database WHERE datname = '${run.last.target as string}';`)).trim()).toBe('0');
  });

  test('verify: a VERIFY_SQL that returns false → exit 1; the done file for the pod\'s server appears anyway', async () => {
    const done = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verify-done-')), 'done');
    const run = await runRunner(targetEnv('postgres', { [ENV.VERIFY_SQL]: 'SELECT count(*) = 1 FROM items', [ENV.VERIFY_DONE_FILE]: done }), ['verify', backups[0]]);
    expect(fs.existsSync(done)).toBe(true);
    fs.rmSync(path.dirname(done), { recursive: true });
    expect(run.code).toBe(1);
    expect(run.lines.find(l => l.check === 'sql')).toMatchObject({ passed: false, detail: "the query returned 'f'; true is required" });
    expect(run.last).toMatchObject({ level: 'error', msg: "verify failed: sql: the query returned 'f'; true is required" });
  });

  describe('file:// destination', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-restore-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test('backup, list, restore round trip', async () => {
      const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...extra, [ENV.DESTINATION]: `file://${dir}` });
      const made = await runRunner(backupEnv(env()));
      expect(made.code).toBe(0);
      fs.writeFileSync(path.join(dir, 'orders', '20200101T000000Z-deadbeef.pgdump.zst'), 'no manifest');
      const listed = await runRunner(backupEnv(env()), ['list']);
      expect(listed.lines.filter(l => l.msg === 'backup').map(l => l.key)).toEqual([made.last.key]);
      expect(listed.last).toMatchObject({ backups: 1, incomplete: 1 });
      const target = await newTarget();
      const run = await runRunner(targetEnv(target, env()), ['restore']);
      expect(run.code).toBe(0);
      expect(await digestsOf(target)).toEqual(await digestsOf(source));
    });
  });
});
