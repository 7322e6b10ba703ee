import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runRunner } from './runner-process';
import { parseArgs } from '../../image/src/args';
import { BackupConfig, RestoreConfig, VerifyConfig, loadRunConfig } from '../../image/src/config';
import { ConfigError, capabilityError } from '../../image/src/errors';
import { ENV } from '../../lib/contract';
import { ENGINE_NAMES, ENGINE_REGISTRY } from '../../lib/registry';
import { RuleError } from '../../lib/rules';

const PGV = ENGINE_REGISTRY.postgres.env;
const MONGOV = ENGINE_REGISTRY.mongo.env;
const MYV = ENGINE_REGISTRY.mysql.env;
const REDISV = ENGINE_REGISTRY.redis.env;

const PG = {
  [ENV.ENGINE]: 'postgres',
  [ENV.DESTINATION]: 's3://my-bucket/prod/db',
  [ENV.NAME]: 'orders',
  [ENV.AWS_REGION]: 'us-east-1',
  [PGV.DATABASE]: 'orders',
};

function errorOf(env: NodeJS.ProcessEnv, argv: string[] = ['backup']): RuleError {
  try {
    loadRunConfig(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    return e as RuleError;
  }
  throw new Error('expected a RuleError');
}

const backupConfig = (env: NodeJS.ProcessEnv, argv: string[] = ['backup']) => loadRunConfig(argv, env) as BackupConfig;

describe('loadRunConfig', () => {
  test('a PostgreSQL to S3 backup as the construct writes it', () => {
    const config = backupConfig({
      ...PG,
      [ENV.AWS_ENDPOINT_URL_S3]: 'http://rgw.storage:7480',
      [ENV.S3_FORCE_PATH_STYLE]: 'true',
      [ENV.COMPRESSION]: 'gzip',
      [ENV.KEEP_LAST]: '3',
      [ENV.KEEP_WITHIN_SECONDS]: '60',
    }, ['backup', '--', '--exclude-table=audit']);
    expect(config).toMatchObject({
      command: 'backup',
      args: { command: 'backup', ref: 'latest', toolArgs: ['--exclude-table=audit'] },
      destination: { kind: 's3', bucket: 'my-bucket', prefix: 'prod/db', region: 'us-east-1', endpoint: 'http://rgw.storage:7480', forcePathStyle: true },
      name: 'orders',
      compression: 'gzip',
      toolArgs: ['--exclude-table=audit'],
      retention: { keepLast: 3, keepWithinMs: 60_000 },
      incompleteMinAgeMs: 172_800_000,
      progressIntervalMs: 10_000,
    });
    expect(config.engine).toMatchObject({ name: 'postgres', database: 'orders', descriptor: ENGINE_REGISTRY.postgres });
  });

  test('defaults: zstd, no path style, no prefix, no retention', () => {
    const config = backupConfig({ ...PG, [ENV.DESTINATION]: 's3://my-bucket' });
    expect(config.compression).toBe('zstd');
    expect(config.retention).toBeUndefined();
    expect(config.destination).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: '',
      region: 'us-east-1',
      endpoint: undefined,
      forcePathStyle: false,
      maxClockSkewMs: 600_000,
      stallTimeoutMs: 120_000,
    });
  });

  test('a volume destination, percent-escapes decoded', () => {
    expect(backupConfig({ ...PG, [ENV.DESTINATION]: 'file:///backup/prod%20db' }).destination)
      .toEqual({ kind: 'file', dir: '/backup/prod db', maxClockSkewMs: 600_000, stallTimeoutMs: 120_000 });
  });

  test.each([
    [{ [ENV.ENGINE]: undefined }, /^BACKUP_ENGINE: must be set, e.g. one of postgres, mongo, mysql, redis/],
    [{ [ENV.ENGINE]: 'oracle' }, /^BACKUP_ENGINE: 'oracle' is unknown; use one of postgres, mongo, mysql, redis/],
    [{ [ENV.NAME]: undefined }, /^BACKUP_NAME: must be set/],
    [{ [ENV.NAME]: 'Orders DB' }, /^BACKUP_NAME: 'Orders DB' is not a valid series name: use 1-63 lowercase/],
    [{ [ENV.NAME]: 'orders-' }, /^BACKUP_NAME: 'orders-' is not a valid series name/],
    [{ [ENV.NAME]: ' orders' }, /^BACKUP_NAME: ' orders' has leading or trailing white space/],
    [{ [ENV.COMPRESSION]: 'lz4' }, /^BACKUP_COMPRESSION: 'lz4' is unknown; use one of zstd, gzip, none/],
    [{ [ENV.DESTINATION]: undefined }, /^BACKUP_DESTINATION: must be set, e.g. 's3:\/\/bucket\/prefix' or 'file:\/\/\/mounted\/path'/],
    [{ [ENV.DESTINATION]: 'https://bucket.s3.amazonaws.com/x' }, /^BACKUP_DESTINATION: .* must start with 's3:\/\/'.* or 'file:\/\/'/],
    [{ [ENV.DESTINATION]: 's3://My_Bucket' }, /^BACKUP_DESTINATION: 'My_Bucket' is not a bucket name/],
    [{ [ENV.DESTINATION]: 's3://bucket/a/../b' }, /^BACKUP_DESTINATION: 'a\/..\/b' has an empty, '\.' or '\.\.' path segment/],
    [{ [ENV.DESTINATION]: 'file://backup' }, /^BACKUP_DESTINATION: 'file:\/\/backup' must be an absolute path .* \(three slashes\)/],
    [{ [ENV.DESTINATION]: 'file:///backup/../etc' }, /^BACKUP_DESTINATION: .* has a '\.' or '\.\.' path segment/],
    [{ [ENV.DESTINATION]: 'file:///tmp/%zz' }, /^BACKUP_DESTINATION: 'file:\/\/\/tmp\/%zz' has a '%' that starts no valid escape; write a literal '%' as '%25'/],
    [{ [ENV.AWS_REGION]: undefined }, /^AWS_REGION: must be set, e.g. the bucket's region/],
    [{ [ENV.AWS_REGION]: 'EU West' }, /^AWS_REGION: 'EU West' is not a region name/],
    [{ [ENV.AWS_ENDPOINT_URL_S3]: 'minio:9000' }, /^AWS_ENDPOINT_URL_S3: 'minio:9000': the scheme must be http or https/],
    [{ [ENV.AWS_ENDPOINT_URL_S3]: 'not a url' }, /^AWS_ENDPOINT_URL_S3: 'not a url' is not a URL/],
    [{ [ENV.AWS_ENDPOINT_URL_S3]: 'http://key:secret@minio:9000' }, /^AWS_ENDPOINT_URL_S3: contains credentials/],
    [{ [ENV.S3_FORCE_PATH_STYLE]: 'yes' }, /^BACKUP_S3_FORCE_PATH_STYLE: 'yes' must be 'true' or 'false'/],
    [{ [PGV.DATABASE]: undefined }, /^PGDATABASE: must be set, e.g. the database/],
    [{ [PGV.PORT]: '5432x' }, /^PGPORT: '5432x' is not a TCP port/],
    [{ [PGV.HOST]: 'postgres://db' }, /^PGHOST: 'postgres:\/\/db' must be a bare host name/],
    [{ [PGV.SSL_MODE]: 'strict' }, /^PGSSLMODE: 'strict' is not a libpq sslmode; use one of disable, allow, prefer, require, verify-ca, verify-full/],
    [{ [ENV.PROGRESS_INTERVAL_MS]: '0' }, /^BACKUP_PROGRESS_INTERVAL_MS: '0' must be a positive whole number/],
    [{ [ENV.KEEP_DAILY]: '-1' }, /^BACKUP_KEEP_DAILY: '-1' must be a whole number of 0 or more/],
    [{ [ENV.INCOMPLETE_MIN_AGE_SECONDS]: '1h' }, /^BACKUP_INCOMPLETE_MIN_AGE_SECONDS: '1h' must be a whole number/],
  ])('%j is rejected naming the variable', (change, message) => {
    const env: NodeJS.ProcessEnv = { ...PG, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete env[k];
    expect(errorOf(env).message).toMatch(message);
  });

  test('the file destination needs no S3 settings', () => {
    const env: NodeJS.ProcessEnv = { ...PG, [ENV.DESTINATION]: 'file:///backup' };
    delete env[ENV.AWS_REGION];
    expect(backupConfig(env).destination.kind).toBe('file');
  });

  test.each([
    ['postgres', 'backup', ['--file=/tmp/x'], "'--file=/tmp/x' is pg_dump's --file (-f)"],
    ['postgres', 'backup', ['-Fd'], "'-Fd' is pg_dump's --format (-F)"],
    ['postgres', 'backup', ['--exclude-table=a', '-h', 'other-host'], "'-h' is pg_dump's --host (-h)"],
    ['postgres', 'backup', ['--password'], "'--password' is pg_dump's --password (-W)"],
    ['postgres', 'restore', ['--single-transaction'], "'--single-transaction' is pg_restore's --single-transaction (-1)"],
    ['mongo', 'backup', ['--uri=mongodb://x'], "'--uri=mongodb://x' is mongodump's --uri"],
    ['mongo', 'backup', ['--out', '/tmp'], "'--out' is mongodump's --out (-o)"],
    ['mongo', 'backup', ['--config=/etc/x.yaml'], "'--config=/etc/x.yaml' is mongodump's --config"],
    ['mongo', 'restore', ['--nsTo=other.*'], "'--nsTo=other.*' is mongorestore's --nsTo"],
  ])('%s %s argument %j is reserved', (engine, command, args, says) => {
    const env = { ...PG, [ENV.ENGINE]: engine, [MONGOV.URI]: 'mongodb://u:p@h/' };
    const tool = command === 'backup' ? 'dump' : 'restore';
    expect(errorOf(env, [command, '--', ...args]).message.startsWith(`${tool}-tool arguments: ${says}, which `)).toBe(true);
  });

  test('restore: the ref, checked restore arguments and BACKUP_RESTORE_FORCE', () => {
    const config = loadRunConfig(['restore', '20240501T020304Z-1a2b3c4d', '--', '--schema=public'], { ...PG, [ENV.RESTORE_FORCE]: 'true' }) as RestoreConfig;
    expect(config).toMatchObject({ command: 'restore', ref: '20240501T020304Z-1a2b3c4d', toolArgs: ['--schema=public'], force: true });
    expect(config.engine.restore).toBeDefined();
    expect(errorOf({ ...PG, [ENV.RESTORE_FORCE]: 'yes' }, ['restore']).message).toBe("BACKUP_RESTORE_FORCE: 'yes' must be 'true' or 'false'.");
  });

  test('an engine the registry says cannot restore or verify is a configuration error naming BACKUP_ENGINE', () => {
    // Every engine can both today; a new engine may come without them, and then says so.
    for (const name of ENGINE_NAMES) expect(ENGINE_REGISTRY[name].capabilities).toMatchObject({ restore: true, verify: true });
    const lacking = { ...ENGINE_REGISTRY.redis, capabilities: { backup: true, restore: false, verify: false } };
    const err = capabilityError(lacking, 'restore');
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe("BACKUP_ENGINE: the runner cannot restore Redis backups ('redis'); 'restore' works for postgres, mongo, mysql, redis.");
  });

  test('verify: every engine, with the assertions it can check', () => {
    const config = loadRunConfig(['verify'], { ...PG, [ENV.VERIFY_SQL]: 'SELECT true' }) as VerifyConfig;
    expect(config).toMatchObject({ command: 'verify', engine: { name: 'postgres', database: 'orders' }, ref: 'latest', assertions: [{ type: 'sql', query: 'SELECT true' }] });
    expect(config.engine.verify).toBeDefined();
    const redis = { ...PG, [ENV.ENGINE]: 'redis', [REDISV.HOST]: '127.0.0.1', [REDISV.RESTORE_FILE]: '/data/dump.rdb' };
    const keys = loadRunConfig(['verify'], { ...redis, [ENV.VERIFY_ASSERTIONS]: '[{"type":"minKeys","min":3}]' }) as VerifyConfig;
    expect(keys).toMatchObject({ engine: { name: 'redis' }, assertions: [{ type: 'minKeys', min: 3 }] });
    expect(keys.engine.verify).toBeDefined();
    expect(errorOf({ ...redis, [ENV.VERIFY_SQL]: 'SELECT true' }, ['verify']).message).toMatch(/^BACKUP_VERIFY_SQL: Redis has no SQL to check; remove it/);
    expect(errorOf({ ...redis, [ENV.VERIFY_ASSERTIONS]: '[{"type":"minRows","table":"t","min":1}]' }, ['verify']).message)
      .toBe("BACKUP_VERIFY_ASSERTIONS[0]: 'minRows' is not an assertion Redis can check; use 'minKeys', 'keysExist'.");
  });

  test('list needs only the series; prune needs a retention policy', () => {
    const series = { [ENV.DESTINATION]: 'file:///backup', [ENV.NAME]: 'orders' };
    expect(loadRunConfig(['list'], series)).toMatchObject({ command: 'list', name: 'orders', destination: { kind: 'file', dir: '/backup' } });
    expect(errorOf(series, ['prune']).message).toMatch(/^prune needs a retention policy: set at least one of BACKUP_KEEP_LAST, .*BACKUP_KEEP_WITHIN_SECONDS\.$/);
    expect(loadRunConfig(['prune'], { ...series, [ENV.KEEP_DAILY]: '7' })).toMatchObject({ command: 'prune', retention: { keepDaily: 7 }, incompleteMinAgeMs: 172_800_000 });
  });

  describe('mongo', () => {
    const MONGO = { ...PG, [ENV.ENGINE]: 'mongo' };
    const uri = 'mongodb://backup:s3cr3t-P%40ss@mongo-0.mongo:27017/?authSource=admin';

    test('reads the database', () => {
      expect(backupConfig({ ...MONGO, [MONGOV.URI]: uri, [MONGOV.DATABASE]: 'shop' }).engine.database).toBe('shop');
    });

    test('a missing URI names the variable', () => {
      expect(errorOf(MONGO).message).toMatch(/^BACKUP_MONGO_URI: must be set, e.g. the connection string from a Secret/);
    });

    test.each([
      'postgres://backup:s3cr3t-P%40ss@db', ' mongodb://backup:s3cr3t-P%40ss@db',
    ])('a malformed URI is rejected without echoing it: %j', bad => {
      const message = errorOf({ ...MONGO, [MONGOV.URI]: bad }).message;
      expect(message).toMatch(/^BACKUP_MONGO_URI: /);
      expect(message).not.toContain('s3cr3t');
    });

    test('a bad database name names the variable', () => {
      expect(errorOf({ ...MONGO, [MONGOV.URI]: uri, [MONGOV.DATABASE]: 'a.b' }).message).toMatch(/^BACKUP_MONGO_DATABASE: 'a.b' is not a valid MongoDB database name/);
    });
  });

  describe('mysql and redis read their settings the same way', () => {
    const MYSQL = { ...PG, [ENV.ENGINE]: 'mysql', [MYV.HOST]: 'db', [MYV.USER]: 'backup', [MYV.DATABASE]: 'shop' };
    const REDIS = { ...PG, [ENV.ENGINE]: 'redis', [REDISV.HOST]: 'redis' };
    test.each<[string, NodeJS.ProcessEnv, RegExp]>([
      ['mysql', { [MYV.HOST]: undefined }, /^BACKUP_MYSQL_HOST: must be set/],
      ['mysql', { [MYV.PORT]: '70000' }, /^BACKUP_MYSQL_PORT: 70000 is not a TCP port; .*MySQL's default is 3306/],
      ['mysql', { [MYV.DATABASE]: 'a/b' }, /^BACKUP_MYSQL_DATABASE: 'a\/b' is not a valid MySQL database name/],
      ['mysql', { [MYV.TLS]: 'no' }, /^BACKUP_MYSQL_TLS: 'no' must be 'true' or 'false'/],
      ['mysql', { [MYV.TLS]: 'false', [MYV.TLS_CA_FILE]: '/etc/ca.crt' }, /^BACKUP_MYSQL_TLS_CA_FILE: a CA certificate verifies a TLS connection, but BACKUP_MYSQL_TLS is 'false'/],
      ['mysql', { [MYV.TLS_CA_FILE]: 'ca.crt' }, /^BACKUP_MYSQL_TLS_CA_FILE: 'ca.crt' must be an absolute file path/],
      ['redis', { [REDISV.HOST]: 'redis:6379/0' }, /^BACKUP_REDIS_HOST: 'redis:6379\/0' must be a bare host name/],
      ['redis', { [REDISV.PORT]: '0' }, /^BACKUP_REDIS_PORT: 0 is not a TCP port/],
      ['redis', { [REDISV.TLS]: 'yes' }, /^BACKUP_REDIS_TLS: 'yes' must be 'true' or 'false'/],
      ['redis', { [REDISV.TLS_CA_FILE]: '/etc/ca.crt' }, /^BACKUP_REDIS_TLS_CA_FILE: a CA certificate verifies a TLS connection, but BACKUP_REDIS_TLS is not 'true'/],
    ])('%s %j', (engine, change, message) => {
      const env: NodeJS.ProcessEnv = { ...(engine === 'mysql' ? MYSQL : REDIS), ...change };
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete env[k];
      expect(errorOf(env).message).toMatch(message);
    });
  });
});

describe('parseArgs', () => {
  test('backup alone', () => {
    expect(parseArgs(['backup'])).toEqual({ command: 'backup', ref: 'latest', toolArgs: [] });
  });

  test('extra dump arguments after --', () => {
    expect(parseArgs(['backup', '--', '--exclude-table=a', '-n', 'public'])).toEqual({ command: 'backup', ref: 'latest', toolArgs: ['--exclude-table=a', '-n', 'public'] });
  });

  test.each([
    [['list'], { command: 'list', ref: 'latest', toolArgs: [] }],
    [['prune'], { command: 'prune', ref: 'latest', toolArgs: [] }],
    [['restore'], { command: 'restore', ref: 'latest', toolArgs: [] }],
    [['restore', '20240501T020304Z-1a2b3c4d', '--', '--schema=public'], { command: 'restore', ref: '20240501T020304Z-1a2b3c4d', toolArgs: ['--schema=public'] }],
    [['verify', 'latest'], { command: 'verify', ref: 'latest', toolArgs: [] }],
  ])('%j', (argv, expected) => {
    expect(parseArgs(argv)).toEqual(expected);
  });

  test.each([
    [[], /^no command given; usage: runner backup/],
    [['rewind'], /^unknown command 'rewind'; usage: runner backup/],
    [['restore', 'yesterday'], /^restore argument: 'yesterday' is not a backup id; use 'latest' or an id/],
    [['restore', 'latest', 'x'], /^unexpected argument 'x': extra restore-tool arguments go after '--'/],
    [['list', '--', '-x'], /^'list' takes no tool arguments/],
    [['verify', 'latest', '--', '-x'], /^'verify' takes no tool arguments/],
    [['backup', '--exclude-table=a'], /^unexpected argument '--exclude-table=a': extra dump-tool arguments go after '--'/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('the process: every configuration error exits 2 before anything starts', () => {
  test('a usage error still creates the verify done file, so the pod\'s server stops', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-done-'));
    try {
      const run = await runRunner({ PATH: process.env.PATH, [ENV.VERIFY_DONE_FILE]: path.join(dir, 'done') }, ['verify', 'not-an-id']);
      expect(run.code).toBe(2);
      expect(fs.existsSync(path.join(dir, 'done'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each<[string, NodeJS.ProcessEnv, string[], RegExp]>([
    ['a malformed file destination', { [ENV.DESTINATION]: 'file:///tmp/%zz' }, ['backup'], /^configuration error: BACKUP_DESTINATION: 'file:\/\/\/tmp\/%zz' has a '%'/],
    ['Redis restore into a relative file', { [ENV.ENGINE]: 'redis', [REDISV.RESTORE_FILE]: 'dump.rdb' }, ['restore'],
      /^configuration error: BACKUP_REDIS_RESTORE_FILE: 'dump\.rdb' must be the absolute path of the RDB file/],
    ['a reserved restore argument', {}, ['restore', '--', '--dbname=other'], /^configuration error: restore-tool arguments: '--dbname=other' is pg_restore's --dbname \(-d\)/],
  ])('%s', async (_what, change, argv, message) => {
    // An empty PATH: had anything been started, it would have failed with exit 1 instead.
    const run = await runRunner({ PATH: '/nonexistent', ...PG, [ENV.DESTINATION]: 'file:///nonexistent/backups', ...change }, argv);
    expect(run.code).toBe(2);
    expect(run.lines).toHaveLength(1);
    expect(run.last).toMatchObject({ level: 'error', msg: expect.stringMatching(message) });
  });
});
