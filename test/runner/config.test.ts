import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runRunner } from './runner-process';
import { parseArgs } from '../../image/src/args';
import { loadConfig } from '../../image/src/config';
import { ConfigError } from '../../image/src/errors';
import { ENV } from '../../lib/contract';

const PG = {
  [ENV.ENGINE]: 'postgres',
  [ENV.DESTINATION]: 's3://my-bucket/prod/db',
  [ENV.NAME]: 'orders',
  [ENV.AWS_REGION]: 'us-east-1',
  [ENV.PGDATABASE]: 'orders',
};

function errorOf(env: NodeJS.ProcessEnv, args: string[] = []): ConfigError {
  try {
    loadConfig(env, args);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  test('a PostgreSQL to S3 environment as the construct writes it', () => {
    const config = loadConfig({
      ...PG, [ENV.AWS_ENDPOINT_URL_S3]: 'http://rgw.storage:7480', [ENV.S3_FORCE_PATH_STYLE]: 'true', [ENV.COMPRESSION]: 'gzip',
    }, ['--exclude-table=audit']);
    expect(config).toEqual({
      engine: 'postgres',
      destination: { kind: 's3', bucket: 'my-bucket', prefix: 'prod/db', region: 'us-east-1', endpoint: 'http://rgw.storage:7480', forcePathStyle: true },
      name: 'orders',
      compression: 'gzip',
      dumpArgs: ['--exclude-table=audit'],
      postgres: { database: 'orders' },
      mongo: undefined,
      progressIntervalMs: 10_000,
    });
  });

  test('defaults: zstd, no path style, no prefix', () => {
    const config = loadConfig({ ...PG, [ENV.DESTINATION]: 's3://my-bucket' }, []);
    expect(config.compression).toBe('zstd');
    expect(config.destination).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '', region: 'us-east-1', endpoint: undefined, forcePathStyle: false });
  });

  test('a volume destination', () => {
    const config = loadConfig({ ...PG, [ENV.DESTINATION]: 'file:///backup/prod' }, []);
    expect(config.destination).toEqual({ kind: 'file', dir: '/backup/prod' });
  });

  test.each([
    [{ [ENV.ENGINE]: undefined }, /^BACKUP_ENGINE is not set: set it to one of postgres, mongo, mysql, redis/],
    [{ [ENV.ENGINE]: 'oracle' }, /^BACKUP_ENGINE: 'oracle' is unknown; use one of postgres, mongo, mysql, redis/],
    [{ [ENV.NAME]: undefined }, /^BACKUP_NAME is not set/],
    [{ [ENV.NAME]: 'Orders DB' }, /^BACKUP_NAME: 'Orders DB' is not a valid series name: use 1-63 lowercase/],
    [{ [ENV.NAME]: 'orders-' }, /^BACKUP_NAME: 'orders-' is not a valid series name/],
    [{ [ENV.NAME]: ' orders' }, /^BACKUP_NAME has leading or trailing white space/],
    [{ [ENV.COMPRESSION]: 'lz4' }, /^BACKUP_COMPRESSION: 'lz4' is unknown; use one of zstd, gzip, none/],
    [{ [ENV.DESTINATION]: undefined }, /^BACKUP_DESTINATION is not set: set it to 's3:\/\/bucket\/prefix' or 'file:\/\/\/mounted\/path'/],
    [{ [ENV.DESTINATION]: 'https://bucket.s3.amazonaws.com/x' }, /^BACKUP_DESTINATION: .* must start with 's3:\/\/'.* or 'file:\/\/'/],
    [{ [ENV.DESTINATION]: 's3://My_Bucket' }, /^BACKUP_DESTINATION: 'My_Bucket' in 's3:\/\/My_Bucket' is not a bucket name/],
    [{ [ENV.DESTINATION]: 's3://bucket/a/../b' }, /^BACKUP_DESTINATION: the prefix in .* has an empty, '\.' or '\.\.' segment/],
    [{ [ENV.DESTINATION]: 'file://backup' }, /^BACKUP_DESTINATION: 'file:\/\/backup' must be an absolute path .* \(three slashes\)/],
    [{ [ENV.DESTINATION]: 'file:///backup/../etc' }, /^BACKUP_DESTINATION: .* has a '\.' or '\.\.' path segment/],
    [{ [ENV.AWS_REGION]: undefined }, /^AWS_REGION is not set: set it to the bucket's region/],
    [{ [ENV.AWS_ENDPOINT_URL_S3]: 'minio:9000' }, /^AWS_ENDPOINT_URL_S3: the scheme must be http or https/],
    [{ [ENV.AWS_ENDPOINT_URL_S3]: 'not a url' }, /^AWS_ENDPOINT_URL_S3: is not a URL/],
    [{ [ENV.AWS_ENDPOINT_URL_S3]: 'http://key:secret@minio:9000' }, /^AWS_ENDPOINT_URL_S3: must not contain credentials/],
    [{ [ENV.S3_FORCE_PATH_STYLE]: 'yes' }, /^BACKUP_S3_FORCE_PATH_STYLE: 'yes' must be 'true' or 'false'/],
    [{ [ENV.PGDATABASE]: undefined }, /^PGDATABASE is not set: set it to the database to dump/],
    [{ [ENV.PGPORT]: '5432x' }, /^PGPORT: '5432x' is not a TCP port/],
    [{ [ENV.PROGRESS_INTERVAL_MS]: '0' }, /^BACKUP_PROGRESS_INTERVAL_MS: '0' must be a positive whole number/],
  ])('%j is rejected naming the variable', (change, message) => {
    const env: NodeJS.ProcessEnv = { ...PG, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete env[k];
    expect(errorOf(env).message).toMatch(message);
  });

  test('the file destination needs no S3 settings', () => {
    const env: NodeJS.ProcessEnv = { ...PG, [ENV.DESTINATION]: 'file:///backup' };
    delete env[ENV.AWS_REGION];
    expect(loadConfig(env, []).destination.kind).toBe('file');
  });

  test.each([
    ['postgres', ['--file=/tmp/x'], '--file'],
    ['postgres', ['-Fd'], '-F'],
    ['postgres', ['--exclude-table=a', '-h', 'other-host'], '-h'],
    ['postgres', ['--password'], '--password'],
    ['mongo', ['--uri=mongodb://x'], '--uri'],
    ['mongo', ['--out', '/tmp'], '--out'],
    ['mongo', ['--config=/etc/x.yaml'], '--config'],
  ])('%s dump argument %j is reserved', (engine, args, flag) => {
    const env = { ...PG, [ENV.ENGINE]: engine, [ENV.MONGO_URI]: 'mongodb://u:p@h/' };
    expect(errorOf(env, args).message).toBe(`dump arguments: '${flag}' is set by the runner (output, format, connection or password) and cannot be passed after '--'; remove it.`);
  });

  describe('mongo', () => {
    const MONGO = { ...PG, [ENV.ENGINE]: 'mongo' };
    const uri = 'mongodb://backup:s3cr3t-P%40ss@mongo-0.mongo:27017/?authSource=admin';

    test('reads the URI and database', () => {
      expect(loadConfig({ ...MONGO, [ENV.MONGO_URI]: uri, [ENV.MONGO_DATABASE]: 'shop' }, []).mongo).toEqual({ uri, database: 'shop' });
    });

    test('a missing URI names the variable', () => {
      expect(errorOf(MONGO).message).toMatch(/^BACKUP_MONGO_URI is not set: set it \(from a Secret\)/);
    });

    test('a malformed URI is rejected without echoing it', () => {
      const bad = 'postgres://backup:s3cr3t-P%40ss@db';
      const message = errorOf({ ...MONGO, [ENV.MONGO_URI]: bad }).message;
      expect(message).toMatch(/^BACKUP_MONGO_URI: is not a MongoDB connection string \(value not shown\)/);
      expect(message).not.toContain('s3cr3t');
    });

    test('a bad database name names the variable', () => {
      expect(errorOf({ ...MONGO, [ENV.MONGO_URI]: uri, [ENV.MONGO_DATABASE]: 'a.b' }).message).toMatch(/^BACKUP_MONGO_DATABASE: 'a.b' is not a MongoDB database name/);
    });
  });
});

describe('parseArgs', () => {
  test('backup alone', () => {
    expect(parseArgs(['backup'])).toEqual({ command: 'backup', ref: 'latest', dumpArgs: [] });
  });

  test('extra dump arguments after --', () => {
    expect(parseArgs(['backup', '--', '--exclude-table=a', '-n', 'public'])).toEqual({ command: 'backup', ref: 'latest', dumpArgs: ['--exclude-table=a', '-n', 'public'] });
  });

  test.each([
    [['list'], { command: 'list', ref: 'latest', dumpArgs: [] }],
    [['prune'], { command: 'prune', ref: 'latest', dumpArgs: [] }],
    [['restore'], { command: 'restore', ref: 'latest', dumpArgs: [] }],
    [['restore', '20240501T020304Z-1a2b3c4d', '--', '--schema=public'], { command: 'restore', ref: '20240501T020304Z-1a2b3c4d', dumpArgs: ['--schema=public'] }],
    [['verify', 'latest'], { command: 'verify', ref: 'latest', dumpArgs: [] }],
  ])('%j', (argv, expected) => {
    expect(parseArgs(argv)).toEqual(expected);
  });

  test.each([
    [[], /^no command given; usage: runner backup/],
    [['rewind'], /^unknown command 'rewind'; usage: runner backup/],
    [['restore', 'yesterday'], /^'yesterday' is not a backup id; use 'latest' or an id/],
    [['restore', 'latest', 'x'], /^unexpected argument 'x': extra restore-tool arguments go after '--'/],
    [['list', '--', '-x'], /^'list' takes no tool arguments/],
    [['verify', 'latest', '--', '-x'], /^'verify' takes no tool arguments/],
    [['backup', '--exclude-table=a'], /^unexpected argument '--exclude-table=a': extra dump-tool arguments go after '--'/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

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
