import { Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  BackupAlerts, BackupCheckCronJob, BackupCheckCronJobProps, BackupMetrics, BackupSchedule, BackupSeries, BackupStorage, IBackupSeries, Notification,
  PostgresBackupCronJob, RedisBackupCronJob,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, postgresProps, s3Storage } from '../helpers/synth';

function synthCheck(overrides: Partial<BackupCheckCronJobProps> = {}) {
  const chart = newChart();
  const props: BackupCheckCronJobProps = {
    schedule: BackupSchedule.daily({ hour: 7 }),
    series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
    maxAge: Duration.hours(31),
    ...overrides,
  };
  const check = new BackupCheckCronJob(chart, 'orders-check', props);
  return { check, cronJob: cronJobs(chart)[0] };
}

describe('BackupCheckCronJob', () => {
  test('runs `check` with the series, the maximum age and no database connection, on the series engine\'s image', () => {
    const { cronJob } = synthCheck();
    expect(container(cronJob).name).toBe('check');
    expect(container(cronJob).args).toEqual(['check']);
    expect(container(cronJob).image).toMatch(/:.*postgres/);
    const env = envOf(cronJob);
    expect(env).toMatchObject({
      BACKUP_ENGINE: 'postgres',
      BACKUP_NAME: 'orders',
      BACKUP_DESTINATION: 's3://backups/prod',
      BACKUP_CHECK_MAX_AGE_SECONDS: String(31 * 3600),
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'backup-s3', key: 'access-key' } },
    });
    expect(env).not.toHaveProperty('BACKUP_CHECK_READ_DATA');
    expect(Object.keys(env).filter(n => /^PG|^MYSQL|^REDIS|^MONGO/.test(n))).toEqual([]);
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(0);
    expect(cronJob.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/component': 'postgres-check' });
  });

  test('readData: true sets BACKUP_CHECK_READ_DATA; backoffLimit can be overridden', () => {
    const { cronJob } = synthCheck({ readData: true, backoffLimit: 1 });
    expect(envOf(cronJob).BACKUP_CHECK_READ_DATA).toBe('true');
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(1);
  });

  test('is a valid CronJob whose pod passes the restricted Pod Security Standard', () => {
    const { cronJob } = synthCheck();
    validateSchema(cronJob);
    expect(restrictedViolations(podSpecOf(cronJob))).toEqual([]);
  });

  test('default maxAge from a PostgresBackupCronJob with a daily schedule: 24 h + activeDeadline + 1 h', () => {
    const chart = newChart();
    const backup = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { schedule: BackupSchedule.daily({ hour: 1 }), activeDeadline: Duration.hours(2) }));
    const check = new BackupCheckCronJob(chart, 'orders-check', { schedule: BackupSchedule.daily({ hour: 7 }), series: backup });
    expect(check.maxAge.toSeconds()).toBe(24 * 3600 + 2 * 3600 + 3600);
    const cronJob = cronJobs(chart).find(c => container(c).name === 'check');
    expect(envOf(cronJob).BACKUP_CHECK_MAX_AGE_SECONDS).toBe(String(27 * 3600));
    expect(envOf(cronJob).BACKUP_NAME).toBe(backup.backupName);
  });

  test('checks a series of any engine, on that engine\'s image, with a volume storage mounted', () => {
    const chart = newChart();
    const storage = BackupStorage.volume({
      volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'Pvc', kplus.PersistentVolumeClaim.fromClaimName(chart, 'Claim', 'backups')),
    });
    const redis = new RedisBackupCronJob(chart, 'sessions', { schedule: BackupSchedule.hourly(), storage, host: 'redis' });
    new BackupCheckCronJob(chart, 'sessions-check', { schedule: BackupSchedule.hourly(), series: redis, maxAge: Duration.hours(3) });
    const cronJob = cronJobs(chart).find(c => container(c).name === 'check');
    expect(container(cronJob).image).toMatch(/redis/);
    expect(envOf(cronJob)).toMatchObject({ BACKUP_ENGINE: 'redis', BACKUP_NAME: 'sessions', BACKUP_CHECK_MAX_AGE_SECONDS: '10800' });
    expect(container(cronJob).volumeMounts.map((m: any) => m.mountPath)).toContain('/backup');
    validateSchema(cronJob);
    expect(restrictedViolations(podSpecOf(cronJob))).toEqual([]);
  });

  describe('synth errors name the prop and the fix', () => {
    const cases: Array<[string, (storage: BackupStorage) => Partial<BackupCheckCronJobProps>, RegExp]> = [
      ['no series', () => ({ series: undefined as any }), /orders-check: series: must be set to the backups to check/],
      ['an unknown engine', storage => ({ series: { storage, backupName: 'orders', engine: 'oracle' } as IBackupSeries }),
        /series: engine 'oracle' is not an engine; use one of 'postgres', 'mongo', 'mysql', 'redis'/],
      ['a series without storage', () => ({ series: { backupName: 'orders', engine: 'postgres' } as IBackupSeries }), /series: 'orders' has no storage/],
      ['an invalid series name', storage => ({ series: { storage, backupName: 'Orders', engine: 'postgres' } as IBackupSeries }),
        /series: backupName: 'Orders' is not a valid series name/],
      ['no maxAge for a series from fromName', () => ({ maxAge: undefined }),
        /maxAge: must be set: the series 'orders' does not know its backup schedule.*e\.g\. Duration\.hours\(31\)/],
      ['maxAge of a fraction of a second', () => ({ maxAge: Duration.millis(1500) }), /maxAge: must be a positive whole number of seconds/],
      ['maxAge of zero', () => ({ maxAge: Duration.seconds(0) }), /maxAge: must be a positive whole number of seconds/],
      ['maxAge over ten years', () => ({ maxAge: Duration.days(3651) }), /maxAge: 315446400s must be between 1 and 315360000 seconds \(ten years\)/],
      ['maxAge as a string', () => ({ maxAge: '26h' as any }), /maxAge: expected a Duration, got a string/],
      ['readData as a string', () => ({ readData: 'false' as any }), /readData: expected true or false, got a string/],
      ['no schedule', () => ({ schedule: undefined as any }), /schedule: must be set/],
    ];
    test.each(cases)('%s', (_what, overrides, message) => {
      const chart = newChart();
      const storage = s3Storage(chart);
      expect(() => new BackupCheckCronJob(chart, 'orders-check', {
        schedule: BackupSchedule.daily({ hour: 7 }),
        series: BackupSeries.fromName(storage, 'orders', 'postgres'),
        maxAge: Duration.hours(31),
        ...overrides(storage),
      })).toThrow(message);
    });
  });

  test('pushes metrics and pings like the backup constructs', () => {
    const chart = newChart();
    const url = { secret: kplus.Secret.fromSecretName(chart, 'Hc', 'hc'), key: 'url' };
    new BackupCheckCronJob(chart, 'orders-check', {
      schedule: BackupSchedule.daily({ hour: 7 }),
      series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
      maxAge: Duration.hours(31),
      metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }),
      notifications: [Notification.healthcheck({ url })],
    });
    expect(envOf(cronJobs(chart)[0])).toMatchObject({
      BACKUP_PUSHGATEWAY_URL: 'http://pushgateway.monitoring:9091',
      BACKUP_HEALTHCHECK_URL: { secretKeyRef: { name: 'hc', key: 'url' } },
      BACKUP_NAMESPACE: expect.anything(),
    });
  });

  test('alerts: exposes the PrometheusRule for its CronJob', () => {
    const chart = new Chart(Testing.app(), 'backups', { namespace: 'backups' });
    const check = new BackupCheckCronJob(chart, 'orders-check', {
      schedule: BackupSchedule.daily({ hour: 7 }),
      series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
      maxAge: Duration.hours(31),
      alerts: BackupAlerts.prometheus(),
    });
    expect(check.prometheusRule).toBeDefined();
    const rule = Testing.synth(chart).find(o => o.kind === 'PrometheusRule');
    expect(JSON.stringify(rule)).toContain(check.cronJob.name);
  });

  test('synthesizes nothing but the CronJob when no monitoring is asked for', () => {
    const chart = newChart();
    new BackupCheckCronJob(chart, 'orders-check', {
      schedule: BackupSchedule.daily({ hour: 7 }), series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'), maxAge: Duration.hours(31),
    });
    expect(Testing.synth(chart).map(o => o.kind)).toEqual(['CronJob']);
  });
});
