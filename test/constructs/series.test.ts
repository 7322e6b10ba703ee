import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { inTestChart } from './at-path';
import {
  BackupSchedule, BackupSeries, BackupStorage, IBackupSeries, MongoBackupCronJob, MongoRestoreJob, MysqlBackupCronJob,
  MysqlRestoreJob, PostgresBackupCronJob, PostgresRestoreJob, PostgresVerifyCronJob, RedisBackupCronJob,
} from '../../lib';
import { container, cronJobs, envOf, jobs, newChart, postgresProps, s3Storage } from '../helpers/synth';

const SERIES_ENV = /^(BACKUP_(ENGINE|DESTINATION|NAME)|AWS_.*|BACKUP_S3_FORCE_PATH_STYLE)$/;
const seriesEnv = (workload: any) => Object.fromEntries(Object.entries(envOf(workload)).filter(([name]) => SERIES_ENV.test(name)));

/** The quick start's restore target, for any series. */
function restoreInto(chart: any, series: IBackupSeries) {
  return {
    series,
    host: 'postgres.db.svc',
    database: 'orders_restored',
    username: 'orders_owner',
    password: { secret: kplus.Secret.fromSecretName(chart, 'Owner', 'orders-owner'), key: 'password' },
  };
}

describe('a backup construct is its series', () => {
  test('storage, series name, engine and the major version the props give', () => {
    const chart = newChart();
    const props = postgresProps(chart);
    const orders = new PostgresBackupCronJob(chart, 'orders', { ...props, postgresMajor: 15 });
    const billing = new PostgresBackupCronJob(chart, 'billing', { ...props, backupName: 'billing-eu' });
    expect(orders).toMatchObject({ storage: props.storage, backupName: 'orders', engine: 'postgres', serverMajorVersion: 15 });
    expect(billing).toMatchObject({ backupName: 'billing-eu', engine: 'postgres' });
    expect(billing.serverMajorVersion).toBeUndefined();
  });

  test('every engine names itself by its registry name', () => {
    const chart = newChart();
    const storage = s3Storage(chart);
    const secret = kplus.Secret.fromSecretName(chart, 'Db', 'db');
    const common = { schedule: BackupSchedule.daily({ hour: 1 }), storage };
    const series: IBackupSeries[] = [
      new PostgresBackupCronJob(chart, 'pg', { ...common, host: 'pg', database: 'a', username: 'b' }),
      new MongoBackupCronJob(chart, 'mongo', { ...common, uri: { secret, key: 'uri' } }),
      new MysqlBackupCronJob(chart, 'mysql', { ...common, host: 'my', database: 'a', username: 'b' }),
      new RedisBackupCronJob(chart, 'redis', { ...common, host: 'redis' }),
    ];
    expect(series.map(s => [s.engine, s.backupName])).toEqual([['postgres', 'pg'], ['mongo', 'mongo'], ['mysql', 'mysql'], ['redis', 'redis']]);
    expect(cronJobs(chart).map(cj => envOf(cj).BACKUP_ENGINE)).toEqual(['postgres', 'mongo', 'mysql', 'redis']);
  });

  test('a restore Job reads the series the backup writes: same destination, name, credentials and instance label', () => {
    const chart = newChart();
    const ordersBackup = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { backupName: 'orders-eu' }));
    new PostgresRestoreJob(chart, 'orders-restore', restoreInto(chart, ordersBackup));
    const [backup] = cronJobs(chart);
    const [restore] = jobs(chart);
    expect(seriesEnv(restore)).toEqual(seriesEnv(backup));
    expect(envOf(restore)).toMatchObject({ BACKUP_NAME: 'orders-eu', BACKUP_DESTINATION: 's3://backups/prod' });
    expect(restore.metadata.labels['app.kubernetes.io/instance']).toBe('orders-eu');
  });

  test('a series on a volume brings its volume to the restore Job', () => {
    const chart = newChart();
    const pvc = kplus.PersistentVolumeClaim.fromClaimName(chart, 'Claim', 'backups-pvc');
    const storage = BackupStorage.volume({ volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'Vol', pvc), prefix: 'pg' });
    const ordersBackup = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage }));
    new PostgresRestoreJob(chart, 'orders-restore', restoreInto(chart, ordersBackup));
    const [restore] = jobs(chart);
    expect(envOf(restore).BACKUP_DESTINATION).toBe('file:///backup/pg');
    expect(container(restore).volumeMounts).toContainEqual({ mountPath: '/backup', name: 'pvc-backups-pvc' });
  });

  test('MySQL and MongoDB restores take their backups the same way', () => {
    const chart = newChart();
    const storage = s3Storage(chart);
    const secret = kplus.Secret.fromSecretName(chart, 'Db', 'db');
    const shop = new MysqlBackupCronJob(chart, 'shop', { schedule: BackupSchedule.daily(), storage, host: 'my', database: 'shop', username: 'b' });
    const catalog = new MongoBackupCronJob(chart, 'catalog', { schedule: BackupSchedule.daily(), storage, uri: { secret, key: 'uri' } });
    new MysqlRestoreJob(chart, 'shop-restore', { series: shop, host: 'my-staging', database: 'shop', username: 'restore' });
    new MongoRestoreJob(chart, 'catalog-restore', { series: catalog, uri: { secret, key: 'staging-uri' } });
    expect(jobs(chart).map(j => [envOf(j).BACKUP_ENGINE, envOf(j).BACKUP_NAME])).toEqual([['mysql', 'shop'], ['mongo', 'catalog']]);
  });
});

describe('BackupSeries.fromName', () => {
  test('gives the same Job as the backup construct itself', () => {
    const fromConstruct = newChart();
    const ordersBackup = new PostgresBackupCronJob(fromConstruct, 'orders', postgresProps(fromConstruct));
    new PostgresRestoreJob(fromConstruct, 'orders-restore', restoreInto(fromConstruct, ordersBackup));
    const named = newChart();
    new PostgresRestoreJob(named, 'orders-restore', restoreInto(named, BackupSeries.fromName(s3Storage(named), 'orders', 'postgres')));
    expect(jobs(named)).toEqual(jobs(fromConstruct));
  });

  test('is a series of the engine it names, with no major version', () => {
    const storage = BackupStorage.s3({ bucket: 'backups' });
    const series = BackupSeries.fromName(storage, 'shop', 'mysql');
    expect(series).toMatchObject({ storage, backupName: 'shop', engine: 'mysql' });
    expect(series.serverMajorVersion).toBeUndefined();
  });

  test.each<[string, () => unknown, RegExp]>([
    ['a name that is not a series name', () => BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'Orders DB', 'postgres'),
      /^backupName: 'Orders DB' is not a valid series name: use 1-63 lowercase letters/],
    ['an engine the registry does not know', () => BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'orders', 'postgresql'),
      /^engine: 'postgresql' is not an engine; use one of 'postgres', 'mongo', 'mysql', 'redis'\./],
    ['no storage', () => BackupSeries.fromName(undefined as any, 'orders', 'postgres'), /^storage: must be the BackupStorage the series is written to/],
  ])('rejects %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('a series of another engine fails the synth, naming both engines', () => {
  test.each<[string, (chart: any) => void, RegExp]>([
    ['a PostgreSQL backup for a MysqlRestoreJob', c => new MysqlRestoreJob(c, 'r', {
      series: new PostgresBackupCronJob(c, 'orders', postgresProps(c)), host: 'my', database: 'shop', username: 'restore',
    }), /^series: 'orders' holds PostgreSQL backups \(engine 'postgres'\), but a MysqlRestoreJob reads MySQL backups \(engine 'mysql'\) only/],
    ['a named Redis series for a MongoRestoreJob', c => new MongoRestoreJob(c, 'r', {
      series: BackupSeries.fromName(s3Storage(c), 'sessions', 'redis'), uri: { secret: kplus.Secret.fromSecretName(c, 'U', 'u'), key: 'uri' },
    }), /^series: 'sessions' holds Redis backups \(engine 'redis'\), but a MongoRestoreJob reads MongoDB backups \(engine 'mongo'\) only/],
    ['a MySQL backup for a PostgresRestoreJob', c => new PostgresRestoreJob(c, 'r', restoreInto(c, new MysqlBackupCronJob(c, 'shop', {
      schedule: BackupSchedule.daily(), storage: s3Storage(c), host: 'my', database: 'shop', username: 'b',
    }))), /^series: 'shop' holds MySQL backups \(engine 'mysql'\), but a PostgresRestoreJob reads PostgreSQL backups/],
    ['a MongoDB backup for a PostgresVerifyCronJob', c => new PostgresVerifyCronJob(c, 'v', {
      schedule: BackupSchedule.daily(),
      postgresMajor: 15,
      series: new MongoBackupCronJob(c, 'catalog', { schedule: BackupSchedule.daily(), storage: s3Storage(c), uri: { secret: kplus.Secret.fromSecretName(c, 'U', 'u'), key: 'uri' } }),
    }), /^series: 'catalog' holds MongoDB backups \(engine 'mongo'\), but a PostgresVerifyCronJob reads PostgreSQL backups \(engine 'postgres'\) only/],
    ['a hand-made series with an unknown engine', c => new PostgresRestoreJob(c, 'r', restoreInto(c, {
      storage: s3Storage(c), backupName: 'orders', engine: 'oracle',
    })), /^series: engine: 'oracle' is not an engine; use one of 'postgres', 'mongo', 'mysql', 'redis'/],
    ['a hand-made series with a bad name', c => new PostgresRestoreJob(c, 'r', restoreInto(c, {
      storage: s3Storage(c), backupName: 'orders/eu', engine: 'postgres',
    })), /^series: backupName: 'orders\/eu' is not a valid series name/],
  ])('%s', (_name, make, message) => {
    expect(() => make(newChart())).toThrow(inTestChart(message));
  });
});

describe("the verify's PostgreSQL major version", () => {
  const verify = (chart: any, series: IBackupSeries, postgresMajor?: number) =>
    new PostgresVerifyCronJob(chart, 'orders-verify', { schedule: BackupSchedule.daily({ hour: 6 }), series, postgresMajor });
  const serverImage = (chart: any) => container(cronJobs(chart).find(cj => cj.metadata.labels['app.kubernetes.io/component'] === 'postgres-verify'), 'postgres').image;

  test("comes from the backup's postgresMajor", () => {
    const chart = newChart();
    verify(chart, new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { postgresMajor: 16 })));
    expect(serverImage(chart)).toBe('postgres:16.12');
  });

  test("or from the verify's own postgresMajor, e.g. for a named series", () => {
    const chart = newChart();
    verify(chart, BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'), 14);
    expect(serverImage(chart)).toBe('postgres:14.21');
  });

  test('both may give it when they agree', () => {
    const chart = newChart();
    verify(chart, new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { postgresMajor: 15 })), 15);
    expect(serverImage(chart)).toBe('postgres:15.16');
  });

  test('the YAML is the same whichever gives it', () => {
    const fromBackup = newChart();
    verify(fromBackup, new PostgresBackupCronJob(fromBackup, 'orders', postgresProps(fromBackup, { postgresMajor: 15 })));
    const fromVerify = newChart();
    verify(fromVerify, new PostgresBackupCronJob(fromVerify, 'orders', postgresProps(fromVerify)), 15);
    expect(Testing.synth(fromVerify)).toEqual(Testing.synth(fromBackup));
  });

  test.each<[string, (chart: any) => void, RegExp]>([
    ['neither gives it', c => verify(c, new PostgresBackupCronJob(c, 'orders', postgresProps(c))),
      /^postgresMajor: the series 'orders' does not record its server's major version; set postgresMajor here, or on its PostgresBackupCronJob, to the source server's major, e\.g\. 15/],
    ['a named series and no postgresMajor', c => verify(c, BackupSeries.fromName(s3Storage(c), 'orders', 'postgres')),
      /^postgresMajor: the series 'orders' does not record its server's major version/],
    ['they disagree', c => verify(c, new PostgresBackupCronJob(c, 'orders', postgresProps(c, { postgresMajor: 15 })), 16),
      /^postgresMajor: 16 disagrees with 15, the major version the series 'orders' records \(its PostgresBackupCronJob's postgresMajor\); remove one of them or make them agree/],
    ['the backup gives a minor version', c => new PostgresBackupCronJob(c, 'orders', postgresProps(c, { postgresMajor: 15.4 })),
      /^postgresMajor: 15\.4 is not a PostgreSQL major version/],
    ['the backup gives a 9.x-era major', c => new PostgresBackupCronJob(c, 'orders', postgresProps(c, { postgresMajor: 9 })),
      /^postgresMajor: 9 is not a PostgreSQL major version/],
    ['a hand-made series records a bad major', c => verify(c, { storage: s3Storage(c), backupName: 'orders', engine: 'postgres', serverMajorVersion: 0 }),
      /^series: serverMajorVersion: 0 is not a PostgreSQL major version/],
  ])('fails the synth when %s', (_name, make, message) => {
    expect(() => make(newChart())).toThrow(inTestChart(message));
  });
});
