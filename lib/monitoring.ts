import * as kplus from 'cdk8s-plus-27';
import { ENV } from './contract';
import * as rules from './rules';
import { RuleError } from './rules';
import { secretEnvValue } from './runner-pod';

/** Options for `BackupMetrics.pushgateway()`. */
export interface PushgatewayMetricsOptions {
  /**
   * The Pushgateway's base URL, e.g. `http://pushgateway.monitoring:9091` (a path prefix is
   * allowed; credentials, a query or a grouping key are not).
   */
  readonly url: string;
}

/**
 * Metrics the runner pushes at the start and at the end of every run, so Prometheus knows when
 * the last backup (or verification) succeeded even between scrapes of a short-lived pod.
 */
export class BackupMetrics {
  /**
   * Push to a Prometheus Pushgateway (`BACKUP_PUSHGATEWAY_URL`), grouping key
   * `job="cdk8s-db-backup"`, `series`, `engine` and `namespace`. A push that fails or hangs is
   * logged and never fails the run.
   * @example BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' })
   */
  public static pushgateway(options: PushgatewayMetricsOptions): BackupMetrics {
    if (options === undefined || options === null) {
      throw new RuleError("metrics: BackupMetrics.pushgateway() needs its options, e.g. BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }).");
    }
    const url = rules.pushgatewayUrl('metrics.url', rules.nonEmpty('metrics.url', options.url, "'http://pushgateway.monitoring:9091'"));
    return new BackupMetrics(url);
  }

  private constructor(
    /** The Pushgateway's base URL, normalized (no trailing '/'). */
    public readonly url: string,
  ) {}

  /** The runner's variables. @internal */
  public _env(): Record<string, kplus.EnvValue> {
    return { [ENV.PUSHGATEWAY_URL]: kplus.EnvValue.fromValue(this.url) };
  }
}

/** When a webhook is sent. */
export enum NotifyOn {
  /** After a run that succeeded. */
  SUCCESS = 'success',
  /** After a run that failed (including one that was interrupted or misconfigured). */
  FAILURE = 'failure',
}

/** Options for `Notification.healthcheck()`. */
export interface HealthcheckNotificationOptions {
  /**
   * The ping URL, from a Secret (it is a credential: anyone with it can report runs), e.g. a key
   * holding `https://hc-ping.com/<uuid>`. Never logged.
   */
  readonly url: kplus.SecretValue;
}

/** Options for `Notification.webhook()`. */
export interface WebhookNotificationOptions {
  /** The URL that receives the JSON document by POST, from a Secret (webhook URLs carry their own token). Never logged. */
  readonly url: kplus.SecretValue;
  /**
   * After which runs the webhook is sent.
   * @default [NotifyOn.SUCCESS, NotifyOn.FAILURE]
   */
  readonly on?: NotifyOn[];
}

/**
 * A message to the outside at the start and end of every run. A notification that fails, answers
 * an error or never answers is retried with backoff within a bounded time, logged, and never
 * fails the run. At most one of each kind per construct.
 */
export class Notification {
  /**
   * Pings a healthchecks.io-style URL (healthchecks.io, Uptime Kuma, Cronitor, …): `<url>/start`
   * when a run starts, `<url>` when it succeeds, `<url>/fail` with the final log line as the body
   * when it fails (`BACKUP_HEALTHCHECK_URL`). A check that expects a ping per schedule also
   * catches runs that never happen.
   */
  public static healthcheck(options: HealthcheckNotificationOptions): Notification {
    if (options === undefined || options === null) {
      throw new RuleError("notifications: Notification.healthcheck() needs its options, e.g. Notification.healthcheck({ url: kplus.SecretValue.fromSecret(secret, 'url') }).");
    }
    const url = secretEnvValue('notifications: healthcheck url', options.url);
    return new Notification('healthcheck', { [ENV.HEALTHCHECK_URL]: url });
  }

  /**
   * POSTs one JSON document per run (series, engine, command, status, backup id, bytes, duration,
   * the final log line) to a URL (`BACKUP_WEBHOOK_URL`, `BACKUP_WEBHOOK_ON`).
   */
  public static webhook(options: WebhookNotificationOptions): Notification {
    if (options === undefined || options === null) {
      throw new RuleError("notifications: Notification.webhook() needs its options, e.g. Notification.webhook({ url: kplus.SecretValue.fromSecret(secret, 'url') }).");
    }
    const url = secretEnvValue('notifications: webhook url', options.url);
    const env: Record<string, kplus.EnvValue> = { [ENV.WEBHOOK_URL]: url };
    if (options.on !== undefined) {
      if (!Array.isArray(options.on) || options.on.length === 0) {
        throw new RuleError('notifications: webhook on: give at least one of NotifyOn.SUCCESS and NotifyOn.FAILURE, or leave it out for both.');
      }
      const on = rules.notifyOn('notifications: webhook on', options.on.join(','));
      // Both is the runner's default: leave the variable out then.
      if (on.size < rules.NOTIFY_ON_VALUES.length) env[ENV.WEBHOOK_ON] = kplus.EnvValue.fromValue([...on].join(','));
    }
    return new Notification('webhook', env);
  }

  private constructor(
    /** `healthcheck` or `webhook`. */
    public readonly kind: string,
    private readonly env: Record<string, kplus.EnvValue>,
  ) {}

  /** The runner's variables. @internal */
  public _env(): Record<string, kplus.EnvValue> {
    return { ...this.env };
  }
}

/** The variables of a construct's `metrics` and `notifications`, checked; empty when neither is set. @internal */
export function monitoringEnv(metrics: BackupMetrics | undefined, notifications: Notification[] | undefined): Record<string, kplus.EnvValue> {
  if (metrics !== undefined && !(metrics instanceof BackupMetrics)) {
    throw new RuleError("metrics: expected BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }).");
  }
  if (notifications !== undefined && !Array.isArray(notifications)) {
    throw new RuleError('notifications: expected a list, e.g. [Notification.healthcheck({ url })].');
  }
  const env: Record<string, kplus.EnvValue> = { ...metrics?._env() };
  const seen = new Set<string>();
  for (const [i, n] of (notifications ?? []).entries()) {
    if (!(n instanceof Notification)) {
      throw new RuleError(`notifications[${i}]: expected Notification.healthcheck({ url }) or Notification.webhook({ url }).`);
    }
    if (seen.has(n.kind)) {
      throw new RuleError(`notifications[${i}]: a second ${n.kind}; the runner sends at most one of each kind. Keep one (route it to several receivers on the receiving side).`);
    }
    seen.add(n.kind);
    Object.assign(env, n._env());
  }
  if (Object.keys(env).length > 0) {
    // A label of the pushed metrics and part of the webhook's document.
    env[ENV.NAMESPACE] = kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE);
  }
  return env;
}
