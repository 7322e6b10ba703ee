import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

/** Options for `BackupAlerts.prometheus()`. SKELETON: to be implemented. */
export interface PrometheusAlertsOptions {
  /** Extra labels on every rule. */
  readonly labels?: Record<string, string>;
}

/** What the alerts are about: the CronJob a scheduled construct made. @internal */
export interface AlertTarget {
  /** `backup`, `verify` or `check`. */
  readonly kind: 'backup' | 'verify' | 'check';
  /** The CronJob's metadata.name. */
  readonly cronJobName: string;
  /** The Chart's namespace; undefined when the chart has none. */
  readonly namespace?: string;
  /** The cron expression as the CronJob has it (H resolved). */
  readonly schedule: string;
  /** The CronJob's spec.timeZone; undefined: the controller's (UTC assumed). */
  readonly timeZone?: string;
  readonly activeDeadlineSeconds: number;
  /** The series name. */
  readonly series: string;
  /** The engine name. */
  readonly engine: string;
  /** The database's name when the construct knows it (plain value, not from a Secret). */
  readonly database?: string;
  /** Whether the runner pushes metrics to a Pushgateway (rules over the pushed metrics are added). */
  readonly metrics: boolean;
}

/** Alerting for a scheduled construct. */
export class BackupAlerts {
  /** A `monitoring.coreos.com/v1` PrometheusRule in the construct's namespace. */
  public static prometheus(options: PrometheusAlertsOptions = {}): BackupAlerts {
    return new BackupAlerts(options);
  }

  private constructor(private readonly options: PrometheusAlertsOptions) {}

  /** Creates the PrometheusRule for `target` in `scope` (id 'PrometheusRule'). @internal */
  public _bind(scope: Construct, target: AlertTarget): ApiObject {
    void scope; void target; void this.options;
    throw new Error('not implemented');
  }
}
