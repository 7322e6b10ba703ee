import { ApiObject, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ENV } from './contract';
import { imageAt } from './defaults';
import { PostgresParallelRestoreOptions, checkParallelServerMajor, parallelRestore, postgresMajorVersion } from './postgres';
import { ENGINE_REGISTRY } from './registry';
import { RuleError } from './rules';
import { BoundSeries } from './series';
import { imageReference, numberProp, withConstructPath } from './validation';
import { VerifyCronJobOptions, createVerifyCronJob } from './verify-cron-job';

const POSTGRES = ENGINE_REGISTRY.postgres;

/** Props for `PostgresVerifyCronJob`. */
export interface PostgresVerifyCronJobProps extends VerifyCronJobOptions, PostgresParallelRestoreOptions {
  /**
   * The major version of the PostgreSQL server that is backed up, e.g. `15`. The throwaway server
   * runs the same major, so a restore that works here works on a replacement of the source.
   * @default - the series' `serverMajorVersion` (a `PostgresBackupCronJob`'s `postgresMajor`)
   */
  readonly postgresMajor?: number;
  /**
   * The image of the throwaway server: an official `postgres` image (or one with the same
   * entrypoint and environment variables) of the same major as the source. Pin a minor version
   * or a digest, e.g. `registry.example.com/postgres:16.12` for a mirror.
   * @default - Docker Hub's `postgres` image pinned to a minor release of `postgresMajor`: 13.23,
   * 14.21, 15.16, 16.12, 17.8 or 18.2 (other majors must give postgresImage), mapped to the registry of `BackupDefaults.of(scope).useRegistry()`, if any
   */
  readonly postgresImage?: string;
  /**
   * An SQL query run in the restored database after the restore; it must return exactly one row
   * whose first column is true, e.g. `SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '2 days'`.
   * It reaches the runner as `BACKUP_VERIFY_SQL` in plain text in the CronJob, so keep secrets out of it.
   * The same as `assertions: [VerifyAssertion.sql(query)]`.
   * @default - no SQL check
   */
  readonly assertionSql?: string;
  /**
   * Resources of the throwaway PostgreSQL server.
   * @deprecated use `serverResources`
   * @default - requests 250m CPU and 256Mi memory, limit 1Gi memory, no CPU limit
   */
  readonly postgresResources?: kplus.ContainerResources;
}

// The uid and gid of the `postgres` user in the official Debian-based images.
const POSTGRES_UID = 999;
const POSTGRES_PORT = POSTGRES.defaultPort;

/**
 * The default throwaway server per source major: Docker Hub's official image pinned to a minor
 * release (February 2026's, 13.23 being 13's last), so a verification never changes its server
 * under a moving tag. Updated with the library's releases.
 */
const POSTGRES_IMAGES: Readonly<Record<number, string>> = {
  13: 'postgres:13.23',
  14: 'postgres:14.21',
  15: 'postgres:15.16',
  16: 'postgres:16.12',
  17: 'postgres:17.8',
  18: 'postgres:18.2',
};
const DATA_DIR = '/var/lib/postgresql/data';

/**
 * The official image's entrypoint runs initdb into the empty data directory and then execs
 * postgres. Listening only on 127.0.0.1 keeps the server inside the pod, which is why `trust`
 * authentication is safe here. fsync and full-page writes are off because the data is thrown away
 * with the pod. SIGINT is postgres' fast shutdown.
 */
const SERVER_START = `docker-entrypoint.sh postgres -c listen_addresses=127.0.0.1 -c port=${POSTGRES_PORT} \\
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;

/**
 * A CronJob that proves the newest backup of a `PostgresBackupCronJob` series can be restored:
 * each run restores it into a throwaway PostgreSQL server of the same major version inside the
 * pod, runs the checks (and `assertionSql`), and fails the Job if anything is wrong. Nothing
 * outside the pod is touched; the storage is only read.
 */
export class PostgresVerifyCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** The alert rules, when `alerts` is set. */
  public readonly prometheusRule?: ApiObject;

  constructor(scope: Construct, id: string, props: PostgresVerifyCronJobProps) {
    super(scope, id);
    const built = withConstructPath(this, () => createPostgresVerifyCronJob(this, props ?? {} as PostgresVerifyCronJobProps));
    this.cronJob = built.cronJob;
    this.prometheusRule = built.prometheusRule;
  }
}

function defaultPostgresImage(major: number): string {
  const image = POSTGRES_IMAGES[major];
  if (image === undefined) {
    const known = Object.keys(POSTGRES_IMAGES).join(', ');
    throw new RuleError(`postgresImage: there is no pinned default image for PostgreSQL ${major} (only for ${known}); give postgresImage, an image of PostgreSQL ${major} pinned to a minor version, e.g. 'postgres:${major}.<minor>'.`);
  }
  return image;
}

function createPostgresVerifyCronJob(scope: Construct, props: PostgresVerifyCronJobProps) {
  const commandEnv: Record<string, kplus.EnvValue> = {};
  if (props.assertionSql !== undefined) {
    if (typeof props.assertionSql !== 'string' || props.assertionSql.trim() === '') {
      throw new RuleError("assertionSql: must not be empty. Give a query that returns one row whose first column is true, e.g. 'SELECT count(*) > 0 FROM orders', or leave it out.");
    }
    commandEnv[ENV.VERIFY_SQL] = kplus.EnvValue.fromValue(props.assertionSql);
  }
  if (props.postgresResources !== undefined && props.serverResources !== undefined) {
    throw new RuleError('postgresResources: give serverResources only (postgresResources is its old name).');
  }
  const parallel = parallelRestore(scope, props);
  return createVerifyCronJob(scope, { ...props, serverResources: props.serverResources ?? props.postgresResources }, {
    engine: POSTGRES.name,
    consumer: 'PostgresVerifyCronJob',
    connectionEnv: {
      [POSTGRES.env.HOST]: kplus.EnvValue.fromValue('127.0.0.1'),
      [POSTGRES.env.PORT]: kplus.EnvValue.fromValue(String(POSTGRES_PORT)),
      // The maintenance database: the runner creates a fresh database per verified backup.
      [POSTGRES.env.DATABASE]: kplus.EnvValue.fromValue('postgres'),
      [POSTGRES.env.USER]: kplus.EnvValue.fromValue('postgres'),
    },
    commandEnv: { ...commandEnv, ...parallel.commandEnv },
    runnerMounts: parallel.mounts,
    server: (series, data) => {
      const major = sourceMajor(numberProp('postgresMajor', props.postgresMajor, '15'), series);
      if (parallel.mounts) checkParallelServerMajor(props.parallelism!, major);
      const postgresImage = imageReference('postgresImage', imageAt(scope, props.postgresImage, () => defaultPostgresImage(major)));
      const tagMajor = /:(\d+)(?:[.-][^/]*)?$/.exec(postgresImage)?.[1];
      if (tagMajor !== undefined && Number(tagMajor) !== major) {
        throw new RuleError(`postgresImage: '${postgresImage}' is PostgreSQL ${tagMajor} but postgresMajor is ${major}. Use an image of the source's major version, e.g. '${POSTGRES_IMAGES[major] ?? `postgres:${major}.<minor>`}'.`);
      }
      return {
        name: 'postgres',
        image: postgresImage,
        uid: POSTGRES_UID,
        start: SERVER_START,
        stopSignal: 'INT',
        env: {
          // A subdirectory: postgres refuses a data directory it does not own, like the volume's root.
          PGDATA: kplus.EnvValue.fromValue(`${DATA_DIR}/pgdata`),
          POSTGRES_HOST_AUTH_METHOD: kplus.EnvValue.fromValue('trust'),
          POSTGRES_INITDB_ARGS: kplus.EnvValue.fromValue('--no-sync'),
        },
        mounts: {
          [DATA_DIR]: data,
          '/var/run/postgresql': kplus.Volume.fromEmptyDir(scope, 'Socket', 'postgres-socket', { sizeLimit: Size.mebibytes(1) }),
          '/tmp': kplus.Volume.fromEmptyDir(scope, 'ServerTmp', 'postgres-tmp', { sizeLimit: Size.mebibytes(64) }),
        },
      };
    },
  });
}

/** The source's major version, from the prop or the series; they must agree when both give one. */
function sourceMajor(postgresMajor: number | undefined, series: BoundSeries): number {
  const recorded = series.serverMajorVersion === undefined
    ? undefined : postgresMajorVersion('series: serverMajorVersion', series.serverMajorVersion);
  if (postgresMajor === undefined) {
    if (recorded === undefined) {
      throw new RuleError(`postgresMajor: the series '${series.backupName}' does not record its server's major version; set postgresMajor here, or on its PostgresBackupCronJob, to the source server's major, e.g. 15 (SELECT current_setting('server_version_num')::int / 10000).`);
    }
    return recorded;
  }
  const major = postgresMajorVersion('postgresMajor', postgresMajor);
  if (recorded !== undefined && recorded !== major) {
    throw new RuleError(`postgresMajor: ${major} disagrees with ${recorded}, the major version the series '${series.backupName}' records (its PostgresBackupCronJob's postgresMajor); remove one of them or make them agree.`);
  }
  return major;
}
