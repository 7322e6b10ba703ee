import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { imageAt } from './defaults';
import { ENGINE_REGISTRY } from './registry';
import { imageReference, withConstructPath } from './validation';
import { ThrowawayServer, VerifyCronJobOptions, createVerifyCronJob } from './verify-cron-job';

const REDIS = ENGINE_REGISTRY.redis;

/** Props for `RedisVerifyCronJob`. */
export interface RedisVerifyCronJobProps extends VerifyCronJobOptions {
  /**
   * The image of the throwaway server: an official `redis` image (or one with `redis-server` on
   * its PATH, bash, and the `redis` user as uid 999) pinned to a version, at least as new as the
   * Redis that is backed up: a Redis refuses an RDB written by a newer one. Keys of module types
   * (RedisJSON, RediSearch, …) load only where the image has those modules.
   * @default 'redis:8.0.2' (Docker Hub's official image), mapped to the registry of `BackupDefaults.of(scope).useRegistry()`, if any
   */
  readonly redisImage?: string;
}

/** The uid and gid of the `redis` user in the official Debian-based images. */
const REDIS_UID = 999;
/** The official image's data directory: the runner and the server share it. */
const DATA_DIR = '/data';
const RDB_NAME = 'dump.rdb';
/**
 * Docker Hub's official image, pinned to a release (updated with the library's releases): the
 * release of the image's redis-check-rdb (Debian trixie's redis-tools), and new enough to load the
 * RDB of every Redis up to 8.0.
 */
const DEFAULT_REDIS_IMAGE = 'redis:8.0.2';

/**
 * The throwaway server's command line: the RDB the runner restored into `dir`, on 127.0.0.1 only,
 * and nothing ever written back (no snapshots, no append-only file). @internal
 */
export function redisVerifyServerStart(dir: string, port: number): string {
  return `redis-server --bind 127.0.0.1 --port ${port} --dir '${dir}' --dbfilename ${RDB_NAME}`
    + " --save '' --appendonly no --protected-mode yes";
}

/**
 * A CronJob that proves the newest backup of a `RedisBackupCronJob` series can be loaded: each
 * run checks the RDB (the checksum, then `redis-check-rdb`), places it in a volume shared with a
 * throwaway `redis-server` in the pod, which starts from it, and counts and checks its keys
 * (`VerifyAssertion.minKeys`, `keysExist`). A backup without a key fails. Nothing outside the pod
 * is touched; the storage is only read.
 */
export class RedisVerifyCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** The alert rules, when `alerts` is set. */
  public readonly prometheusRule?: ApiObject;

  constructor(scope: Construct, id: string, props: RedisVerifyCronJobProps) {
    super(scope, id);
    const built = withConstructPath(this, () => createRedisVerifyCronJob(this, props ?? {} as RedisVerifyCronJobProps));
    this.cronJob = built.cronJob;
    this.prometheusRule = built.prometheusRule;
  }
}

function createRedisVerifyCronJob(scope: Construct, props: RedisVerifyCronJobProps) {
  const port = REDIS.defaultPort;
  return createVerifyCronJob(scope, props, {
    engine: REDIS.name,
    consumer: 'RedisVerifyCronJob',
    connectionEnv: {
      [REDIS.env.HOST]: kplus.EnvValue.fromValue('127.0.0.1'),
      [REDIS.env.PORT]: kplus.EnvValue.fromValue(String(port)),
      [REDIS.env.RESTORE_FILE]: kplus.EnvValue.fromValue(`${DATA_DIR}/${RDB_NAME}`),
    },
    // The runner writes the RDB into the data volume and the server reads it: both mount it (it
    // holds the file; the server keeps its dataset in memory, bounded by serverResources).
    shareDataAt: DATA_DIR,
    server: (): ThrowawayServer => ({
      name: 'redis',
      image: imageReference('redisImage', imageAt(scope, props.redisImage, () => DEFAULT_REDIS_IMAGE)),
      uid: REDIS_UID,
      start: redisVerifyServerStart(DATA_DIR, port),
      // redis-server shuts down on SIGTERM; with no save points it writes nothing.
      stopSignal: 'TERM',
      // The runner places the file only after the checksum and redis-check-rdb passed.
      startAfterFile: `${DATA_DIR}/${RDB_NAME}`,
      mounts: {},
    }),
  });
}
