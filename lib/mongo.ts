import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJobOptions, createBackupCronJob, requireNonEmpty } from './backup-cron-job';
import { ENV } from './contract';
import { RestoreJobOptions, createRestoreJob } from './restore-job';

/** How the runner connects to MongoDB: the deployment dumped by a backup, or restored into. */
export interface MongoConnectionOptions {
  /**
   * The MongoDB connection string (`mongodb://…` or `mongodb+srv://…`), from a Secret. It never
   * appears in the manifest, in argv or in `ps`: the runner hands it to the tool in a private file.
   */
  readonly uri: kplus.SecretValue;
  /**
   * For a backup, the database to dump. For a restore, the database to restore into (a backup of
   * one database can be restored under another name).
   * @default - a backup dumps every database the user can read; a restore keeps the names in the backup
   */
  readonly database?: string;
}

/** Props for `MongoBackupCronJob`. */
export interface MongoBackupCronJobProps extends BackupCronJobOptions, MongoConnectionOptions {}

/**
 * A CronJob that dumps MongoDB with `mongodump --archive` and streams it to storage.
 */
export class MongoBackupCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;

  constructor(scope: Construct, id: string, props: MongoBackupCronJobProps) {
    super(scope, id);
    this.cronJob = createBackupCronJob(this, props, { engine: 'mongo', env: mongoEnv(props) });
  }
}

/** Props for `MongoRestoreJob`. */
export interface MongoRestoreJobProps extends RestoreJobOptions, MongoConnectionOptions {}

/**
 * A Job that restores one backup of a `MongoBackupCronJob` series with `mongorestore --archive`,
 * into the same or another deployment. Apply it by hand when needed; it runs once and is not retried.
 */
export class MongoRestoreJob extends Construct {
  /** The underlying Job: an escape hatch for anything the props do not cover. */
  public readonly job: kplus.Job;

  constructor(scope: Construct, id: string, props: MongoRestoreJobProps) {
    super(scope, id);
    this.job = createRestoreJob(this, props, { engine: 'mongo', env: mongoEnv(props) });
  }
}

function mongoEnv(props: MongoConnectionOptions): Record<string, kplus.EnvValue> {
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
  return env;
}
