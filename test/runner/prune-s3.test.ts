/**
 * prune against radosgw with a generated history: manifests and objects written directly with
 * chosen timestamps (they need not hold real dumps), then `prune`, and `backup` with KEEP_LAST.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
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

  /** Writes a data object and its manifest as the runner would; returns the key. */
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

  test('a 60-day history: exactly the policy\'s backups remain; old leftovers go, recent ones stay', async () => {
    const now = Date.now();
    const keys: string[] = [];
    // 30 backups: every 2 days for 60 days, with a cluster of 3 on the newest day.
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
    const expected = applyRetention(keys.map(k => ({ id: backupIdOf(k), key: k, time: timeOfId(backupIdOf(k)) })), policy);
    expect(expected.remove.length).toBeGreaterThan(10);

    const run = await runRunner(env('orders', {
      [ENV.KEEP_LAST]: '2', [ENV.KEEP_DAILY]: '4', [ENV.KEEP_WEEKLY]: '3', [ENV.KEEP_MONTHLY]: '2',
    }), ['prune']);
    expect(run.code).toBe(0);
    const remaining = Object.keys(await b.objects()).sort();
    const keptKeys = expected.keep.map(k => k.key);
    expect(remaining).toEqual([...keptKeys, ...keptKeys.map(k => `${k}.manifest.json`), recentOrphan, other, `${other}.manifest.json`].sort());
    expect(remaining).not.toContain(oldOrphan);
    // The open upload started (by the storage's clock) less than 48 h ago: kept.
    expect((await b.openUploads()).map(u => u.split(' ')[0]).sort()).toEqual([upload, nestedUpload].sort());
    // One line per decision, with reasons; the newest is kept as such.
    expect(run.lines.filter(l => l.msg === 'keep').map(l => l.id)).toEqual(expected.keep.map(k => k.id));
    expect(run.lines.find(l => l.msg === 'keep')!.reasons).toContain('newest');
    expect(run.lines.filter(l => l.msg === 'remove').map(l => l.id).sort()).toEqual(expected.remove.map(k => k.id).sort());
    expect(run.lines.find(l => l.msg === 'remove incomplete')).toMatchObject({ key: oldOrphan, kind: 'data-without-manifest' });
    expect(run.last).toMatchObject({ msg: 'prune complete', kept: expected.keep.length, removed: expected.remove.length, leftoversRemoved: 1, leftoversKept: 2 });

    // With a minimum age of 0 the series' open upload is aborted too; the other series' stays.
    const again = await runRunner(env('orders', { [ENV.KEEP_LAST]: '100', [ENV.INCOMPLETE_MIN_AGE_SECONDS]: '0' }), ['prune']);
    expect(again.code).toBe(0);
    expect((await b.openUploads()).map(u => u.split(' ')[0])).toEqual([nestedUpload]);
    expect(Object.keys(await b.objects())).not.toContain(recentOrphan);
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
