import { ApiObject, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { RuleError } from './rules';
import * as rules from './rules';
import { longestGapSeconds, staleAfterSeconds, staleGraceSeconds } from './schedule-gap';
import { durationProp } from './validation';

/**
 * The `severity` label of each alert. Any non-empty value your Alertmanager routes on
 * (`critical`, `warning`, `info`, `page`, …).
 */
export interface AlertSeverities {
  /**
   * `BackupStale` and `BackupMetricsStale`: no successful run for longer than `staleAfter`.
   * @default 'critical'
   */
  readonly stale?: string;
  /**
   * `BackupFailed` and, for a backup or check CronJob, `BackupMetricsLastRunFailed`. A single
   * failed backup is a warning (the next run may succeed, and `BackupStale` pages when none does);
   * a failed check means the stored backups are late or unreadable, so it is critical.
   * @default 'warning' for a backup CronJob, 'critical' for a check CronJob
   */
  readonly failed?: string;
  /**
   * `BackupVerificationFailed` and, for a verify CronJob, `BackupMetricsLastRunFailed`: the backup
   * could not be restored.
   * @default 'critical'
   */
  readonly verificationFailed?: string;
  /**
   * `BackupRunningTooLong`.
   * @default 'warning'
   */
  readonly runningTooLong?: string;
  /**
   * `BackupSuspended`.
   * @default 'warning'
   */
  readonly suspended?: string;
}

/** Options for `BackupAlerts.prometheus()`. */
export interface PrometheusAlertsOptions {
  /**
   * Labels on the PrometheusRule object itself. prometheus-operator loads only the rules its
   * `Prometheus` resource's `ruleSelector` selects (kube-prometheus-stack: `release: <helm release>`
   * unless `ruleSelectorNilUsesHelmValues` is false), so set that label here.
   * Kubernetes label rules apply; the `app.kubernetes.io/*` labels are set already.
   *
   * @example { release: 'prometheus' }
   * @default - only the app.kubernetes.io labels of the CronJob
   */
  readonly ruleLabels?: Record<string, string>;
  /**
   * Extra labels on every alert, for Alertmanager routing (e.g. `team: 'db'`). Names follow
   * Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*`; `severity` is set with `severities`, and the labels the
   * rules set themselves (`alertname`, `namespace`, `cronjob`, `job_name`, `series`, `engine`,
   * `job`, `instance`) cannot be overridden.
   * @default - none
   */
  readonly labels?: Record<string, string>;
  /**
   * A runbook for these alerts, added as the `runbook_url` annotation (http or https).
   * @default - no runbook_url annotation
   */
  readonly runbookUrl?: string;
  /**
   * How long without a successful run before `BackupStale` (and `BackupMetricsStale`) fire.
   * @default - the longest gap between two runs of the schedule in its time zone, plus the
   * activeDeadline, plus a grace of an hour or a quarter of the gap, whichever is smaller
   */
  readonly staleAfter?: Duration;
  /**
   * How long a Job may be active before `BackupRunningTooLong` fires; shorter than the
   * activeDeadline, which ends the Job.
   * @default - 80 % of the activeDeadline
   */
  readonly runningTooLongAfter?: Duration;
  /**
   * How long the CronJob may be suspended before `BackupSuspended` fires.
   * @default Duration.hours(24)
   */
  readonly suspendedFor?: Duration;
  /**
   * The `severity` label of each alert.
   * @default - see AlertSeverities
   */
  readonly severities?: AlertSeverities;
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

/** The `for` of every rule but BackupSuspended: rides over a missed scrape or a kube-state-metrics restart. */
const ALERT_PENDING_SECONDS = 300;
/** BackupRunningTooLong's default threshold, as a share of the activeDeadline. */
const RUNNING_TOO_LONG_SHARE = 0.8;
/** The `job` label of the pushed metrics' group (image/src/metrics.ts METRICS_JOB). */
const METRICS_JOB = 'cdk8s-db-backup';

const PROMETHEUS_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels the rules or their expressions set; a user label of the same name would change what the alert says. */
const RESERVED_LABELS = ['alertname', 'severity', 'namespace', 'cronjob', 'job_name', 'series', 'engine', 'job', 'instance'];
const K8S_LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const K8S_LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CRONJOB_LABEL_KEYS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component',
  'app.kubernetes.io/version', 'app.kubernetes.io/managed-by'];

/** Options after validation, durations in seconds. */
interface CheckedOptions {
  readonly ruleLabels: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly runbookUrl?: string;
  readonly staleAfterSeconds?: number;
  readonly runningTooLongAfterSeconds?: number;
  readonly suspendedForSeconds: number;
  readonly severities: AlertSeverities;
}

/** One alerting rule as Prometheus reads it. */
interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/**
 * Alerting for a scheduled construct: rules over kube-state-metrics' CronJob and Job series
 * (and over the runner's Pushgateway metrics when `metrics` is set) that select exactly this
 * CronJob by namespace and name.
 */
export class BackupAlerts {
  /**
   * A `monitoring.coreos.com/v1` PrometheusRule in the construct's namespace, named after the
   * CronJob. The Chart needs a namespace. Needs kube-state-metrics 2.x (with
   * `kube_cronjob_status_last_successful_time`) scraped by the Prometheus that loads the rule.
   *
   * @example BackupAlerts.prometheus({ ruleLabels: { release: 'prometheus' } })
   */
  public static prometheus(options: PrometheusAlertsOptions = {}): BackupAlerts {
    return new BackupAlerts(checkOptions(options ?? {}));
  }

  private constructor(private readonly options: CheckedOptions) {}

  /** Creates the PrometheusRule for `target` in `scope` (id 'PrometheusRule'). @internal */
  public _bind(scope: Construct, target: AlertTarget): ApiObject {
    if (target.namespace === undefined) {
      throw new RuleError(
        "alerts: the Chart has no namespace, but the alert rules must select this CronJob by namespace (and prometheus-operator puts the rule in the namespace it is in). Give the Chart a namespace, e.g. new Chart(app, 'backups', { namespace: 'databases' }).",
      );
    }
    const cronJob = scope.node.tryFindChild('Resource');
    const labels: Record<string, string> = {};
    if (cronJob instanceof kplus.CronJob) {
      for (const key of CRONJOB_LABEL_KEYS) {
        const value = cronJob.metadata.getLabel(key);
        if (value !== undefined) labels[key] = value;
      }
    }
    // The Jobs' pods carry the CronJob's instance and component labels: kubectl can list them by these.
    const jobSelector = ['app.kubernetes.io/instance', 'app.kubernetes.io/component']
      .filter(key => labels[key] !== undefined).map(key => `${key}=${labels[key]}`).join(',');
    const spec = alertRules(target, this.options, jobSelector || `app.kubernetes.io/instance=${target.series}`);
    return new ApiObject(scope, 'PrometheusRule', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: target.cronJobName, namespace: target.namespace, labels: { ...labels, ...this.options.ruleLabels } },
      spec: { groups: [{ name: `cdk8s-db-backup.${target.cronJobName}`, rules: spec }] },
    });
  }
}

function checkOptions(options: PrometheusAlertsOptions): CheckedOptions {
  const seconds = (field: keyof PrometheusAlertsOptions, example: string): number | undefined => {
    const value = durationProp(`alerts.${field}`, options[field], example);
    return value === undefined ? undefined : rules.wholeSeconds(`alerts.${field}`, value.toMilliseconds(), example);
  };
  const runbookUrl = options.runbookUrl;
  if (runbookUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(rules.nonEmpty('alerts.runbookUrl', runbookUrl, "'https://wiki.example.com/runbooks/backups'"));
    } catch (e) {
      if (e instanceof RuleError) throw e;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new RuleError(`alerts.runbookUrl: '${runbookUrl}' is not an http(s) URL; give e.g. 'https://wiki.example.com/runbooks/backups'.`);
    }
  }
  return {
    ruleLabels: checkRuleLabels(options.ruleLabels),
    labels: checkAlertLabels(options.labels),
    runbookUrl,
    staleAfterSeconds: seconds('staleAfter', 'Duration.hours(26)'),
    runningTooLongAfterSeconds: seconds('runningTooLongAfter', 'Duration.hours(4)'),
    suspendedForSeconds: seconds('suspendedFor', 'Duration.hours(24)') ?? 86400,
    severities: checkSeverities(options.severities),
  };
}

function plainObject(field: string, value: unknown, example: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RuleError(`${field}: expected an object of names to values, e.g. ${example}.`);
  }
  return value as Record<string, unknown>;
}

function checkRuleLabels(value: Record<string, string> | undefined): Record<string, string> {
  if (value === undefined || value === null) return {};
  const field = 'alerts.ruleLabels';
  const entries = Object.entries(plainObject(field, value, "{ release: 'prometheus' }"));
  for (const [key, v] of entries) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = key.slice(slash + 1);
    if ((prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) || !K8S_LABEL_NAME.test(name)) {
      throw new RuleError(`${field}: '${key}' is not a Kubernetes label key: an optional DNS prefix and '/', then 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit.`);
    }
    if (CRONJOB_LABEL_KEYS.includes(key)) {
      throw new RuleError(`${field}: '${key}' is set already (like the CronJob's); use another label, e.g. { release: 'prometheus' }.`);
    }
    if (typeof v !== 'string' || !K8S_LABEL_VALUE.test(v)) {
      throw new RuleError(`${field}: the value of '${key}' is not a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit.`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function checkAlertLabels(value: Record<string, string> | undefined): Record<string, string> {
  if (value === undefined || value === null) return {};
  const field = 'alerts.labels';
  const entries = Object.entries(plainObject(field, value, "{ team: 'db' }"));
  for (const [name, v] of entries) {
    if (!PROMETHEUS_LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new RuleError(`${field}: '${name}' is not a Prometheus label name: use letters, digits and '_', not starting with a digit or '__'.`);
    }
    if (name === 'severity') {
      throw new RuleError(`${field}: set 'severity' with the severities option, e.g. severities: { stale: 'page' }, not as a label.`);
    }
    if (RESERVED_LABELS.includes(name)) {
      throw new RuleError(`${field}: '${name}' is set by the rules themselves (${RESERVED_LABELS.join(', ')}); choose another label name.`);
    }
    if (typeof v !== 'string' || v === '') {
      throw new RuleError(`${field}: the value of '${name}' must be a non-empty string (an empty value removes the label in Prometheus).`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function checkSeverities(value: AlertSeverities | undefined): AlertSeverities {
  if (value === undefined || value === null) return {};
  const known = ['stale', 'failed', 'verificationFailed', 'runningTooLong', 'suspended'];
  for (const [key, v] of Object.entries(plainObject('alerts.severities', value, "{ stale: 'critical' }"))) {
    if (!known.includes(key)) throw new RuleError(`alerts.severities: '${key}' is not an alert; use ${known.join(', ')}.`);
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.trim() === '' || /[\u0000-\u001f]/.test(v)) {
      throw new RuleError(`alerts.severities.${key}: must be a non-empty string without control characters, e.g. 'critical' or 'warning'.`);
    }
  }
  return value;
}

/** A PromQL string literal: quotes and backslashes escaped (names are DNS labels, but quote anyway). */
function promString(value: string): string {
  return JSON.stringify(value);
}

/**
 * Literal text inside an annotation, which Prometheus expands as a Go template: text with `{{` or
 * `}}` becomes a template string constant, so a database name cannot inject template actions.
 */
function templateText(value: string): string {
  return /\{\{|\}\}/.test(value) ? `{{ ${JSON.stringify(value)} }}` : value;
}

/**
 * Seconds as a Prometheus duration that reads well in annotations: hours up to a week (`26h`,
 * `72h`, `1h30m`, `48m`), days beyond (`31d`).
 */
function promDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const units: [string, number][] = seconds >= 7 * 86400 ? [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] : [['h', 3600], ['m', 60], ['s', 1]];
  let rest = seconds;
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/** Seconds in words for annotations, the same form as promDuration. */
const human = promDuration;

const KIND_WORDS = {
  backup: { run: 'backup', runs: 'backups', title: 'Backup' },
  verify: { run: 'verification', runs: 'verifications', title: 'Backup verification' },
  check: { run: 'check', runs: 'checks', title: 'Backup check' },
} as const;

const METRIC_PREFIX = { backup: 'backup_', verify: 'backup_verify_', check: 'backup_check_' } as const;

/** The rules for one CronJob. */
function alertRules(target: AlertTarget, options: CheckedOptions, jobSelector: string): AlertRule[] {
  const ns = target.namespace!;
  const words = KIND_WORDS[target.kind];
  const deadline = target.activeDeadlineSeconds;
  const gap = longestGapSeconds(target.schedule, target.timeZone);
  const computedStale = staleAfterSeconds(target.schedule, target.timeZone, deadline);
  const stale = options.staleAfterSeconds ?? computedStale;
  const runningTooLong = options.runningTooLongAfterSeconds ?? Math.floor(deadline * RUNNING_TOO_LONG_SHARE);
  if (runningTooLong >= deadline) {
    throw new RuleError(`alerts.runningTooLongAfter: ${human(runningTooLong)} is not shorter than the activeDeadline (${human(deadline)}), which ends the Job first, so the alert could never fire. Give less, e.g. Duration.seconds(${Math.floor(deadline * RUNNING_TOO_LONG_SHARE)}), or leave it out (80 % of the activeDeadline).`);
  }
  const sev = options.severities;
  const severity = {
    stale: sev.stale ?? 'critical',
    failed: sev.failed ?? (target.kind === 'check' ? 'critical' : 'warning'),
    verificationFailed: sev.verificationFailed ?? 'critical',
    runningTooLong: sev.runningTooLong ?? 'warning',
    suspended: sev.suspended ?? 'warning',
  };

  const q = promString;
  const cronJobSelector = `{namespace=${q(ns)}, cronjob=${q(target.cronJobName)}}`;
  const owned = `kube_job_owner{namespace=${q(ns)}, owner_kind="CronJob", owner_name=${q(target.cronJobName)}}`;
  const what = [
    `series ${templateText(target.series)}`,
    `engine ${target.engine}`,
    ...(target.database !== undefined ? [`database ${templateText(target.database)}`] : []),
  ].join(', ');
  const where = `CronJob ${ns}/${target.cronJobName}`;
  const kubectl = `kubectl -n ${ns}`;
  const staleWhy = options.staleAfterSeconds !== undefined
    ? 'the alerts.staleAfter option'
    : `the longest gap between runs of '${target.schedule}' in ${target.timeZone ?? 'UTC'} (${human(gap)}), plus the activeDeadline (${human(deadline)}), plus ${human(staleGraceSeconds(gap))} grace`;

  const common = { cronjob: target.cronJobName, series: target.series, engine: target.engine, ...options.labels };
  const annotations = (summary: string, description: string): Record<string, string> => ({
    summary,
    description,
    ...(options.runbookUrl !== undefined ? { runbook_url: options.runbookUrl } : {}),
  });
  const pending = promDuration(ALERT_PENDING_SECONDS);
  const list: AlertRule[] = [];

  // Seconds since the last success, or since the CronJob was created when it never succeeded
  // (the status field, and so the series, is absent or 0 until the first success).
  const lastSuccess = `kube_cronjob_status_last_successful_time${cronJobSelector} > 0`;
  list.push({
    alert: 'BackupStale',
    expr: [
      '(',
      `  time() - max by (namespace, cronjob) (${lastSuccess})`,
      'or',
      `  (time() - max by (namespace, cronjob) (kube_cronjob_created${cronJobSelector}))`,
      `    unless on (namespace, cronjob) (${lastSuccess})`,
      `) > ${stale}`,
    ].join('\n'),
    for: pending,
    labels: { ...common, severity: severity.stale },
    annotations: annotations(
      `${words.title} of ${target.series} is late: no successful ${words.run} for more than ${human(stale)}`,
      `No Job of ${where} (${what}) has succeeded for {{ $value | humanizeDuration }} (since the last success, or since the CronJob was created), more than ${human(stale)}: ${staleWhy}. `
      + 'Runs that never start (suspended, missed schedules, quota), that hang or that fail all end here. '
      + `Look at \`${kubectl} get cronjob ${target.cronJobName}\` (SUSPEND, LAST SCHEDULE), \`${kubectl} get jobs -l ${jobSelector}\` and the newest Job's logs (\`${kubectl} logs job/<name>\`).`,
    ),
  });

  // The newest finished Job of this CronJob (finished: its Complete or Failed condition is true),
  // by creation time; a run still in progress does not hide the last result.
  const finished = [
    `max by (namespace, job_name) (kube_job_created{namespace=${q(ns)}})`,
    `    and on (namespace, job_name) ${owned}`,
    `    and on (namespace, job_name) (kube_job_complete{namespace=${q(ns)}, condition="true"} == 1 or kube_job_failed{namespace=${q(ns)}, condition="true"} == 1)`,
  ].join('\n');
  const failedExpr = [
    `max by (namespace, job_name) (kube_job_failed{namespace=${q(ns)}, condition="true"} == 1)`,
    'and on (namespace, job_name)',
    `  topk(1,\n    ${finished}\n  )`,
  ].join('\n');
  const failedLogs = `\`${kubectl} logs job/{{ $labels.job_name }}\` and \`${kubectl} describe job {{ $labels.job_name }}\``;
  if (target.kind === 'verify') {
    list.push({
      alert: 'BackupVerificationFailed',
      expr: failedExpr,
      for: pending,
      labels: { ...common, severity: severity.verificationFailed },
      annotations: annotations(
        `Verification of backup series ${target.series} failed: the newest backup could not be restored and checked`,
        `The newest finished Job {{ $labels.job_name }} of ${where} (${what}) failed: restoring the backup into a throwaway server or checking it failed, so the backups may not be usable. See ${failedLogs}.`,
      ),
    });
  } else {
    list.push({
      alert: 'BackupFailed',
      expr: failedExpr,
      for: pending,
      labels: { ...common, severity: severity.failed },
      annotations: annotations(
        `${words.title} of ${target.series} failed`,
        target.kind === 'check'
          ? `The newest finished check Job {{ $labels.job_name }} of ${where} (${what}) failed: the newest stored backup is older than the check's maxAge, incomplete or unreadable, or the storage could not be read. See ${failedLogs}.`
          : `The newest finished Job {{ $labels.job_name }} of ${where} (${what}) failed (after its retries). The next scheduled run may succeed; BackupStale fires if none does within ${human(stale)}. See ${failedLogs}.`,
      ),
    });
  }

  list.push({
    alert: 'BackupRunningTooLong',
    expr: [
      `(time() - max by (namespace, job_name) (kube_job_status_start_time{namespace=${q(ns)}})) > ${runningTooLong}`,
      `and on (namespace, job_name) (kube_job_status_active{namespace=${q(ns)}} > 0)`,
      `and on (namespace, job_name) ${owned}`,
    ].join('\n'),
    for: '0s',
    labels: { ...common, severity: severity.runningTooLong },
    annotations: annotations(
      `${words.title} of ${target.series} has been running for more than ${human(runningTooLong)}`,
      `Job {{ $labels.job_name }} of ${where} (${what}) has been active for {{ $value | humanizeDuration }}; the activeDeadline (${human(deadline)}) ends it at ${human(deadline)}. `
      + `See \`${kubectl} logs job/{{ $labels.job_name }}\`; a slow database, storage or network, or a grown database may need a longer activeDeadline.`,
    ),
  });

  list.push({
    alert: 'BackupSuspended',
    expr: `max by (namespace, cronjob) (kube_cronjob_spec_suspend${cronJobSelector}) == 1`,
    for: promDuration(options.suspendedForSeconds),
    labels: { ...common, severity: severity.suspended },
    annotations: annotations(
      `${words.title} CronJob of ${target.series} has been suspended for more than ${human(options.suspendedForSeconds)}`,
      `${where} (${what}) is suspended: no ${words.runs} run. Resume it with the construct's suspend prop (then deploy), or \`${kubectl} patch cronjob ${target.cronJobName} -p '{"spec":{"suspend":false}}'\`.`,
    ),
  });

  if (target.metrics) {
    const prefix = METRIC_PREFIX[target.kind];
    const pushed = `{job=${q(METRICS_JOB)}, namespace=${q(ns)}, series=${q(target.series)}, engine=${q(target.engine)}}`;
    list.push({
      alert: 'BackupMetricsStale',
      expr: `time() - max by (namespace, series, engine) (${prefix}last_success_timestamp_seconds${pushed}) > ${stale}`,
      for: pending,
      labels: { ...common, severity: severity.stale },
      annotations: annotations(
        `${words.title} of ${target.series} is late by the runner's own metrics: no successful ${words.run} for more than ${human(stale)}`,
        `The runner of ${where} (${what}) last pushed a successful ${words.run} {{ $value | humanizeDuration }} ago, more than ${human(stale)}: ${staleWhy}. `
        + `Look at \`${kubectl} get jobs -l ${jobSelector}\` and the newest Job's logs; if the Jobs succeed, check that the runner reaches the Pushgateway (its log says when a push fails).`,
      ),
    });
    list.push({
      alert: 'BackupMetricsLastRunFailed',
      expr: `max by (namespace, series, engine) (${prefix}last_status${pushed}) == 0`,
      for: pending,
      labels: { ...common, severity: target.kind === 'verify' ? severity.verificationFailed : severity.failed },
      annotations: annotations(
        `The last ${words.run} of ${target.series} failed (runner metrics)`,
        `The runner of ${where} (${what}) pushed a failed ${words.run} as its last result (${prefix}last_status 0). See \`${kubectl} get jobs -l ${jobSelector}\` and the newest Job's logs.`,
      ),
    });
  }
  return list;
}
