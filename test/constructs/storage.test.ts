import * as kplus from 'cdk8s-plus-27';
import { BackupStorage, PostgresBackupCronJob, S3Credentials } from '../../lib';
import { cronJobs, envOf, newChart, postgresProps } from '../helpers/synth';

function destinationEnv(storage: () => BackupStorage): Record<string, any> {
  const chart = newChart();
  new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage: storage() }));
  return envOf(cronJobs(chart)[0]);
}

describe('BackupStorage.s3', () => {
  test('AWS S3 needs only a bucket: virtual-host addressing, us-east-1, default credential chain', () => {
    const env = destinationEnv(() => BackupStorage.s3({ bucket: 'my-backups' }));
    expect(env.BACKUP_DESTINATION).toBe('s3://my-backups');
    expect(env.AWS_REGION).toBe('us-east-1');
    expect(env).not.toHaveProperty('BACKUP_S3_FORCE_PATH_STYLE');
    expect(env).not.toHaveProperty('AWS_ENDPOINT_URL_S3');
    expect(env).not.toHaveProperty('AWS_ACCESS_KEY_ID');
  });

  test('an endpoint implies path-style addressing unless told otherwise', () => {
    expect(destinationEnv(() => BackupStorage.s3({ bucket: 'b-1', endpoint: 'https://s3.example.com:8443' })))
      .toMatchObject({ AWS_ENDPOINT_URL_S3: 'https://s3.example.com:8443', BACKUP_S3_FORCE_PATH_STYLE: 'true' });
    expect(destinationEnv(() => BackupStorage.s3({ bucket: 'b-1', endpoint: 'https://s3.example.com', forcePathStyle: false })))
      .not.toHaveProperty('BACKUP_S3_FORCE_PATH_STYLE');
  });

  test('prefix slashes are normalized', () => {
    expect(destinationEnv(() => BackupStorage.s3({ bucket: 'b-1', prefix: '/prod/eu/' })).BACKUP_DESTINATION).toBe('s3://b-1/prod/eu');
  });

  test('a session token key is wired when given', () => {
    const env = destinationEnv(() => BackupStorage.s3({
      bucket: 'b-1',
      credentials: S3Credentials.fromSecret(kplus.Secret.fromSecretName(newChart(), 'K', 'keys'), { sessionTokenKey: 'token' }),
    }));
    expect(env).toMatchObject({
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'keys', key: 'AWS_ACCESS_KEY_ID' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'keys', key: 'AWS_SECRET_ACCESS_KEY' } },
      AWS_SESSION_TOKEN: { secretKeyRef: { name: 'keys', key: 'token' } },
    });
  });

  test.each<[string, () => unknown, RegExp]>([
    ['empty bucket', () => BackupStorage.s3({ bucket: '' }), /^storage: 'bucket' is empty/],
    ['bucket with s3://', () => BackupStorage.s3({ bucket: 's3://backups' }), /^storage: 'bucket' is 's3:\/\/backups'; give only the bucket name and put any path in 'prefix'/],
    ['bucket with a path', () => BackupStorage.s3({ bucket: 'backups/prod' }), /put any path in 'prefix'/],
    ['uppercase bucket', () => BackupStorage.s3({ bucket: 'Backups' }), /^storage: 'bucket' is 'Backups'. Bucket names are 3-63 characters/],
    ['short bucket', () => BackupStorage.s3({ bucket: 'ab' }), /3-63 characters/],
    ['long bucket', () => BackupStorage.s3({ bucket: 'a'.repeat(64) }), /3-63 characters/],
    ['bucket ending in -', () => BackupStorage.s3({ bucket: 'backups-' }), /starting and ending with a letter or digit/],
    ['bucket with ..', () => BackupStorage.s3({ bucket: 'back..ups' }), /no '\.\.'/],
    ['bucket like an IP', () => BackupStorage.s3({ bucket: '192.168.1.10' }), /IP address form/],
    ['prefix with ..', () => BackupStorage.s3({ bucket: 'b-1', prefix: 'prod/../x' }), /^storage: 'prefix' is 'prod\/..\/x', which has an empty, '.' or '..' path segment/],
    ['prefix with //', () => BackupStorage.s3({ bucket: 'b-1', prefix: 'a//b' }), /empty, '.' or '..' path segment/],
    ['prefix with spaces', () => BackupStorage.s3({ bucket: 'b-1', prefix: 'my backups' }), /segment 'my backups' has characters that are unsafe/],
    ['endpoint not a URL', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'minio:9000/' }), /^storage: 'endpoint' is 'minio:9000\/', which is not a URL|scheme must be http or https/],
    ['endpoint without scheme', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'minio.storage' }), /^storage: 'endpoint' is 'minio.storage', which is not a URL. Use 'http\(s\):\/\/host\[:port\]'/],
    ['endpoint ftp', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'ftp://minio' }), /scheme must be http or https/],
    ['endpoint with credentials', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'http://key:secret@minio' }), /contains credentials.*S3Credentials.fromSecret/],
    ['endpoint with a path', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'http://minio/backups' }), /give only scheme, host and port/],
    ['endpoint with a query', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'http://minio/?x=1' }), /must not have a query/],
    ['bad region', () => BackupStorage.s3({ bucket: 'b-1', region: 'EU Central' }), /^storage: 'region' is 'EU Central'/],
  ])('rejects %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('S3Credentials', () => {
  const secret = () => kplus.Secret.fromSecretName(newChart(), 'K', 'keys');
  test.each<[string, () => unknown, RegExp]>([
    ['the same key for both', () => S3Credentials.fromSecret(secret(), { accessKeyIdKey: 'k', secretAccessKeyKey: 'k' }),
      /^credentials: 'accessKeyIdKey' and 'secretAccessKeyKey' both read the Secret key 'k'/],
    ['the session token on the secret key', () => S3Credentials.fromSecret(secret(), { sessionTokenKey: 'AWS_SECRET_ACCESS_KEY' }),
      /'secretAccessKeyKey' and 'sessionTokenKey' both read/],
    ['an invalid key', () => S3Credentials.fromSecret(secret(), { accessKeyIdKey: 'access key' }),
      /^credentials: 'accessKeyIdKey' is 'access key', which is not a valid Secret key/],
  ])('rejects %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('BackupStorage.volume', () => {
  test('mounts the volume at /backup and points the runner at it', () => {
    const chart = newChart();
    const volume = kplus.Volume.fromEmptyDir(chart, 'Scratch', 'scratch');
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage: BackupStorage.volume({ volume }) }));
    const env = envOf(cronJobs(chart)[0]);
    expect(env.BACKUP_DESTINATION).toBe('file:///backup');
    expect(env).not.toHaveProperty('AWS_REGION');
  });
  test('rejects a bad prefix', () => {
    const chart = newChart();
    expect(() => BackupStorage.volume({ volume: kplus.Volume.fromEmptyDir(chart, 'V', 'v'), prefix: '../etc' }))
      .toThrow(/^storage: 'prefix' is '..\/etc'/);
  });
});
