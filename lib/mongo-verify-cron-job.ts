import { ApiObject, Size, SizeRoundingBehavior } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { imageAt } from './defaults';
import { ENGINE_REGISTRY } from './registry';
import { imageReference, withConstructPath } from './validation';
import { ThrowawayServer, VerifyCronJobOptions, createVerifyCronJob } from './verify-cron-job';

const MONGO = ENGINE_REGISTRY.mongo;

/** Props for `MongoVerifyCronJob`. */
export interface MongoVerifyCronJobProps extends VerifyCronJobOptions {
  /**
   * The image of the throwaway server: an official `mongo` image (or one with `mongod` on its PATH,
   * bash, and the `mongodb` user as uid 999) pinned to a version, of the source's major version or
   * a newer one that still reads its data (MongoDB restores a dump into the next major).
   * @default 'mongo:8.0.19' (Docker Hub's official image, February 2026's 8.0 release),
   * mapped to the registry of `BackupDefaults.of(scope).useRegistry()`, if any
   */
  readonly mongoImage?: string;
}

/** The uid and gid of the `mongodb` user in the official images. */
const MONGO_UID = 999;
const MONGO_PORT = MONGO.defaultPort;
/** The official image's data directory. */
const DATA_DIR = '/data/db';
/** Docker Hub's official image, pinned to a release (updated with the library's releases). */
const DEFAULT_MONGO_IMAGE = 'mongo:8.0.19';
/** The memory limit the server gets unless serverResources gives one (the shared default). */
const DEFAULT_MEMORY_LIMIT = Size.gibibytes(1);

/**
 * The WiredTiger cache for a memory limit, by MongoDB's own default rule (half of the memory
 * less 1 GiB, at least 0.25 GiB) applied to the container's limit rather than the node's memory.
 */
function mongoCacheSizeGb(memoryLimit: Size): number {
  const gib = memoryLimit.toGibibytes({ rounding: SizeRoundingBehavior.NONE });
  return Math.max(0.25, Math.floor(((gib - 1) / 2) * 100) / 100);
}

/**
 * The throwaway server's command line: `mongod` without the image's entrypoint (which would add
 * --bind_ip_all), on 127.0.0.1 only, no Unix socket, its data on the emptyDir. Without
 * authentication, which is safe because only containers of this pod can reach it.
 */
function mongoVerifyServerStart(memoryLimit: Size): string {
  return `mongod --bind_ip 127.0.0.1 --port ${MONGO_PORT} --dbpath ${DATA_DIR} --nounixsocket`
    + ` --wiredTigerCacheSizeGB ${mongoCacheSizeGb(memoryLimit)}`;
}

/**
 * A CronJob that proves the newest backup of a `MongoBackupCronJob` series can be restored: each
 * run restores the archive with `mongorestore` into a fresh database of a throwaway `mongod` in
 * the pod, counts the collections and documents mongorestore reports, reads back from the server
 * what the assertions ask (`VerifyAssertion.minDocuments`, with `mongoexport`), and fails the Job
 * if anything is wrong. A backup without a collection fails. Nothing outside the pod is touched;
 * the storage is only read.
 *
 * Tested in this project with stand-ins for the MongoDB tools and server only (no MongoDB can be
 * installed on its build machines); see the README's "MongoDB verification" for what a real run needs.
 */
export class MongoVerifyCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;
  /** The alert rules, when `alerts` is set. */
  public readonly prometheusRule?: ApiObject;

  constructor(scope: Construct, id: string, props: MongoVerifyCronJobProps) {
    super(scope, id);
    const built = withConstructPath(this, () => createMongoVerifyCronJob(this, props ?? {} as MongoVerifyCronJobProps));
    this.cronJob = built.cronJob;
    this.prometheusRule = built.prometheusRule;
  }
}

function createMongoVerifyCronJob(scope: Construct, props: MongoVerifyCronJobProps) {
  return createVerifyCronJob(scope, props, {
    engine: MONGO.name,
    consumer: 'MongoVerifyCronJob',
    connectionEnv: {
      // No password: the throwaway server runs without authentication on 127.0.0.1. No database
      // either: the runner restores each backup into its own database, verify_<id>.
      [MONGO.env.URI]: kplus.EnvValue.fromValue(`mongodb://127.0.0.1:${MONGO_PORT}`),
    },
    server: (_series, data): ThrowawayServer => ({
      name: 'mongo',
      image: imageReference('mongoImage', imageAt(scope, props.mongoImage, () => DEFAULT_MONGO_IMAGE)),
      uid: MONGO_UID,
      start: mongoVerifyServerStart(props.serverResources?.memory?.limit ?? DEFAULT_MEMORY_LIMIT),
      // mongod shuts down cleanly on SIGTERM (a background job keeps SIGTERM's default).
      stopSignal: 'TERM',
      mounts: {
        [DATA_DIR]: data,
        '/tmp': kplus.Volume.fromEmptyDir(scope, 'ServerTmp', 'mongo-tmp', { sizeLimit: Size.mebibytes(64) }),
      },
    }),
  });
}
