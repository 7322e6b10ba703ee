import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { BackupSchedule, BackupStorage, PostgresBackupCronJobProps, S3Credentials } from '../../lib';

/** A fresh chart in a fresh app, as a user's test would make one. */
export function newChart(): Chart {
  return Testing.chart();
}

/** The quick start's S3 storage, with keys from a Secret. */
export function s3Storage(chart: Chart): BackupStorage {
  return BackupStorage.s3({
    bucket: 'backups',
    prefix: 'prod',
    endpoint: 'http://minio.storage:9000',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3Credentials.fromSecret(kplus.Secret.fromSecretName(chart, 'S3', 'backup-s3'), {
      accessKeyIdKey: 'access-key', secretAccessKeyKey: 'secret-key',
    }),
  });
}

/** Complete Postgres props; tests override one prop at a time. */
export function postgresProps(chart: Chart, overrides: Partial<PostgresBackupCronJobProps> = {}): PostgresBackupCronJobProps {
  return {
    schedule: BackupSchedule.cron('H 0 * * *'),
    storage: s3Storage(chart),
    host: 'postgres.db.svc',
    database: 'orders',
    username: 'backup',
    password: { secret: kplus.Secret.fromSecretName(chart, 'Pg', 'orders-db'), key: 'password' },
    ...overrides,
  };
}

/** The synthesized CronJobs of a chart. */
export function cronJobs(chart: Chart): any[] {
  return Testing.synth(chart).filter(o => o.kind === 'CronJob');
}

/** The single backup container of a CronJob. */
export function container(cronJob: any): any {
  return cronJob.spec.jobTemplate.spec.template.spec.containers[0];
}

/** The container's env as name -> value or valueFrom. */
export function envOf(cronJob: any): Record<string, any> {
  return Object.fromEntries(container(cronJob).env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
}
