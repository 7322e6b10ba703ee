import * as fs from 'fs';
import * as path from 'path';
import { Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { atPath } from './at-path';
import { BackupSchedule, BackupStorage, Compression, PostgresBackupCronJob, S3Credentials } from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, postgresProps } from '../helpers/synth';

const version: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;

describe('PostgresBackupCronJob', () => {
  test('the quick start synthesizes this CronJob', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, {
      timeZone: 'Europe/Berlin',
      port: 5432,
      dumpArgs: ['--exclude-table=audit_log'],
    }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('is a valid batch/v1 CronJob that passes the restricted Pod Security Standard', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    const objects = Testing.synth(chart);
    expect(objects.map(o => `${o.apiVersion}/${o.kind}`)).toEqual(['batch/v1/CronJob']);
    for (const o of objects) validateSchema(o);
    expect(restrictedViolations(podSpecOf(objects[0]))).toEqual([]);
  });

  test('wires libpq and the AWS SDK by their own names; secrets only by secretKeyRef', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { port: 6432 }));
    const [cj] = cronJobs(chart);
    expect(envOf(cj)).toEqual({
      BACKUP_ENGINE: 'postgres',
      BACKUP_DESTINATION: 's3://backups/prod',
      BACKUP_NAME: 'orders',
      BACKUP_COMPRESSION: 'zstd',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: 'http://minio.storage:9000',
      BACKUP_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'backup-s3', key: 'access-key' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'backup-s3', key: 'secret-key' } },
      PGHOST: 'postgres.db.svc',
      PGPORT: '6432',
      PGDATABASE: 'orders',
      PGUSER: 'backup',
      PGPASSWORD: { secretKeyRef: { name: 'orders-db', key: 'password' } },
    });
    expect(container(cj).args).toEqual(['backup']);
  });

  test('passes dumpArgs to the dump tool after --', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { dumpArgs: ['--exclude-table=audit_log', '-n', 'public'] }));
    expect(container(cronJobs(chart)[0]).args).toEqual(['backup', '--', '--exclude-table=audit_log', '-n', 'public']);
  });

  test('has the job hygiene a careful operator would choose', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    const [cj] = cronJobs(chart);
    expect(cj.spec).toMatchObject({
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      suspend: false,
      jobTemplate: { spec: { backoffLimit: 2, activeDeadlineSeconds: 21600 } },
    });
    const pod = podSpecOf(cj);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(cj).securityContext).toMatchObject({
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, runAsUser: 10001,
    });
    expect(container(cj).resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    expect(container(cj).volumeMounts).toEqual([{ mountPath: '/tmp', name: 'tmp' }]);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
  });

  test('defaults to the companion image pinned to this library version', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    expect(container(cronJobs(chart)[0]).image).toBe(`ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${version}-postgres`);
    // The repository's package.json says 0.0.0 (releases bump it): the tag follows whatever it says.
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('overrides: image, resources, deadlines, history, compression, suspend, names', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, {
      image: 'registry.example.com/backup@sha256:' + 'a'.repeat(64),
      resources: { memory: { request: Size.gibibytes(1), limit: Size.gibibytes(2) } },
      activeDeadline: Duration.hours(1),
      startingDeadline: Duration.minutes(5),
      backoffLimit: 0,
      successfulJobsRetained: 1,
      failedJobsRetained: 5,
      compression: Compression.NONE,
      suspend: true,
      backupName: 'orders-eu',
      cronJobName: 'orders-backup',
    }));
    const [cj] = cronJobs(chart);
    expect(cj.metadata.name).toBe('orders-backup');
    expect(cj.metadata.labels['app.kubernetes.io/instance']).toBe('orders-eu');
    expect(cj.spec).toMatchObject({
      suspend: true,
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 5,
      jobTemplate: { spec: { backoffLimit: 0, activeDeadlineSeconds: 3600 } },
    });
    expect(container(cj).image).toMatch(/@sha256:a{64}$/);
    expect(container(cj).resources).toEqual({ requests: { memory: '1024Mi' }, limits: { memory: '2048Mi' } });
    expect(envOf(cj)).toMatchObject({ BACKUP_COMPRESSION: 'none', BACKUP_NAME: 'orders-eu' });
  });

  test('CronJob names fit the 52-character limit whatever the construct id', () => {
    const chart = newChart();
    const deep = new Construct(new Construct(chart, 'a-very-long-team-name-for-the-platform'), 'and-an-even-longer-service-name');
    new PostgresBackupCronJob(deep, 'orders-primary-database-backup-with-a-long-id', postgresProps(chart, { backupName: 'orders' }));
    const [cj] = cronJobs(chart);
    expect(cj.metadata.name.length).toBeLessThanOrEqual(52);
    expect(cj.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    validateSchema(cj);
  });

  test('two backups in one chart get different CronJob names and series', () => {
    const chart = newChart();
    const props = postgresProps(chart);
    new PostgresBackupCronJob(chart, 'orders', props);
    new PostgresBackupCronJob(chart, 'billing', { ...props, database: 'billing' });
    const [a, b] = cronJobs(chart);
    expect(a.metadata.name).not.toBe(b.metadata.name);
    expect(envOf(a).BACKUP_NAME).toBe('orders');
    expect(envOf(b).BACKUP_NAME).toBe('billing');
  });

  test('without a password, no PGPASSWORD is set', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { password: undefined }));
    expect(envOf(cronJobs(chart)[0])).not.toHaveProperty('PGPASSWORD');
  });

  test('workload identity: the service account and its token, no keys at all', () => {
    const chart = newChart();
    const sa = kplus.ServiceAccount.fromServiceAccountName(chart, 'SA', 'backup-irsa');
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, {
      storage: BackupStorage.s3({ bucket: 'backups', region: 'eu-central-1', credentials: S3Credentials.fromServiceAccount(sa) }),
    }));
    const [cj] = cronJobs(chart);
    const pod = podSpecOf(cj);
    expect(pod.serviceAccountName).toBe('backup-irsa');
    expect(pod.automountServiceAccountToken).toBe(true);
    const env = envOf(cj);
    expect(env).not.toHaveProperty('AWS_ACCESS_KEY_ID');
    expect(env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
    expect(env).not.toHaveProperty('AWS_ENDPOINT_URL_S3');
    expect(env).not.toHaveProperty('BACKUP_S3_FORCE_PATH_STYLE');
    expect(env).toMatchObject({ AWS_REGION: 'eu-central-1', BACKUP_DESTINATION: 's3://backups' });
    validateSchema(cj);
    expect(restrictedViolations(pod)).toEqual([]);
  });

  test('a mounted volume as destination', () => {
    const chart = newChart();
    const pvc = kplus.PersistentVolumeClaim.fromClaimName(chart, 'Claim', 'backups-pvc');
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, {
      storage: BackupStorage.volume({ volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'Vol', pvc), prefix: 'pg' }),
    }));
    const [cj] = cronJobs(chart);
    expect(envOf(cj).BACKUP_DESTINATION).toBe('file:///backup/pg');
    expect(container(cj).volumeMounts).toContainEqual({ mountPath: '/backup', name: 'pvc-backups-pvc' });
    expect(podSpecOf(cj).volumes).toContainEqual({ name: 'pvc-backups-pvc', persistentVolumeClaim: { claimName: 'backups-pvc', readOnly: false } });
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
  });

  test('no secret value appears anywhere in the manifest', () => {
    const chart = newChart();
    const secret = new kplus.Secret(chart, 'Inline', { stringData: { password: 'hunter2-do-not-leak' } });
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { password: { secret, key: 'password' } }));
    const cj = cronJobs(chart)[0];
    expect(JSON.stringify(cj)).not.toContain('hunter2-do-not-leak');
    expect(envOf(cj).PGPASSWORD).toEqual({ secretKeyRef: { name: secret.name, key: 'password' } });
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => any, RegExp]>([
      ['port 0', c => postgresProps(c, { port: 0 }), /^port: 0 is not a TCP port; use a whole number from 1 to 65535/],
      ['port 70000', c => postgresProps(c, { port: 70000 }), /^port: 70000 is not a TCP port/],
      ['port 5432.5', c => postgresProps(c, { port: 5432.5 }), /^port: 5432.5/],
      ['empty host', c => postgresProps(c, { host: '' }), /^host: must be set, e\.g\. '[a-z.]+'/],
      ['host as URL', c => postgresProps(c, { host: 'postgres://db:5432/orders' }), /^host: .* must be a bare host name/],
      ['host with spaces around', c => postgresProps(c, { host: ' db ' }), /^host: ' db ' has leading or trailing white space/],
      ['empty database', c => postgresProps(c, { database: '' }), /^database: must be set, e\.g\. '[a-z]+'/],
      ['empty username', c => postgresProps(c, { username: ' ' }), /^username: must be set, e\.g\. 'backup'/],
      ['empty password key', c => postgresProps(c, { password: { secret: kplus.Secret.fromSecretName(c, 'P2', 'x'), key: '' } }), /^password\.key: must be set, e\.g\. 'password'/],
      ['--file in dumpArgs', c => postgresProps(c, { dumpArgs: ['--file=/tmp/x'] }), /^dumpArgs: '--file=\/tmp\/x' is pg_dump's --file \(-f\)/],
      ['-Fd in dumpArgs', c => postgresProps(c, { dumpArgs: ['-Fd'] }), /^dumpArgs: '-Fd' is pg_dump's --format \(-F\)/],
      ['--password in dumpArgs', c => postgresProps(c, { dumpArgs: ['--password'] }), /^dumpArgs: '--password'/],
      ['--host in dumpArgs', c => postgresProps(c, { dumpArgs: ['--host', 'other'] }), /^dumpArgs: '--host'/],
      ['unknown time zone', c => postgresProps(c, { timeZone: 'Mars/Olympus_Mons' }), /^timeZone: 'Mars\/Olympus_Mons' is not a known IANA time zone/],
      ['time zone in wrong case', c => postgresProps(c, { timeZone: 'europe/berlin' }), /^timeZone: .*did you mean 'Europe\/Berlin'/],
      ['Local time zone', c => postgresProps(c, { timeZone: 'Local' }), /^timeZone: 'Local' is rejected by Kubernetes/],
      ['offset time zone', c => postgresProps(c, { timeZone: '+01:00' }), /^timeZone: .*offsets are not accepted/],
      ['latest image', c => postgresProps(c, { image: 'example/backup:latest' }), /^image: 'example\/backup:latest' is tagged 'latest'.*Pin a version tag or a digest/],
      ['untagged image', c => postgresProps(c, { image: 'registry:5000/backup' }), /^image: .* is untagged/],
      ['bad backupName', c => postgresProps(c, { backupName: 'Orders DB' }), /^backupName: 'Orders DB' is not a valid series name/],
      ['long cronJobName', c => postgresProps(c, { cronJobName: 'x'.repeat(53) }), /^cronJobName: .* at most 52 characters/],
      ['uppercase cronJobName', c => postgresProps(c, { cronJobName: 'Orders' }), /^cronJobName: 'Orders' must be a DNS label/],
      ['short startingDeadline', c => postgresProps(c, { startingDeadline: Duration.seconds(5) }), /^startingDeadline: must be at least 10 seconds/],
      ['short activeDeadline', c => postgresProps(c, { activeDeadline: Duration.seconds(30) }), /^activeDeadline: 30s is too short/],
      ['negative backoffLimit', c => postgresProps(c, { backoffLimit: -1 }), /^backoffLimit: -1 must be a whole number of 0 or more/],
      ['fractional history', c => postgresProps(c, { successfulJobsRetained: 1.5 }), /^successfulJobsRetained: 1.5/],
      ['unknown compression', c => postgresProps(c, { compression: 'lz4' as Compression }), /^compression: 'lz4' is unknown/],
      ['bad schedule', c => postgresProps(c, { schedule: { _resolve: () => BackupSchedule.cron('0 25 * * *').expression } as any }), /^schedule: /],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new PostgresBackupCronJob(chart, 'orders', props(chart))).toThrow(atPath('test/orders', message));
    });

    test('a construct id that is not a valid series name gives a derived series name, not an error', () => {
      const chart = newChart();
      const backup = new PostgresBackupCronJob(chart, 'Orders_DB!', postgresProps(chart));
      expect(backup.backupName).toBe('orders_db');
      expect(envOf(cronJobs(chart)[0]).BACKUP_NAME).toBe('orders_db');
    });
  });
});
