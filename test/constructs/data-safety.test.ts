/**
 * The constructs refuse what can only lose data (#9, section 6): volumes that die with the pod,
 * two writers of one series, leftovers removed under a running backup, ids that make invalid
 * names, errors that do not say where they come from, wrong types from JavaScript callers, a
 * retention that keeps nothing, and a verify server under a moving tag.
 */
import { App, Chart, Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  BackupSchedule, BackupSeries, BackupStorage, MongoBackupCronJob, MysqlBackupCronJob, PostgresBackupCronJob,
  PostgresBackupCronJobProps, PostgresRestoreJob, PostgresVerifyCronJob, RedisBackupCronJob, Retention,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, jobs, newChart, postgresProps, s3Storage } from '../helpers/synth';

const pvc = (scope: Construct, claim = 'backups', id = 'Backups') =>
  kplus.Volume.fromPersistentVolumeClaim(scope, id, kplus.PersistentVolumeClaim.fromClaimName(scope, `${id}Claim`, claim));

/** A kplus.Volume of a source cdk8s-plus-27 has no factory for, as another library could hand one over. */
function volumeOf(source: string, spec: object): kplus.Volume {
  return Object.assign(Object.create(kplus.Volume.prototype), { name: `a-${source.toLowerCase()}`, _toKube: () => ({ name: `a-${source.toLowerCase()}`, [source]: spec }) });
}

describe('BackupStorage.volume takes only volumes that outlive the pod', () => {
  test.each<[string, (scope: Construct) => kplus.Volume, RegExp]>([
    ['emptyDir', s => kplus.Volume.fromEmptyDir(s, 'Scratch', 'scratch'), /^volume: 'scratch' is a emptyDir volume, which lives only as long as the pod/],
    ['emptyDir in memory', s => kplus.Volume.fromEmptyDir(s, 'Ram', 'ram', { medium: kplus.EmptyDirMedium.MEMORY }), /'ram' is a emptyDir volume/],
    ['configMap', s => kplus.Volume.fromConfigMap(s, 'Cm', kplus.ConfigMap.fromConfigMapName(s, 'C', 'backups')), /is a configMap volume, which lives only as long as the pod/],
    ['secret', s => kplus.Volume.fromSecret(s, 'Sec', kplus.Secret.fromSecretName(s, 'S', 'backups')), /is a secret volume, which lives only as long as the pod/],
    ['hostPath', s => kplus.Volume.fromHostPath(s, 'Host', 'host', { path: '/var/backups' }), /^volume: 'host' is a hostPath volume: each run may land on another node/],
    ['ephemeral', () => volumeOf('ephemeral', { volumeClaimTemplate: { spec: {} } }), /is a ephemeral volume, which lives only as long as the pod/],
    ['downwardAPI', () => volumeOf('downwardAPI', { items: [] }), /is a downwardAPI volume/],
    ['projected', () => volumeOf('projected', { sources: [] }), /is a projected volume/],
    ['gitRepo', () => volumeOf('gitRepo', { repository: 'x' }), /is a gitRepo volume/],
  ])('refuses %s, pointing to a PersistentVolumeClaim', (_kind, volume, message) => {
    const make = () => BackupStorage.volume({ volume: volume(newChart()) });
    expect(make).toThrow(message);
    expect(make).toThrow(/Use a PersistentVolumeClaim: kplus\.Volume\.fromPersistentVolumeClaim\(/);
  });

  test.each<[string, (scope: Construct) => kplus.Volume]>([
    ['a PersistentVolumeClaim', s => pvc(s)],
    ['NFS', s => kplus.Volume.fromNfs(s, 'Nfs', 'nfs', { server: 'nas.lan', path: '/backups' })],
    ['CSI', s => kplus.Volume.fromCsi(s, 'Csi', 'efs.csi.aws.com', { attributes: { fileSystemId: 'fs-1' } })],
    ['an EBS volume', s => kplus.Volume.fromAwsElasticBlockStore(s, 'Ebs', 'vol-1')],
  ])('accepts %s, and the CronJob mounts it', (_kind, volume) => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage: BackupStorage.volume({ volume: volume(chart) }) }));
    const [cj] = cronJobs(chart);
    validateSchema(cj);
    expect(container(cj).volumeMounts).toContainEqual(expect.objectContaining({ mountPath: '/backup' }));
  });

  test('refuses something that is not a volume', () => {
    expect(() => BackupStorage.volume({ volume: 'backups' as any })).toThrow(/^volume: expected a kplus\.Volume/);
  });
});

/** Postgres props without Secrets, so one chart can hold several backups. */
const pg = (storage: BackupStorage, overrides: Partial<PostgresBackupCronJobProps> = {}): PostgresBackupCronJobProps => ({
  schedule: BackupSchedule.daily(), storage, host: 'pg', database: 'orders', username: 'backup', ...overrides,
});

describe('two backup constructs writing one series are refused across the whole app', () => {
  function twoCharts() {
    const app = Testing.app();
    return { app, a: new Chart(app, 'team-a', { namespace: 'db' }), b: new Chart(app, 'team-b', { namespace: 'db' }) };
  }

  test('the same bucket and prefix (two BackupStorage.s3 calls) and the same backupName, in two charts: both paths named', () => {
    const { a, b } = twoCharts();
    new PostgresBackupCronJob(a, 'orders', postgresProps(a, { storage: BackupStorage.s3({ bucket: 'backups', prefix: 'prod' }) }));
    expect(() => new PostgresBackupCronJob(b, 'nightly', postgresProps(b, { storage: BackupStorage.s3({ bucket: 'backups', prefix: '/prod/' }), backupName: 'orders' })))
      .toThrow("team-b/nightly: backupName: the series 'orders' in s3://backups/prod is already written by team-a/orders; two backup CronJobs writing one series would mix their backups and prune each other's. Give one of them another backupName, or another storage prefix.");
  });

  test('default names that map to the same series collide too, whatever the engine', () => {
    const { a, b } = twoCharts();
    new PostgresBackupCronJob(a, 'Orders_DB', postgresProps(a, { storage: BackupStorage.s3({ bucket: 'backups' }) }));
    expect(() => new RedisBackupCronJob(b, 'orders_db', {
      schedule: BackupSchedule.hourly(), storage: BackupStorage.s3({ bucket: 'backups' }), host: 'redis',
    })).toThrow(/^team-b\/orders_db: backupName: the series 'orders_db' in s3:\/\/backups is already written by team-a\/Orders_DB/);
  });

  test('the same PersistentVolumeClaim through two kplus.Volume objects, same prefix', () => {
    const { a, b } = twoCharts();
    new PostgresBackupCronJob(a, 'orders', postgresProps(a, { storage: BackupStorage.volume({ volume: pvc(a), prefix: 'pg' }) }));
    expect(() => new PostgresBackupCronJob(b, 'orders', postgresProps(b, { storage: BackupStorage.volume({ volume: pvc(b), prefix: 'pg' }) })))
      .toThrow(/^team-b\/orders: backupName: the series 'orders' in PersistentVolumeClaim 'backups' in namespace 'db' under 'pg' is already written by team-a\/orders/);
  });

  test('the same endpoint and bucket of an S3-compatible server', () => {
    const chart = newChart();
    const minio = () => BackupStorage.s3({ bucket: 'backups', endpoint: 'http://minio.storage:9000' });
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage: minio() }));
    expect(() => new MysqlBackupCronJob(chart, 'shop', { schedule: BackupSchedule.daily(), storage: minio(), backupName: 'orders', host: 'my', database: 'shop', username: 'u' }))
      .toThrow(/^test\/shop: backupName: the series 'orders' in s3:\/\/backups at http:\/\/minio\.storage:9000 is already written by test\/orders/);
  });

  test.each<[string, (c: Chart) => BackupStorage, (c: Chart) => BackupStorage]>([
    ['another prefix', () => BackupStorage.s3({ bucket: 'backups', prefix: 'prod' }), () => BackupStorage.s3({ bucket: 'backups', prefix: 'staging' })],
    ['another bucket', () => BackupStorage.s3({ bucket: 'backups' }), () => BackupStorage.s3({ bucket: 'backups-2' })],
    ['another S3 server', () => BackupStorage.s3({ bucket: 'backups', endpoint: 'http://minio-a:9000' }), () => BackupStorage.s3({ bucket: 'backups', endpoint: 'http://minio-b:9000' })],
    ['another claim', c => BackupStorage.volume({ volume: pvc(c, 'backups-a', 'A') }), c => BackupStorage.volume({ volume: pvc(c, 'backups-b', 'B') })],
    ['another volume prefix', c => BackupStorage.volume({ volume: pvc(c), prefix: 'a' }), c => BackupStorage.volume({ volume: pvc(c, 'backups', 'B'), prefix: 'b' })],
  ])('%s is another series', (_what, first, second) => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', pg(first(chart)));
    new PostgresBackupCronJob(chart, 'orders-2', pg(second(chart), { backupName: 'orders' }));
    expect(cronJobs(chart)).toHaveLength(2);
  });

  test('a claim of the same name in another namespace is another volume', () => {
    const app = Testing.app();
    const a = new Chart(app, 'a', { namespace: 'team-a' });
    const b = new Chart(app, 'b', { namespace: 'team-b' });
    new PostgresBackupCronJob(a, 'orders', postgresProps(a, { storage: BackupStorage.volume({ volume: pvc(a) }) }));
    new PostgresBackupCronJob(b, 'orders', postgresProps(b, { storage: BackupStorage.volume({ volume: pvc(b) }) }));
    expect([...cronJobs(a), ...cronJobs(b)]).toHaveLength(2);
  });

  test('restore and verify constructs read the series without writing it', () => {
    const chart = newChart();
    const backup = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { postgresMajor: 15 }));
    new PostgresRestoreJob(chart, 'restore', { series: backup, host: 'pg', database: 'orders_restored', username: 'owner' });
    new PostgresRestoreJob(chart, 'restore-by-name', { series: BackupSeries.fromName(backup.storage, 'orders', 'postgres'), host: 'pg', database: 'x', username: 'owner' });
    new PostgresVerifyCronJob(chart, 'verify', { schedule: BackupSchedule.daily(), series: backup });
    expect(jobs(chart)).toHaveLength(2);
    expect(cronJobs(chart)).toHaveLength(2);
  });

  test('two apps in one process are separate', () => {
    for (let i = 0; i < 2; i++) {
      const chart = newChart();
      new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
      expect(cronJobs(chart)).toHaveLength(1);
    }
  });
});

describe('incompleteMinAge defaults to the longer of 48 hours and activeDeadline', () => {
  const minAge = (overrides: Partial<PostgresBackupCronJobProps>) => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { retention: Retention.keepLast(7), ...overrides }));
    return envOf(cronJobs(chart)[0]).BACKUP_INCOMPLETE_MIN_AGE_SECONDS;
  };

  test('an activeDeadline of 72 hours raises the default to 72 hours', () => {
    expect(minAge({ activeDeadline: Duration.hours(72) })).toBe('259200');
  });

  test('an explicit incompleteMinAge equal to activeDeadline is accepted', () => {
    expect(minAge({ activeDeadline: Duration.hours(72), incompleteMinAge: Duration.hours(72) })).toBe('259200');
  });

  test("with the default activeDeadline (6 h) the runner's own 48 h default applies: nothing written", () => {
    expect(minAge({})).toBeUndefined();
    expect(minAge({ activeDeadline: Duration.hours(48) })).toBeUndefined();
  });

  test('an explicit 48 h under a 72 h activeDeadline is refused, saying what the default would be', () => {
    expect(() => minAge({ activeDeadline: Duration.hours(72), incompleteMinAge: Duration.hours(48) }))
      .toThrow(/^test\/orders: incompleteMinAge: 172800s is shorter than activeDeadline \(259200s\).*the default is the longer of 48 hours and the activeDeadline/);
  });

  test('without retention nothing is written, whatever the deadline', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { activeDeadline: Duration.hours(72) }));
    expect(envOf(cronJobs(chart)[0])).not.toHaveProperty('BACKUP_INCOMPLETE_MIN_AGE_SECONDS');
  });
});

describe('any construct id gives valid names; only names the user gives are checked', () => {
  const SERIES = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

  test.each<[string, string | RegExp]>([
    ['Orders_DB', 'orders_db'],
    ['Orders DB', 'orders-db'],
    ['orders.v2', 'orders.v2'],
    ['Orders--V2', 'orders--v2'],
    ['-orders-', 'orders'],
    ['Bestellungen (Früh)', 'bestellungen-fr-h'],
    ['ÄÖÜ', /^series-[0-9a-f]{8}$/],
    ['_', /^series-[0-9a-f]{8}$/],
    ['x'.repeat(80), /^x{54}-[0-9a-f]{8}$/],
  ])('backup id %j: series %s, a valid CronJob name', (id, series) => {
    const chart = newChart();
    const backup = new PostgresBackupCronJob(chart, id, postgresProps(chart, { postgresMajor: 15 }));
    expect(backup.backupName).toEqual(typeof series === 'string' ? series : expect.stringMatching(series));
    expect(backup.backupName).toMatch(SERIES);
    const [cj] = cronJobs(chart);
    expect(cj.metadata.name).toMatch(DNS_LABEL);
    expect(cj.metadata.name.length).toBeLessThanOrEqual(52);
    expect(envOf(cj).BACKUP_NAME).toBe(backup.backupName);
    validateSchema(cj);

    new PostgresRestoreJob(chart, `${id}_Restore`, { series: backup, host: 'pg', database: 'x', username: 'owner' });
    new PostgresVerifyCronJob(chart, `${id}.Verify`, { schedule: BackupSchedule.daily(), series: backup });
    const [job] = jobs(chart);
    expect(job.metadata.name).toMatch(DNS_LABEL);
    expect(job.metadata.name.length).toBeLessThanOrEqual(63);
    validateSchema(job);
    for (const c of cronJobs(chart)) {
      expect(c.metadata.name).toMatch(DNS_LABEL);
      validateSchema(c);
    }
  });

  test('ids that differ only in mapped characters still get different object names', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'Orders_DB', pg(s3Storage(chart), { backupName: 'a' }));
    new PostgresBackupCronJob(chart, 'Orders.DB', pg(BackupStorage.s3({ bucket: 'backups' }), { backupName: 'b' }));
    const names = cronJobs(chart).map(c => c.metadata.name);
    expect(new Set(names).size).toBe(2);
  });

  test.each<[string, Partial<PostgresBackupCronJobProps>, RegExp]>([
    ['cronJobName with _', { cronJobName: 'Orders_DB' }, /^test\/orders: cronJobName: 'Orders_DB' must be a DNS label/],
    ['backupName in upper case', { backupName: 'Orders' }, /^test\/orders: backupName: 'Orders' is not a valid series name/],
  ])('a %s the user gives is still checked', (_what, overrides, message) => {
    const chart = newChart();
    expect(() => new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, overrides))).toThrow(message);
  });
});

describe('every synth-time error names the construct path it comes from', () => {
  class Backups extends Construct {}

  test.each<[string, (scope: Construct) => unknown, string]>([
    ['a connection prop', s => new PostgresBackupCronJob(s, 'orders', postgresProps(Chart.of(s), { port: 0 })), 'backups/team/orders: port: 0 is not a TCP port'],
    ['the time zone', s => new PostgresBackupCronJob(s, 'orders', postgresProps(Chart.of(s), { timeZone: 'Local' })), "backups/team/orders: timeZone: 'Local' is rejected by Kubernetes"],
    ['a shared prop', s => new PostgresBackupCronJob(s, 'orders', postgresProps(Chart.of(s), { backoffLimit: -1 })), 'backups/team/orders: backoffLimit: -1 must be a whole number'],
    ['postgresMajor', s => new PostgresBackupCronJob(s, 'orders', postgresProps(Chart.of(s), { postgresMajor: 9 })), 'backups/team/orders: postgresMajor: 9 is not a PostgreSQL major version'],
    ['a restore', s => new PostgresRestoreJob(s, 'restore', { series: BackupSeries.fromName(s3Storage(Chart.of(s)), 'orders', 'postgres'), host: 'pg', database: 'x', username: 'u', backupId: 'yesterday' }),
      "backups/team/restore: backupId: 'yesterday' is not a backup id"],
    ['a verify', s => new PostgresVerifyCronJob(s, 'verify', { schedule: BackupSchedule.daily(), series: BackupSeries.fromName(s3Storage(Chart.of(s)), 'orders', 'postgres') }),
      "backups/team/verify: postgresMajor: the series 'orders' does not record"],
    ['a mongo uri', s => new MongoBackupCronJob(s, 'catalog', { schedule: BackupSchedule.daily(), storage: s3Storage(Chart.of(s)), uri: { secret: kplus.Secret.fromSecretName(s, 'U', 'u'), key: 'a key' } }),
      "backups/team/catalog: uri.key: 'a key' is not a valid Secret or ConfigMap key"],
  ])('%s', (_what, make, prefix) => {
    const chart = new Chart(Testing.app(), 'backups');
    let message = '';
    let stack: string | undefined;
    try {
      make(new Backups(chart, 'team'));
    } catch (error) {
      message = (error as Error).message;
      stack = (error as Error).stack;
    }
    expect(message.startsWith(prefix)).toBe(true);
    expect(message).not.toMatch(/backups\/team\/\w+: backups\/team/);
    // What Node prints for an uncaught error: the path once, then the original message.
    expect(stack?.split('\n')[0]).toBe(`RuleError: ${message}`);
  });
});

describe('JavaScript callers passing the wrong type are told so', () => {
  const secret = (chart: Chart) => ({ secret: kplus.Secret.fromSecretName(chart, 'Pw', 'db'), key: 'password' });
  const synth = (overrides: Record<string, unknown>) => () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, overrides as Partial<PostgresBackupCronJobProps>));
    return cronJobs(chart);
  };

  test.each<[string, () => unknown, RegExp]>([
    ['port as a string', synth({ port: '5432' }), /^test\/orders: port: '5432' is a string; give a number, e\.g\. 5432\.$/],
    ['password as a string', synth({ password: 'hunter2' }), /^test\/orders: password: expected \{ secret, key \}, got a string; never put a secret's value in code/],
    ['password without a Secret', synth({ password: { secret: 'db', key: 'password' } }), /^test\/orders: password: expected \{ secret, key \} whose secret is a Secret/],
    ['backoffLimit as a string', synth({ backoffLimit: '2' }), /^test\/orders: backoffLimit: '2' is a string; give a number/],
    ['successfulJobsRetained as a string', synth({ successfulJobsRetained: '3' }), /^test\/orders: successfulJobsRetained: '3' is a string/],
    ['failedJobsRetained as a string', synth({ failedJobsRetained: '3' }), /^test\/orders: failedJobsRetained: '3' is a string/],
    ['postgresMajor as a string', synth({ postgresMajor: '15' }), /^test\/orders: postgresMajor: '15' is a string; give a number/],
    ['activeDeadline as a string', synth({ activeDeadline: '6h' }), /^test\/orders: activeDeadline: expected a Duration, got a string \('6h'\); give e\.g\. Duration\.hours\(6\)/],
    ['maxClockSkew as a number', synth({ maxClockSkew: 600 }), /^test\/orders: maxClockSkew: expected a Duration, got a number/],
    ['suspend as a string', synth({ suspend: 'false' }), /^test\/orders: suspend: expected true or false, got a string/],
    ['storage as a string', synth({ storage: 's3://backups' }), /^test\/orders: storage: expected a BackupStorage, got a string/],
    ['retention as a number', synth({ retention: 7 }), /^test\/orders: retention: expected a Retention, got a number; give e\.g\. retention: Retention\.keepLast\(7\)/],
    ['schedule as a string', synth({ schedule: '0 2 * * *' }), /^test\/orders: schedule: expected a BackupSchedule, got a string/],
    ['image as a number', synth({ image: 5 }), /^test\/orders: image: expected an image reference string, got a number/],
    ['mysql tls as a string', () => {
      const chart = newChart();
      return new MysqlBackupCronJob(chart, 'shop', { schedule: BackupSchedule.daily(), storage: s3Storage(chart), host: 'my', database: 'shop', username: 'u', tls: 'false' as any });
    }, /^test\/shop: tls: expected true or false, got a string/],
    ['mongo uri as a string', () => {
      const chart = newChart();
      return new MongoBackupCronJob(chart, 'catalog', { schedule: BackupSchedule.daily(), storage: s3Storage(chart), uri: 'mongodb://u:p@mongo' as any });
    }, /^test\/catalog: uri: expected \{ secret, key \}, got a string/],
    ['a restore backoffLimit as a string', () => {
      const chart = newChart();
      return new PostgresRestoreJob(chart, 'restore', { series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'), host: 'pg', database: 'x', username: 'u', password: secret(chart), backoffLimit: '1' as any });
    }, /^test\/restore: backoffLimit: '1' is a string/],
    ['a schedule hour as a string', () => BackupSchedule.daily({ hour: '2' as any }), /^schedule: 'hour' is '2', a string; give a number from 0 to 23/],
    ['a retention count as a string', () => Retention.keepLast('7' as any), /^keepLast: '7' is a string; give a number/],
    ['keepWithin as a number', () => Retention.policy({ keepWithin: 3600 as any }), /^keepWithin: expected a Duration, got a number/],
  ])('%s', (_what, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('Retention.keepLast(0) is refused: it would keep only the newest backup', () => {
  test('alone', () => {
    expect(() => Retention.keepLast(0)).toThrow(/^keepLast: 0 keeps no backup, and the policy has no other rule, so only the newest backup \(always kept\) would survive.*Retention\.keepLast\(1\)/);
  });

  test('with other rules that are all 0', () => {
    expect(() => Retention.policy({ keepLast: 0, keepDaily: 0 })).toThrow(/^retention: keepLast: 0, keepDaily: 0 keep no backup/);
  });

  test('0 beside a rule that keeps something is that rule left out, and accepted', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { retention: Retention.policy({ keepLast: 0, keepDaily: 7 }) }));
    expect(envOf(cronJobs(chart)[0])).toMatchObject({ BACKUP_KEEP_LAST: '0', BACKUP_KEEP_DAILY: '7' });
    expect(() => Retention.policy({ keepLast: 0, keepWithin: Duration.days(2) })).not.toThrow();
    expect(() => Retention.keepLast(1)).not.toThrow();
  });
});

describe("the verify server's default image is pinned to a minor, and its data directory has a size limit", () => {
  const verify = (major: number, overrides: object = {}) => {
    const chart = newChart();
    new PostgresVerifyCronJob(chart, 'verify', { schedule: BackupSchedule.daily(), series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'), postgresMajor: major, ...overrides });
    return cronJobs(chart)[0];
  };

  test.each([[13, 'postgres:13.23'], [14, 'postgres:14.21'], [15, 'postgres:15.16'], [16, 'postgres:16.12'], [17, 'postgres:17.8'], [18, 'postgres:18.2']])(
    'PostgreSQL %i runs %s', (major, image) => {
      expect(container(verify(major), 'postgres').image).toBe(image);
    });

  test('a major without a pinned default needs postgresImage, and takes it', () => {
    expect(() => verify(12)).toThrow(/^test\/verify: postgresImage: there is no pinned default image for PostgreSQL 12 \(only for 13, 14, 15, 16, 17, 18\); give postgresImage/);
    expect(container(verify(12, { postgresImage: 'postgres:12.22' }), 'postgres').image).toBe('postgres:12.22');
  });

  test('the data emptyDir is limited to 10Gi unless dataSizeLimit says otherwise', () => {
    const dataVolume = (cj: any) => podSpecOf(cj).volumes.find((v: any) => v.name === 'postgres-data');
    expect(dataVolume(verify(15))).toEqual({ name: 'postgres-data', emptyDir: { sizeLimit: '10240Mi' } });
    expect(dataVolume(verify(15, { dataSizeLimit: Size.gibibytes(200) }))).toEqual({ name: 'postgres-data', emptyDir: { sizeLimit: '204800Mi' } });
  });
});

describe('maxClockSkew and stallTimeout reach every runner construct', () => {
  const TIMING = { BACKUP_MAX_CLOCK_SKEW_SECONDS: '300', BACKUP_STALL_TIMEOUT_SECONDS: '60' };
  const timing = { maxClockSkew: Duration.minutes(5), stallTimeout: Duration.minutes(1) };

  test('backup, restore and verify, as whole seconds', () => {
    const app = new App({ outdir: Testing.app().outdir });
    const chart = new Chart(app, 'backups');
    const backup = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { ...timing, postgresMajor: 15 }));
    new RedisBackupCronJob(chart, 'cache', { schedule: BackupSchedule.hourly(), storage: BackupStorage.s3({ bucket: 'cache' }), host: 'redis', ...timing });
    new PostgresRestoreJob(chart, 'restore', { series: backup, host: 'pg', database: 'x', username: 'u', ...timing });
    new PostgresVerifyCronJob(chart, 'verify', { schedule: BackupSchedule.daily(), series: backup, ...timing });
    const workloads = [...cronJobs(chart), ...jobs(chart)];
    expect(workloads).toHaveLength(4);
    for (const w of workloads) {
      expect(envOf(w)).toMatchObject(TIMING);
      validateSchema(w);
      expect(restrictedViolations(podSpecOf(w))).toEqual([]);
    }
  });

  test("unset, nothing is written: the runner's defaults (600 s, 120 s) apply", () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    expect(envOf(cronJobs(chart)[0])).not.toHaveProperty('BACKUP_MAX_CLOCK_SKEW_SECONDS');
    expect(envOf(cronJobs(chart)[0])).not.toHaveProperty('BACKUP_STALL_TIMEOUT_SECONDS');
  });

  test.each<[string, object, RegExp]>([
    ['a zero maxClockSkew', { maxClockSkew: Duration.seconds(0) }, /^test\/orders: maxClockSkew: must be a positive whole number of seconds, e\.g\. Duration\.minutes\(10\); got 0 ms/],
    ['a fractional maxClockSkew', { maxClockSkew: Duration.millis(1500) }, /^test\/orders: maxClockSkew: must be a positive whole number of seconds.*got 1500 ms/],
    ['a stallTimeout under 10 s', { stallTimeout: Duration.seconds(5) }, /^test\/orders: stallTimeout: 5s is too short.*at least 10 seconds/],
    ['a fractional stallTimeout', { stallTimeout: Duration.millis(10500) }, /^test\/orders: stallTimeout: must be a positive whole number of seconds/],
  ])('refuses %s', (_what, overrides, message) => {
    const chart = newChart();
    expect(() => new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, overrides))).toThrow(message);
  });
});
