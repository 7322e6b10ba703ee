import { Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { exampleStorage } from './storage';
import {
  BackupAlerts, BackupCheckCronJob, BackupDecryption, BackupEncryption, BackupMetrics, BackupSchedule, MongoBackupCronJob,
  MongoVerifyCronJob, MysqlBackupCronJob, MysqlVerifyCronJob, Notification, PostgresBackupCronJob, PostgresVerifyCronJob, RedisBackupCronJob,
  RedisVerifyCronJob, Retention, VerifyAssertion,
} from '../lib';

/**
 * Nightly backups of an orders PostgreSQL database, a catalog MongoDB database and a shop MariaDB
 * database, and hourly RDB snapshots of a sessions Redis, to an S3-compatible bucket, with a
 * retention policy each, a daily restore test of each series (into a throwaway server of its
 * engine inside the pod) and a daily check of the stored orders backups. Every CronJob has alert rules computed from its schedule and pushes its
 * metrics to a Pushgateway; the orders backup also pings a healthcheck. The shop backups are
 * encrypted with age to two public keys (the ops team's and an offline recovery key), so the
 * backup pod and the bucket cannot read them; only the shop's verify pod gets an identity, from a
 * Secret. The Secrets are created
 * outside this app (e.g. by External Secrets).
 */
export class BackupsChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    const storage = exampleStorage(this);
    // Rules for the Prometheus Operator; `release: prometheus` is what its ruleSelector matches here.
    const alerts = BackupAlerts.prometheus({ ruleLabels: { release: 'prometheus' }, runbookUrl: 'https://wiki.example.com/runbooks/backups' });
    const metrics = BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' });

    const ordersBackup = new PostgresBackupCronJob(this, 'orders', {
      schedule: BackupSchedule.cron('H 0 * * *'),
      timeZone: 'Europe/Berlin',
      storage,
      host: 'postgres.db.svc',
      port: 5432,
      database: 'orders',
      username: 'backup',
      password: { secret: kplus.Secret.fromSecretName(this, 'Pg', 'orders-db'), key: 'password' },
      postgresMajor: 15,
      dumpArgs: ['--exclude-table=audit_log'],
      retention: Retention.policy({ keepDaily: 7, keepWeekly: 4, keepMonthly: 12 }),
      alerts,
      metrics,
      notifications: [Notification.healthcheck({ url: { secret: kplus.Secret.fromSecretName(this, 'Healthcheck', 'orders-healthcheck'), key: 'url' } })],
    });

    // Every morning, restore the newest orders backup into a throwaway PostgreSQL of the source's
    // major (15, recorded on the series) inside the pod and check it; alerts say when it fails.
    new PostgresVerifyCronJob(this, 'orders-verify', {
      schedule: BackupSchedule.daily({ hour: 6 }),
      timeZone: 'Europe/Berlin',
      series: ordersBackup,
      assertions: [
        VerifyAssertion.tablesExist(['orders', 'order_lines']),
        VerifyAssertion.sql("SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '2 days'"),
      ],
      alerts,
      metrics,
    });

    // Every day, the view from the bucket: the newest orders backup is younger than the backup's
    // schedule allows (ordersBackup.staleAfter), and every manifest's object is there, whole.
    new BackupCheckCronJob(this, 'orders-check', {
      schedule: BackupSchedule.daily({ hour: 7 }),
      timeZone: 'Europe/Berlin',
      series: ordersBackup,
      alerts,
      metrics,
    });

    const catalogBackup = new MongoBackupCronJob(this, 'catalog', {
      schedule: BackupSchedule.daily({ hour: 3 }),
      storage,
      uri: { secret: kplus.Secret.fromSecretName(this, 'Mongo', 'catalog-mongo'), key: 'uri' },
      database: 'catalog',
      retention: Retention.keepLast(14),
      alerts,
      metrics,
    });

    const shopBackup = new MysqlBackupCronJob(this, 'shop', {
      schedule: BackupSchedule.daily({ hour: 1 }),
      storage,
      host: 'mariadb.db.svc',
      database: 'shop',
      username: 'backup',
      password: { secret: kplus.Secret.fromSecretName(this, 'Shop', 'shop-db'), key: 'password' },
      retention: Retention.policy({ keepDaily: 7, keepMonthly: 6 }),
      // Public keys (`age-keygen -y key.txt`), not secrets. Either identity decrypts; while
      // rotating keys, list the old and the new one.
      encryption: BackupEncryption.age({
        recipients: [
          'age1w99qfac58e3c89hcvegqgj5g0vu00gjy6gl6jx7l8xx80v4xqe0s9j2yc3', // ops team, in the shop-backup-age Secret
          'age17ktnrdp2sfdxs5nwq0m4xhjlfl7rzex979meuvd665au9nnzh5zsme50lc', // offline recovery key, in the safe
        ],
      }),
      alerts,
      metrics,
    });

    const sessionsBackup = new RedisBackupCronJob(this, 'sessions', {
      schedule: BackupSchedule.hourly(),
      storage,
      host: 'redis.cache.svc',
      password: { secret: kplus.Secret.fromSecretName(this, 'Redis', 'sessions-redis'), key: 'password' },
      retention: Retention.policy({ keepHourly: 24, keepDaily: 3 }),
      alerts,
      metrics,
    });

    // Each of the other series is restored into a throwaway server of its engine too: MongoDB,
    // MariaDB (the default mysqlImage), and a redis-server that starts from the restored RDB.
    new MongoVerifyCronJob(this, 'catalog-verify', {
      schedule: BackupSchedule.daily({ hour: 5 }),
      series: catalogBackup,
      assertions: [VerifyAssertion.minDocuments('products', 1)],
      alerts,
      metrics,
    });
    new MysqlVerifyCronJob(this, 'shop-verify', {
      schedule: BackupSchedule.daily({ hour: 4 }),
      series: shopBackup,
      // The ops team's identity (AGE-SECRET-KEY-1…), mounted read-only into this pod's runner only.
      decryption: BackupDecryption.ageIdentity({
        secret: kplus.Secret.fromSecretName(this, 'ShopAge', 'shop-backup-age'),
        key: 'identity.txt',
      }),
      assertions: [VerifyAssertion.minRows('orders', 1)],
      alerts,
      metrics,
    });
    new RedisVerifyCronJob(this, 'sessions-verify', {
      schedule: BackupSchedule.daily({ hour: 5 }),
      series: sessionsBackup,
      assertions: [VerifyAssertion.minKeys(1)],
      alerts,
      metrics,
    });
  }
}
