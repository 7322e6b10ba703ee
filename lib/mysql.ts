import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJobOptions, createBackupCronJob, requireHost, requireNonEmpty, requirePort } from './backup-cron-job';
import { ENV } from './contract';
import { RestoreJobOptions, createRestoreJob } from './restore-job';

/** How the runner connects to a MySQL or MariaDB server: the one dumped by a backup, or restored into. */
export interface MysqlConnectionOptions {
  /** Host name of the MySQL or MariaDB server, e.g. the Service `mysql.db.svc`. */
  readonly host: string;
  /**
   * TCP port of the server.
   * @default 3306
   */
  readonly port?: number;
  /** The database to dump, or to restore into. */
  readonly database: string;
  /**
   * The user the runner connects as. For a backup it needs SELECT, SHOW VIEW, TRIGGER and EVENT on
   * the database (and SELECT on `mysql.proc` or SHOW CREATE ROUTINE for stored routines); for a
   * restore, the privileges to create and fill everything in the dump.
   */
  readonly username: string;
  /**
   * The user's password, from a Secret (reaches the pod via `secretKeyRef`; the runner hands it to
   * the client tools in a private option file, never in argv or `MYSQL_PWD`).
   * @default - no password
   */
  readonly password?: kplus.SecretValue;
  /**
   * Connect with TLS. The image's MariaDB 11.8 client requires TLS and verifies the server's
   * certificate; set `false` only for a server without TLS (the connection then carries the
   * password unencrypted inside the cluster network).
   * @default true
   */
  readonly tls?: boolean;
}

/** Props for `MysqlBackupCronJob`. */
export interface MysqlBackupCronJobProps extends BackupCronJobOptions, MysqlConnectionOptions {}

/**
 * A CronJob that dumps one MySQL or MariaDB database with `mariadb-dump --single-transaction`
 * (plain SQL with routines, events and triggers; restorable with `mariadb <database> < dump.sql`)
 * and streams it to storage.
 */
export class MysqlBackupCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;

  constructor(scope: Construct, id: string, props: MysqlBackupCronJobProps) {
    super(scope, id);
    this.cronJob = createBackupCronJob(this, props, { engine: 'mysql', env: mysqlEnv(props) });
  }
}

/** Props for `MysqlRestoreJob`. */
export interface MysqlRestoreJobProps extends RestoreJobOptions, MysqlConnectionOptions {}

/**
 * A Job that restores one backup of a `MysqlBackupCronJob` series with the `mariadb` client into a
 * database, which may be on another server or have another name than the one backed up. Apply it
 * by hand when needed; it runs once and is not retried.
 *
 * The target user needs all privileges on the database and, because the dump recreates views,
 * triggers, routines and events with their DEFINER, `SET USER` (MariaDB 10.5.2+) or `SUPER`.
 */
export class MysqlRestoreJob extends Construct {
  /** The underlying Job: an escape hatch for anything the props do not cover. */
  public readonly job: kplus.Job;

  constructor(scope: Construct, id: string, props: MysqlRestoreJobProps) {
    super(scope, id);
    this.job = createRestoreJob(this, props, { engine: 'mysql', env: mysqlEnv(props) });
  }
}

function mysqlEnv(props: MysqlConnectionOptions): Record<string, kplus.EnvValue> {
  const host = requireHost(props.host, 'mysql.db.svc', 'port, database and username');
  const database = requireNonEmpty('database', props.database, "'shop'");
  if (database.length > 64 || /[/\\.\n\r]/.test(database)) {
    throw new Error(`database: '${database}' is not a valid MySQL database name (at most 64 characters, none of / \\ . or line breaks).`);
  }
  const username = requireNonEmpty('username', props.username, "'backup'");
  const port = requirePort(props.port, 3306, 'MySQL');
  const env: Record<string, kplus.EnvValue> = {
    [ENV.MYSQL_HOST]: kplus.EnvValue.fromValue(host),
    [ENV.MYSQL_PORT]: kplus.EnvValue.fromValue(String(port)),
    [ENV.MYSQL_DATABASE]: kplus.EnvValue.fromValue(database),
    [ENV.MYSQL_USER]: kplus.EnvValue.fromValue(username),
  };
  if (props.password) {
    requireNonEmpty('password.key', props.password.key, "'password'");
    env[ENV.MYSQL_PASSWORD] = kplus.EnvValue.fromSecretValue(props.password);
  }
  if (props.tls === false) {
    env[ENV.MYSQL_TLS] = kplus.EnvValue.fromValue('false');
  }
  return env;
}
