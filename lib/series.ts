import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { ENGINE_NAMES, ENGINE_REGISTRY, EngineName, engineDescriptor } from './registry';
import * as rules from './rules';
import { RuleError } from './rules';
import { BackupStorage } from './storage';

/**
 * A series of backups: where they are stored, under which name and by which engine. Every backup
 * CronJob is one, so a restore or verify construct takes the backup construct itself
 * (`series: ordersBackup`); `BackupSeries.fromName()` names a series defined elsewhere.
 */
export interface IBackupSeries {
  /** Where the backups of the series are stored. */
  readonly storage: BackupStorage;
  /** The series name in object keys (`<prefix>/<backupName>/<timestamp>-<random>.<ext>`). */
  readonly backupName: string;
  /** The engine whose dump tool writes the series: `postgres`, `mongo`, `mysql` or `redis`. */
  readonly engine: string;
  /**
   * The major version of the database server the series is dumped from, e.g. `15`.
   * @default - unknown
   */
  readonly serverMajorVersion?: number;
  /**
   * How old the newest backup of the series may become before it is late: the longest gap
   * between two runs of the backup's schedule in its time zone, plus its activeDeadline, plus a
   * grace of an hour or a quarter of the gap, whichever is smaller. `BackupCheckCronJob` uses it
   * as its default `maxAge`.
   * @default - unknown
   */
  readonly staleAfter?: Duration;
  /**
   * Whether the series' backups are encrypted (`encryption` of its backup construct): a restore
   * or verify construct of an encrypted series needs `decryption`.
   * @default - unknown: a restore or verify without `decryption` fails only when it runs, on an encrypted backup
   */
  readonly encrypted?: boolean;
}

/** Factories for a backup series that is not a construct of this app. */
export class BackupSeries {
  /**
   * A series written by a backup CronJob defined elsewhere, e.g. in another cdk8s app.
   *
   * @param storage where the backup CronJob writes: a `BackupStorage` with the same bucket (or volume) and prefix
   * @param backupName the backup CronJob's `backupName` (by default derived from its construct id, e.g. `orders` for `Orders`)
   * @param engine the backup CronJob's engine: `postgres`, `mongo`, `mysql` or `redis`
   * @example BackupSeries.fromName(storage, 'orders', 'postgres')
   */
  public static fromName(storage: BackupStorage, backupName: string, engine: string): IBackupSeries {
    if (storage === undefined || storage === null) {
      throw new RuleError("storage: must be the BackupStorage the series is written to, e.g. BackupStorage.s3({ bucket: 'backups' }).");
    }
    return new NamedSeries(storage, rules.seriesName('backupName', backupName), knownEngine('engine', engine).name);
  }

  private constructor() {}
}

class NamedSeries implements IBackupSeries {
  constructor(public readonly storage: BackupStorage, public readonly backupName: string, public readonly engine: string) {}
}

function knownEngine(field: string, engine: string) {
  const descriptor = engineDescriptor(engine);
  if (!descriptor) {
    throw new RuleError(`${field}: '${engine}' is not an engine; use one of ${ENGINE_NAMES.map(name => `'${name}'`).join(', ')}.`);
  }
  return descriptor;
}

/** A series as a restore or verify construct reads it. @internal */
export interface BoundSeries {
  readonly storage: BackupStorage;
  readonly backupName: string;
  readonly serverMajorVersion?: number;
  readonly staleAfter?: Duration;
  readonly encrypted?: boolean;
  /** The construct path of the series, when it is a backup construct of this app (for messages). */
  readonly writer?: string;
}

/**
 * The `series` prop of a construct (`consumer`, e.g. 'PostgresRestoreJob') that reads backups of
 * `engine` only, checked. @internal
 */
export function readSeries(series: IBackupSeries | undefined, engine: EngineName, consumer: string): BoundSeries {
  const wanted = ENGINE_REGISTRY[engine];
  if (series === undefined || series === null) {
    throw new RuleError(`series: must be set to the backups a ${consumer} reads: the backup construct itself (series: ordersBackup), or BackupSeries.fromName(storage, 'orders', '${wanted.name}') for a series defined in another app.`);
  }
  const actual = knownEngine('series: engine', series.engine);
  if (actual.name !== wanted.name) {
    throw new RuleError(`series: '${series.backupName}' holds ${actual.title} backups (engine '${actual.name}'), but a ${consumer} reads ${wanted.title} backups (engine '${wanted.name}') only. Give it a ${wanted.title} backup series.`);
  }
  if (series.storage === undefined || series.storage === null) {
    throw new RuleError(`series: '${series.backupName}' has no storage; give a backup construct or BackupSeries.fromName(storage, name, engine).`);
  }
  return {
    storage: series.storage,
    backupName: rules.seriesName('series: backupName', series.backupName),
    serverMajorVersion: series.serverMajorVersion,
    staleAfter: series.staleAfter,
    encrypted: series.encrypted,
    writer: Construct.isConstruct(series) ? series.node.path : undefined,
  };
}
