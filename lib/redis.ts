import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJobOptions, createBackupCronJob, requireHost, requireNonEmpty, requirePort } from './backup-cron-job';
import { ENV } from './contract';

/** Props for `RedisBackupCronJob`. */
export interface RedisBackupCronJobProps extends BackupCronJobOptions {
  /** Host name of the Redis server (a primary or a replica), e.g. the Service `redis.cache.svc`. */
  readonly host: string;
  /**
   * TCP port of the server.
   * @default 6379
   */
  readonly port?: number;
  /**
   * An ACL user (Redis 6+). It needs the `sync` (or `psync`) and `replconf` commands and `info`.
   * @default - the `default` user
   */
  readonly username?: string;
  /**
   * The password, from a Secret (reaches redis-cli as its own `REDISCLI_AUTH` via `secretKeyRef`,
   * never `-a` in argv).
   * @default - no password
   */
  readonly password?: kplus.SecretValue;
}

/**
 * A CronJob that takes an RDB snapshot of a Redis server with `redis-cli --rdb -` (every logical
 * database; restore by starting redis-server on the file) and streams it to storage.
 */
export class RedisBackupCronJob extends Construct {
  /** The underlying CronJob: an escape hatch for anything the props do not cover. */
  public readonly cronJob: kplus.CronJob;

  constructor(scope: Construct, id: string, props: RedisBackupCronJobProps) {
    super(scope, id);
    const host = requireHost(props.host, 'redis.cache.svc', 'port and username');
    const port = requirePort(props.port, 6379, 'Redis');
    const env: Record<string, kplus.EnvValue> = {
      [ENV.REDIS_HOST]: kplus.EnvValue.fromValue(host),
      [ENV.REDIS_PORT]: kplus.EnvValue.fromValue(String(port)),
    };
    if (props.username !== undefined) {
      const username = requireNonEmpty('username', props.username, "'backup'");
      if (/\s/.test(username)) {
        throw new Error(`username: '${username}' must not contain white space (Redis ACL user names cannot).`);
      }
      env[ENV.REDIS_USER] = kplus.EnvValue.fromValue(username);
    }
    if (props.password) {
      requireNonEmpty('password.key', props.password.key, "'password'");
      env[ENV.REDISCLI_AUTH] = kplus.EnvValue.fromSecretValue(props.password);
    }
    this.cronJob = createBackupCronJob(this, props, { engine: 'redis', env });
  }
}
