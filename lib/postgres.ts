import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJobOptions, createBackupCronJob, requireHost, requireNonEmpty, requirePort } from './backup-cron-job';
import { ENV } from './contract';

/** Props for `PostgresBackupCronJob`. */
export interface PostgresBackupCronJobProps extends BackupCronJobOptions {
  /** Host name of the PostgreSQL server, e.g. the Service `postgres.db.svc`. */
  readonly host: string;
  /**
   * TCP port of the PostgreSQL server.
   * @default 5432
   */
  readonly port?: number;
  /** The database to dump. */
  readonly database: string;
  /** The role pg_dump connects as; it needs read access to everything dumped. */
  readonly username: string;
  /**
   * The role's password, from a Secret (reaches the pod as `PGPASSWORD` via `secretKeyRef`).
   * @default - no password (e.g. `trust` authentication or client certificates)
   */
  readonly password?: kplus.SecretValue;
}

/**
 * A CronJob that dumps one PostgreSQL database with `pg_dump` (custom format, restorable with
 * `pg_restore`) and streams it to storage.
 */
export class PostgresBackupCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;

  constructor(scope: Construct, id: string, props: PostgresBackupCronJobProps) {
    super(scope, id);
    const host = requireHost(props.host, 'postgres.db.svc', 'port, database and username');
    const database = requireNonEmpty('database', props.database, "'orders'");
    const username = requireNonEmpty('username', props.username, "'backup'");
    const port = requirePort(props.port, 5432, 'PostgreSQL');
    if (props.password) {
      requireNonEmpty('password.key', props.password.key, "'password'");
    }
    const env: Record<string, kplus.EnvValue> = {
      [ENV.PGHOST]: kplus.EnvValue.fromValue(host),
      [ENV.PGPORT]: kplus.EnvValue.fromValue(String(port)),
      [ENV.PGDATABASE]: kplus.EnvValue.fromValue(database),
      [ENV.PGUSER]: kplus.EnvValue.fromValue(username),
    };
    if (props.password) {
      env[ENV.PGPASSWORD] = kplus.EnvValue.fromSecretValue(props.password);
    }
    this.cronJob = createBackupCronJob(this, props, { engine: 'postgres', env });
  }
}
