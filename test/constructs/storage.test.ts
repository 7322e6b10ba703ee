import * as kplus from 'cdk8s-plus-27';
import { BackupStorage, PostgresBackupCronJob, S3Credentials, S3SecretOptions } from '../../lib';
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

  test('S3SecretOptions: a session token key is wired when given, the other keys default to the SDK names', () => {
    const keys: S3SecretOptions = { sessionTokenKey: 'token' };
    const env = destinationEnv(() => BackupStorage.s3({
      bucket: 'b-1',
      credentials: S3Credentials.fromSecret(kplus.Secret.fromSecretName(newChart(), 'K', 'keys'), keys),
    }));
    expect(env).toMatchObject({
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'keys', key: 'AWS_ACCESS_KEY_ID' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'keys', key: 'AWS_SECRET_ACCESS_KEY' } },
      AWS_SESSION_TOKEN: { secretKeyRef: { name: 'keys', key: 'token' } },
    });
  });

  test.each<[string, () => unknown, RegExp]>([
    ['empty bucket', () => BackupStorage.s3({ bucket: '' }), /^bucket: is empty; bucket names are 3-63 characters/],
    ['bucket with s3://', () => BackupStorage.s3({ bucket: 's3://backups' }), /^bucket: 's3:\/\/backups' is not a bare bucket name; give only the bucket name and put any path in the prefix/],
    ['bucket with a path', () => BackupStorage.s3({ bucket: 'backups/prod' }), /^bucket: .*put any path in the prefix/],
    ['uppercase bucket', () => BackupStorage.s3({ bucket: 'Backups' }), /^bucket: 'Backups' is not a bucket name: bucket names are 3-63 characters/],
    ['short bucket', () => BackupStorage.s3({ bucket: 'ab' }), /^bucket: .*3-63 characters/],
    ['long bucket', () => BackupStorage.s3({ bucket: 'a'.repeat(64) }), /^bucket: .*3-63 characters/],
    ['bucket ending in -', () => BackupStorage.s3({ bucket: 'backups-' }), /starting and ending with a letter or digit/],
    ['bucket with ..', () => BackupStorage.s3({ bucket: 'back..ups' }), /no '\.\.'/],
    ['bucket like an IP', () => BackupStorage.s3({ bucket: '192.168.1.10' }), /IP address form/],
    ['prefix with ..', () => BackupStorage.s3({ bucket: 'b-1', prefix: 'prod/../x' }), /^prefix: 'prod\/..\/x' has an empty, '.' or '..' path segment/],
    ['prefix with //', () => BackupStorage.s3({ bucket: 'b-1', prefix: 'a//b' }), /^prefix: .*empty, '.' or '..' path segment/],
    ['prefix with spaces', () => BackupStorage.s3({ bucket: 'b-1', prefix: 'my backups' }), /^prefix: .*segment 'my backups' has characters that are unsafe/],
    ['endpoint not a URL', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'minio:9000/' }), /^endpoint: 'minio:9000\/'/],
    ['endpoint without scheme', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'minio.storage' }), /^endpoint: 'minio.storage' is not a URL; use 'http\(s\):\/\/host\[:port\]'/],
    ['endpoint ftp', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'ftp://minio' }), /^endpoint: .*the scheme must be http or https/],
    ['endpoint with credentials', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'http://key:secret@minio' }), /^endpoint: contains credentials/],
    ['endpoint with a path', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'http://minio/backups' }), /^endpoint: .*give only scheme, host and port/],
    ['endpoint with a query', () => BackupStorage.s3({ bucket: 'b-1', endpoint: 'http://minio/?x=1' }), /^endpoint: .*must not have a query/],
    ['bad region', () => BackupStorage.s3({ bucket: 'b-1', region: 'EU Central' }), /^region: 'EU Central' is not a region name/],
  ])('rejects %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('S3Credentials', () => {
  const secret = () => kplus.Secret.fromSecretName(newChart(), 'K', 'keys');
  test.each<[string, () => unknown, RegExp]>([
    ['the same key for both', () => S3Credentials.fromSecret(secret(), { accessKeyIdKey: 'k', secretAccessKeyKey: 'k' }),
      /^secretAccessKeyKey: 'accessKeyIdKey' reads the Secret key 'k' too; each credential needs its own key/],
    ['the session token on the secret key', () => S3Credentials.fromSecret(secret(), { sessionTokenKey: 'AWS_SECRET_ACCESS_KEY' }),
      /^sessionTokenKey: 'secretAccessKeyKey' reads the Secret key 'AWS_SECRET_ACCESS_KEY' too/],
    ['an invalid key', () => S3Credentials.fromSecret(secret(), { accessKeyIdKey: 'access key' }),
      /^accessKeyIdKey: 'access key' is not a valid Secret or ConfigMap key/],
  ])('rejects %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('BackupStorage.volume', () => {
  test('mounts the volume at /backup and points the runner at it', () => {
    const chart = newChart();
    const volume = kplus.Volume.fromPersistentVolumeClaim(chart, 'Backups', kplus.PersistentVolumeClaim.fromClaimName(chart, 'Claim', 'backups'));
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage: BackupStorage.volume({ volume }) }));
    const env = envOf(cronJobs(chart)[0]);
    expect(env.BACKUP_DESTINATION).toBe('file:///backup');
    expect(env).not.toHaveProperty('AWS_REGION');
  });
  test('rejects a bad prefix', () => {
    const chart = newChart();
    expect(() => BackupStorage.volume({ volume: kplus.Volume.fromNfs(chart, 'V', 'v', { server: 'nas', path: '/backups' }), prefix: '../etc' }))
      .toThrow(/^prefix: '..\/etc' has an empty, '.' or '..' path segment/);
  });
});
