import { ApiObject, Chart, Cron, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct, IConstruct } from 'constructs';
import { BackupAlerts } from './alerts';
import { COMMAND, COMPRESSIONS, ENV, TOOL_ARGS_SEPARATOR } from './contract';
import { BackupEncryption } from './encryption';
import { BackupMetrics, Notification, monitoringEnv } from './monitoring';
import { ENGINE_REGISTRY } from './registry';
import { Retention } from './retention';
import * as rules from './rules';
import { RuleError } from './rules';
import { EngineConnection, RunnerOptions, RunnerPodOptions, finishRunnerWorkload, runnerOptionsOf, runnerPod } from './runner-pod';
import { BackupSchedule } from './schedule';
import { staleAfterSeconds } from './schedule-gap';
import { IBackupSeries } from './series';
import { BackupStorage } from './storage';
import {
  booleanProp, dnsLabel, dnsLabelFromPath, durationProp, factoryProp, numberProp, seriesNameFromId, timeZone, withConstructPath,
} from './validation';

/** How the backup stream is compressed before it is stored. */
export enum Compression {
  /** zstd, multi-threaded: several times faster than gzip at a similar or better ratio. */
  ZSTD = 'zstd',
  /** gzip, for tools that cannot read zstd. Single-threaded and slow on large dumps. */
  GZIP = 'gzip',
  /** Stored as the dump tool writes it. */
  NONE = 'none',
}

/** Options every scheduled runner CronJob has (backups and verification), whatever the engine. */
export interface ScheduledJobOptions extends RunnerOptions {
  /** When the CronJob runs. */
  readonly schedule: BackupSchedule;
  /**
   * IANA time zone the schedule is evaluated in (the CronJob's `spec.timeZone`).
   * @default - the time zone of the kube-controller-manager (usually UTC)
   */
  readonly timeZone?: string;
  /**
   * Maximum run time of one Job; the Job is stopped (and an upload aborted) after it.
   * @default Duration.hours(6)
   */
  readonly activeDeadline?: Duration;
  /**
   * How late a missed schedule may still start.
   * @default Duration.hours(1)
   */
  readonly startingDeadline?: Duration;
  /**
   * Retries of a failed Job.
   * @default - 2 for a backup, 0 for a verification (a failed check must be seen, not retried away)
   */
  readonly backoffLimit?: number;
  /**
   * Finished Jobs kept for inspection.
   * @default 3
   */
  readonly successfulJobsRetained?: number;
  /**
   * Failed Jobs kept for inspection.
   * @default 3
   */
  readonly failedJobsRetained?: number;
  /**
   * Create the CronJob suspended.
   * @default false
   */
  readonly suspend?: boolean;
  /**
   * Name of the CronJob object (at most 52 characters, a DNS label).
   * @default - derived from the construct path (lower-cased, '_' and '.' mapped to '-', other
   * characters a DNS label cannot hold dropped) and a hash of it, shortened to fit 52 characters
   */
  readonly cronJobName?: string;
  /**
   * Alert rules computed from the schedule: a `PrometheusRule` (prometheus-operator) in the
   * construct's namespace that fires when the CronJob's runs fail, stop happening, hang or stay
   * suspended. Needs kube-state-metrics; see the README's "Monitoring" section.
   * @default - no alert rules
   */
  readonly alerts?: BackupAlerts;
  /**
   * Metrics the runner pushes to a Prometheus Pushgateway at the start and end of each run.
   * @default - no metrics are pushed
   */
  readonly metrics?: BackupMetrics;
  /**
   * Pings and webhooks at the start and end of each run (at most one of each kind).
   * @default - none
   */
  readonly notifications?: Notification[];
}

/** Options every backup CronJob has, whatever the engine. */
export interface BackupCronJobOptions extends ScheduledJobOptions {
  /** Where the backups are stored. */
  readonly storage: BackupStorage;
  /**
   * Series name used in object keys (`<prefix>/<backupName>/<timestamp>-<random>.<ext>`) and in
   * the `app.kubernetes.io/instance` label: 1-63 lowercase letters, digits, '.', '_' or '-',
   * starting and ending with a letter or digit. Two backup constructs of one app may not write the
   * same series (same storage location and backupName).
   * @default - the construct id, lower-cased; when that is not a valid series name, every
   * character other than a-z, 0-9, '.', '_' and '-' replaced by '-', runs of '-' collapsed,
   * leading and trailing '-', '.' and '_' removed, and shortened with a hash when longer than 63
   * characters (`Orders DB` -> `orders-db`)
   */
  readonly backupName?: string;
  /**
   * Extra arguments passed to the dump tool, e.g. `['--exclude-table=audit_log']`. Flags the
   * runner controls (output, format, connection, password) are rejected.
   * @default - none
   */
  readonly dumpArgs?: string[];
  /**
   * Compression of the stored backup.
   * @default Compression.ZSTD
   */
  readonly compression?: Compression;
  /**
   * Which backups of the series to keep. After each successful backup the runner removes the
   * backups no rule keeps (the newest complete backup is always kept; nothing is removed after a
   * failed backup). With S3 this needs `s3:DeleteObject`, `s3:ListBucketMultipartUploads` and
   * `s3:AbortMultipartUpload` besides what a backup needs.
   * @default - every backup is kept
   */
  readonly retention?: Retention;
  /**
   * With `retention`: the age after which an incomplete leftover (data without a manifest, an
   * unfinished multipart upload, e.g. from a run killed by OOM) is removed. At least
   * `activeDeadline`, so a backup that is still running is never touched.
   * @default - the longer of Duration.hours(48) and `activeDeadline`
   */
  readonly incompleteMinAge?: Duration;
  /**
   * Client-side encryption: the compressed stream is encrypted before it leaves the pod, to
   * public keys only (`BackupEncryption.age({ recipients })`), so this CronJob, the bucket and
   * anyone holding its credentials cannot read the backups. Restore and verify constructs of the
   * series then need `decryption`.
   * @default - not encrypted
   */
  readonly encryption?: BackupEncryption;
}

/** What a scheduled runner adds to the shared wiring. @internal */
export interface ScheduledJobSpec extends Omit<RunnerPodOptions, keyof RunnerOptions> {
  readonly defaultBackoffLimit: number;
}

// Kubernetes appends an 11-character suffix to Job names created by a CronJob.
const MAX_CRONJOB_NAME = 52;

/**
 * What every engine's backup construct is: the CronJob and the series it writes, so it can be
 * given to a restore or verify construct as `series`. An engine's class passes only its
 * connection, as a function so that its errors carry the construct path too. A hidden base
 * class: jsii copies its members into each engine's class. @internal
 */
export abstract class BackupCronJob extends Construct implements IBackupSeries {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** Where the backups are stored. */
  public readonly storage: BackupStorage;
  /** The series name in object keys (`backupName`, by default derived from the construct id). */
  public readonly backupName: string;
  /** The engine's name, as `BackupSeries.fromName()` takes it. */
  public readonly engine: string;
  /** The alert rules, when `alerts` is set. */
  public readonly prometheusRule?: ApiObject;
  /**
   * How old the newest backup may become before the series is late: the longest gap between two
   * runs of the schedule in its time zone, plus the activeDeadline, plus a grace of an hour or a
   * quarter of the gap, whichever is smaller.
   */
  public readonly staleAfter?: Duration;
  /** Whether the backups are encrypted (`encryption` is set). */
  public readonly encrypted?: boolean;

  protected constructor(scope: Construct, id: string, options: BackupCronJobOptions, connection: () => EngineConnection) {
    super(scope, id);
    const built = withConstructPath(this, () => {
      const engineConnection = connection();
      return { engine: engineConnection.engine, ...createBackupCronJob(this, options ?? {} as BackupCronJobOptions, engineConnection) };
    });
    this.cronJob = built.cronJob;
    this.prometheusRule = built.prometheusRule;
    this.staleAfter = built.staleAfter;
    this.storage = built.storage;
    this.backupName = built.backupName;
    this.engine = built.engine;
    this.encrypted = built.encrypted;
  }
}

function createBackupCronJob(scope: Construct, options: BackupCronJobOptions, connection: EngineConnection) {
  const storage = factoryProp('storage', options.storage, BackupStorage, "BackupStorage.s3({ bucket: 'backups' })");
  const backupName = options.backupName === undefined
    ? seriesNameFromId(scope.node.id)
    : rules.seriesName('backupName', options.backupName);
  const dumpArgs = rules.passThroughArgs('dumpArgs', connection.engine, 'dump', options.dumpArgs ?? []);
  const compression = options.compression ?? Compression.ZSTD;
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new RuleError(`compression: '${compression}' is unknown. Use Compression.ZSTD, Compression.GZIP or Compression.NONE.`);
  }
  const retention = options.retention === undefined ? undefined
    : factoryProp('retention', options.retention, Retention, 'Retention.keepLast(7)');
  const commandEnv: Record<string, kplus.EnvValue> = {
    [ENV.COMPRESSION]: kplus.EnvValue.fromValue(compression),
    ...retention?._env(),
  };
  const encryption = options.encryption === undefined ? undefined
    : factoryProp('encryption', options.encryption, BackupEncryption, "BackupEncryption.age({ recipients: ['age1…'] })");
  Object.assign(commandEnv, encryption?._env() ?? {});
  const deadline = activeDeadlineOf(options, COMMAND.BACKUP).toSeconds();
  const incompleteMinAge = durationProp('incompleteMinAge', options.incompleteMinAge, 'Duration.hours(48)');
  if (incompleteMinAge !== undefined) {
    if (!retention) {
      throw new RuleError('incompleteMinAge: has no effect without retention, because leftovers are removed only when the runner prunes. Set retention too, e.g. retention: Retention.keepLast(7), or remove incompleteMinAge.');
    }
    const seconds = rules.wholeSeconds('incompleteMinAge', incompleteMinAge.toMilliseconds(), 'Duration.hours(48)');
    if (seconds < deadline) {
      throw new RuleError(`incompleteMinAge: ${seconds}s is shorter than activeDeadline (${deadline}s), so the leftovers of a backup that is still running could be removed. Give at least the activeDeadline, or leave it out: the default is the longer of 48 hours and the activeDeadline.`);
    }
    commandEnv[ENV.INCOMPLETE_MIN_AGE_SECONDS] = kplus.EnvValue.fromValue(String(seconds));
  } else if (retention && deadline > RUNNER_INCOMPLETE_MIN_AGE.toSeconds()) {
    // The runner's own default is 48 hours; a longer deadline must raise it, or a running backup's parts could go.
    commandEnv[ENV.INCOMPLETE_MIN_AGE_SECONDS] = kplus.EnvValue.fromValue(String(deadline));
  }
  claimSeries(scope, storage._bind(scope).location, backupName);
  const scheduled = createScheduledJob(scope, options, {
    connection,
    command: COMMAND.BACKUP,
    storage,
    backupName,
    args: dumpArgs.length > 0 ? [COMMAND.BACKUP, TOOL_ARGS_SEPARATOR, ...dumpArgs] : [COMMAND.BACKUP],
    commandEnv,
    defaultBackoffLimit: 2,
  });
  return { ...scheduled, backupName, storage, encrypted: encryption !== undefined };
}

const DEFAULT_ACTIVE_DEADLINE = Duration.hours(6);
// The runner's default for BACKUP_INCOMPLETE_MIN_AGE_SECONDS.
const RUNNER_INCOMPLETE_MIN_AGE = Duration.hours(48);

function activeDeadlineOf(options: ScheduledJobOptions, command: string): Duration {
  const activeDeadline = durationProp('activeDeadline', options.activeDeadline, 'Duration.hours(6)') ?? DEFAULT_ACTIVE_DEADLINE;
  if (activeDeadline.toSeconds() < 60) {
    throw new RuleError(`activeDeadline: ${activeDeadline.toSeconds()}s is too short for a ${command}; give at least Duration.minutes(1).`);
  }
  return activeDeadline;
}

// The series each app writes, by location and name: the app's root construct -> key -> construct path.
const SERIES_WRITERS = new WeakMap<IConstruct, Map<string, string>>();

/**
 * Records that `scope` writes the series `backupName` at `location`, and refuses a second writer
 * anywhere in the same app: with retention, two writers of one series prune each other's backups.
 */
function claimSeries(scope: IConstruct, location: string, backupName: string): void {
  const root = scope.node.root;
  let writers = SERIES_WRITERS.get(root);
  if (!writers) {
    writers = new Map();
    SERIES_WRITERS.set(root, writers);
  }
  const key = `${location}\0${backupName}`;
  const other = writers.get(key);
  if (other !== undefined && other !== scope.node.path) {
    throw new RuleError(`backupName: the series '${backupName}' in ${location} is already written by ${other}; two backup CronJobs writing one series would mix their backups and prune each other's. Give one of them another backupName, or another storage prefix.`);
  }
  writers.set(key, scope.node.path);
}

/** What `createScheduledJob` made. @internal */
export interface ScheduledJob {
  readonly cronJob: kplus.CronJob;
  /** The alert rules, when `alerts` is set. */
  readonly prometheusRule?: ApiObject;
  /** How old the newest successful run may become before it is late (see schedule-gap.ts). */
  readonly staleAfter: Duration;
}

/**
 * A CronJob running the hardened runner pod: schedule, history and deadlines, plus its alerts,
 * metrics and notifications. Shared by the backup, verify and check CronJobs. @internal
 */
export function createScheduledJob(scope: Construct, options: ScheduledJobOptions, spec: ScheduledJobSpec): ScheduledJob {
  const name = options.cronJobName === undefined
    ? dnsLabelFromPath(scope, MAX_CRONJOB_NAME)
    : dnsLabel('cronJobName', options.cronJobName, MAX_CRONJOB_NAME, 'because Kubernetes appends 11 characters for each Job');
  const schedule = factoryProp('schedule', options.schedule, BackupSchedule, 'BackupSchedule.daily({ hour: 2 })')._resolve(scope);
  if (options.timeZone !== undefined) timeZone('timeZone', options.timeZone);
  const backoffLimit = rules.count('backoffLimit', numberProp('backoffLimit', options.backoffLimit, '2') ?? spec.defaultBackoffLimit);
  const successfulJobsRetained = rules.count('successfulJobsRetained', numberProp('successfulJobsRetained', options.successfulJobsRetained, '3') ?? 3);
  const failedJobsRetained = rules.count('failedJobsRetained', numberProp('failedJobsRetained', options.failedJobsRetained, '3') ?? 3);
  const activeDeadline = activeDeadlineOf(options, spec.command);
  const startingDeadline = durationProp('startingDeadline', options.startingDeadline, 'Duration.hours(1)') ?? Duration.hours(1);
  if (startingDeadline.toSeconds() < 10) {
    throw new RuleError('startingDeadline: must be at least 10 seconds; the CronJob controller checks every 10 seconds, so a shorter deadline can skip every run.');
  }
  const suspend = booleanProp('suspend', options.suspend) ?? false;
  const alerts = options.alerts === undefined ? undefined
    : factoryProp('alerts', options.alerts, BackupAlerts, 'BackupAlerts.prometheus()');
  if (alerts && failedJobsRetained === 0) {
    throw new RuleError('failedJobsRetained: 0 keeps no failed Job, so the BackupFailed alert (kube_job_status_failed of the newest Job) could never fire. Keep at least 1 (the default is 3), or remove alerts.');
  }
  const monitoring = monitoringEnv(options.metrics, options.notifications);

  const pod = runnerPod(scope, { ...spec, commandEnv: { ...spec.commandEnv, ...monitoring }, ...runnerOptionsOf(options) });
  const cronJob = new kplus.CronJob(scope, 'Resource', {
    ...pod.props,
    metadata: { name, labels: pod.labels },
    schedule: toCron(schedule),
    timeZone: options.timeZone,
    concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
    startingDeadline,
    suspend,
    successfulJobsRetained,
    failedJobsRetained,
    activeDeadline,
    backoffLimit,
  });
  finishRunnerWorkload(cronJob, pod.labels);
  const staleAfter = Duration.seconds(staleAfterSeconds(schedule, options.timeZone, activeDeadline.toSeconds()));
  const prometheusRule = alerts?._bind(scope, {
    kind: spec.command as 'backup' | 'verify' | 'check',
    cronJobName: name,
    namespace: Chart.of(scope).namespace,
    schedule,
    timeZone: options.timeZone,
    activeDeadlineSeconds: activeDeadline.toSeconds(),
    series: spec.backupName,
    engine: spec.connection.engine,
    // A verify or check CronJob connects to a throwaway server (or none), not to the source.
    database: spec.command === COMMAND.BACKUP ? plainDatabaseName(spec.connection) : undefined,
    metrics: options.metrics !== undefined,
  });
  return { cronJob, prometheusRule, staleAfter };
}

/** The database's name from the connection's variables, when it is a plain value. */
function plainDatabaseName(connection: EngineConnection): string | undefined {
  const variable = (ENGINE_REGISTRY[connection.engine].env as Readonly<Record<string, string>>).DATABASE;
  return variable === undefined ? undefined : connection.env[variable]?.value;
}

function toCron(expression: string): Cron {
  const fields = expression.split(' ');
  if (fields.length === 5) {
    const [minute, hour, day, month, weekDay] = fields;
    return new Cron({ minute, hour, day, month, weekDay });
  }
  // Descriptors (@daily, @every 6h) are valid for the API server but not expressible as CronOptions.
  return Object.assign(Object.create(Cron.prototype), { expressionString: expression });
}
