import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJobOptions, createBackupCronJob, requireHost, requireNonEmpty, requirePort } from './backup-cron-job';
import { ENV } from './contract';
import { RestoreJobOptions, createRestoreJob } from './restore-job';

/** How the runner connects to a PostgreSQL server: the one dumped by a backup, or restored into. */
export interface PostgresConnectionOptions {
  /** Host name of the PostgreSQL server, e.g. the Service `postgres.db.svc`. */
  readonly host: string;
  /**
   * TCP port of the PostgreSQL server.
   * @default 5432
   */
  readonly port?: number;
  /** The database to dump, or to restore into. */
  readonly database: string;
  /**
   * The role the runner connects as. For a backup it needs read access to everything dumped;
   * for a restore it needs to create the restored objects (usually the database's owner).
   */
  readonly username: string;
  /**
   * The role's password, from a Secret (reaches the pod as `PGPASSWORD` via `secretKeyRef`).
   * @default - no password (e.g. `trust` authentication or client certificates)
   */
  readonly password?: kplus.SecretValue;
}

/** Props for `PostgresBackupCronJob`. */
export interface PostgresBackupCronJobProps extends BackupCronJobOptions, PostgresConnectionOptions {}

/**
 * A CronJob that dumps one PostgreSQL database with `pg_dump` (custom format, restorable with
 * `pg_restore`) and streams it to storage.
 */
export class PostgresBackupCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;

  constructor(scope: Construct, id: string, props: PostgresBackupCronJobProps) {
    super(scope, id);
    this.cronJob = createBackupCronJob(this, props, { engine: 'postgres', env: postgresEnv(props) });
  }
}

/** Props for `PostgresRestoreJob`. */
export interface PostgresRestoreJobProps extends RestoreJobOptions, PostgresConnectionOptions {}

/**
 * A Job that restores one backup of a `PostgresBackupCronJob` series with `pg_restore` into a
 * PostgreSQL database, which may be another server or database than the one backed up. Apply it
 * by hand when needed; it runs once and is not retried.
 */
export class PostgresRestoreJob extends Construct {
  /** The underlying Job: an escape hatch for anything the props do not cover. */
  public readonly job: kplus.Job;

  constructor(scope: Construct, id: string, props: PostgresRestoreJobProps) {
    super(scope, id);
    this.job = createRestoreJob(this, props, { engine: 'postgres', env: postgresEnv(props) });
  }
}

/** libpq's own variables for a connection. */
function postgresEnv(props: PostgresConnectionOptions): Record<string, kplus.EnvValue> {
  const host = requireHost(props.host, 'postgres.db.svc', 'port, database and username');
  const database = requireNonEmpty('database', props.database, "'orders'");
  const username = requireNonEmpty('username', props.username, "'backup'");
  const port = requirePort(props.port, 5432, 'PostgreSQL');
  const env: Record<string, kplus.EnvValue> = {
    [ENV.PGHOST]: kplus.EnvValue.fromValue(host),
    [ENV.PGPORT]: kplus.EnvValue.fromValue(String(port)),
    [ENV.PGDATABASE]: kplus.EnvValue.fromValue(database),
    [ENV.PGUSER]: kplus.EnvValue.fromValue(username),
  };
  if (props.password) {
    requireNonEmpty('password.key', props.password.key, "'password'");
    env[ENV.PGPASSWORD] = kplus.EnvValue.fromSecretValue(props.password);
  }
  return env;
}
