/**
 * prune against radosgw with a generated history: manifests and objects written directly with
 * chosen ids (they need not hold real dumps; the storage records them when written), then `prune`,
 * series isolation, damaged backups, and `backup` with KEEP_LAST.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket } from './s3-helpers';
import { backupIdOf, backupKey, timeOfId, timestamp } from '../../image/src/key';
import { applyRetention } from '../../image/src/retention';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';

jest.setTimeout(120_000);

const DAY = 86_400_000;
const PG = ENGINE_REGISTRY.postgres.env;

describeIntegration('runner: prune against radosgw', ['postgres', 's3'], () => {
  let b: TestBucket;
  let pg: ReturnType<typeof requirePostgres>;
  let source: string;

  beforeAll(async () => {
    b = await createTestBucket('prune');
    pg = requirePostgres();
    source = uniqueName('psrc').replace(/-/g, '_');
    await pg.createDatabase(source);
    await pg.psql('CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);', source);
    await buildRunner();
  });
  afterAll(() => b?.s3.destroy());

  /**
   * Writes a data object and its manifest as the runner would, under `hist/<name>/`; returns the
   * key. The storage records them now, whatever `time` the id says.
   */
  async function seed(name: string, time: Date, withManifest = true): Promise<string> {
    const key = backupKey(`hist/${name}/`, 'pgdump.zst', time);
    const body = randomBytes(64);
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: body }));
    if (withManifest) {
      const manifest = {
        formatVersion: 1,
        engine: 'postgres',
        database: 'db',
        key,
        bytes: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        compression: 'zstd',
        format: 'pg_dump-custom',
        startedAt: time.toISOString(),
        finishedAt: time.toISOString(),
      };
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${key}.manifest.json`, Body: JSON.stringify(manifest) }));
    }
    return key;
  }

  const env = (name: string, extra: NodeJS.ProcessEnv = {}) => baseEnv({ [ENV.ENGINE]: 'postgres', ...b.runnerEnv('hist'), [ENV.NAME]: name, ...extra });

  /** When the storage recorded each manifest under `prefix`, by data key, to the second as the runner reads it. */
  async function storedTimes(prefix: string): Promise<Map<string, Date>> {
    const page = await b.s3.send(new ListObjectsV2Command({ Bucket: b.bucket, Prefix: prefix }));
    return new Map((page.Contents ?? []).filter(o => o.Key!.endsWith('.manifest.json')).map(o => [o.Key!.slice(0, -'.manifest.json'.length), new Date(Math.floor(o.LastModified!.getTime() / 1000) * 1000)]));
  }

  test('a 60-day history written just now (as after copying a bucket): retention and leftover ages follow the storage\'s time, not the ids', async () => {
    const now = Date.now();
    const keys: string[] = [];
    // Ids of 30 backups, every 2 days for 60 days, with a cluster of 3 on the newest day.
    for (let i = 0; i < 27; i++) keys.push(await seed('orders', new Date(now - (i * 2 + 1) * DAY - 3600_000)));
    for (let i = 0; i < 3; i++) keys.push(await seed('orders', new Date(now - (i + 1) * 3600_000)));
    const oldOrphan = await seed('orders', new Date(now - 5 * DAY), false);
    const recentOrphan = await seed('orders', new Date(now - 3600_000), false);
    const upload = `hist/orders/${timestamp(new Date(now - 10 * DAY))}-0badf00d.pgdump.zst`;
    await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: upload }));
    const other = await seed('other', new Date(now - 50 * DAY));
    // Under the series' prefix but another series' (S3 lists uploads at any depth): never touched.
    const nestedUpload = `hist/orders/daily/${timestamp(new Date(now - 10 * DAY))}-1badf00d.pgdump.zst`;
    await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: nestedUpload }));

    const policy = { keepLast: 2, keepDaily: 4, keepWeekly: 3, keepMonthly: 2 };
    const times = await storedTimes('hist/orders/');
    const expected = applyRetention(keys.map(k => ({ id: backupIdOf(k), key: k, time: times.get(k)! })), policy);
    const byIds = applyRetention(keys.map(k => ({ id: backupIdOf(k), key: k, time: timeOfId(backupIdOf(k)) })), policy);
    // The ids alone would keep a different set: the test tells the two apart.
    expect(expected.keep.map(k => k.id).sort()).not.toEqual(byIds.keep.map(k => k.id).sort());

    const run = await runRunner(env('orders', {
      [ENV.KEEP_LAST]: '2', [ENV.KEEP_DAILY]: '4', [ENV.KEEP_WEEKLY]: '3', [ENV.KEEP_MONTHLY]: '2',
    }), ['prune']);
    expect(run.code).toBe(0);
    const remaining = Object.keys(await b.objects()).sort();
    const keptKeys = expected.keep.map(k => k.key);
    // Every leftover was written (by the storage's clock) moments ago: all are kept, whatever their ids say.
    expect(remaining).toEqual([...keptKeys, ...keptKeys.map(k => `${k}.manifest.json`), oldOrphan, recentOrphan, other, `${other}.manifest.json`].sort());
    expect((await b.openUploads()).map(u => u.split(' ')[0]).sort()).toEqual([upload, nestedUpload].sort());
    // One line per decision, with reasons; the newest is kept as such.
    expect(run.lines.filter(l => l.msg === 'keep').map(l => l.id)).toEqual(expected.keep.map(k => k.id));
    expect(run.lines.find(l => l.msg === 'keep')!.reasons).toContain('newest');
    expect(run.lines.filter(l => l.msg === 'remove').map(l => l.id).sort()).toEqual(expected.remove.map(k => k.id).sort());
    expect(run.last).toMatchObject({ msg: 'prune complete', kept: expected.keep.length, removed: expected.remove.length, leftoversRemoved: 0, leftoversKept: 3 });

    // With a minimum age of 0 the series' leftovers and open upload go; the other series' stay.
    const again = await runRunner(env('orders', { [ENV.KEEP_LAST]: '100', [ENV.INCOMPLETE_MIN_AGE_SECONDS]: '0' }), ['prune']);
    expect(again.code).toBe(0);
    expect((await b.openUploads()).map(u => u.split(' ')[0])).toEqual([nestedUpload]);
    expect(Object.keys(await b.objects())).not.toContain(recentOrphan);
    expect(Object.keys(await b.objects())).not.toContain(oldOrphan);
  });

  test('prune touches only its own series: names that are prefixes of each other, series nested in each other, open uploads included', async () => {
    const old = new Date(Date.now() - 30 * DAY);
    const at = async (prefix: string, withManifest = true) => {
      const key = backupKey(prefix, 'pgdump.zst', old);
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: 'x' }));
      if (withManifest) {
        await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${key}.manifest.json`, Body: JSON.stringify({ key, bytes: 1, sha256: '0'.repeat(64) }) }));
      }
      return key;
    };
    const open = async (prefix: string) => {
      const key = backupKey(prefix, 'pgdump.zst', old);
      await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: key }));
      return key;
    };
    // Series 'orders' at s3://<bucket>/pp, 'orders-eu' beside it, and 'daily' at s3://<bucket>/pp/orders.
    const own = { old: await at('pp/orders/'), orphan: await at('pp/orders/', false), upload: await open('pp/orders/') };
    await new Promise(r => setTimeout(r, 1100));
    const ownNewest = await at('pp/orders/');
    const eu = [await at('pp/orders-eu/'), await at('pp/orders-eu/', false), await open('pp/orders-eu/')];
    const daily = { backup: await at('pp/orders/daily/'), orphan: await at('pp/orders/daily/', false), upload: await open('pp/orders/daily/') };
    for (const odd of [`pp/orders/${timestamp(old)}-6badf00d`, `pp/orders/${timestamp(old)}-7badf00d.pgdump.zst.d/x`, 'pp/orders/notes.txt']) {
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: odd, Body: 'not a backup' }));
    }
    await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: `pp/orders/x${timestamp(old)}-8badf00d.pgdump.zst` }));
    const objectsBefore = Object.keys(await b.objects()).filter(k => k.startsWith('pp/'));
    const uploadsBefore = (await b.openUploads()).map(u => u.split(' ')[0]).filter(k => k.startsWith('pp/'));

    const nested = { ...env('daily', { [ENV.KEEP_LAST]: '1', [ENV.INCOMPLETE_MIN_AGE_SECONDS]: '0' }), ...b.runnerEnv('pp/orders') };
    const first = await runRunner({ ...env('orders', { [ENV.KEEP_LAST]: '1', [ENV.INCOMPLETE_MIN_AGE_SECONDS]: '0' }), ...b.runnerEnv('pp') }, ['prune']);
    expect(first.code).toBe(0);
    const objectsAfter = Object.keys(await b.objects()).filter(k => k.startsWith('pp/'));
    const uploadsAfter = (await b.openUploads()).map(u => u.split(' ')[0]).filter(k => k.startsWith('pp/'));
    expect(objectsBefore.filter(k => !objectsAfter.includes(k)).sort()).toEqual([own.old, `${own.old}.manifest.json`, own.orphan].sort());
    expect(uploadsBefore.filter(k => !uploadsAfter.includes(k))).toEqual([own.upload]);
    expect(objectsAfter).toEqual(expect.arrayContaining([ownNewest, eu[0], eu[1], daily.backup, daily.orphan]));
    expect(uploadsAfter.sort()).toEqual(uploadsBefore.filter(k => k !== own.upload).sort());

    // The nested series' own prune takes its leftovers and nothing of its parent's.
    const second = await runRunner(nested, ['prune']);
    expect(second.code).toBe(0);
    const objectsLast = Object.keys(await b.objects()).filter(k => k.startsWith('pp/'));
    expect(objectsAfter.filter(k => !objectsLast.includes(k))).toEqual([daily.orphan]);
    expect((await b.openUploads()).map(u => u.split(' ')[0]).filter(k => k.startsWith('pp/')).sort()).toEqual(uploadsAfter.filter(k => k !== daily.upload).sort());
  });

  test('list marks a backup whose stored size differs from its manifest as damaged; restore latest and verify latest skip it with a warning', async () => {
    const backupEnv = () => ({ ...env('dmg'), [PG.HOST]: pg.host, [PG.PORT]: String(pg.port), [PG.USER]: pg.user, [PG.PASSWORD]: pg.password, [PG.DATABASE]: source });
    const good = await runRunner(backupEnv());
    expect(good.code).toBe(0);
    await new Promise(r => setTimeout(r, 1100));
    const bad = await runRunner(backupEnv());
    expect(bad.code).toBe(0);
    const goodId = backupIdOf(good.last.key as string);
    const badKey = bad.last.key as string;
    const badId = backupIdOf(badKey);
    // The data object replaced by a shorter one (a truncated copy); its manifest stays.
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: badKey, Body: randomBytes(100) }));

    const list = await runRunner(backupEnv(), ['list']);
    expect(list.code).toBe(0);
    expect(list.lines.filter(l => l.msg === 'backup').map(l => l.id)).toEqual([goodId]);
    expect(list.lines.find(l => l.level === 'warn' && l.id === badId)!.msg).toMatch(new RegExp(`^damaged backup ${badId}: ${badKey} is 100 bytes but its manifest records \\d+: the object is truncated or was changed$`));
    expect(list.last).toMatchObject({ msg: 'list complete', backups: 1, newest: goodId, damaged: 1 });

    const target = uniqueName('pdmg').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${target} OWNER ${pg.user};`);
    const run = await runRunner({ ...backupEnv(), [PG.DATABASE]: target }, ['restore', 'latest']);
    expect([run.code, run.last.msg]).toEqual([0, 'restore complete']);
    expect(run.lines.some(l => l.level === 'warn' && (l.msg as string).startsWith(`skipping damaged backup ${badId}: `))).toBe(true);
    expect(run.last).toMatchObject({ id: goodId });

    // verify latest chooses the same way (it creates and drops its own database: a role that may).
    const verifier = uniqueName('pverify').replace(/-/g, '_');
    const verifierPassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${verifier} LOGIN CREATEDB PASSWORD '${verifierPassword}';`);
    const verify = await runRunner({ ...backupEnv(), [PG.USER]: verifier, [PG.PASSWORD]: verifierPassword, [PG.DATABASE]: 'postgres' }, ['verify', 'latest']);
    expect([verify.code, verify.last.msg]).toEqual([0, 'verify passed']);
    expect(verify.last).toMatchObject({ id: goodId });
    expect(verify.lines.some(l => l.level === 'warn' && (l.msg as string).startsWith(`skipping damaged backup ${badId}: `))).toBe(true);
  });

  test('prune without a policy is a configuration error', async () => {
    const run = await runRunner(env('orders'), ['prune']);
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(/^configuration error: prune needs a retention policy: set at least one of BACKUP_KEEP_LAST/);
  });

  describe('backup with KEEP_LAST=2', () => {
    const pgEnv = (password: string) => ({
      [PG.HOST]: pg.host,
      [PG.PORT]: String(pg.port),
      [PG.USER]: pg.user,
      [PG.PASSWORD]: password,
      [PG.DATABASE]: source,
      [ENV.KEEP_LAST]: '2',
    });

    test('prunes after a successful backup', async () => {
      const old = [await seed('auto', new Date(Date.now() - 3 * DAY)), await seed('auto', new Date(Date.now() - 2 * DAY)), await seed('auto', new Date(Date.now() - DAY))];
      const run = await runRunner(env('auto', pgEnv(pg.password)));
      expect(run.code).toBe(0);
      const made = run.lines.find(l => l.msg === 'backup complete')!.key as string;
      const remaining = Object.keys(await b.objects()).filter(k => k.startsWith('hist/auto/')).sort();
      expect(remaining).toEqual([made, `${made}.manifest.json`, old[2], `${old[2]}.manifest.json`].sort());
      expect(run.last).toMatchObject({ msg: 'prune complete', kept: 2, removed: 2 });
    });

    test('prunes nothing after a failed backup (wrong password)', async () => {
      for (let i = 1; i <= 3; i++) await seed('failed', new Date(Date.now() - i * DAY));
      const before = Object.keys(await b.objects()).filter(k => k.startsWith('hist/failed/')).sort();
      const run = await runRunner(env('failed', pgEnv('wrong-password')));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^backup failed: cannot connect to PostgreSQL/);
      expect(run.lines.some(l => l.msg === 'remove' || l.msg === 'prune complete')).toBe(false);
      expect(Object.keys(await b.objects()).filter(k => k.startsWith('hist/failed/')).sort()).toEqual(before);
    });
  });
});
