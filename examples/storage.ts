import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BackupStorage, S3Credentials } from '../lib';

/** The S3-compatible bucket every chart of the example reads and writes; keys from the `backup-s3` Secret. */
export function exampleStorage(scope: Construct): BackupStorage {
  const s3Keys = kplus.Secret.fromSecretName(scope, 'S3', 'backup-s3');
  return BackupStorage.s3({
    bucket: 'backups',
    prefix: 'prod',
    endpoint: 'http://minio.storage:9000',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3Credentials.fromSecret(s3Keys, { accessKeyIdKey: 'access-key', secretAccessKeyKey: 'secret-key' }),
  });
}
