import { ApiObject, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { imageAt } from './defaults';
import { ENGINE_REGISTRY } from './registry';
import { RuleError } from './rules';
import { imageReference, withConstructPath } from './validation';
import { VerifyCronJobOptions, createVerifyCronJob } from './verify-cron-job';

const MYSQL_ENGINE = ENGINE_REGISTRY.mysql;

/** Which official image family the throwaway server of a `MysqlVerifyCronJob` comes from. */
export enum MysqlServerFlavor {
  /** Docker Hub's official `mariadb` image (its entrypoint's `MARIADB_*` variables, `mariadbd`). */
  MARIADB = 'mariadb',
  /** Docker Hub's official `mysql` image (its entrypoint's `MYSQL_*` variables, `mysqld`). */
  MYSQL = 'mysql',
}

/** Props for `MysqlVerifyCronJob`. */
export interface MysqlVerifyCronJobProps extends VerifyCronJobOptions {
  /**
   * The image of the throwaway server: Docker Hub's official `mariadb` or `mysql` image, or one
   * with the same entrypoint and environment variables (a mirror), of the family and major
   * release of the backed-up server. Pin a minor version or a digest, e.g.
   * `registry.example.com/mariadb:11.8.6`.
   * @default - `mariadb:11.8.6` (MariaDB's long-term release), or `mysql:8.4.8` when `serverFlavor` is MYSQL,
   * mapped to the registry of `BackupDefaults.of(scope).useRegistry()`, if any
   */
  readonly mysqlImage?: string;
  /**
   * Whether `mysqlImage` is a MariaDB or a MySQL image: their entrypoints differ.
   * @default - from the image's repository name (`…/mariadb:…` or `…/mysql:…`); MARIADB without `mysqlImage`
   */
  readonly serverFlavor?: MysqlServerFlavor;
}

/** The default throwaway servers: Docker Hub's official images pinned to a minor release (February 2026's). */
const DEFAULT_IMAGES: Readonly<Record<MysqlServerFlavor, string>> = {
  [MysqlServerFlavor.MARIADB]: 'mariadb:11.8.6',
  [MysqlServerFlavor.MYSQL]: 'mysql:8.4.8',
};

// The uid and gid of the `mysql` user in both official images (the mysql image sets 999
// explicitly; the mariadb image's `useradd -r` on Ubuntu gets the first system id, 999).
const MYSQL_UID = 999;
const MYSQL_PORT = MYSQL_ENGINE.defaultPort;
const DATA_DIR = '/var/lib/mysql';
/** The unix socket and pid file; the entrypoints' temporary init server listens only here. */
const RUN_DIR = '/run/mysqld';

/**
 * The official entrypoint initializes the empty data directory (root without a password, allowed
 * only from 127.0.0.1, no time zone tables), runs a temporary socket-only server for that, then
 * execs the server with these flags. `--bind-address=127.0.0.1` keeps it inside the pod (MySQL's X
 * protocol, which listens on every address by default, is off); `--skip-name-resolve` makes a
 * connection from 127.0.0.1 match `root@127.0.0.1`. Binary logging, the doublewrite buffer and a
 * flush per commit are off: the data is thrown away with the pod. SIGTERM is a clean shutdown.
 */
function serverStart(flavor: MysqlServerFlavor): string {
  const binary = flavor === MysqlServerFlavor.MARIADB ? 'mariadbd' : 'mysqld';
  const flags = [
    '--bind-address=127.0.0.1', `--port=${MYSQL_PORT}`, '--skip-name-resolve',
    `--socket=${RUN_DIR}/mysqld.sock`, `--pid-file=${RUN_DIR}/mysqld.pid`,
    '--skip-log-bin', '--innodb-doublewrite=OFF', '--innodb-flush-log-at-trx-commit=0',
    ...(flavor === MysqlServerFlavor.MYSQL ? ['--mysqlx=OFF'] : []),
  ];
  return `docker-entrypoint.sh ${binary} ${flags.join(' ')}`;
}

function serverEnv(flavor: MysqlServerFlavor): Record<string, kplus.EnvValue> {
  const names = flavor === MysqlServerFlavor.MARIADB
    ? { empty: 'MARIADB_ALLOW_EMPTY_ROOT_PASSWORD', host: 'MARIADB_ROOT_HOST', tz: 'MARIADB_INITDB_SKIP_TZINFO' }
    : { empty: 'MYSQL_ALLOW_EMPTY_PASSWORD', host: 'MYSQL_ROOT_HOST', tz: 'MYSQL_INITDB_SKIP_TZINFO' };
  return {
    [names.empty]: kplus.EnvValue.fromValue('1'),
    // Only root@localhost (the socket) and root@127.0.0.1, instead of the default root@'%'.
    [names.host]: kplus.EnvValue.fromValue('127.0.0.1'),
    [names.tz]: kplus.EnvValue.fromValue('1'),
  };
}

/** The family an image's repository name says (`mariadb`, `mysql`), or undefined for another name. */
function flavorOfImage(image: string): MysqlServerFlavor | undefined {
  const repository = image.split('@')[0].replace(/:[^/]*$/, '');
  const name = repository.slice(repository.lastIndexOf('/') + 1);
  return name === 'mariadb' ? MysqlServerFlavor.MARIADB : name === 'mysql' ? MysqlServerFlavor.MYSQL : undefined;
}

function serverImage(scope: Construct, props: MysqlVerifyCronJobProps): { image: string; flavor: MysqlServerFlavor } {
  const given = props.serverFlavor;
  if (given !== undefined && !Object.values(MysqlServerFlavor).includes(given)) {
    throw new RuleError(`serverFlavor: '${String(given)}' is not a server flavor; use MysqlServerFlavor.MARIADB or MysqlServerFlavor.MYSQL.`);
  }
  const image = imageReference('mysqlImage', imageAt(scope, props.mysqlImage, () => DEFAULT_IMAGES[given ?? MysqlServerFlavor.MARIADB]));
  if (props.mysqlImage === undefined) return { image, flavor: given ?? MysqlServerFlavor.MARIADB };
  const named = flavorOfImage(image);
  if (given !== undefined && named !== undefined && given !== named) {
    throw new RuleError(`serverFlavor: '${given}' disagrees with mysqlImage '${image}', a ${named} image; remove serverFlavor or make them agree.`);
  }
  const flavor = given ?? named;
  if (flavor === undefined) {
    throw new RuleError(`serverFlavor: cannot tell from mysqlImage '${image}' whether it is a MariaDB or a MySQL image; set serverFlavor to MysqlServerFlavor.MARIADB or MysqlServerFlavor.MYSQL.`);
  }
  return { image, flavor };
}

/**
 * A CronJob that proves the newest backup of a `MysqlBackupCronJob` series can be restored: each
 * run restores it into a throwaway MariaDB (or MySQL) server inside the pod, checks that it
 * restored tables, runs the `assertions`, and fails the Job if anything is wrong. Nothing outside
 * the pod is touched; the storage is only read.
 */
export class MysqlVerifyCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** The alert rules, when `alerts` is set. */
  public readonly prometheusRule?: ApiObject;

  constructor(scope: Construct, id: string, props: MysqlVerifyCronJobProps) {
    super(scope, id);
    const built = withConstructPath(this, () => createMysqlVerifyCronJob(this, props ?? {} as MysqlVerifyCronJobProps));
    this.cronJob = built.cronJob;
    this.prometheusRule = built.prometheusRule;
  }
}

function createMysqlVerifyCronJob(scope: Construct, props: MysqlVerifyCronJobProps) {
  const { image, flavor } = serverImage(scope, props);
  return createVerifyCronJob(scope, props, {
    engine: MYSQL_ENGINE.name,
    consumer: 'MysqlVerifyCronJob',
    connectionEnv: {
      [MYSQL_ENGINE.env.HOST]: kplus.EnvValue.fromValue('127.0.0.1'),
      [MYSQL_ENGINE.env.PORT]: kplus.EnvValue.fromValue(String(MYSQL_PORT)),
      [MYSQL_ENGINE.env.USER]: kplus.EnvValue.fromValue('root'),
      // The database the runner connects to; it creates a fresh database per verified backup.
      [MYSQL_ENGINE.env.DATABASE]: kplus.EnvValue.fromValue('mysql'),
      // Loopback inside the pod: the throwaway server has no certificate worth verifying.
      [MYSQL_ENGINE.env.TLS]: kplus.EnvValue.fromValue('false'),
    },
    server: (_series, data) => ({
      name: flavor,
      image,
      uid: MYSQL_UID,
      start: serverStart(flavor),
      stopSignal: 'TERM',
      env: serverEnv(flavor),
      mounts: {
        [DATA_DIR]: data,
        [RUN_DIR]: kplus.Volume.fromEmptyDir(scope, 'Run', `${flavor}-run`, { sizeLimit: Size.mebibytes(1) }),
        '/tmp': kplus.Volume.fromEmptyDir(scope, 'ServerTmp', `${flavor}-tmp`, { sizeLimit: Size.gibibytes(1) }),
      },
    }),
  });
}
