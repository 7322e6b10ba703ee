/**
 * `parallelism` on PostgreSQL restores and verifications: the runner variables, the spool volume
 * with its size limit, and the combinations refused at synth.
 */
import { Size, Testing } from 'cdk8s';
import { atPath } from './at-path';
import { BackupSchedule, BackupSeries, PostgresRestoreJob, PostgresRestoreJobProps, PostgresVerifyCronJob, PostgresVerifyCronJobProps } from '../../lib';
import { ENV, IMAGE } from '../../lib/contract';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, jobs, newChart, pgRestoreProps, s3Storage } from '../helpers/synth';

function verifyProps(chart: any, overrides: Partial<PostgresVerifyCronJobProps> = {}): PostgresVerifyCronJobProps {
  return { schedule: BackupSchedule.daily({ hour: 6 }), series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'), postgresMajor: 17, ...overrides };
}

/** The runner container's volume mounted at the spool directory, with its pod volume. */
function spoolOf(workload: any): { mount: any; volume: any } | undefined {
  const mount = container(workload).volumeMounts?.find((m: any) => m.mountPath === IMAGE.RESTORE_SPOOL_DIR);
  if (!mount) return undefined;
  return { mount, volume: podSpecOf(workload).volumes.find((v: any) => v.name === mount.name) };
}

describe('PostgresRestoreJob parallelism', () => {
  test('parallelism 2: the runner gets the jobs and the spool limit in bytes; the spool is an emptyDir of that size', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, { parallelism: 2, spoolSizeLimit: Size.gibibytes(20) }));
    const job = jobs(chart)[0];
    const env = envOf(job);
    expect(env[ENV.RESTORE_PARALLELISM]).toBe('2');
    expect(env[ENV.RESTORE_SPOOL_LIMIT_BYTES]).toBe(String(20 * 2 ** 30));
    expect(env[ENV.RESTORE_SPOOL_DIR]).toBeUndefined();
    expect(spoolOf(job)?.volume).toMatchObject({ emptyDir: { sizeLimit: '20480Mi' } });
    validateSchema(Testing.synth(chart)[0]);
    expect(restrictedViolations(podSpecOf(job))).toEqual([]);
  });

  test('the default (1) and parallelism 1: no variable, no spool, the Job as before', () => {
    for (const overrides of [{}, { parallelism: 1 }]) {
      const chart = newChart();
      new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, overrides));
      const job = jobs(chart)[0];
      expect(envOf(job)[ENV.RESTORE_PARALLELISM]).toBeUndefined();
      expect(spoolOf(job)).toBeUndefined();
    }
  });

  test.each<[string, Partial<PostgresRestoreJobProps>, RegExp]>([
    ['no spool size limit', { parallelism: 2 }, /^spoolSizeLimit: parallelism 2 spools the decompressed archive to a volume before pg_restore --jobs=2 reads it; give its size limit/],
    ['a spool too small for any archive', { parallelism: 2, spoolSizeLimit: Size.mebibytes(1) }, /^spoolSizeLimit: 1048576 bytes is too small to spool an archive; give at least 16 MiB/],
    ['a spool without parallelism', { spoolSizeLimit: Size.gibibytes(5) }, /^spoolSizeLimit: only a parallel restore spools the archive; set parallelism to 2 or more, or remove spoolSizeLimit\.$/],
    ['parallelism 0', { parallelism: 0 }, /^parallelism: 0 must be a whole number from 1 \(stream into one transaction\) to 64/],
    ['parallelism 65', { parallelism: 65, spoolSizeLimit: Size.gibibytes(5) }, /^parallelism: 65 must be a whole number from 1/],
    ['parallelism 1.5', { parallelism: 1.5 }, /^parallelism: 1\.5 must be a whole number/],
    ['--jobs in restoreArgs', { restoreArgs: ['--jobs=4'] }, /^restoreArgs: .*--jobs/],
  ])('%s: refused at synth, naming the prop and the fix', (_what, overrides, message) => {
    const chart = newChart();
    expect(() => new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, overrides))).toThrow(atPath('test/orders-restore', message));
  });
});

describe('PostgresVerifyCronJob parallelism', () => {
  test('parallelism 2 on a PostgreSQL 17 throwaway server: the variables and the spool in the runner container only', () => {
    const chart = newChart();
    new PostgresVerifyCronJob(chart, 'orders-verify', verifyProps(chart, { parallelism: 2, spoolSizeLimit: Size.gibibytes(8) }));
    const cron = cronJobs(chart)[0];
    expect(envOf(cron)[ENV.RESTORE_PARALLELISM]).toBe('2');
    expect(envOf(cron)[ENV.RESTORE_SPOOL_LIMIT_BYTES]).toBe(String(8 * 2 ** 30));
    expect(spoolOf(cron)?.volume).toMatchObject({ emptyDir: { sizeLimit: '8192Mi' } });
    expect(container(cron, 'postgres').volumeMounts.some((m: any) => m.mountPath === IMAGE.RESTORE_SPOOL_DIR)).toBe(false);
  });

  test('a throwaway server older than the image\'s pg_restore: refused (it is restored through psql, in one stream)', () => {
    const chart = newChart();
    expect(() => new PostgresVerifyCronJob(chart, 'orders-verify', verifyProps(chart, { postgresMajor: 15, parallelism: 2, spoolSizeLimit: Size.gibibytes(8) })))
      .toThrow(atPath('test/orders-verify', /^parallelism: 2 needs a server of PostgreSQL 17 or newer \(the image's pg_restore\); a PostgreSQL 15 server is restored through psql/));
  });
});
