import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { podSpecOf } from './k8s';
import { exampleStorage } from '../../examples/storage';
import { BackupSchedule, BackupSeries, PostgresBackupCronJobProps, PostgresRestoreJobProps } from '../../lib';

/** A fresh chart in a fresh app, as a user's test would make one. */
export function newChart(): Chart {
  return Testing.chart();
}

/** The quick start's S3 storage, with keys from a Secret: the example app's own. */
export const s3Storage = exampleStorage;

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

/** The synthesized Jobs of a chart. */
export function jobs(chart: Chart): any[] {
  return Testing.synth(chart).filter(o => o.kind === 'Job');
}

/** The runner container (the first one) of a CronJob or Job, or the container named `name`. */
export function container(workload: any, name?: string): any {
  const containers: any[] = podSpecOf(workload).containers;
  return name === undefined ? containers[0] : containers.find(c => c.name === name);
}

/** The runner container's env (or that of the container named `name`) as name -> value or valueFrom. */
export function envOf(workload: any, name?: string): Record<string, any> {
  return Object.fromEntries(container(workload, name).env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
}

/** A restore of the quick start's orders backups into a scratch database on the same server. */
export function pgRestoreProps(chart: any, overrides: Partial<PostgresRestoreJobProps> = {}): PostgresRestoreJobProps {
  return {
    series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
    host: 'postgres.db.svc',
    database: 'orders_restored',
    username: 'orders_owner',
    password: { secret: kplus.Secret.fromSecretName(chart, 'Owner', 'orders-owner'), key: 'password' },
    ...overrides,
  };
}
