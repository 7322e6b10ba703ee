/**
 * The `metrics` and `notifications` props (lib/monitoring.ts) on the backup and verify CronJobs:
 * the runner's variables they set, every error at synth time, and schema-valid output.
 */
import * as kplus from 'cdk8s-plus-27';
import {
  BackupMetrics, BackupSchedule, BackupSeries, Notification, NotifyOn, PostgresBackupCronJob, PostgresBackupCronJobProps,
  PostgresVerifyCronJob,
} from '../../lib';
import { ENV } from '../../lib/contract';
import { validateSchema } from '../helpers/k8s';
import { cronJobs, envOf, newChart, postgresProps, s3Storage } from '../helpers/synth';

const MONITORING_ENV = [ENV.PUSHGATEWAY_URL, ENV.HEALTHCHECK_URL, ENV.WEBHOOK_URL, ENV.WEBHOOK_ON, ENV.NAMESPACE, ENV.NOTIFY_TIMEOUT_SECONDS];

/** The synthesized backup CronJob with `props` over complete Postgres props; `secrets` get the Secret. */
function synthBackup(props: (secret: kplus.ISecret) => Partial<PostgresBackupCronJobProps>): any {
  const chart = newChart();
  const secret = kplus.Secret.fromSecretName(chart, 'Notify', 'backup-notify');
  new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, props(secret)));
  return cronJobs(chart)[0];
}

/** The error constructing a backup with `props` throws. */
function errorOf(props: (secret: kplus.ISecret) => Partial<PostgresBackupCronJobProps>): string {
  try {
    synthBackup(props);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

function url(secret: kplus.ISecret, key = 'url'): kplus.SecretValue {
  return { secret, key };
}

const NAMESPACE_REF = { fieldRef: { fieldPath: 'metadata.namespace' } };

describe('the runner variables of metrics and notifications', () => {
  test('neither: no monitoring variable at all', () => {
    const env = envOf(synthBackup(() => ({})));
    for (const name of MONITORING_ENV) expect(env).not.toHaveProperty(name);
  });

  test('metrics: the Pushgateway URL normalized, and the namespace from the downward API', () => {
    const env = envOf(synthBackup(() => ({ metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091/' }) })));
    expect(env[ENV.PUSHGATEWAY_URL]).toBe('http://pushgateway.monitoring:9091');
    expect(env[ENV.NAMESPACE]).toEqual(NAMESPACE_REF);
    expect(env).not.toHaveProperty(ENV.HEALTHCHECK_URL);
    expect(BackupMetrics.pushgateway({ url: 'https://gw.example/prefix/path//' }).url).toBe('https://gw.example/prefix/path');
  });

  test('a healthcheck: its URL from the Secret (secretKeyRef), never a literal', () => {
    const env = envOf(synthBackup(s => ({ notifications: [Notification.healthcheck({ url: url(s, 'ping-url') })] })));
    expect(env[ENV.HEALTHCHECK_URL]).toEqual({ secretKeyRef: { name: 'backup-notify', key: 'ping-url' } });
    expect(env[ENV.NAMESPACE]).toEqual(NAMESPACE_REF);
    expect(env).not.toHaveProperty(ENV.WEBHOOK_URL);
    expect(env).not.toHaveProperty(ENV.PUSHGATEWAY_URL);
  });

  test.each([
    ['left out: no BACKUP_WEBHOOK_ON (the runner defaults to both)', undefined, undefined],
    ['both: no BACKUP_WEBHOOK_ON', [NotifyOn.SUCCESS, NotifyOn.FAILURE], undefined],
    ['both, the other way round: no BACKUP_WEBHOOK_ON', [NotifyOn.FAILURE, NotifyOn.SUCCESS], undefined],
    ['failure only: BACKUP_WEBHOOK_ON=failure', [NotifyOn.FAILURE], 'failure'],
    ['success only: BACKUP_WEBHOOK_ON=success', [NotifyOn.SUCCESS], 'success'],
  ])('a webhook, on %s', (_what, on, expected) => {
    const env = envOf(synthBackup(s => ({ notifications: [Notification.webhook({ url: url(s, 'hook'), on })] })));
    expect(env[ENV.WEBHOOK_URL]).toEqual({ secretKeyRef: { name: 'backup-notify', key: 'hook' } });
    if (expected === undefined) expect(env).not.toHaveProperty(ENV.WEBHOOK_ON);
    else expect(env[ENV.WEBHOOK_ON]).toBe(expected);
    expect(env[ENV.NAMESPACE]).toEqual(NAMESPACE_REF);
  });

  test('all three together, on a schema-valid CronJob', () => {
    const cj = synthBackup(s => ({
      metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }),
      notifications: [Notification.healthcheck({ url: url(s, 'ping') }), Notification.webhook({ url: url(s, 'hook'), on: [NotifyOn.FAILURE] })],
    }));
    validateSchema(cj);
    expect(envOf(cj)).toMatchObject({
      [ENV.PUSHGATEWAY_URL]: 'http://pushgateway.monitoring:9091',
      [ENV.HEALTHCHECK_URL]: { secretKeyRef: { name: 'backup-notify', key: 'ping' } },
      [ENV.WEBHOOK_URL]: { secretKeyRef: { name: 'backup-notify', key: 'hook' } },
      [ENV.WEBHOOK_ON]: 'failure',
      [ENV.NAMESPACE]: NAMESPACE_REF,
    });
    // each variable once
    const names = cj.spec.jobTemplate.spec.template.spec.containers[0].env.map((e: any) => e.name);
    expect(names.length).toBe(new Set(names).size);
  });

  test('PostgresVerifyCronJob takes the same props', () => {
    const chart = newChart();
    const secret = kplus.Secret.fromSecretName(chart, 'Notify', 'backup-notify');
    new PostgresVerifyCronJob(chart, 'orders-verify', {
      schedule: BackupSchedule.daily({ hour: 6 }),
      series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
      postgresMajor: 15,
      metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }),
      notifications: [Notification.healthcheck({ url: { secret, key: 'verify-ping' } }), Notification.webhook({ url: { secret, key: 'hook' } })],
    });
    const cj = cronJobs(chart)[0];
    validateSchema(cj);
    const env = envOf(cj, 'verify');
    expect(env).toMatchObject({
      [ENV.PUSHGATEWAY_URL]: 'http://pushgateway.monitoring:9091',
      [ENV.HEALTHCHECK_URL]: { secretKeyRef: { name: 'backup-notify', key: 'verify-ping' } },
      [ENV.WEBHOOK_URL]: { secretKeyRef: { name: 'backup-notify', key: 'hook' } },
      [ENV.NAMESPACE]: NAMESPACE_REF,
    });
    expect(env).not.toHaveProperty(ENV.WEBHOOK_ON);
    // the throwaway PostgreSQL sidecar reports nothing
    expect(envOf(cj, 'postgres')).not.toHaveProperty(ENV.HEALTHCHECK_URL);
  });
});

describe('errors at synth time name the prop and the fix', () => {
  test.each([
    ['credentials', 'http://user:pw@pushgateway.monitoring:9091', /^metrics\.url: contains credentials/],
    ['a query', 'http://pushgateway.monitoring:9091/?x=1', /^metrics\.url: .* must not have a query or fragment/],
    ['a fragment', 'http://pushgateway.monitoring:9091/#x', /^metrics\.url: .* must not have a query or fragment/],
    ['a grouping key', 'http://pushgateway.monitoring:9091/metrics/job/backup', /^metrics\.url: .* already has a grouping key; give only the Pushgateway's base URL/],
    ['another scheme', 'ftp://pushgateway.monitoring:9091', /^metrics\.url: .* the scheme must be http or https/],
    ['no URL at all', 'pushgateway.monitoring:9091', /^metrics\.url: .* (is not a URL|the scheme must be http or https)/],
    ['an empty URL', '', /^metrics\.url: /],
  ])('a Pushgateway URL with %s', (_what, value, message) => {
    expect(() => BackupMetrics.pushgateway({ url: value })).toThrow(message);
  });

  test('missing options', () => {
    expect(() => BackupMetrics.pushgateway(undefined as any)).toThrow(/^metrics: BackupMetrics\.pushgateway\(\) needs its options, e\.g\./);
    expect(() => Notification.healthcheck(undefined as any)).toThrow(/^notifications: Notification\.healthcheck\(\) needs its options, e\.g\./);
    expect(() => Notification.webhook(undefined as any)).toThrow(/^notifications: Notification\.webhook\(\) needs its options, e\.g\./);
  });

  test('a URL that is not a Secret value, or a Secret value without a key', () => {
    const chart = newChart();
    const secret = kplus.Secret.fromSecretName(chart, 'Notify', 'backup-notify');
    expect(() => Notification.healthcheck({ url: 'https://hc-ping.com/x' as any })).toThrow(/notifications: healthcheck url/);
    expect(() => Notification.healthcheck({ url: { secret, key: '' } })).toThrow(/notifications: healthcheck url\.key/);
    expect(() => Notification.webhook({ url: { secret } as any })).toThrow(/notifications: webhook url/);
  });

  test('two healthchecks (or two webhooks)', () => {
    expect(errorOf(s => ({ notifications: [Notification.healthcheck({ url: url(s, 'a') }), Notification.healthcheck({ url: url(s, 'b') })] })))
      .toMatch(/^test\/orders: notifications\[1\]: a second healthcheck; the runner sends at most one of each kind\. Keep one/);
    expect(errorOf(s => ({
      notifications: [Notification.webhook({ url: url(s, 'a') }), Notification.healthcheck({ url: url(s, 'c') }), Notification.webhook({ url: url(s, 'b') })],
    }))).toMatch(/^test\/orders: notifications\[2\]: a second webhook/);
  });

  test.each([
    ['empty', [], /^notifications: webhook on: give at least one of NotifyOn\.SUCCESS and NotifyOn\.FAILURE, or leave it out for both/],
    ['not a list', NotifyOn.FAILURE, /^notifications: webhook on: give at least one of/],
    ['twice the same', [NotifyOn.FAILURE, NotifyOn.FAILURE], /^notifications: webhook on: 'failure,failure' names 'failure' twice/],
    ['an unknown value', ['always'], /^notifications: webhook on: 'always' has 'always'; give success, failure/],
  ])('a webhook `on` that is %s', (_what, on, message) => {
    const chart = newChart();
    const secret = kplus.Secret.fromSecretName(chart, 'Notify', 'backup-notify');
    expect(() => Notification.webhook({ url: { secret, key: 'hook' }, on: on as any })).toThrow(message);
  });

  test('props of the wrong kind', () => {
    expect(errorOf(() => ({ metrics: { url: 'http://pushgateway.monitoring:9091' } as any })))
      .toMatch(/^test\/orders: metrics: expected BackupMetrics\.pushgateway\(\{ url: /);
    expect(errorOf(s => ({ notifications: Notification.healthcheck({ url: url(s) }) as any })))
      .toMatch(/^test\/orders: notifications: expected a list, e\.g\. \[Notification\.healthcheck\(\{ url \}\)\]/);
    expect(errorOf(() => ({ notifications: [{ kind: 'healthcheck' }] as any })))
      .toMatch(/^test\/orders: notifications\[0\]: expected Notification\.healthcheck\(\{ url \}\) or Notification\.webhook\(\{ url \}\)/);
  });
});
