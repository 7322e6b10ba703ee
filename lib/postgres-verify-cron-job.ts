import { ApiObject, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ScheduledJob, ScheduledJobOptions, createScheduledJob } from './backup-cron-job';
import { COMMAND, ENV, LATEST_BACKUP_ID } from './contract';
import { postgresMajorVersion } from './postgres';
import { ENGINE_REGISTRY } from './registry';
import { RuleError } from './rules';
import { restrictedContainerSecurity } from './runner-pod';
import { BoundSeries, IBackupSeries, readSeries } from './series';
import { imageReference, numberProp, withConstructPath } from './validation';

const POSTGRES = ENGINE_REGISTRY.postgres;

/** Props for `PostgresVerifyCronJob`. */
export interface PostgresVerifyCronJobProps extends ScheduledJobOptions {
  /**
   * The series to verify: the `PostgresBackupCronJob` itself (`series: ordersBackup`), or
   * `BackupSeries.fromName(storage, 'orders', 'postgres')` for a series defined in another app.
   */
  readonly series: IBackupSeries;
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
   * 14.21, 15.16, 16.12, 17.8 or 18.2 (other majors must give postgresImage)
   */
  readonly postgresImage?: string;
  /**
   * An SQL query run in the restored database after the restore; it must return exactly one row
   * whose first column is true, e.g. `SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '2 days'`.
   * It reaches the runner as `BACKUP_VERIFY_SQL` in plain text in the CronJob, so keep secrets out of it.
   * @default - only the runner's own checks (checksum, a restore without errors)
   */
  readonly assertionSql?: string;
  /**
   * Resources of the throwaway PostgreSQL server.
   * @default - requests 250m CPU and 256Mi memory, limit 1Gi memory, no CPU limit
   */
  readonly postgresResources?: kplus.ContainerResources;
  /**
   * Size limit of the throwaway server's data directory (an emptyDir on the node's disk), which
   * holds the whole restored database. The pod is evicted when it grows beyond the limit, so give
   * room for the restored database with its indexes.
   * @default Size.gibibytes(10)
   */
  readonly dataSizeLimit?: Size;
}

// The uid and gid of the `postgres` user in the official Debian-based images.
const POSTGRES_UID = 999;
const POSTGRES_PORT = POSTGRES.defaultPort;
const DONE_DIR = '/run/backup-verify';
const DEFAULT_DATA_SIZE_LIMIT = Size.gibibytes(10);

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

/*
 * How the throwaway server stops when the verification is done.
 *
 * A Job completes only when every container of its pod has exited, and a database server never
 * exits by itself. Kubernetes' native sidecars (an init container with `restartPolicy: Always`)
 * solve exactly this, but only from Kubernetes 1.29 on (1.28 behind a feature gate); cdk8s-plus-27
 * and the 1.27 schemas do not know the field, and an older API server drops it silently, which
 * turns the server into an init container that never ends: the runner would never start and the
 * Job would hang until its deadline. So the server runs as an ordinary second container whose
 * command starts it in the background and stops it (fast shutdown, exit 0) once the runner has
 * created the done file in an emptyDir both containers mount. The runner creates that file on
 * every exit, so the pod's outcome is the runner's exit code; if the server dies first, this
 * container exits 1 and the pod fails. If the runner is killed without a chance to write the file
 * (SIGKILL, OOM), `activeDeadline` ends the Job. Works on every Kubernetes version.
 *
 * `docker-entrypoint.sh` is the official image's entrypoint: it runs initdb into the empty data
 * directory and then execs postgres. Listening only on 127.0.0.1 keeps the
 * server inside the pod, which is why `trust` authentication is safe here: only containers of
 * this pod can connect, and it holds nothing but a copy of a backup that the runner restores.
 * fsync and full-page writes are off because the data is thrown away with the pod. SIGINT is
 * postgres' fast shutdown; it is repeated because a background job of a script starts with SIGINT
 * ignored, so one sent while the entrypoint is still initializing (the runner failed early) is
 * lost, and postgres only handles it once the entrypoint has exec'd it.
 */
const SERVER_SCRIPT = `set -u
docker-entrypoint.sh postgres -c listen_addresses=127.0.0.1 -c port=${POSTGRES_PORT} \\
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off &
server=$!
stop() { while kill -INT "$server" 2>/dev/null; do sleep 1; done; wait "$server"; }
trap 'stop; exit 143' TERM INT
while [ ! -e "$${ENV.VERIFY_DONE_FILE}" ]; do
  if ! kill -0 "$server" 2>/dev/null; then
    echo 'postgres exited before the verification finished' >&2
    exit 1
  fi
  sleep 1
done
stop
exit 0
`;

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
    const built = withConstructPath(this, () => createVerifyCronJob(this, props ?? {} as PostgresVerifyCronJobProps));
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

function createVerifyCronJob(scope: Construct, props: PostgresVerifyCronJobProps): ScheduledJob {
  const series = readSeries(props.series, POSTGRES.name, 'PostgresVerifyCronJob');
  const major = sourceMajor(numberProp('postgresMajor', props.postgresMajor, '15'), series);
  const postgresImage = imageReference('postgresImage', props.postgresImage ?? defaultPostgresImage(major));
  const tagMajor = /:(\d+)(?:[.-][^/]*)?$/.exec(postgresImage)?.[1];
  if (tagMajor !== undefined && Number(tagMajor) !== major) {
    throw new RuleError(`postgresImage: '${postgresImage}' is PostgreSQL ${tagMajor} but postgresMajor is ${major}. Use an image of the source's major version, e.g. '${POSTGRES_IMAGES[major] ?? `postgres:${major}.<minor>`}'.`);
  }
  const commandEnv: Record<string, kplus.EnvValue> = {};
  if (props.assertionSql !== undefined) {
    if (typeof props.assertionSql !== 'string' || props.assertionSql.trim() === '') {
      throw new RuleError("assertionSql: must not be empty. Give a query that returns one row whose first column is true, e.g. 'SELECT count(*) > 0 FROM orders', or leave it out.");
    }
    commandEnv[ENV.VERIFY_SQL] = kplus.EnvValue.fromValue(props.assertionSql);
  }
  const doneFile = `${DONE_DIR}/done`;
  commandEnv[ENV.VERIFY_DONE_FILE] = kplus.EnvValue.fromValue(doneFile);

  const done = kplus.Volume.fromEmptyDir(scope, 'Done', 'verify-done', { sizeLimit: Size.mebibytes(1) });
  const data = kplus.Volume.fromEmptyDir(scope, 'Data', 'postgres-data', { sizeLimit: props.dataSizeLimit ?? DEFAULT_DATA_SIZE_LIMIT });
  const socket = kplus.Volume.fromEmptyDir(scope, 'Socket', 'postgres-socket', { sizeLimit: Size.mebibytes(1) });
  const serverTmp = kplus.Volume.fromEmptyDir(scope, 'ServerTmp', 'postgres-tmp', { sizeLimit: Size.mebibytes(64) });

  const server: kplus.ContainerProps = {
    name: 'postgres',
    image: postgresImage,
    imagePullPolicy: props.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['bash', '-c', SERVER_SCRIPT],
    envVariables: {
      // A subdirectory: postgres refuses a data directory it does not own, like the volume's root.
      PGDATA: kplus.EnvValue.fromValue(`${DATA_DIR}/pgdata`),
      POSTGRES_HOST_AUTH_METHOD: kplus.EnvValue.fromValue('trust'),
      POSTGRES_INITDB_ARGS: kplus.EnvValue.fromValue('--no-sync'),
      [ENV.VERIFY_DONE_FILE]: kplus.EnvValue.fromValue(doneFile),
    },
    resources: props.postgresResources ?? {
      cpu: { request: kplus.Cpu.millis(250) },
      memory: { request: Size.mebibytes(256), limit: Size.gibibytes(1) },
    },
    securityContext: restrictedContainerSecurity(POSTGRES_UID, POSTGRES_UID),
    volumeMounts: [
      { path: DATA_DIR, volume: data },
      { path: '/var/run/postgresql', volume: socket },
      { path: '/tmp', volume: serverTmp },
      { path: DONE_DIR, volume: done, readOnly: true },
    ],
  };

  return createScheduledJob(scope, props, {
    connection: {
      engine: POSTGRES.name,
      env: {
        [POSTGRES.env.HOST]: kplus.EnvValue.fromValue('127.0.0.1'),
        [POSTGRES.env.PORT]: kplus.EnvValue.fromValue(String(POSTGRES_PORT)),
        // The maintenance database: the runner creates a fresh database per verified backup.
        [POSTGRES.env.DATABASE]: kplus.EnvValue.fromValue('postgres'),
        [POSTGRES.env.USER]: kplus.EnvValue.fromValue('postgres'),
      },
    },
    command: COMMAND.VERIFY,
    storage: series.storage,
    backupName: series.backupName,
    args: [COMMAND.VERIFY, LATEST_BACKUP_ID],
    commandEnv,
    mounts: { [DONE_DIR]: done },
    sidecars: [server],
    sidecarVolumes: [data, socket, serverTmp],
    defaultBackoffLimit: 0,
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
