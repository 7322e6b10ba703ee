import * as kplus from 'cdk8s-plus-27';
import { atPath } from './at-path';
import {
  BackupSchedule, BackupSeries, MysqlBackupCronJob, MysqlBackupCronJobProps, MysqlRestoreJob, PostgresBackupCronJob, PostgresRestoreJob,
  PostgresSslMode, RedisBackupCronJob, RedisBackupCronJobProps, TlsCertificate,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, jobs, newChart, postgresProps, s3Storage } from '../helpers/synth';

const CA_DIR = '/etc/cdk8s-db-backup/tls';
const CA_FILE = `${CA_DIR}/ca.crt`;
const TLS_ENV = /(SSL|TLS)/;
const tlsEnv = (workload: any) => Object.fromEntries(Object.entries(envOf(workload)).filter(([name]) => TLS_ENV.test(name)));
const volumeNamed = (workload: any, name: string) => podSpecOf(workload).volumes.find((v: any) => v.name === name);
const caMount = (workload: any) => container(workload).volumeMounts.find((m: any) => m.mountPath === CA_DIR);

/** cert-manager's CA key in a Secret, as users usually have it. */
const secretCa = (chart: any) => TlsCertificate.fromSecret(kplus.Secret.fromSecretName(chart, 'Ca', 'db-tls'), 'ca.crt');

function mysqlProps(chart: any, overrides: Partial<MysqlBackupCronJobProps> = {}): MysqlBackupCronJobProps {
  return { schedule: BackupSchedule.daily({ hour: 1 }), storage: s3Storage(chart), host: 'mysql.db.svc', database: 'shop', username: 'backup', ...overrides };
}

function redisProps(chart: any, overrides: Partial<RedisBackupCronJobProps> = {}): RedisBackupCronJobProps {
  return { schedule: BackupSchedule.hourly(), storage: s3Storage(chart), host: 'redis.cache.svc', ...overrides };
}

/** The CA reaches the runner as one read-only file, and the pod stays valid and restricted. */
function expectCaMounted(workload: any, source: object): void {
  expect(volumeNamed(workload, 'tls-ca')).toEqual({ name: 'tls-ca', ...source });
  expect(caMount(workload)).toEqual({ mountPath: CA_DIR, name: 'tls-ca', readOnly: true });
  validateSchema(workload);
  expect(restrictedViolations(podSpecOf(workload))).toEqual([]);
}

const FROM_SECRET = { secret: { secretName: 'db-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }] } };

describe('PostgreSQL: sslMode and caCertificate', () => {
  test('a backup verifying the server: PGSSLMODE, PGSSLROOTCERT and the CA mounted read-only', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { sslMode: PostgresSslMode.VERIFY_FULL, caCertificate: secretCa(chart) }));
    const [cj] = cronJobs(chart);
    expect(tlsEnv(cj)).toEqual({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: CA_FILE });
    expectCaMounted(cj, FROM_SECRET);
  });

  test('a restore takes the same props', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', {
      series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
      host: 'postgres.db.svc',
      database: 'orders_restored',
      username: 'orders_owner',
      sslMode: PostgresSslMode.VERIFY_CA,
      caCertificate: secretCa(chart),
    });
    const [job] = jobs(chart);
    expect(tlsEnv(job)).toEqual({ PGSSLMODE: 'verify-ca', PGSSLROOTCERT: CA_FILE });
    expectCaMounted(job, FROM_SECRET);
  });

  test('a CA from a ConfigMap, e.g. a trust bundle; without sslMode it is verified in full', () => {
    const chart = newChart();
    const bundle = kplus.ConfigMap.fromConfigMapName(chart, 'Bundle', 'trust-bundle');
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { caCertificate: TlsCertificate.fromConfigMap(bundle, 'bundle.pem') }));
    const [cj] = cronJobs(chart);
    expect(tlsEnv(cj)).toEqual({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: CA_FILE });
    expectCaMounted(cj, { configMap: { name: 'trust-bundle', items: [{ key: 'bundle.pem', path: 'ca.crt' }] } });
  });

  test('every libpq mode by its own name; without a CA nothing is mounted', () => {
    const chart = newChart();
    const props = postgresProps(chart);
    const modes = [PostgresSslMode.DISABLE, PostgresSslMode.ALLOW, PostgresSslMode.PREFER, PostgresSslMode.REQUIRE];
    modes.forEach(sslMode => new PostgresBackupCronJob(chart, `orders-${sslMode}`, { ...props, sslMode }));
    const all = cronJobs(chart);
    expect(all.map(cj => tlsEnv(cj))).toEqual(['disable', 'allow', 'prefer', 'require'].map(mode => ({ PGSSLMODE: mode })));
    for (const cj of all) expect(volumeNamed(cj, 'tls-ca')).toBeUndefined();
  });

  test('REQUIRE with a CA: the certificate is checked against it', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { sslMode: PostgresSslMode.REQUIRE, caCertificate: secretCa(chart) }));
    expect(tlsEnv(cronJobs(chart)[0])).toEqual({ PGSSLMODE: 'require', PGSSLROOTCERT: CA_FILE });
  });

  test('without either prop, no TLS variable: libpq decides', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    expect(tlsEnv(cronJobs(chart)[0])).toEqual({});
  });

  test.each<[string, (chart: any) => object, RegExp]>([
    ['a CA with DISABLE', c => ({ sslMode: PostgresSslMode.DISABLE, caCertificate: secretCa(c) }),
      /^caCertificate: sslMode 'disable' can connect without TLS, so the CA would protect nothing; use PostgresSslMode\.VERIFY_FULL/],
    ['a CA with PREFER', c => ({ sslMode: PostgresSslMode.PREFER, caCertificate: secretCa(c) }), /^caCertificate: sslMode 'prefer' can connect without TLS/],
    ['a CA with ALLOW', c => ({ sslMode: PostgresSslMode.ALLOW, caCertificate: secretCa(c) }), /^caCertificate: sslMode 'allow' can connect without TLS/],
    ['VERIFY_FULL without a CA', () => ({ sslMode: PostgresSslMode.VERIFY_FULL }),
      /^sslMode: 'verify-full' checks the server's certificate against a CA; give caCertificate: TlsCertificate\.fromSecret/],
    ['an sslMode libpq does not know', () => ({ sslMode: 'strict' as PostgresSslMode }),
      /^sslMode: 'strict' is not a libpq sslmode; use one of disable, allow, prefer, require, verify-ca, verify-full/],
  ])('rejects %s', (_name, tls, message) => {
    const chart = newChart();
    expect(() => new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, tls(chart)))).toThrow(atPath('test/orders', message));
  });
});

describe('MySQL: tls and caCertificate', () => {
  test('a backup with a CA: BACKUP_MYSQL_TLS_CA_FILE and the CA mounted read-only', () => {
    const chart = newChart();
    new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart, { caCertificate: secretCa(chart) }));
    const [cj] = cronJobs(chart);
    expect(tlsEnv(cj)).toEqual({ BACKUP_MYSQL_TLS_CA_FILE: CA_FILE });
    expectCaMounted(cj, FROM_SECRET);
  });

  test('a restore takes the same props', () => {
    const chart = newChart();
    new MysqlRestoreJob(chart, 'shop-restore', {
      series: BackupSeries.fromName(s3Storage(chart), 'shop', 'mysql'),
      host: 'mariadb-staging.db.svc',
      database: 'shop',
      username: 'restore',
      tls: true,
      caCertificate: secretCa(chart),
    });
    const [job] = jobs(chart);
    expect(tlsEnv(job)).toEqual({ BACKUP_MYSQL_TLS_CA_FILE: CA_FILE });
    expectCaMounted(job, FROM_SECRET);
  });

  test('rejects a CA with tls: false', () => {
    const chart = newChart();
    expect(() => new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart, { tls: false, caCertificate: secretCa(chart) })))
      .toThrow(/^test\/shop: caCertificate: has no effect with tls: false; remove tls: false to connect with TLS, or remove caCertificate/);
  });
});

describe('Redis: RedisConnectionOptions with tls and caCertificate', () => {
  test('tls: true and a CA: BACKUP_REDIS_TLS, BACKUP_REDIS_TLS_CA_FILE and the CA mounted read-only', () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { port: 6380, tls: true, caCertificate: secretCa(chart) }));
    const [cj] = cronJobs(chart);
    expect(tlsEnv(cj)).toEqual({ BACKUP_REDIS_TLS: 'true', BACKUP_REDIS_TLS_CA_FILE: CA_FILE });
    expect(envOf(cj).BACKUP_REDIS_PORT).toBe('6380');
    expectCaMounted(cj, FROM_SECRET);
  });

  test('tls: true alone uses the system CAs: nothing is mounted', () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { tls: true }));
    const [cj] = cronJobs(chart);
    expect(tlsEnv(cj)).toEqual({ BACKUP_REDIS_TLS: 'true' });
    expect(volumeNamed(cj, 'tls-ca')).toBeUndefined();
  });

  test('tls off by default: no TLS variable', () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { tls: false }));
    expect(tlsEnv(cronJobs(chart)[0])).toEqual({});
  });

  test.each<[string, boolean | undefined]>([['unset', undefined], ['false', false]])('rejects a CA with tls %s', (_name, tls) => {
    const chart = newChart();
    expect(() => new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { tls, caCertificate: secretCa(chart) })))
      .toThrow(/^test\/sessions: caCertificate: has no effect without TLS; set tls: true \(redis-cli --tls\), or remove caCertificate/);
  });
});

describe('TlsCertificate', () => {
  test.each<[string, (chart: any) => unknown]>([
    ['fromSecret', c => TlsCertificate.fromSecret(kplus.Secret.fromSecretName(c, 'S', 's'), 'ca crt')],
    ['fromConfigMap', c => TlsCertificate.fromConfigMap(kplus.ConfigMap.fromConfigMapName(c, 'C', 'c'), '../ca.crt')],
  ])('%s rejects a key that is not a valid data key', (_name, make) => {
    expect(() => make(newChart())).toThrow(/^key: '.*' is not a valid Secret or ConfigMap key/);
  });

  test('one certificate object can serve several constructs: each mounts its own volume', () => {
    const chart = newChart();
    const ca = secretCa(chart);
    const props = postgresProps(chart, { caCertificate: ca });
    new PostgresBackupCronJob(chart, 'orders', props);
    new PostgresBackupCronJob(chart, 'billing', { ...props, database: 'billing' });
    for (const cj of cronJobs(chart)) expectCaMounted(cj, FROM_SECRET);
  });
});
