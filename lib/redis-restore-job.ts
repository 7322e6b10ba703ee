import * as path from 'node:path';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ENGINE_REGISTRY } from './registry';
import { RestoreJob, RestoreJobOptions } from './restore-job';
import { RuleError } from './rules';
import { EngineConnection } from './runner-pod';
import { factoryProp } from './validation';

const REDIS = ENGINE_REGISTRY.redis;

/** Where the Job mounts the target volume in the runner container. */
const TARGET_DIR = '/restore-target';

/** Props for `RedisRestoreJob`. */
export interface RedisRestoreJobProps extends RestoreJobOptions {
  /**
   * The volume a Redis starts from: its data directory's PersistentVolumeClaim, e.g.
   * `kplus.Volume.fromPersistentVolumeClaim(this, 'Data', kplus.PersistentVolumeClaim.fromClaimName(this, 'Pvc', 'redis-data-redis-0'))`.
   * Scale that Redis down first: a running Redis would overwrite the restored file at its next
   * save or at shutdown, and a ReadWriteOnce claim mounts on one node only.
   */
  readonly volume: kplus.Volume;
  /**
   * The RDB file inside the volume, as the Redis's `dir` and `dbfilename` name it: a path relative
   * to the volume's root (`dump.rdb`, or `data/dump.rdb` where the data directory is a
   * subdirectory of the claim).
   * @default 'dump.rdb'
   */
  readonly fileName?: string;
}

/**
 * A Job that restores an RDB backup of a `RedisBackupCronJob` series into the file a Redis loads
 * when it starts. Redis cannot load an RDB into a running server, so: scale the Redis down, run
 * this Job (it writes a temporary file next to the target, checks it with `redis-check-rdb`, and
 * renames it into place only when everything passed), turn off or remove the append-only file
 * (with `appendonly yes` Redis loads the AOF, not the RDB), then scale the Redis up again. An
 * existing file is replaced only with `allowNonEmptyTarget: true`.
 */
export class RedisRestoreJob extends RestoreJob {
  constructor(scope: Construct, id: string, props: RedisRestoreJobProps) {
    let volume: kplus.Volume | undefined;
    super(scope, id, props, () => {
      const p = props ?? {} as RedisRestoreJobProps;
      volume = factoryProp('volume', p.volume, kplus.Volume,
        "kplus.Volume.fromPersistentVolumeClaim(this, 'Data', kplus.PersistentVolumeClaim.fromClaimName(this, 'Pvc', 'redis-data-redis-0'))");
      return redisFileConnection(p.fileName);
    }, 'RedisRestoreJob');
    this.job.containers[0].mount(TARGET_DIR, volume!);
  }
}

/** The runner's variables for a restore into `<volume>/<fileName>`; no server is contacted. */
function redisFileConnection(fileName: string | undefined): EngineConnection {
  const file = rdbFileName(fileName ?? 'dump.rdb');
  return {
    engine: REDIS.name,
    env: { [REDIS.env.RESTORE_FILE]: kplus.EnvValue.fromValue(`${TARGET_DIR}/${file}`) },
  };
}

function rdbFileName(value: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new RuleError("fileName: must be the RDB file's name inside the volume, e.g. 'dump.rdb'.");
  }
  const normalized = path.posix.normalize(value);
  if (value.startsWith('/') || normalized !== value || value.endsWith('/') || normalized.split('/').includes('..') || /[\0\r\n]/.test(value)) {
    throw new RuleError(`fileName: '${value}' must be a path relative to the volume's root, without '..', e.g. 'dump.rdb' or 'data/dump.rdb'.`);
  }
  return value;
}
