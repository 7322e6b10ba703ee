import { Cron, Duration, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { COMMAND, COMPRESSIONS, DUMP_ARGS_SEPARATOR, ENV, EngineName, findReservedDumpArg } from './contract';
import { Retention } from './retention';
import {
  RunnerOptions, RunnerPodOptions, finishRunnerWorkload, requireCount, runnerPod, validateBackupName, validateDnsLabel, wholeSeconds, runnerOptionsOf,
} from './runner-pod';
import { BackupSchedule } from './schedule';

export { defaultImage } from './runner-pod';

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

/** What an engine adds to the shared backup wiring. @internal */
export interface EngineSpec {
  readonly engine: EngineName;
  readonly env: Record<string, kplus.EnvValue>;
}

// Kubernetes appends an 11-character suffix to Job names created by a CronJob.
const MAX_CRONJOB_NAME = 52;

/**
 * The backup CronJob every engine shares: an engine passes only its connection env. @internal
 */
export function createBackupCronJob(scope: Construct, options: BackupCronJobOptions, spec: EngineSpec): kplus.CronJob {
  const backupName = validateBackupName(options.backupName ?? scope.node.id.toLowerCase(), options.backupName !== undefined);
  const dumpArgs = options.dumpArgs ?? [];
  const reserved = findReservedDumpArg(spec.engine, dumpArgs);
  if (reserved) {
    throw new Error(`dumpArgs: '${reserved}' is set by the runner (output, format, connection or password) and cannot be passed through. Remove it and use the construct's props instead.`);
  }
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
    const seconds = wholeSeconds('incompleteMinAge:', options.incompleteMinAge, 'Duration.hours(48)');
    const deadline = (options.activeDeadline ?? DEFAULT_ACTIVE_DEADLINE).toSeconds();
    if (seconds < deadline) {
      throw new Error(`incompleteMinAge: ${seconds}s is shorter than activeDeadline (${deadline}s), so the leftovers of a backup that is still running could be removed. Give at least the activeDeadline.`);
    }
    commandEnv[ENV.INCOMPLETE_MIN_AGE_SECONDS] = kplus.EnvValue.fromValue(String(seconds));
  }
  return createScheduledJob(scope, options, {
    engine: spec.engine,
    command: COMMAND.BACKUP,
    backupName,
    args: dumpArgs.length > 0 ? [COMMAND.BACKUP, DUMP_ARGS_SEPARATOR, ...dumpArgs] : [COMMAND.BACKUP],
    commandEnv,
    engineEnv: spec.env,
    defaultBackoffLimit: 2,
  });
}

const DEFAULT_ACTIVE_DEADLINE = Duration.hours(6);

/**
 * A CronJob running the hardened runner pod: schedule, history and deadlines. Shared by the
 * backup and the verify CronJobs. @internal
 */
export function createScheduledJob(scope: Construct, options: ScheduledJobOptions, spec: ScheduledJobSpec): kplus.CronJob {
  const name = validateDnsLabel('cronJobName', options.cronJobName ?? Names.toDnsLabel(scope, { maxLen: MAX_CRONJOB_NAME }),
    MAX_CRONJOB_NAME, 'because Kubernetes appends 11 characters for each Job');
  const schedule = options.schedule.resolve(scope);
  if (options.timeZone !== undefined) validateTimeZone(options.timeZone);
  const backoffLimit = options.backoffLimit ?? spec.defaultBackoffLimit;
  requireCount('backoffLimit', backoffLimit);
  requireCount('successfulJobsRetained', options.successfulJobsRetained);
  requireCount('failedJobsRetained', options.failedJobsRetained);
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

/** A required, non-empty string prop. @internal */
export function requireNonEmpty(prop: string, value: string | undefined, example: string): string {
  if (value === undefined || value.trim() === '') {
    throw new Error(`${prop}: must not be empty. Set it, e.g. ${prop}: ${example}.`);
  }
  if (value !== value.trim()) {
    throw new Error(`${prop}: '${value}' has leading or trailing white space; remove it.`);
  }
  return value;
}

/** A bare host name or IP address (no scheme, path or port). @internal */
export function requireHost(value: string | undefined, example: string, otherProps: string): string {
  const host = requireNonEmpty('host', value, `'${example}'`);
  if (host.includes('://') || host.includes('/') || host.includes(' ')) {
    throw new Error(`host: '${host}' must be a bare host name or IP address, e.g. '${example}'; set ${otherProps} in their own props.`);
  }
  return host;
}

/** A TCP port prop, `fallback` when unset. @internal */
export function requirePort(value: number | undefined, fallback: number, server: string): number {
  const port = value ?? fallback;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port: ${port} is not a TCP port; use a whole number from 1 to 65535 (${server}'s default is ${fallback}).`);
  }
  return port;
}

function validateTimeZone(timeZone: string): void {
  if (timeZone.trim() === '' || /\s/.test(timeZone)) {
    throw new Error(`timeZone: '${timeZone}' is not an IANA time zone name. Use a name like 'Europe/Berlin' or 'Etc/UTC'.`);
  }
  if (timeZone.toLowerCase() === 'local') {
    throw new Error("timeZone: 'Local' is rejected by Kubernetes. Use an explicit IANA name like 'Europe/Berlin' or 'Etc/UTC'.");
  }
  if (/^[+-]\d/.test(timeZone) || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(timeZone)) {
    throw new Error(`timeZone: '${timeZone}' is not an IANA time zone name (offsets are not accepted). Use a name like 'Europe/Berlin' or 'Etc/GMT-1'.`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(`timeZone: '${timeZone}' is not a known IANA time zone. Use a name from the tz database, like 'Europe/Berlin', 'America/New_York' or 'Etc/UTC'.`);
  }
  // Intl ignores case, but the cluster loads zones by file name, which is case-sensitive.
  const canonical = (Intl as any).supportedValuesOf('timeZone') as string[];
  const exact = canonical.includes(timeZone) || ['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT'].includes(timeZone);
  const caseMatch = canonical.find(z => z.toLowerCase() === timeZone.toLowerCase());
  if (!exact && caseMatch) {
    throw new Error(`timeZone: '${timeZone}' must match the tz database's spelling exactly; did you mean '${caseMatch}'?`);
  }
}
