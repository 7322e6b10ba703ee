import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { COMMAND, ENV, LATEST_BACKUP_ID, TOOL_ARGS_SEPARATOR } from './contract';
import { BackupDecryption, decryptionProp, mountIdentity } from './encryption';
import * as rules from './rules';
import { EngineConnection, RunnerOptions, finishRunnerWorkload, runnerOptionsOf, runnerPod } from './runner-pod';
import { IBackupSeries, readSeries } from './series';
import { booleanProp, dnsLabel, dnsLabelFromPath, durationProp, numberProp, withConstructPath } from './validation';

/** Options every restore Job has, whatever the engine. */
export interface RestoreJobOptions extends RunnerOptions {
  /**
   * The series to restore from: the backup construct itself (`series: ordersBackup`), or
   * `BackupSeries.fromName(storage, 'orders', 'postgres')` for a series defined in another app.
   * The Job reads the series' storage and name; the series' engine must be this Job's.
   */
  readonly series: IBackupSeries;
  /**
   * The backup to restore: an id as printed by the image's `list` command
   * (`<UTC timestamp>-<8 hex>`, e.g. `20261125T010203Z-1a2b3c4d`), or `latest`.
   * @default 'latest' - the newest complete backup of the series when the Job runs
   */
  readonly backupId?: string;
  /**
   * Extra arguments passed to the restore tool, e.g. `['--clean', '--if-exists']` for pg_restore.
   * Flags the runner controls (input, format, connection, password) are rejected.
   * @default - none
   */
  readonly restoreArgs?: string[];
  /**
   * Restore into a target database that already has tables. Without it the runner refuses, so a
   * restore never mixes into live data by mistake; combine it with e.g. `restoreArgs: ['--clean', '--if-exists']`.
   * @default false
   */
  readonly allowNonEmptyTarget?: boolean;
  /**
   * Maximum run time of the restore; the Job is stopped after it, leaving a partly restored target.
   * @default Duration.hours(12)
   */
  readonly activeDeadline?: Duration;
  /**
   * Retries of a failed restore. A retry runs into a partly restored target, so the default is
   * none: look at the failure, then run the Job again on purpose.
   * @default 0
   */
  readonly backoffLimit?: number;
  /**
   * How long the finished Job (and its pod's logs) is kept before Kubernetes deletes it.
   * @default Duration.days(1)
   */
  readonly ttlAfterFinished?: Duration;
  /**
   * Name of the Job object (at most 63 characters, a DNS label).
   * @default - derived from the construct path (lower-cased, '_' and '.' mapped to '-', other
   * characters a DNS label cannot hold dropped) and a hash of it, shortened to fit 63 characters
   */
  readonly jobName?: string;
  /**
   * The identity that decrypts the series' encrypted backups, mounted read-only into this Job's
   * pod only. Required when the series' backup construct (of this app) has `encryption`.
   * @default - none: an encrypted backup cannot be restored
   */
  readonly decryption?: BackupDecryption;
}

// The Job name is copied into the `job-name` label of its pods, and label values have at most 63 characters.
const MAX_JOB_NAME = 63;

/**
 * What every engine's restore construct is: one Job. An engine's class passes only its target's
 * connection, and its own name (`consumer`) for messages. A hidden base class: jsii copies its
 * members into each engine's class. @internal
 */
export abstract class RestoreJob extends Construct {
  /** The underlying Job: an escape hatch for anything the props do not cover. */
  public readonly job: kplus.Job;

  protected constructor(
    scope: Construct, id: string, options: RestoreJobOptions, connection: () => EngineConnection, consumer: string,
    engineRunner?: (scope: Construct) => EngineRunnerExtras,
  ) {
    super(scope, id);
    this.job = withConstructPath(this, () => {
      const opts = options ?? {} as RestoreJobOptions;
      return createRestoreJob(this, opts, connection(), consumer, engineRunner?.(this));
    });
  }
}

/** What an engine's restore construct adds to the runner container: variables and volumes by path. @internal */
export interface EngineRunnerExtras {
  readonly commandEnv?: Record<string, kplus.EnvValue>;
  readonly mounts?: Record<string, kplus.Volume>;
}

function createRestoreJob(
  scope: Construct, options: RestoreJobOptions, connection: EngineConnection, consumer: string, extras: EngineRunnerExtras = {},
): kplus.Job {
  const series = readSeries(options.series, connection.engine, consumer);
  const backupId = rules.backupRef('backupId', options.backupId ?? LATEST_BACKUP_ID);
  const name = options.jobName === undefined
    ? dnsLabelFromPath(scope, MAX_JOB_NAME)
    : dnsLabel('jobName', options.jobName, MAX_JOB_NAME, "because Kubernetes copies it into the pods' job-name label");
  const restoreArgs = rules.passThroughArgs('restoreArgs', connection.engine, 'restore', options.restoreArgs ?? []);
  const backoffLimit = rules.count('backoffLimit', numberProp('backoffLimit', options.backoffLimit, '0') ?? 0);
  const activeDeadline = durationProp('activeDeadline', options.activeDeadline, 'Duration.hours(12)') ?? Duration.hours(12);
  if (activeDeadline.toSeconds() < 60) {
    throw new rules.RuleError(`activeDeadline: ${activeDeadline.toSeconds()}s is too short for a restore; give at least Duration.minutes(1).`);
  }
  const ttlAfterFinished = durationProp('ttlAfterFinished', options.ttlAfterFinished, 'Duration.days(1)') ?? Duration.days(1);
  const allowNonEmptyTarget = booleanProp('allowNonEmptyTarget', options.allowNonEmptyTarget) ?? false;
  const decryption = decryptionProp(options.decryption, series, consumer);

  const args = [COMMAND.RESTORE, backupId, ...restoreArgs.length > 0 ? [TOOL_ARGS_SEPARATOR, ...restoreArgs] : []];
  const pod = runnerPod(scope, {
    connection,
    command: COMMAND.RESTORE,
    storage: series.storage,
    backupName: series.backupName,
    ...runnerOptionsOf(options),
    args,
    commandEnv: { ...extras.commandEnv, ...(allowNonEmptyTarget ? { [ENV.RESTORE_FORCE]: kplus.EnvValue.fromValue('true') } : {}) },
    mounts: extras.mounts,
  });
  const job = new kplus.Job(scope, 'Resource', {
    ...pod.props,
    metadata: { name, labels: pod.labels },
    activeDeadline,
    backoffLimit,
    ttlAfterFinished,
  });
  if (decryption) mountIdentity(scope, job, decryption);
  finishRunnerWorkload(job, pod.labels);
  return job;
}
