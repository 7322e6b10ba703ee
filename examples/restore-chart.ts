import { Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { exampleStorage } from './storage';
import { BackupSeries, PostgresRestoreJob } from '../lib';

/** Props for `RestoreChart`. */
export interface RestoreChartProps extends ChartProps {
  /** The backup to restore, as printed by the image's `list` command; the newest one if unset. */
  readonly backupId?: string;
}

/**
 * A restore of the orders backups into a scratch database `orders_restored` on the same server,
 * to compare, copy rows back or switch over. Not part of the GitOps manifests: a restore is
 * applied by hand when needed (see restore.ts and the README's runbook), never on every deploy.
 */
export class RestoreChart extends Chart {
  constructor(scope: Construct, id: string, props: RestoreChartProps = {}) {
    super(scope, id, props);
    new PostgresRestoreJob(this, 'orders-restore', {
      // The backups chart's 'orders' series, named: this app does not contain the backup CronJob.
      series: BackupSeries.fromName(exampleStorage(this), 'orders', 'postgres'),
      backupId: props.backupId,
      host: 'postgres.db.svc',
      database: 'orders_restored',
      username: 'orders_owner',
      password: { secret: kplus.Secret.fromSecretName(this, 'Owner', 'orders-owner'), key: 'password' },
      jobName: 'orders-restore',
    });
  }
}
