import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJobOptions, createBackupCronJob, requireNonEmpty } from './backup-cron-job';
import { ENV } from './contract';

/** Props for `MongoBackupCronJob`. */
export interface MongoBackupCronJobProps extends BackupCronJobOptions {
  /**
   * The MongoDB connection string (`mongodb://…` or `mongodb+srv://…`), from a Secret. It never
   * appears in the manifest, in argv or in `ps`: the runner hands it to mongodump in a private file.
   */
  readonly uri: kplus.SecretValue;
  /**
   * The database to dump.
   * @default - every database the user can read
   */
  readonly database?: string;
}

/**
 * A CronJob that dumps MongoDB with `mongodump --archive` and streams it to storage.
 */
export class MongoBackupCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;

  constructor(scope: Construct, id: string, props: MongoBackupCronJobProps) {
    super(scope, id);
    requireNonEmpty('uri.key', props.uri?.key, "'uri'");
    const env: Record<string, kplus.EnvValue> = {
      [ENV.MONGO_URI]: kplus.EnvValue.fromSecretValue(props.uri),
    };
    if (props.database !== undefined) {
      const database = requireNonEmpty('database', props.database, "'catalog'");
      if (/[/\\. "$*<>:|?]/.test(database) || database.length > 63) {
        throw new Error(`database: '${database}' is not a valid MongoDB database name (at most 63 characters, none of / \\ . space " $ * < > : | ?).`);
      }
      env[ENV.MONGO_DATABASE] = kplus.EnvValue.fromValue(database);
    }
    this.cronJob = createBackupCronJob(this, props, { engine: 'mongo', env });
  }
}
