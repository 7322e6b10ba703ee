import { Cron, Duration, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { COMMAND, COMPRESSIONS, ENV, TOOL_ARGS_SEPARATOR } from './contract';
import { Retention } from './retention';
import * as rules from './rules';
import { EngineConnection, RunnerOptions, RunnerPodOptions, finishRunnerWorkload, runnerOptionsOf, runnerPod } from './runner-pod';
import { BackupSchedule } from './schedule';
import { IBackupSeries } from './series';
import { BackupStorage } from './storage';
import { dnsLabel, timeZone } from './validation';

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
   * @default - derived from the construct path, shortened with a hash to fit 52 characters
   */
  readonly cronJobName?: string;
}

/** Options every backup CronJob has, whatever the engine. */
export interface BackupCronJobOptions extends ScheduledJobOptions {
  /** Where the backups are stored. */
  readonly storage: BackupStorage;
  /**
   * Series name used in object keys (`<prefix>/<backupName>/<timestamp>-<random>.<ext>`) and in
   * the `app.kubernetes.io/instance` label.
   * @default - the construct id, lower-cased
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
   * @default Duration.hours(48)
   */
  readonly incompleteMinAge?: Duration;
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
 * connection. A hidden base class: jsii copies its members into each engine's class. @internal
 */
export abstract class BackupCronJob extends Construct implements IBackupSeries {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** Where the backups are stored. */
  public readonly storage: BackupStorage;
  /** The series name in object keys (`backupName`, by default the construct id, lower-cased). */
  public readonly backupName: string;
  /** The engine's name, as `BackupSeries.fromName()` takes it. */
  public readonly engine: string;

  protected constructor(scope: Construct, id: string, options: BackupCronJobOptions, connection: EngineConnection) {
    super(scope, id);
    const { cronJob, backupName } = createBackupCronJob(this, options, connection);
    this.cronJob = cronJob;
    this.storage = options.storage;
    this.backupName = backupName;
    this.engine = connection.engine;
  }
}

function createBackupCronJob(scope: Construct, options: BackupCronJobOptions, connection: EngineConnection) {
  if (options.storage === undefined || options.storage === null) {
    throw new rules.RuleError("storage: must be set to where the backups go, e.g. storage: BackupStorage.s3({ bucket: 'backups' }).");
  }
  const backupName = options.backupName === undefined
    ? rules.seriesName('backupName (unset, so the construct id, lower-cased; set backupName to choose one)', scope.node.id.toLowerCase())
    : rules.seriesName('backupName', options.backupName);
  const dumpArgs = rules.passThroughArgs('dumpArgs', connection.engine, 'dump', options.dumpArgs ?? []);
  const compression = options.compression ?? Compression.ZSTD;
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new Error(`compression: '${compression}' is unknown. Use Compression.ZSTD, Compression.GZIP or Compression.NONE.`);
  }
  const commandEnv: Record<string, kplus.EnvValue> = {
    [ENV.COMPRESSION]: kplus.EnvValue.fromValue(compression),
    ...options.retention?._env(),
  };
  if (options.incompleteMinAge !== undefined) {
    if (!options.retention) {
      throw new Error('incompleteMinAge: has no effect without retention, because leftovers are removed only when the runner prunes. Set retention too, e.g. retention: Retention.keepLast(7), or remove incompleteMinAge.');
    }
    const seconds = rules.wholeSeconds('incompleteMinAge', options.incompleteMinAge.toMilliseconds(), 'Duration.hours(48)');
    const deadline = (options.activeDeadline ?? DEFAULT_ACTIVE_DEADLINE).toSeconds();
    if (seconds < deadline) {
      throw new Error(`incompleteMinAge: ${seconds}s is shorter than activeDeadline (${deadline}s), so the leftovers of a backup that is still running could be removed. Give at least the activeDeadline.`);
    }
    commandEnv[ENV.INCOMPLETE_MIN_AGE_SECONDS] = kplus.EnvValue.fromValue(String(seconds));
  }
  const cronJob = createScheduledJob(scope, options, {
    connection,
    command: COMMAND.BACKUP,
    storage: options.storage,
    backupName,
    args: dumpArgs.length > 0 ? [COMMAND.BACKUP, TOOL_ARGS_SEPARATOR, ...dumpArgs] : [COMMAND.BACKUP],
    commandEnv,
    defaultBackoffLimit: 2,
  });
  return { cronJob, backupName };
}

const DEFAULT_ACTIVE_DEADLINE = Duration.hours(6);

/**
 * A CronJob running the hardened runner pod: schedule, history and deadlines. Shared by the
 * backup and the verify CronJobs. @internal
 */
export function createScheduledJob(scope: Construct, options: ScheduledJobOptions, spec: ScheduledJobSpec): kplus.CronJob {
  const name = dnsLabel('cronJobName', options.cronJobName ?? Names.toDnsLabel(scope, { maxLen: MAX_CRONJOB_NAME }),
    MAX_CRONJOB_NAME, 'because Kubernetes appends 11 characters for each Job');
  const schedule = options.schedule._resolve(scope);
  if (options.timeZone !== undefined) timeZone('timeZone', options.timeZone);
  const backoffLimit = rules.count('backoffLimit', options.backoffLimit ?? spec.defaultBackoffLimit);
  if (options.successfulJobsRetained !== undefined) rules.count('successfulJobsRetained', options.successfulJobsRetained);
  if (options.failedJobsRetained !== undefined) rules.count('failedJobsRetained', options.failedJobsRetained);
  const activeDeadline = options.activeDeadline ?? DEFAULT_ACTIVE_DEADLINE;
  if (activeDeadline.toSeconds() < 60) {
    throw new Error(`activeDeadline: ${activeDeadline.toSeconds()}s is too short for a ${spec.command}; give at least Duration.minutes(1).`);
  }
  const startingDeadline = options.startingDeadline ?? Duration.hours(1);
  if (startingDeadline.toSeconds() < 10) {
    throw new Error('startingDeadline: must be at least 10 seconds; the CronJob controller checks every 10 seconds, so a shorter deadline can skip every run.');
  }

  const pod = runnerPod(scope, { ...spec, ...runnerOptionsOf(options) });
  const cronJob = new kplus.CronJob(scope, 'Resource', {
    ...pod.props,
    metadata: { name, labels: pod.labels },
    schedule: toCron(schedule),
    timeZone: options.timeZone,
    concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
    startingDeadline,
    suspend: options.suspend ?? false,
    successfulJobsRetained: options.successfulJobsRetained ?? 3,
    failedJobsRetained: options.failedJobsRetained ?? 3,
    activeDeadline,
    backoffLimit,
  });
  finishRunnerWorkload(cronJob, pod.labels);
  return cronJob;
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
