import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJob, BackupCronJobOptions } from './backup-cron-job';
import { ENGINE_REGISTRY } from './registry';
import { RestoreJob, RestoreJobOptions } from './restore-job';
import * as rules from './rules';
import { RuleError } from './rules';
import { EngineConnection, secretEnvValue } from './runner-pod';
import { CA_FILE_PATH, TlsCertificate } from './tls';
import { booleanProp, numberProp } from './validation';

const MYSQL = ENGINE_REGISTRY.mysql;

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
  /**
   * The CA certificate that verifies the server's certificate, mounted read-only into the runner
   * container. Needs `tls`.
   * @default - the client's default CA store
   */
  readonly caCertificate?: TlsCertificate;
}

/** Props for `MysqlBackupCronJob`. */
export interface MysqlBackupCronJobProps extends BackupCronJobOptions, MysqlConnectionOptions {}

/**
 * A CronJob that dumps one MySQL or MariaDB database with `mariadb-dump --single-transaction`
 * (plain SQL with routines, events and triggers; restorable with `mariadb <database> < dump.sql`)
 * and streams it to storage. It is a backup series: give it to a `MysqlRestoreJob` as `series`.
 */
export class MysqlBackupCronJob extends BackupCronJob {
  constructor(scope: Construct, id: string, props: MysqlBackupCronJobProps) {
    super(scope, id, props, () => mysqlConnection(props ?? {} as any));
  }
}

/** Props for `MysqlRestoreJob`. */
export interface MysqlRestoreJobProps extends RestoreJobOptions, MysqlConnectionOptions {}

/**
 * A Job that restores one backup of a MySQL series with the `mariadb` client into a
 * database, which may be on another server or have another name than the one backed up. Apply it
 * by hand when needed; it runs once and is not retried.
 *
 * The target user needs all privileges on the database and, because the dump recreates views,
 * triggers, routines and events with their DEFINER, `SET USER` (MariaDB 10.5.2+) or `SUPER`.
 */
export class MysqlRestoreJob extends RestoreJob {
  constructor(scope: Construct, id: string, props: MysqlRestoreJobProps) {
    super(scope, id, props, () => mysqlConnection(props ?? {} as any), 'MysqlRestoreJob');
  }
}

function mysqlConnection(props: MysqlConnectionOptions): EngineConnection {
  const names = MYSQL.env;
  const database = rules.mysqlDatabaseName('database', rules.nonEmpty('database', props.database, "'shop'"));
  const env: Record<string, kplus.EnvValue> = {
    [names.HOST]: kplus.EnvValue.fromValue(rules.hostName('host', props.host, 'mysql.db.svc')),
    [names.PORT]: kplus.EnvValue.fromValue(String(rules.tcpPort('port', numberProp('port', props.port, String(MYSQL.defaultPort)), MYSQL.name))),
    [names.DATABASE]: kplus.EnvValue.fromValue(database),
    [names.USER]: kplus.EnvValue.fromValue(rules.nonEmpty('username', props.username, "'backup'")),
  };
  if (props.password) env[names.PASSWORD] = secretEnvValue('password', props.password);
  if (booleanProp('tls', props.tls) === false) {
    if (props.caCertificate) {
      throw new RuleError('caCertificate: has no effect with tls: false; remove tls: false to connect with TLS, or remove caCertificate.');
    }
    env[names.TLS] = kplus.EnvValue.fromValue('false');
  }
  if (props.caCertificate) env[names.TLS_CA_FILE] = kplus.EnvValue.fromValue(CA_FILE_PATH);
  return { engine: MYSQL.name, env, caCertificate: props.caCertificate };
}
