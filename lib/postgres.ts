import { Size, SizeRoundingBehavior } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJob, BackupCronJobOptions } from './backup-cron-job';
import { ENV, IMAGE } from './contract';
import { ENGINE_REGISTRY } from './registry';
import { EngineRunnerExtras, RestoreJob, RestoreJobOptions } from './restore-job';
import * as rules from './rules';
import { RuleError } from './rules';
import { EngineConnection, secretEnvValue } from './runner-pod';
import { CA_FILE_PATH, TlsCertificate } from './tls';
import { numberProp, withConstructPath } from './validation';

const POSTGRES = ENGINE_REGISTRY.postgres;

/** libpq's `sslmode`: whether the connection uses TLS and what it checks. */
export enum PostgresSslMode {
  /** No TLS. */
  DISABLE = 'disable',
  /** TLS only when the server insists; no certificate check. */
  ALLOW = 'allow',
  /** TLS when the server offers it (libpq's default); no certificate check. */
  PREFER = 'prefer',
  /** Always TLS; with a `caCertificate` the server's certificate is checked against it. */
  REQUIRE = 'require',
  /** Always TLS, and the server's certificate must be signed by the `caCertificate`. */
  VERIFY_CA = 'verify-ca',
  /** Always TLS, the server's certificate signed by the `caCertificate` and issued for `host`. */
  VERIFY_FULL = 'verify-full',
}

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
  /**
   * Whether the connection uses TLS and what it checks (`PGSSLMODE`).
   * @default - PostgresSslMode.VERIFY_FULL with a `caCertificate`, otherwise libpq's default (`prefer`)
   */
  readonly sslMode?: PostgresSslMode;
  /**
   * The CA certificate that verifies the server's certificate (`PGSSLROOTCERT`), mounted read-only
   * into the runner container. Needs an `sslMode` that always uses TLS.
   * @default - none: with VERIFY_CA or VERIFY_FULL give one
   */
  readonly caCertificate?: TlsCertificate;
}

/** Props for `PostgresBackupCronJob`. */
export interface PostgresBackupCronJobProps extends BackupCronJobOptions, PostgresConnectionOptions {
  /**
   * The major version of the PostgreSQL server that is backed up, e.g. `15`. Recorded on the
   * series, so a `PostgresVerifyCronJob` of it runs a throwaway server of the same major.
   * @default - unknown: a `PostgresVerifyCronJob` of this series must give `postgresMajor` itself
   */
  readonly postgresMajor?: number;
}

/**
 * A CronJob that dumps one PostgreSQL database with `pg_dump` (custom format, restorable with
 * `pg_restore`) and streams it to storage. It is a backup series: give it to a
 * `PostgresRestoreJob` or `PostgresVerifyCronJob` as `series`.
 */
export class PostgresBackupCronJob extends BackupCronJob {
  /** The source server's major version, from `postgresMajor`. */
  public readonly serverMajorVersion?: number;

  constructor(scope: Construct, id: string, props: PostgresBackupCronJobProps) {
    super(scope, id, props, () => postgresConnection(props ?? {} as any));
    const major = withConstructPath(this, () => numberProp('postgresMajor', props.postgresMajor, '15'));
    if (major !== undefined) this.serverMajorVersion = withConstructPath(this, () => postgresMajorVersion('postgresMajor', major));
  }
}

/** How a PostgreSQL restore (a restore Job, a verification) loads the archive. */
export interface PostgresParallelRestoreOptions {
  /**
   * Parallel `pg_restore` jobs. 1 streams the backup into the target in one transaction: a
   * failed restore leaves the target as it was. 2 or more spool the archive (decompressed) to a
   * volume of `spoolSizeLimit` while its sha256 is checked, then run `pg_restore --jobs=N` from
   * the file: faster on databases of many tables, but each job commits its own work, so a restore
   * that fails part-way leaves what it restored. Needs a target server of the image's pg_restore
   * major version or newer (17), since an older one is restored through psql, in one stream.
   * @default 1
   */
  readonly parallelism?: number;
  /**
   * Size limit of the spool volume (an emptyDir on the node's disk) that a parallel restore writes
   * the archive to: at least the largest backup's size before compression (`list` prints it as
   * `rawBytes`). The runner refuses a larger archive before any byte moves. Only with
   * `parallelism` of 2 or more.
   * @default - none; required when `parallelism` is 2 or more
   */
  readonly spoolSizeLimit?: Size;
}

/** Props for `PostgresRestoreJob`. */
export interface PostgresRestoreJobProps extends RestoreJobOptions, PostgresConnectionOptions, PostgresParallelRestoreOptions {}

/**
 * A Job that restores one backup of a PostgreSQL series with `pg_restore` into a PostgreSQL
 * database, which may be another server or database than the one backed up. Apply it by hand
 * when needed; it runs once and is not retried.
 */
export class PostgresRestoreJob extends RestoreJob {
  constructor(scope: Construct, id: string, props: PostgresRestoreJobProps) {
    super(scope, id, props, () => postgresConnection(props ?? {} as any), 'PostgresRestoreJob', s => parallelRestore(s, props ?? {} as any));
  }
}

/**
 * The pg_restore of the companion image (Debian trixie's postgresql-client): a parallel restore
 * needs a target of this major or newer. @internal
 */
export const IMAGE_PG_RESTORE_MAJOR = 17;

/**
 * A parallel restore into a server of `serverMajor`, where that is known at synth (a
 * verification's throwaway server): not older than the image's pg_restore. @internal
 */
export function checkParallelServerMajor(parallelism: number, serverMajor: number): void {
  if (serverMajor < IMAGE_PG_RESTORE_MAJOR) {
    throw new RuleError(`parallelism: ${parallelism} needs a server of PostgreSQL ${IMAGE_PG_RESTORE_MAJOR} or newer (the image's pg_restore); a PostgreSQL ${serverMajor} server `
      + 'is restored through psql, in one stream. Use parallelism 1, or verify on a newer major.');
  }
}

/** The runner variables and the spool volume of `parallelism`; none for 1. @internal */
export function parallelRestore(scope: Construct, props: PostgresParallelRestoreOptions): EngineRunnerExtras {
  const parallelism = rules.restoreParallelism('parallelism', numberProp('parallelism', props.parallelism, '2') ?? 1);
  if (props.spoolSizeLimit !== undefined && !(props.spoolSizeLimit instanceof Size)) {
    throw new RuleError('spoolSizeLimit: must be a Size, e.g. Size.gibibytes(20).');
  }
  const limitSize = props.spoolSizeLimit;
  const bytes = limitSize === undefined ? undefined : Math.floor(limitSize.toKibibytes({ rounding: SizeRoundingBehavior.NONE }) * 1024);
  const limit = rules.restoreSpoolLimit('parallelism', parallelism, 'spoolSizeLimit', bytes);
  if (limit === undefined) return {};
  const spool = kplus.Volume.fromEmptyDir(scope, 'RestoreSpool', 'restore-spool', { sizeLimit: props.spoolSizeLimit });
  return {
    commandEnv: {
      [ENV.RESTORE_PARALLELISM]: kplus.EnvValue.fromValue(String(parallelism)),
      [ENV.RESTORE_SPOOL_LIMIT_BYTES]: kplus.EnvValue.fromValue(String(limit)),
    },
    mounts: { [IMAGE.RESTORE_SPOOL_DIR]: spool },
  };
}

/** A PostgreSQL major version: 10 or later, a whole number. @internal */
export function postgresMajorVersion(field: string, major: number): number {
  if (!Number.isInteger(major) || major < 10) {
    throw new RuleError(`${field}: ${major} is not a PostgreSQL major version; use the source server's major, a whole number like 15 or 16 (SELECT current_setting('server_version_num')::int / 10000).`);
  }
  return major;
}

// Modes that may fall back to a connection without TLS, where a CA would protect nothing.
const WITHOUT_TLS: readonly string[] = [PostgresSslMode.DISABLE, PostgresSslMode.ALLOW, PostgresSslMode.PREFER];
const VERIFYING: readonly string[] = [PostgresSslMode.VERIFY_CA, PostgresSslMode.VERIFY_FULL];

/** libpq's own variables for a connection. */
function postgresConnection(props: PostgresConnectionOptions): EngineConnection {
  const names = POSTGRES.env;
  const env: Record<string, kplus.EnvValue> = {
    [names.HOST]: kplus.EnvValue.fromValue(rules.hostName('host', props.host, 'postgres.db.svc')),
    [names.PORT]: kplus.EnvValue.fromValue(String(rules.tcpPort('port', numberProp('port', props.port, String(POSTGRES.defaultPort)), POSTGRES.name))),
    [names.DATABASE]: kplus.EnvValue.fromValue(rules.nonEmpty('database', props.database, "'orders'")),
    [names.USER]: kplus.EnvValue.fromValue(rules.nonEmpty('username', props.username, "'backup'")),
  };
  if (props.password) env[names.PASSWORD] = secretEnvValue('password', props.password);

  const ca = props.caCertificate;
  const sslMode = props.sslMode === undefined
    ? (ca ? PostgresSslMode.VERIFY_FULL : undefined)
    : rules.postgresSslMode('sslMode', props.sslMode);
  if (ca && WITHOUT_TLS.includes(sslMode!)) {
    throw new RuleError(`caCertificate: sslMode '${sslMode}' can connect without TLS, so the CA would protect nothing; use PostgresSslMode.VERIFY_FULL (or VERIFY_CA, REQUIRE), or remove caCertificate.`);
  }
  if (!ca && sslMode !== undefined && VERIFYING.includes(sslMode)) {
    throw new RuleError(`sslMode: '${sslMode}' checks the server's certificate against a CA; give caCertificate: TlsCertificate.fromSecret(secret, 'ca.crt') (or fromConfigMap), or use PostgresSslMode.REQUIRE.`);
  }
  if (sslMode !== undefined) env[names.SSL_MODE] = kplus.EnvValue.fromValue(sslMode);
  if (ca) env[names.SSL_ROOT_CERT] = kplus.EnvValue.fromValue(CA_FILE_PATH);
  return { engine: POSTGRES.name, env, caCertificate: ca };
}
