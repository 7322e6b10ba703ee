import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJob, BackupCronJobOptions } from './backup-cron-job';
import { ENGINE_REGISTRY } from './registry';
import { RestoreJob, RestoreJobOptions } from './restore-job';
import * as rules from './rules';
import { EngineConnection, secretEnvValue } from './runner-pod';

const MONGO = ENGINE_REGISTRY.mongo;

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
 * A CronJob that dumps MongoDB with `mongodump --archive` and streams it to storage. It is a
 * backup series: give it to a `MongoRestoreJob` as `series`.
 */
export class MongoBackupCronJob extends BackupCronJob {
  constructor(scope: Construct, id: string, props: MongoBackupCronJobProps) {
    super(scope, id, props, () => mongoConnection(props ?? {} as any));
  }
}

/** Props for `MongoRestoreJob`. */
export interface MongoRestoreJobProps extends RestoreJobOptions, MongoConnectionOptions {}

/**
 * A Job that restores one backup of a MongoDB series with `mongorestore --archive`,
 * into the same or another deployment. Apply it by hand when needed; it runs once and is not retried.
 */
export class MongoRestoreJob extends RestoreJob {
  constructor(scope: Construct, id: string, props: MongoRestoreJobProps) {
    super(scope, id, props, () => mongoConnection(props ?? {} as any), 'MongoRestoreJob');
  }
}

function mongoConnection(props: MongoConnectionOptions): EngineConnection {
  const env: Record<string, kplus.EnvValue> = {
    [MONGO.env.URI]: secretEnvValue('uri', props.uri),
  };
  if (props.database !== undefined) {
    const database = rules.mongoDatabaseName('database', rules.nonEmpty('database', props.database, "'catalog'"));
    env[MONGO.env.DATABASE] = kplus.EnvValue.fromValue(database);
  }
  return { engine: MONGO.name, env };
}
