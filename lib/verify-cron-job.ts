import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ScheduledJob, ScheduledJobOptions, createScheduledJob } from './backup-cron-job';
import { COMMAND, ENV, LATEST_BACKUP_ID } from './contract';
import { BackupDecryption, decryptionProp, mountIdentity } from './encryption';
import { ENGINE_REGISTRY, EngineName } from './registry';
import { RuleError } from './rules';
import { restrictedContainerSecurity } from './runner-pod';
import { BoundSeries, IBackupSeries, readSeries } from './series';
import { imageReference } from './validation';
import { VerifyAssertion } from './verify-assertion';
import { AssertionSpec, assertionSpec } from './verify-assertions';

/** Options every verify CronJob has, whatever the engine. */
export interface VerifyCronJobOptions extends ScheduledJobOptions {
  /**
   * The series to verify: the backup construct itself (`series: ordersBackup`), or
   * `BackupSeries.fromName(storage, 'orders', '<engine>')` for a series defined in another app.
   */
  readonly series: IBackupSeries;
  /**
   * Checks on the restored copy, after the runner's own (the checksum, a restore without errors,
   * and something restored at all: a backup that restores no table, key or collection fails
   * without any assertion). Each engine takes the kinds it can check: `VerifyAssertion.sql`,
   * `minRows` and `tablesExist` for PostgreSQL and MySQL, `minKeys` and `keysExist` for Redis,
   * `minDocuments` for MongoDB.
   * @default - only the runner's own checks
   */
  readonly assertions?: VerifyAssertion[];
  /**
   * Size limit of the throwaway server's data directory (an emptyDir on the node's disk), which
   * holds the whole restored copy. The pod is evicted when it grows beyond the limit, so give room
   * for the restored database with its indexes.
   * @default Size.gibibytes(10)
   */
  readonly dataSizeLimit?: Size;
  /**
   * Resources of the throwaway server.
   * @default - requests 250m CPU and 256Mi memory, limit 1Gi memory, no CPU limit
   */
  readonly serverResources?: kplus.ContainerResources;
  /**
   * The identity that decrypts the series' encrypted backups, mounted read-only into the runner
   * container only (not the throwaway server's). Required when the series' backup construct (of
   * this app) has `encryption`.
   * @default - none: an encrypted backup fails its verification
   */
  readonly decryption?: BackupDecryption;
}

/** The throwaway database server a verify pod runs beside the runner. @internal */
export interface ThrowawayServer {
  /** Container name, e.g. `mariadb`. */
  readonly name: string;
  /** The server's image, already checked. Its shell must be bash (the official Debian-based images). */
  readonly image: string;
  /** The uid and gid the image's server runs as (999 in the official images). */
  readonly uid: number;
  /** A bash command line that runs the server in the foreground (the script backgrounds it), listening on 127.0.0.1 only. */
  readonly start: string;
  /** The signal that shuts the server down cleanly and fast; sent again every second until it exits. */
  readonly stopSignal: 'INT' | 'TERM';
  /** A file the server needs before it can start (Redis: the RDB the runner restores); the server starts once it exists. */
  readonly startAfterFile?: string;
  readonly env?: Record<string, kplus.EnvValue>;
  /** The server's own volumes (data directory, socket, tmp) by mount path; the done directory is added. */
  readonly mounts: Record<string, kplus.Volume>;
}

/** What an engine's verify construct adds to the shared shape. @internal */
export interface VerifySpec {
  readonly engine: EngineName;
  /** The construct's class name, for messages: `MysqlVerifyCronJob`. */
  readonly consumer: string;
  /** How the runner reaches the throwaway server (the engine's usual variables, 127.0.0.1). */
  readonly connectionEnv: Record<string, kplus.EnvValue>;
  /** More runner variables. */
  readonly commandEnv?: Record<string, kplus.EnvValue>;
  /**
   * Where the runner mounts the server's data volume too, when the runner writes the data the
   * server starts from (Redis: the directory of the restored RDB); the server mounts it at the
   * same path.
   * @default - only the server mounts it
   */
  readonly shareDataAt?: string;
  /** More volumes the runner container mounts, by path (e.g. a parallel restore's spool). */
  readonly runnerMounts?: Record<string, kplus.Volume>;
  /**
   * The server, given the series and a data volume of `dataSizeLimit` (mount it at the server's
   * data directory).
   */
  server(series: BoundSeries, data: kplus.Volume): ThrowawayServer;
}

export const DEFAULT_DATA_SIZE_LIMIT = Size.gibibytes(10);
/** Where the runner creates the done file and the server's supervisor looks for it. */
const DONE_DIR = '/run/backup-verify';
const DONE_FILE = `${DONE_DIR}/done`;

/*
 * How the throwaway server stops when the verification is done.
 *
 * A Job completes only when every container of its pod has exited, and a database server never
 * exits by itself. Kubernetes' native sidecars (an init container with `restartPolicy: Always`)
 * solve exactly this, but only from Kubernetes 1.29 on (1.28 behind a feature gate); cdk8s-plus-27
 * and the 1.27 schemas do not know the field, and an older API server drops it silently, which
 * turns the server into an init container that never ends: the runner would never start and the
 * Job would hang until its deadline. So the server runs as an ordinary second container whose
 * command starts it in the background and stops it (a fast, clean shutdown, exit 0) once the
 * runner has created the done file in an emptyDir both containers mount. The runner creates that
 * file on every exit, so the pod's outcome is the runner's exit code; if the server dies first,
 * this container exits 1 and the pod fails. If the runner is killed without a chance to write the
 * file (SIGKILL, OOM), `activeDeadline` ends the Job. Works on every Kubernetes version.
 *
 * The stop signal is repeated because a background job of a script starts with SIGINT ignored, so
 * one sent while an entrypoint script is still initializing is lost until it execs the server.
 * Listening only on 127.0.0.1 keeps the server inside the pod, which is why password-less local
 * authentication is safe here: only containers of this pod can connect, and it holds nothing but a
 * copy of a backup.
 */
export function supervisorScript(server: ThrowawayServer): string {
  const waitForInput = server.startAfterFile === undefined ? '' : `# The server starts from what the runner restores: wait for it (or for the runner to give up).
while [ ! -e ${shellQuote(server.startAfterFile)} ]; do
  if [ -e "$${ENV.VERIFY_DONE_FILE}" ]; then exit 0; fi
  sleep 1
done
`;
  return `set -u
${waitForInput}${server.start} &
server=$!
stop() { while kill -${server.stopSignal} "$server" 2>/dev/null; do sleep 1; done; wait "$server"; }
trap 'stop; exit 143' TERM INT
while [ ! -e "$${ENV.VERIFY_DONE_FILE}" ]; do
  if ! kill -0 "$server" 2>/dev/null; then
    echo '${server.name} exited before the verification finished' >&2
    exit 1
  fi
  sleep 1
done
stop
exit 0
`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** The assertions for `engine`, checked, as BACKUP_VERIFY_ASSERTIONS holds them; undefined when none. */
export function assertionsEnv(assertions: VerifyAssertion[] | undefined, engine: EngineName): string | undefined {
  if (assertions === undefined) return undefined;
  if (!Array.isArray(assertions)) throw new RuleError('assertions: expected a list, e.g. [VerifyAssertion.minRows(\'orders\', 1)].');
  const specs: AssertionSpec[] = assertions.map((a, i) => {
    if (!(a instanceof VerifyAssertion)) {
      throw new RuleError(`assertions[${i}]: expected a VerifyAssertion, e.g. VerifyAssertion.minRows('orders', 1).`);
    }
    return assertionSpec(`assertions[${i}]`, a._spec(), engine);
  });
  return specs.length === 0 ? undefined : JSON.stringify(specs);
}

/**
 * A verify CronJob: the runner restores the newest backup of the series into a throwaway server
 * beside it in the pod and checks it; the server stops when the runner is done. @internal
 */
export function createVerifyCronJob(scope: Construct, props: VerifyCronJobOptions, spec: VerifySpec): ScheduledJob {
  const series = readSeries(props.series, spec.engine, spec.consumer);
  const assertions = assertionsEnv(props.assertions, spec.engine);
  const decryption = decryptionProp(props.decryption, series, spec.consumer);
  const commandEnv: Record<string, kplus.EnvValue> = { ...spec.commandEnv };
  if (assertions !== undefined) commandEnv[ENV.VERIFY_ASSERTIONS] = kplus.EnvValue.fromValue(assertions);
  commandEnv[ENV.VERIFY_DONE_FILE] = kplus.EnvValue.fromValue(DONE_FILE);

  const done = kplus.Volume.fromEmptyDir(scope, 'Done', 'verify-done', { sizeLimit: Size.mebibytes(1) });
  const data = kplus.Volume.fromEmptyDir(scope, 'Data', `${ENGINE_REGISTRY[spec.engine].name}-data`, { sizeLimit: props.dataSizeLimit ?? DEFAULT_DATA_SIZE_LIMIT });
  const server = spec.server(series, data);
  imageReference(`${server.name} image`, server.image);
  const shared: Record<string, kplus.Volume> = spec.shareDataAt === undefined ? {} : { [spec.shareDataAt]: data };

  const serverMounts: kplus.VolumeMount[] = Object.entries({ ...shared, ...server.mounts }).map(([path, volume]) => ({ path, volume }));
  serverMounts.push({ path: DONE_DIR, volume: done, readOnly: true });
  const container: kplus.ContainerProps = {
    name: server.name,
    image: server.image,
    imagePullPolicy: props.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['bash', '-c', supervisorScript(server)],
    envVariables: { ...server.env, [ENV.VERIFY_DONE_FILE]: kplus.EnvValue.fromValue(DONE_FILE) },
    resources: props.serverResources ?? {
      cpu: { request: kplus.Cpu.millis(250) },
      memory: { request: Size.mebibytes(256), limit: Size.gibibytes(1) },
    },
    securityContext: restrictedContainerSecurity(server.uid, server.uid),
    volumeMounts: serverMounts,
  };
  const serverOnly = new Set(Object.values(server.mounts).filter(v => v !== data || spec.shareDataAt === undefined));

  const scheduled = createScheduledJob(scope, props, {
    connection: { engine: spec.engine, env: spec.connectionEnv },
    command: COMMAND.VERIFY,
    storage: series.storage,
    backupName: series.backupName,
    args: [COMMAND.VERIFY, LATEST_BACKUP_ID],
    commandEnv,
    mounts: { [DONE_DIR]: done, ...shared, ...spec.runnerMounts },
    sidecars: [container],
    sidecarVolumes: [...serverOnly],
    defaultBackoffLimit: 0,
  });
  if (decryption) mountIdentity(scope, scheduled.cronJob, decryption);
  return scheduled;
}
