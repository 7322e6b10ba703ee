import { Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  BackupSchedule, BackupStorage, MongoBackupCronJob, MysqlBackupCronJob, PostgresBackupCronJob, RedisBackupCronJob,
  S3Credentials,
} from '../lib';

/**
 * Nightly backups of an orders PostgreSQL database, a catalog MongoDB database and a shop MariaDB
 * database, and hourly RDB snapshots of a sessions Redis, to an S3-compatible bucket. The Secrets are created outside this app (e.g. by External Secrets).
 */
export class BackupsChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    const s3Keys = kplus.Secret.fromSecretName(this, 'S3', 'backup-s3');
    const storage = BackupStorage.s3({
      bucket: 'backups',
      prefix: 'prod',
      endpoint: 'http://minio.storage:9000',
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3Credentials.fromSecret(s3Keys, { accessKeyIdKey: 'access-key', secretAccessKeyKey: 'secret-key' }),
    });

    new PostgresBackupCronJob(this, 'orders', {
      schedule: BackupSchedule.cron('H 0 * * *'),
      timeZone: 'Europe/Berlin',
      storage,
      host: 'postgres.db.svc',
      port: 5432,
      database: 'orders',
      username: 'backup',
      password: { secret: kplus.Secret.fromSecretName(this, 'Pg', 'orders-db'), key: 'password' },
      dumpArgs: ['--exclude-table=audit_log'],
    });

    new MongoBackupCronJob(this, 'catalog', {
      schedule: BackupSchedule.daily({ hour: 3 }),
      storage,
      uri: { secret: kplus.Secret.fromSecretName(this, 'Mongo', 'catalog-mongo'), key: 'uri' },
      database: 'catalog',
    });

    new MysqlBackupCronJob(this, 'shop', {
      schedule: BackupSchedule.daily({ hour: 1 }),
      storage,
      host: 'mariadb.db.svc',
      database: 'shop',
      username: 'backup',
      password: { secret: kplus.Secret.fromSecretName(this, 'Shop', 'shop-db'), key: 'password' },
    });

    new RedisBackupCronJob(this, 'sessions', {
      schedule: BackupSchedule.hourly(),
      storage,
      host: 'redis.cache.svc',
      password: { secret: kplus.Secret.fromSecretName(this, 'Redis', 'sessions-redis'), key: 'password' },
    });
  }
}
