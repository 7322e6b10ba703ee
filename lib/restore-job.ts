import { Duration, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  BACKUP_ID_PATTERN, COMMAND, DUMP_ARGS_SEPARATOR, ENV, LATEST_BACKUP_ID, RESERVED_RESTORE_ARGS, findReservedRestoreArg,
} from './contract';
import {
  RunnerOptions, finishRunnerWorkload, requireBackupName, requireCount, runnerOptionsOf, runnerPod, validateDnsLabel,
} from './runner-pod';

/** Options every restore Job has, whatever the engine. */
export interface RestoreJobOptions extends RunnerOptions {
  /** The series to restore from: the backup CronJob's `backupName` (by default its construct id). */
  readonly backupName: string;
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
   * @default - derived from the construct path, shortened with a hash to fit 63 characters
   */
  readonly jobName?: string;
}

/** What an engine adds to the shared restore wiring. @internal */
export interface RestoreEngineSpec {
  readonly engine: keyof typeof RESERVED_RESTORE_ARGS;
  readonly env: Record<string, kplus.EnvValue>;
}

// The Job name is copied into the `job-name` label of its pods, and label values have at most 63 characters.
const MAX_JOB_NAME = 63;

/** The restore Job every engine shares: an engine passes only its target's connection env. @internal */
export function createRestoreJob(scope: Construct, options: RestoreJobOptions, spec: RestoreEngineSpec): kplus.Job {
  const backupName = requireBackupName(options.backupName, 'restore from');
  const backupId = validateBackupId(options.backupId ?? LATEST_BACKUP_ID);
  const name = validateDnsLabel('jobName', options.jobName ?? Names.toDnsLabel(scope, { maxLen: MAX_JOB_NAME }),
    MAX_JOB_NAME, "because Kubernetes copies it into the pods' job-name label");
  const restoreArgs = options.restoreArgs ?? [];
  const reserved = findReservedRestoreArg(spec.engine, restoreArgs);
  if (reserved) {
    throw new Error(`restoreArgs: '${reserved}' is set by the runner (input, format, connection or password) and cannot be passed through. Remove it and use the construct's props instead.`);
  }
  const backoffLimit = options.backoffLimit ?? 0;
  requireCount('backoffLimit', backoffLimit);
  const activeDeadline = options.activeDeadline ?? Duration.hours(12);
  if (activeDeadline.toSeconds() < 60) {
    throw new Error(`activeDeadline: ${activeDeadline.toSeconds()}s is too short for a restore; give at least Duration.minutes(1).`);
  }

  const args = [COMMAND.RESTORE, backupId, ...restoreArgs.length > 0 ? [DUMP_ARGS_SEPARATOR, ...restoreArgs] : []];
  const pod = runnerPod(scope, {
    engine: spec.engine,
    command: COMMAND.RESTORE,
    backupName,
    ...runnerOptionsOf(options),
    args,
    commandEnv: options.allowNonEmptyTarget ? { [ENV.RESTORE_FORCE]: kplus.EnvValue.fromValue('true') } : {},
    engineEnv: spec.env,
  });
  const job = new kplus.Job(scope, 'Resource', {
    ...pod.props,
    metadata: { name, labels: pod.labels },
    activeDeadline,
    backoffLimit,
    ttlAfterFinished: options.ttlAfterFinished ?? Duration.days(1),
  });
  finishRunnerWorkload(job, pod.labels);
  return job;
}

function validateBackupId(id: string): string {
  if (id !== LATEST_BACKUP_ID && !BACKUP_ID_PATTERN.test(id)) {
    throw new Error(`backupId: '${id}' is not a backup id. Use '${LATEST_BACKUP_ID}' or an id as printed by the image's 'list' command, like '20261125T010203Z-1a2b3c4d' (without the file extension).`);
  }
  return id;
}
