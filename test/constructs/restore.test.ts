import { Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { atPath } from './at-path';
import {
  BackupSeries, BackupStorage, MongoRestoreJob, MongoRestoreJobProps, MysqlRestoreJob, MysqlRestoreJobProps, PostgresRestoreJob,
  S3Credentials,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, envOf, jobs, newChart, pgRestoreProps, s3Storage } from '../helpers/synth';

function mysqlRestoreProps(chart: any, overrides: Partial<MysqlRestoreJobProps> = {}): MysqlRestoreJobProps {
  return {
    series: BackupSeries.fromName(s3Storage(chart), 'shop', 'mysql'),
    host: 'mariadb-staging.db.svc',
    database: 'shop',
    username: 'restore',
    password: { secret: kplus.Secret.fromSecretName(chart, 'Restore', 'shop-restore'), key: 'password' },
    ...overrides,
  };
}

function mongoRestoreProps(chart: any, overrides: Partial<MongoRestoreJobProps> = {}): MongoRestoreJobProps {
  return {
    series: BackupSeries.fromName(s3Storage(chart), 'catalog', 'mongo'),
    uri: { secret: kplus.Secret.fromSecretName(chart, 'Target', 'catalog-staging'), key: 'uri' },
    database: 'catalog_restored',
    ...overrides,
  };
}

describe('PostgresRestoreJob', () => {
  test('synthesizes this Job', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, { backupId: '20261125T010203Z-1a2b3c4d', restoreArgs: ['--clean', '--if-exists'] }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('is a valid batch/v1 Job that passes the restricted Pod Security Standard', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart));
    const objects = Testing.synth(chart);
    expect(objects.map(o => `${o.apiVersion}/${o.kind}`)).toEqual(['batch/v1/Job']);
    validateSchema(objects[0]);
    expect(restrictedViolations(podSpecOf(objects[0]))).toEqual([]);
  });

  test('restores the latest backup of the series into the target, by libpq and AWS SDK names', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, { port: 6432 }));
    const [job] = jobs(chart);
    expect(container(job).name).toBe('restore');
    expect(container(job).args).toEqual(['restore', 'latest']);
    expect(envOf(job)).toEqual({
      BACKUP_ENGINE: 'postgres',
      BACKUP_DESTINATION: 's3://backups/prod',
      BACKUP_NAME: 'orders',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: 'http://minio.storage:9000',
      BACKUP_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'backup-s3', key: 'access-key' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'backup-s3', key: 'secret-key' } },
      PGHOST: 'postgres.db.svc',
      PGPORT: '6432',
      PGDATABASE: 'orders_restored',
      PGUSER: 'orders_owner',
      PGPASSWORD: { secretKeyRef: { name: 'orders-owner', key: 'password' } },
    });
    expect(job.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/component': 'postgres-restore' });
  });

  test('a chosen backup id, and restoreArgs after --', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, {
      backupId: '20261125T010203Z-1a2b3c4d', restoreArgs: ['--clean', '--if-exists', '--no-owner'],
    }));
    expect(container(jobs(chart)[0]).args).toEqual(['restore', '20261125T010203Z-1a2b3c4d', '--', '--clean', '--if-exists', '--no-owner']);
  });

  test('refuses a non-empty target unless allowNonEmptyTarget', () => {
    const chart = newChart();
    const props = pgRestoreProps(chart);
    new PostgresRestoreJob(chart, 'safe', props);
    new PostgresRestoreJob(chart, 'over', { ...props, allowNonEmptyTarget: true, restoreArgs: ['--clean', '--if-exists'] });
    const [safe, over] = jobs(chart);
    expect(envOf(safe)).not.toHaveProperty('BACKUP_RESTORE_FORCE');
    expect(envOf(over).BACKUP_RESTORE_FORCE).toBe('true');
  });

  test('runs once and cleans up after itself: no retries, a deadline, deleted a day after it finished', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart));
    const [job] = jobs(chart);
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 43200, ttlSecondsAfterFinished: 86400 });
    const pod = podSpecOf(job);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(job).securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container(job).image).toMatch(/^ghcr\.io\/cdk8s-db-backup\/cdk8s-db-backup:\d+\.\d+\.\d+-postgres$/);
  });

  test('overrides: deadlines, retries, ttl, image, resources, name', () => {
    const chart = newChart();
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, {
      activeDeadline: Duration.hours(2),
      backoffLimit: 1,
      ttlAfterFinished: Duration.hours(1),
      image: 'registry.example.com/backup:1.2.3-postgres',
      imagePullPolicy: kplus.ImagePullPolicy.ALWAYS,
      resources: { memory: { request: Size.gibibytes(1), limit: Size.gibibytes(1) } },
      jobName: 'orders-restore-2026-11-25',
    }));
    const [job] = jobs(chart);
    expect(job.metadata.name).toBe('orders-restore-2026-11-25');
    expect(job.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 7200, ttlSecondsAfterFinished: 3600 });
    expect(container(job)).toMatchObject({
      image: 'registry.example.com/backup:1.2.3-postgres',
      imagePullPolicy: 'Always',
      resources: { requests: { memory: '1024Mi' }, limits: { memory: '1024Mi' } },
    });
  });

  test('Job names fit 63 characters whatever the construct path', () => {
    const chart = newChart();
    const deep = new Construct(new Construct(chart, 'a-very-long-team-name-for-the-platform'), 'and-an-even-longer-service-name');
    new PostgresRestoreJob(deep, 'orders-primary-database-restore-with-a-long-id', pgRestoreProps(chart));
    const [job] = jobs(chart);
    expect(job.metadata.name.length).toBeLessThanOrEqual(63);
    expect(job.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    validateSchema(job);
  });

  test('reads from a mounted volume and with workload identity like the backups do', () => {
    const chart = newChart();
    const pvc = kplus.PersistentVolumeClaim.fromClaimName(chart, 'Claim', 'backups-pvc');
    const props = pgRestoreProps(chart);
    const volume = BackupStorage.volume({ volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'Vol', pvc), prefix: 'pg' });
    new PostgresRestoreJob(chart, 'from-volume', { ...props, series: BackupSeries.fromName(volume, 'orders', 'postgres') });
    const sa = kplus.ServiceAccount.fromServiceAccountName(chart, 'SA', 'backup-irsa');
    const s3 = BackupStorage.s3({ bucket: 'backups', credentials: S3Credentials.fromServiceAccount(sa) });
    new PostgresRestoreJob(chart, 'from-s3', { ...props, series: BackupSeries.fromName(s3, 'orders', 'postgres') });
    const [fromVolume, fromS3] = jobs(chart);
    expect(envOf(fromVolume).BACKUP_DESTINATION).toBe('file:///backup/pg');
    expect(container(fromVolume).volumeMounts).toContainEqual({ mountPath: '/backup', name: 'pvc-backups-pvc' });
    expect(podSpecOf(fromS3)).toMatchObject({ serviceAccountName: 'backup-irsa', automountServiceAccountToken: true });
    for (const job of [fromVolume, fromS3]) {
      validateSchema(job);
      expect(restrictedViolations(podSpecOf(job))).toEqual([]);
    }
  });

  test('no secret value appears anywhere in the manifest', () => {
    const chart = newChart();
    const secret = new kplus.Secret(chart, 'Inline', { stringData: { password: 'hunter2-do-not-leak' } });
    new PostgresRestoreJob(chart, 'orders-restore', pgRestoreProps(chart, { password: { secret, key: 'password' } }));
    expect(JSON.stringify(jobs(chart))).not.toContain('hunter2-do-not-leak');
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => any, RegExp]>([
      ['missing series', c => pgRestoreProps(c, { series: undefined as any }),
        /^series: must be set to the backups a PostgresRestoreJob reads: the backup construct itself \(series: ordersBackup\), or BackupSeries\.fromName\(storage, 'orders', 'postgres'\)/],
      ['backupId with extension', c => pgRestoreProps(c, { backupId: '20261125T010203Z-1a2b3c4d.pgdump.zst' }),
        /^backupId: '20261125T010203Z-1a2b3c4d\.pgdump\.zst' is not a backup id; use 'latest' or an id as printed by the image's 'list' command/],
      ['backupId as a key', c => pgRestoreProps(c, { backupId: 'prod/orders/20261125T010203Z-1a2b3c4d' }), /^backupId: .* is not a backup id/],
      ['backupId LATEST', c => pgRestoreProps(c, { backupId: 'LATEST' }), /^backupId: 'LATEST' is not a backup id/],
      ['--dbname in restoreArgs', c => pgRestoreProps(c, { restoreArgs: ['--dbname=other'] }), /^restoreArgs: '--dbname=other' is pg_restore's --dbname \(-d\).*use the construct's props instead/],
      ['-j in restoreArgs', c => pgRestoreProps(c, { restoreArgs: ['-j4'] }), /^restoreArgs: '-j4' is pg_restore's --jobs \(-j\)/],
      ['-f in restoreArgs', c => pgRestoreProps(c, { restoreArgs: ['-f', '/tmp/x.sql'] }), /^restoreArgs: '-f'/],
      ['negative backoffLimit', c => pgRestoreProps(c, { backoffLimit: -1 }), /^backoffLimit: -1 must be a whole number of 0 or more/],
      ['short activeDeadline', c => pgRestoreProps(c, { activeDeadline: Duration.seconds(30) }), /^activeDeadline: 30s is too short for a restore/],
      ['long jobName', c => pgRestoreProps(c, { jobName: 'x'.repeat(64) }), /^jobName: .* at most 63 characters, because Kubernetes copies it into the pods' job-name label/],
      ['latest image', c => pgRestoreProps(c, { image: 'example/backup:latest' }), /^image: 'example\/backup:latest' is tagged 'latest'/],
      ['host as URL', c => pgRestoreProps(c, { host: 'postgres://db/orders' }), /^host: .* must be a bare host name/],
      ['empty database', c => pgRestoreProps(c, { database: '' }), /^database: must be set, e\.g\. 'orders'/],
      ['port 0', c => pgRestoreProps(c, { port: 0 }), /^port: 0 is not a TCP port/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new PostgresRestoreJob(chart, 'orders-restore', props(chart))).toThrow(atPath('test/orders-restore', message));
    });
  });
});

describe('MysqlRestoreJob', () => {
  test('synthesizes this Job', () => {
    const chart = newChart();
    new MysqlRestoreJob(chart, 'shop-restore', mysqlRestoreProps(chart, { tls: false, restoreArgs: ['--max-allowed-packet=1G'] }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('a valid, hardened Job with the mysql image, the target by our own names', () => {
    const chart = newChart();
    new MysqlRestoreJob(chart, 'shop-restore', mysqlRestoreProps(chart, { port: 3307 }));
    const [job] = jobs(chart);
    validateSchema(job);
    expect(restrictedViolations(podSpecOf(job))).toEqual([]);
    expect(container(job).image).toMatch(/-mysql$/);
    expect(container(job).args).toEqual(['restore', 'latest']);
    expect(envOf(job)).toMatchObject({
      BACKUP_ENGINE: 'mysql',
      BACKUP_NAME: 'shop',
      BACKUP_MYSQL_HOST: 'mariadb-staging.db.svc',
      BACKUP_MYSQL_PORT: '3307',
      BACKUP_MYSQL_DATABASE: 'shop',
      BACKUP_MYSQL_USER: 'restore',
      BACKUP_MYSQL_PASSWORD: { secretKeyRef: { name: 'shop-restore', key: 'password' } },
    });
    expect(envOf(job)).not.toHaveProperty('BACKUP_MYSQL_TLS');
  });

  test.each<[string, (chart: any) => any, RegExp]>([
    ['--defaults-file in restoreArgs', c => mysqlRestoreProps(c, { restoreArgs: ['--defaults-file=/tmp/my.cnf'] }), /^restoreArgs: '--defaults-file=\/tmp\/my.cnf' is mariadb's --defaults-file/],
    ['-e in restoreArgs', c => mysqlRestoreProps(c, { restoreArgs: ['-e', 'DROP DATABASE shop'] }), /^restoreArgs: '-e' is mariadb's --execute \(-e\)/],
    ['--password in restoreArgs', c => mysqlRestoreProps(c, { restoreArgs: ['--password=x'] }), /^restoreArgs: '--password=x' is mariadb's --password \(-p\)/],
    ['bad database', c => mysqlRestoreProps(c, { database: 'shop.v2' }), /^database: 'shop\.v2' is not a valid MySQL database name/],
    ['bad backupId', c => mysqlRestoreProps(c, { backupId: 'yesterday' }), /^backupId: 'yesterday' is not a backup id/],
  ])('rejects %s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new MysqlRestoreJob(chart, 'shop-restore', props(chart))).toThrow(atPath('test/shop-restore', message));
  });
});

describe('MongoRestoreJob', () => {
  test('synthesizes this Job', () => {
    const chart = newChart();
    new MongoRestoreJob(chart, 'catalog-restore', mongoRestoreProps(chart, { restoreArgs: ['--drop'] }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('a valid, hardened Job; the target URI only by secretKeyRef', () => {
    const chart = newChart();
    new MongoRestoreJob(chart, 'catalog-restore', mongoRestoreProps(chart));
    const [job] = jobs(chart);
    validateSchema(job);
    expect(restrictedViolations(podSpecOf(job))).toEqual([]);
    expect(container(job).image).toMatch(/-mongo$/);
    expect(envOf(job)).toMatchObject({
      BACKUP_ENGINE: 'mongo',
      BACKUP_NAME: 'catalog',
      BACKUP_MONGO_URI: { secretKeyRef: { name: 'catalog-staging', key: 'uri' } },
      BACKUP_MONGO_DATABASE: 'catalog_restored',
    });
  });

  test('without a database the names in the backup are kept', () => {
    const chart = newChart();
    new MongoRestoreJob(chart, 'catalog-restore', mongoRestoreProps(chart, { database: undefined }));
    expect(envOf(jobs(chart)[0])).not.toHaveProperty('BACKUP_MONGO_DATABASE');
  });

  test.each<[string, (chart: any) => any, RegExp]>([
    ['--uri in restoreArgs', c => mongoRestoreProps(c, { restoreArgs: ['--uri=mongodb://other'] }), /^restoreArgs: '--uri=mongodb:\/\/other' is mongorestore's --uri, which selects the server/],
    ['--nsFrom in restoreArgs', c => mongoRestoreProps(c, { restoreArgs: ['--nsFrom', 'a.*'] }), /^restoreArgs: '--nsFrom'/],
    ['--archive in restoreArgs', c => mongoRestoreProps(c, { restoreArgs: ['--archive=/tmp/a'] }), /^restoreArgs: '--archive=\/tmp\/a' is mongorestore's --archive/],
    ['bad database', c => mongoRestoreProps(c, { database: 'cat.alog' }), /^database: 'cat\.alog' is not a valid MongoDB database name/],
    ['empty uri key', c => mongoRestoreProps(c, { uri: { secret: kplus.Secret.fromSecretName(c, 'U', 'u'), key: '' } }), /^uri\.key: must be set/],
  ])('rejects %s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new MongoRestoreJob(chart, 'catalog-restore', props(chart))).toThrow(atPath('test/catalog-restore', message));
  });
});

