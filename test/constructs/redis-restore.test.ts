import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { atPath } from './at-path';
import { BackupSeries, BackupStorage, RedisRestoreJob, RedisRestoreJobProps } from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, envOf, jobs, newChart, s3Storage } from '../helpers/synth';

/** A restore of the sessions series into the data volume of the (scaled-down) StatefulSet redis, pod 0. */
function redisRestoreProps(chart: any, overrides: Partial<RedisRestoreJobProps> = {}): RedisRestoreJobProps {
  return {
    series: BackupSeries.fromName(s3Storage(chart), 'sessions', 'redis'),
    volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'Data', kplus.PersistentVolumeClaim.fromClaimName(chart, 'Pvc', 'redis-data-redis-0')),
    ...overrides,
  };
}

function synthRestore(overrides: Partial<RedisRestoreJobProps> = {}): any {
  const chart = newChart();
  new RedisRestoreJob(chart, 'sessions-restore', redisRestoreProps(chart, overrides));
  return jobs(chart)[0];
}

describe('RedisRestoreJob', () => {
  test('synthesizes this Job', () => {
    const chart = newChart();
    new RedisRestoreJob(chart, 'sessions-restore', redisRestoreProps(chart, { backupId: '20261125T010203Z-1a2b3c4d' }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('a valid Job passing the restricted Pod Security Standard; it restores into the file on the claim and talks to no server', () => {
    const job = synthRestore({ backupId: '20261125T010203Z-1a2b3c4d' });
    validateSchema(job);
    expect(restrictedViolations(podSpecOf(job))).toEqual([]);
    expect(container(job).args).toEqual(['restore', '20261125T010203Z-1a2b3c4d']);
    const env = envOf(job);
    expect(env).toMatchObject({ BACKUP_ENGINE: 'redis', BACKUP_NAME: 'sessions', BACKUP_REDIS_RESTORE_FILE: '/restore-target/dump.rdb' });
    for (const unused of ['BACKUP_REDIS_HOST', 'BACKUP_REDIS_PORT', 'REDISCLI_AUTH', 'BACKUP_RESTORE_FORCE']) expect(env).not.toHaveProperty(unused);
    const mount = container(job).volumeMounts.find((m: any) => m.mountPath === '/restore-target');
    expect(mount).toBeDefined();
    expect(mount.readOnly).toBeFalsy();
    const volume = podSpecOf(job).volumes.find((v: any) => v.name === mount.name);
    expect(volume.persistentVolumeClaim).toEqual({ claimName: 'redis-data-redis-0', readOnly: false });
    expect(job.spec).toMatchObject({ backoffLimit: 0 });
  });

  test('fileName inside the volume; allowNonEmptyTarget replaces an existing file', () => {
    const env = envOf(synthRestore({ fileName: 'data/redis.rdb', allowNonEmptyTarget: true }));
    expect(env).toMatchObject({ BACKUP_REDIS_RESTORE_FILE: '/restore-target/data/redis.rdb', BACKUP_RESTORE_FORCE: 'true' });
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => RedisRestoreJobProps, RegExp]>([
      ['no volume', c => redisRestoreProps(c, { volume: undefined as any }), /^volume: must be set, e\.g\. volume: kplus\.Volume\.fromPersistentVolumeClaim/],
      ['a claim name instead of a volume', c => redisRestoreProps(c, { volume: 'redis-data-redis-0' as any }), /^volume: expected a Volume, got/],
      ['an absolute fileName', c => redisRestoreProps(c, { fileName: '/data/dump.rdb' }), /^fileName: '\/data\/dump\.rdb' must be a path relative to the volume's root/],
      ['a fileName leaving the volume', c => redisRestoreProps(c, { fileName: '../dump.rdb' }), /^fileName: '\.\.\/dump\.rdb' must be a path relative/],
      ['an empty fileName', c => redisRestoreProps(c, { fileName: ' ' }), /^fileName: must be the RDB file's name inside the volume/],
      ['restoreArgs (no restore tool takes arguments)', c => redisRestoreProps(c, { restoreArgs: ['--foo'] }), /^restoreArgs: Redis's restore runs no tool that takes arguments, so it takes none/],
      ['a series of another engine', c => redisRestoreProps(c, { series: BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'orders', 'postgres') }),
        /^series: 'orders' holds PostgreSQL backups \(engine 'postgres'\), but a RedisRestoreJob reads Redis backups \(engine 'redis'\) only/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new RedisRestoreJob(chart, 'sessions-restore', props(chart))).toThrow(atPath('test/sessions-restore', message));
    });
  });
});
