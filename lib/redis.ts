import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupCronJob, BackupCronJobOptions } from './backup-cron-job';
import { ENGINE_REGISTRY } from './registry';
import * as rules from './rules';
import { RuleError } from './rules';
import { EngineConnection, secretEnvValue } from './runner-pod';
import { CA_FILE_PATH, TlsCertificate } from './tls';
import { booleanProp, numberProp } from './validation';

const REDIS = ENGINE_REGISTRY.redis;

/** How the runner connects to a Redis server. */
export interface RedisConnectionOptions {
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
  /**
   * Connect with TLS (`redis-cli --tls`).
   * @default false
   */
  readonly tls?: boolean;
  /**
   * The CA certificate that verifies the server's certificate (`redis-cli --cacert`), mounted
   * read-only into the runner container. Needs `tls: true`.
   * @default - the system's CA store
   */
  readonly caCertificate?: TlsCertificate;
}

/** Props for `RedisBackupCronJob`. */
export interface RedisBackupCronJobProps extends BackupCronJobOptions, RedisConnectionOptions {}

/**
 * A CronJob that takes an RDB snapshot of a Redis server with `redis-cli --rdb -` (every logical
 * database; restore by starting redis-server on the file) and streams it to storage.
 */
export class RedisBackupCronJob extends BackupCronJob {
  constructor(scope: Construct, id: string, props: RedisBackupCronJobProps) {
    super(scope, id, props, () => redisConnection(props ?? {} as any));
  }
}

function redisConnection(props: RedisConnectionOptions): EngineConnection {
  const names = REDIS.env;
  const env: Record<string, kplus.EnvValue> = {
    [names.HOST]: kplus.EnvValue.fromValue(rules.hostName('host', props.host, 'redis.cache.svc')),
    [names.PORT]: kplus.EnvValue.fromValue(String(rules.tcpPort('port', numberProp('port', props.port, String(REDIS.defaultPort)), REDIS.name))),
  };
  if (props.username !== undefined) {
    const username = rules.nonEmpty('username', props.username, "'backup'");
    if (/\s/.test(username)) {
      throw new RuleError(`username: '${username}' must not contain white space (Redis ACL user names cannot).`);
    }
    env[names.USER] = kplus.EnvValue.fromValue(username);
  }
  if (props.password) env[names.PASSWORD] = secretEnvValue('password', props.password);
  const tls = booleanProp('tls', props.tls) ?? false;
  if (props.caCertificate && !tls) {
    throw new RuleError('caCertificate: has no effect without TLS; set tls: true (redis-cli --tls), or remove caCertificate.');
  }
  if (tls) env[names.TLS] = kplus.EnvValue.fromValue('true');
  if (props.caCertificate) env[names.TLS_CA_FILE] = kplus.EnvValue.fromValue(CA_FILE_PATH);
  return { engine: REDIS.name, env, caCertificate: props.caCertificate };
}
