/**
 * `check` against radosgw: a real backup made by the runner (with the STAND-IN pg_dump, see
 * stand-ins.ts; the check reads any engine's series the same way) and backups written directly
 * with chosen contents, then damaged the ways storage gets damaged: an object deleted, replaced by
 * one of another size, or by one of the same size with other bytes. Every check run compares the
 * bucket's listing before and after: the check never writes.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  CreateMultipartUploadCommand, DeleteBucketPolicyCommand, DeleteObjectCommand, PutBucketPolicyCommand, PutObjectCommand,
} from '@aws-sdk/client-s3';
import { LogLine, baseEnv, buildRunner, runRunner, startRunner } from './runner-process';
import { TestBucket, createTestBucket, samplePeakRss } from './s3-helpers';
import { writeStandIns } from './stand-ins';
import { backupKey } from '../../image/src/key';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration } from '../servers/env';

jest.setTimeout(120_000);

const PG = ENGINE_REGISTRY.postgres.env;
const HOUR = 3_600_000;

describeIntegration('runner: check against radosgw', ['s3'], () => {
  let b: TestBucket;
  let standIns: string;

  beforeAll(async () => {
    b = await createTestBucket('check');
    standIns = writeStandIns();
    await buildRunner();
  });
  afterAll(() => b?.s3.destroy());

  /** Writes a data object and its manifest as the runner would under `chk/<series>/`; returns the key. */
  async function seed(series: string, body: Buffer = randomBytes(300_000), time = new Date(Date.now() - HOUR)): Promise<string> {
    const key = backupKey(`chk/${series}/`, 'pgdump.zst', time);
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: body }));
    const manifest = {
      formatVersion: 1,
      engine: 'postgres',
      database: 'db',
      key,
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      compression: 'zstd',
      format: 'pg_dump-custom',
    };
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${key}.manifest.json`, Body: JSON.stringify(manifest) }));
    return key;
  }

  const put = (key: string, body: Buffer) => b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: body }));

  function env(series: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({ ...b.runnerEnv('chk'), [ENV.NAME]: series, [ENV.CHECK_MAX_AGE_SECONDS]: '86400', ...extra });
  }

  /** Runs `check` and proves it changed nothing in the bucket. */
  async function check(series: string, extra: NodeJS.ProcessEnv = {}) {
    const before = await b.objects();
    const uploadsBefore = await b.openUploads();
    const run = await runRunner(env(series, extra), ['check']);
    expect(await b.objects()).toEqual(before);
    expect(await b.openUploads()).toEqual(uploadsBefore);
    return run;
  }

  const problems = (lines: LogLine[]) => lines.filter(l => typeof l.msg === 'string' && (l.msg as string).startsWith('problem: '));

  test('a healthy series passes: a backup the runner made and written ones, with in-progress writes and other series beside it', async () => {
    // Written first, and a second before the runner's backup: the storage's times order them.
    const older = await seed('healthy');
    await new Promise(r => setTimeout(r, 1100));
    const made = await runRunner(baseEnv({
      ...b.runnerEnv('chk'),
      [ENV.ENGINE]: 'postgres',
      [ENV.NAME]: 'healthy',
      [PG.HOST]: 'db.example',
      [PG.DATABASE]: 'orders',
      [PG.USER]: 'backup',
      STANDIN_BYTES: String(3 * 1024 * 1024),
    }, standIns));
    expect(made.code).toBe(0);
    // Data without a manifest (a backup being written) and an open multipart upload: not problems.
    await put(backupKey('chk/healthy/', 'pgdump.zst', new Date()), randomBytes(10));
    await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: backupKey('chk/healthy/', 'pgdump.zst', new Date()) }));
    // Another series whose name starts like this one's, and one nested under it: not this series'.
    await put(backupKey('chk/healthy-2/', 'pgdump.zst', new Date()), randomBytes(10));
    await put(`${backupKey('chk/healthy/nested/', 'pgdump.zst', new Date())}.manifest.json`, Buffer.from('{}'));

    for (const readData of ['false', 'true']) {
      const run = await check('healthy', { [ENV.CHECK_READ_DATA]: readData, [ENV.ENGINE]: 'postgres' });
      expect(run.code).toBe(0);
      expect(problems(run.lines)).toEqual([]);
      expect(run.last).toMatchObject({
        level: 'info',
        msg: 'check passed',
        backups: 2,
        damaged: 0,
        newest: (made.last.key as string).split('/').pop()!.split('.')[0],
        maxAgeSeconds: 86400,
        readData: readData === 'true',
        inProgress: 2,
        leftovers: 0,
        unfinishedUploadsListed: true,
        problems: [],
      });
      expect(run.last.newestAgeSeconds).toBeLessThan(60);
      // readData reads every byte of both backups, and only then.
      const sizes = Object.entries(await b.objects()).filter(([k]) => k === made.last.key || k === older).map(([, v]) => Number(v.split(':')[0]));
      expect(run.last.bytesRead).toBe(readData === 'true' ? sizes[0] + sizes[1] : 0);
    }
  });

  test('an empty series fails, naming the location and the fix', async () => {
    const run = await check('empty');
    expect(run.code).toBe(1);
    expect(problems(run.lines).map(l => l.problem)).toEqual(['no-backup']);
    expect(run.last.level).toBe('error');
    expect(run.last.msg).toMatch(/^check failed: no sound complete backup \(data with its manifest\) at s3:\/\/.*chk\/empty\/.*there is none; .*BACKUP_DESTINATION and BACKUP_NAME/);
    expect(run.last).toMatchObject({ backups: 0, newest: null, problems: ['no-backup'] });
  });

  test('a stale series fails by the storage\'s clock; the same series passes with a larger maximum age', async () => {
    await seed('stale');
    // Stored a moment ago, whatever the id says: the age is the storage's record, 2 s or more after a 2.5 s wait.
    await new Promise(r => setTimeout(r, 2500));
    const run = await check('stale', { [ENV.CHECK_MAX_AGE_SECONDS]: '1' });
    expect(run.code).toBe(1);
    expect(problems(run.lines)).toEqual([expect.objectContaining({ problem: 'stale', maxAgeSeconds: 1 })]);
    expect(run.last.msg).toMatch(/^check failed: the newest sound backup \S+ is \d+(\.\d)? seconds old \(stored at .* by the storage's clock.*older than the 1 second allowed \(BACKUP_CHECK_MAX_AGE_SECONDS\); look at the backup CronJob's recent Jobs/);
    expect((await check('stale', { [ENV.CHECK_MAX_AGE_SECONDS]: '3600' })).code).toBe(0);
  });

  test('a deleted data object fails naming it; the other backups still count', async () => {
    const gone = await seed('deleted');
    await seed('deleted');
    await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: gone }));
    const run = await check('deleted');
    expect(run.code).toBe(1);
    expect(problems(run.lines)).toEqual([expect.objectContaining({ level: 'error', problem: 'missing-object', key: gone })]);
    expect(run.last.msg).toContain(`its object ${gone} is missing`);
    expect(run.last).toMatchObject({ backups: 1, problems: ['missing-object'] });
  });

  test('an object replaced by one of another size fails naming it, without reading data', async () => {
    const key = await seed('resized', randomBytes(5000));
    await put(key, randomBytes(4999));
    const run = await check('resized');
    expect(run.code).toBe(1);
    // Its only backup is damaged: the series has no sound backup either; the damage is named first.
    expect(problems(run.lines)).toEqual([
      expect.objectContaining({ problem: 'size-mismatch', key, bytes: 5000, storedBytes: 4999 }),
      expect.objectContaining({ problem: 'no-backup', msg: expect.stringContaining('every one of the 1 complete backup(s) has a problem') }),
    ]);
    expect(run.last.msg).toContain(`check failed: backup ${key.split('/').pop()!.split('.')[0]}: ${key} is 4999 bytes but its manifest records 5000`);
    expect(run.last.msg).toContain('; and 1 more problem(s), each on a line above');
    expect(run.last).toMatchObject({ bytesRead: 0, damaged: 1, backups: 0, problems: ['size-mismatch', 'no-backup'] });
  });

  test('flipped bytes of the same size pass without readData and fail with it: readData reads', async () => {
    const body = randomBytes(2 * 1024 * 1024 + 17);
    const key = await seed('flipped', body);
    const good = await seed('flipped');
    const flipped = Buffer.from(body);
    flipped[1_500_000] = 255 - flipped[1_500_000];
    await put(key, flipped);

    const quick = await check('flipped');
    expect(quick.code).toBe(0);
    expect(quick.last).toMatchObject({ msg: 'check passed', backups: 2, bytesRead: 0 });

    const full = await check('flipped', { [ENV.CHECK_READ_DATA]: 'true' });
    expect(full.code).toBe(1);
    expect(problems(full.lines)).toEqual([expect.objectContaining({ problem: 'sha256-mismatch', key })]);
    expect(full.last.msg).toMatch(new RegExp(`^check failed: backup \\S+: ${key.replace(/[.]/g, '\\.')} has sha256 [0-9a-f]{64} but its manifest records [0-9a-f]{64}`));
    expect(full.last).toMatchObject({ backups: 1, damaged: 1, problems: ['sha256-mismatch'] });
    expect(full.last.newest).toBe(good.split('/').pop()!.split('.')[0]);
  });

  test('every problem is reported, one line each, and the final line counts the rest', async () => {
    const missing = await seed('many');
    const resized = await seed('many', randomBytes(100));
    const badManifest = await seed('many');
    await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: missing }));
    await put(resized, randomBytes(99));
    await put(`${badManifest}.manifest.json`, Buffer.from('{"formatVersion": 1}'));
    const run = await check('many');
    expect(run.code).toBe(1);
    expect(problems(run.lines).map(l => `${l.problem} ${l.key}`).sort()).toEqual([
      `missing-object ${missing}`, `size-mismatch ${resized}`, `unreadable-manifest ${badManifest}.manifest.json`, 'no-backup undefined',
    ].sort());
    expect(run.last.msg).toMatch(/^check failed: backup \S+: its manifest \S+ is stored but its object \S+ is missing.*; and 3 more problem\(s\), each on a line above$/);
  });

  test('readData streams: a 256 MiB object is hashed in constant memory with progress lines, and SIGTERM stops the read (exit 143)', async () => {
    const size = 256 * 1024 * 1024;
    await seed('large', randomBytes(size));
    const extra = { [ENV.CHECK_READ_DATA]: 'true', [ENV.PROGRESS_INTERVAL_MS]: '100' };
    const before = await b.objects();

    const started = await startRunner(env('large', extra), ['check']);
    const peakRss = samplePeakRss(started.child.pid!);
    const status = await started.exited;
    expect(status.code).toBe(0);
    const last = started.lines[started.lines.length - 1];
    expect(last).toMatchObject({ msg: 'check passed', bytesRead: size });
    expect(started.lines.some(l => l.msg === 'progress' && (l.bytes as number) > 0 && l.of === size)).toBe(true);
    // Buffering the object would need more than its 256 MiB.
    expect(peakRss()).toBeLessThan(200 * 1024 * 1024);

    const interrupted = await startRunner(env('large', extra), ['check']);
    await interrupted.waitForLine(l => l.msg === 'progress' && (l.bytes as number) > 0);
    interrupted.child.kill('SIGTERM');
    expect((await interrupted.exited).code).toBe(143);
    expect(interrupted.lines[interrupted.lines.length - 1]).toMatchObject({ level: 'error', msg: 'interrupted by SIGTERM' });
    expect(await b.objects()).toEqual(before);
  });

  test('read-only credentials suffice: with writes, deletes and multipart listing denied to everyone, the check passes', async () => {
    const ro = await createTestBucket('check-ro');
    try {
      const key = backupKey('chk/ro/', 'pgdump.zst', new Date(Date.now() - HOUR));
      const body = randomBytes(1000);
      await ro.s3.send(new PutObjectCommand({ Bucket: ro.bucket, Key: key, Body: body }));
      await ro.s3.send(new PutObjectCommand({
        Bucket: ro.bucket,
        Key: `${key}.manifest.json`,
        Body: JSON.stringify({
          formatVersion: 1,
          engine: 'redis',
          database: null,
          key,
          bytes: body.length,
          sha256: createHash('sha256').update(body).digest('hex'),
          compression: 'zstd',
          format: 'rdb',
        }),
      }));
      const policy = {
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Deny',
          Principal: { AWS: ['*'] },
          Action: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListBucketMultipartUploads'],
          Resource: [`arn:aws:s3:::${ro.bucket}`, `arn:aws:s3:::${ro.bucket}/*`],
        }],
      };
      await ro.s3.send(new PutBucketPolicyCommand({ Bucket: ro.bucket, Policy: JSON.stringify(policy) }));
      // The policy is in force: a write is refused.
      await expect(ro.s3.send(new PutObjectCommand({ Bucket: ro.bucket, Key: 'probe', Body: 'x' }))).rejects.toMatchObject({ name: 'AccessDenied' });

      const run = await runRunner(baseEnv({
        ...ro.runnerEnv('chk'), [ENV.NAME]: 'ro', [ENV.CHECK_MAX_AGE_SECONDS]: '86400', [ENV.CHECK_READ_DATA]: 'true',
      }), ['check']);
      expect(run.code).toBe(0);
      expect(run.last).toMatchObject({ msg: 'check passed', backups: 1, bytesRead: 1000, unfinishedUploadsListed: false });
      expect(run.lines.some(l => /unfinished uploads are not counted/.test(l.msg as string))).toBe(true);
    } finally {
      await ro.s3.send(new DeleteBucketPolicyCommand({ Bucket: ro.bucket })).catch(() => undefined);
      ro.s3.destroy();
    }
  });
});
