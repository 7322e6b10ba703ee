import { ApiObject, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ScheduledJob, ScheduledJobOptions, createScheduledJob } from './backup-cron-job';
import { COMMAND, ENV } from './contract';
import { ENGINE_NAMES, EngineName, engineDescriptor } from './registry';
import * as rules from './rules';
import { RuleError } from './rules';
import { IBackupSeries } from './series';
import { booleanProp, durationProp, withConstructPath } from './validation';


/** Props for `BackupCheckCronJob`. */
export interface BackupCheckCronJobProps extends ScheduledJobOptions {
  /**
   * The series to check, of any engine: the backup construct itself (`series: ordersBackup`), or
   * `BackupSeries.fromName(storage, 'orders', 'postgres')` for a series defined in another app.
   */
  readonly series: IBackupSeries;
  /**
   * How old the newest sound backup may be, by the storage's clock, before the check fails.
   * @default - the series' `staleAfter`: for a backup construct, the longest gap between two runs
   * of its schedule, plus its activeDeadline, plus a grace of an hour or a quarter of the gap,
   * whichever is smaller (a daily backup with the default 6 h activeDeadline: 31 h). Required for
   * a series from `BackupSeries.fromName()`, which knows no schedule.
   */
  readonly maxAge?: Duration;
  /**
   * Also read every stored object of every backup and compare its sha256 with its manifest (like
   * `restic check --read-data`). This downloads the whole series on every run: storage requests,
   * time and, on a cloud provider, egress charges grow with the series' total size, so schedule
   * such a check less often than the backups (e.g. weekly) and give it an `activeDeadline` long
   * enough to read everything.
   * @default false
   */
  readonly readData?: boolean;
}

/**
 * A CronJob that checks a backup series from the storage's side: each run lists the series and
 * fails when there is no complete backup, when the newest one is older than `maxAge`, when a
 * manifest's object is missing or has another size, and (with `readData`) when a stored object's
 * sha256 differs from its manifest. It only reads: with S3 it needs `s3:ListBucket` and
 * `s3:GetObject` and nothing else. Use it with `alerts`, `metrics` or `notifications` so a failed
 * check reaches a person.
 */
export class BackupCheckCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** The alert rules, when `alerts` is set. */
  public readonly prometheusRule?: ApiObject;
  /** The maximum age the check allows, in whole seconds as the runner gets it. */
  public readonly maxAge: Duration;

  constructor(scope: Construct, id: string, props: BackupCheckCronJobProps) {
    super(scope, id);
    const built = withConstructPath(this, () => createCheckCronJob(this, props ?? {} as BackupCheckCronJobProps));
    this.cronJob = built.cronJob;
    this.prometheusRule = built.prometheusRule;
    this.maxAge = built.maxAge;
  }
}

function createCheckCronJob(scope: Construct, props: BackupCheckCronJobProps): ScheduledJob & { maxAge: Duration } {
  const series = props.series;
  if (series === undefined || series === null) {
    throw new RuleError("series: must be set to the backups to check: the backup construct itself (series: ordersBackup), or BackupSeries.fromName(storage, 'orders', 'postgres') for a series defined in another app.");
  }
  const engine = engineDescriptor(series.engine);
  if (!engine) {
    throw new RuleError(`series: engine '${series.engine}' is not an engine; use one of ${ENGINE_NAMES.map(n => `'${n}'`).join(', ')}.`);
  }
  if (series.storage === undefined || series.storage === null) {
    throw new RuleError(`series: '${series.backupName}' has no storage; give a backup construct or BackupSeries.fromName(storage, name, engine).`);
  }
  const backupName = rules.seriesName('series: backupName', series.backupName);
  const maxAgeSeconds = maxAgeOf(props.maxAge, series, backupName);
  const readData = booleanProp('readData', props.readData) ?? false;

  const commandEnv: Record<string, kplus.EnvValue> = {
    [ENV.CHECK_MAX_AGE_SECONDS]: kplus.EnvValue.fromValue(String(maxAgeSeconds)),
  };
  if (readData) commandEnv[ENV.CHECK_READ_DATA] = kplus.EnvValue.fromValue('true');

  const built = createScheduledJob(scope, props, {
    // Every companion image has the runner; the series' own engine's image is the one the user
    // already pulls. The check connects to no database.
    connection: { engine: engine.name as EngineName, env: {} },
    command: COMMAND.CHECK,
    storage: series.storage,
    backupName,
    args: [COMMAND.CHECK],
    commandEnv,
    // A failed check must be seen, not retried away.
    defaultBackoffLimit: 0,
  });
  return { ...built, maxAge: Duration.seconds(maxAgeSeconds) };
}

/** `maxAge` in whole seconds, or the series' staleAfter; an error naming `maxAge` when neither is known. */
function maxAgeOf(maxAge: Duration | undefined, series: IBackupSeries, backupName: string): number {
  const given = durationProp('maxAge', maxAge, 'Duration.hours(26)');
  if (given === undefined) {
    const staleAfter = durationProp('series: staleAfter', series.staleAfter, 'Duration.hours(26)');
    if (staleAfter === undefined) {
      throw new RuleError(`maxAge: must be set: the series '${backupName}' does not know its backup schedule (BackupSeries.fromName() has none), so there is no default. Give the longest time between two backups plus the time one may take, e.g. Duration.hours(31) for a daily backup with a 6 h activeDeadline, or give the backup construct itself as series.`);
    }
    return rules.checkMaxAgeSeconds('maxAge (the series\' staleAfter)', Math.ceil(staleAfter.toSeconds()));
  }
  return rules.checkMaxAgeSeconds('maxAge', rules.wholeSeconds('maxAge', given.toMilliseconds(), 'Duration.hours(26)'));
}
