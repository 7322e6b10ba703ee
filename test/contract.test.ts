/**
 * The contract between the constructs and the runner, tested end to end: every runner container
 * the constructs synthesize (in many configurations) is fed, env and args as the pod would get
 * them, to the runner's config loader, which must accept it; and for every rule both sides
 * enforce, a value one side refuses is refused by the other too.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { BackupsChart } from '../examples/backups-chart';
import { RestoreChart } from '../examples/restore-chart';
import { podSpecOf } from './helpers/k8s';
import { loadRunConfig } from '../image/src/config';
import {
  BackupDecryption, BackupEncryption, BackupMetrics, BackupSchedule, BackupSeries, BackupStorage, Compression, MongoBackupCronJob,
  MongoRestoreJob, MysqlBackupCronJob, MysqlRestoreJob, BackupCheckCronJob, PostgresBackupCronJob, PostgresRestoreJob, PostgresSslMode,
  PostgresVerifyCronJob, Notification, NotifyOn, RedisBackupCronJob, Retention, S3Credentials, TlsCertificate, MysqlVerifyCronJob,
  MysqlServerFlavor, MongoVerifyCronJob, RedisVerifyCronJob, RedisRestoreJob, S3ServerSideEncryption, VerifyAssertion,
} from '../lib';
import { ENV } from '../lib/contract';
import { ENGINE_REGISTRY } from '../lib/registry';
import * as rules from '../lib/rules';
import { RuleError } from '../lib/rules';

/** Public keys only (age-keygen, and an ssh-ed25519 line): recipients are not secrets. */
const AGE_RECIPIENT = 'age1w99qfac58e3c89hcvegqgj5g0vu00gjy6gl6jx7l8xx80v4xqe0s9j2yc3';
const AGE_RECIPIENT_2 = 'age17ktnrdp2sfdxs5nwq0m4xhjlfl7rzex979meuvd665au9nnzh5zsme50lc';
const SSH_RECIPIENT = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIY7ej+oNVL2AubfY/RJdX5ElIYx/vWIpaccfhbqn4w4 ops@example';

/** What a Secret would hold for each variable the constructs fill by secretKeyRef. */
const SECRET_SAMPLE: Record<string, string> = {
  [ENGINE_REGISTRY.mongo.env.URI]: 'mongodb://backup:pw@mongo.db.svc:27017/?authSource=admin',
  [ENV.HEALTHCHECK_URL]: 'https://hc-ping.com/0f3c2a9e-1111-4e0b-9c1d-2b7f5a6c8d90',
  [ENV.WEBHOOK_URL]: 'https://hooks.example.com/services/T000/B000/XXXX',
};

/** What the downward API gives each field the constructs read from it. */
const FIELD_SAMPLE: Record<string, string> = { 'metadata.namespace': 'backups' };

interface RunnerPod {
  readonly where: string;
  readonly argv: string[];
  readonly env: Record<string, string>;
}

/** The runner container of every Job and CronJob in `chart`, with its env resolved as the kubelet would. */
function runnerPods(chart: Chart): RunnerPod[] {
  return Testing.synth(chart)
    .filter(o => o.kind === 'CronJob' || o.kind === 'Job')
    .map(o => {
      const container = podSpecOf(o).containers[0];
      const env: Record<string, string> = {};
      for (const e of container.env ?? []) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom?.secretKeyRef) env[e.name] = SECRET_SAMPLE[e.name] ?? 'value-from-a-secret';
        else if (FIELD_SAMPLE[e.valueFrom?.fieldRef?.fieldPath]) env[e.name] = FIELD_SAMPLE[e.valueFrom.fieldRef.fieldPath];
        else throw new Error(`${o.metadata.name}: env ${e.name} has a source the contract test does not know`);
      }
      return { where: `${o.kind}/${o.metadata.name}`, argv: container.args ?? [], env };
    });
}

function storages(scope: Chart) {
  const keys = kplus.Secret.fromSecretName(scope, 'Keys', 'backup-s3');
  return {
    s3: BackupStorage.s3({
      bucket: 'backups',
      prefix: 'prod/db',
      endpoint: 'https://s3.example.com:9000',
      region: 'eu-west-1',
      credentials: S3Credentials.fromSecret(keys, { accessKeyIdKey: 'id', secretAccessKeyKey: 'key', sessionTokenKey: 'token' }),
      serverSideEncryption: S3ServerSideEncryption.kms('arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
    }),
    aws: BackupStorage.s3({
      bucket: 'a.b-c',
      credentials: S3Credentials.fromServiceAccount(kplus.ServiceAccount.fromServiceAccountName(scope, 'Sa', 'backup')),
      serverSideEncryption: S3ServerSideEncryption.s3Managed(),
    }),
    volume: BackupStorage.volume({
      volume: kplus.Volume.fromPersistentVolumeClaim(scope, 'Pvc', kplus.PersistentVolumeClaim.fromClaimName(scope, 'Claim', 'backups')),
      prefix: 'nightly',
    }),
  };
}

/** Every construct, in the configurations users write, beside the example app. */
function variantsChart(): Chart {
  const chart = Testing.chart();
  const { s3, aws, volume } = storages(chart);
  const secret = (name: string) => ({ secret: kplus.Secret.fromSecretName(chart, `S-${name}`, name), key: 'value' });
  const ca = TlsCertificate.fromSecret(kplus.Secret.fromSecretName(chart, 'Ca', 'db-ca'), 'ca.crt');
  const schedule = BackupSchedule.daily({ hour: 2 });
  const retention = Retention.policy({
    keepLast: 0, keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 3, keepWithin: Duration.days(2),
  });

  const pg = new PostgresBackupCronJob(chart, 'pg', {
    schedule,
    storage: s3,
    host: '10.0.0.7',
    port: 6432,
    database: 'orders',
    username: 'backup',
    password: secret('pg'),
    sslMode: PostgresSslMode.VERIFY_FULL,
    caCertificate: ca,
    postgresMajor: 16,
    dumpArgs: ['--exclude-table=audit_log', '--no-comments'],
    compression: Compression.GZIP,
    retention,
    incompleteMinAge: Duration.hours(72),
    activeDeadline: Duration.hours(12),
    maxClockSkew: Duration.minutes(2),
    stallTimeout: Duration.minutes(5),
    metrics: BackupMetrics.pushgateway({ url: 'https://gateway.example.com:9443/prefix/' }),
    notifications: [
      Notification.healthcheck({ url: { secret: kplus.Secret.fromSecretName(chart, 'Hc', 'hc'), key: ENV.HEALTHCHECK_URL } }),
      Notification.webhook({ url: { secret: kplus.Secret.fromSecretName(chart, 'Wh', 'wh'), key: ENV.WEBHOOK_URL }, on: [NotifyOn.FAILURE] }),
    ],
  });
  new PostgresBackupCronJob(chart, 'pg-volume', {
    schedule, storage: volume, host: 'pg', database: 'orders', username: 'backup', backupName: 'orders.v2_x-1', compression: Compression.NONE,
  });
  new PostgresRestoreJob(chart, 'pg-restore', {
    series: pg,
    host: 'pg',
    database: 'orders_restored',
    username: 'owner',
    password: secret('owner'),
    backupId: '20261125T010203Z-1a2b3c4d',
    restoreArgs: ['--clean', '--if-exists'],
    allowNonEmptyTarget: true,
    maxClockSkew: Duration.seconds(30),
    stallTimeout: Duration.seconds(10),
  });
  new PostgresVerifyCronJob(chart, 'pg-verify', {
    schedule,
    series: pg,
    assertionSql: 'SELECT true',
    maxClockSkew: Duration.hours(1),
    metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway:9091' }),
    notifications: [Notification.webhook({ url: { secret: kplus.Secret.fromSecretName(chart, 'Wh2', 'wh'), key: ENV.WEBHOOK_URL } })],
  });
  new PostgresVerifyCronJob(chart, 'pg-verify-elsewhere', {
    schedule, series: BackupSeries.fromName(aws, 'billing', 'postgres'), postgresMajor: 15,
  });

  const mongo = new MongoBackupCronJob(chart, 'mongo', { schedule, storage: aws, uri: secret('uri'), database: 'catalog', retention: Retention.keepLast(3) });
  new MongoBackupCronJob(chart, 'mongo-all', { schedule, storage: volume, uri: secret('uri2'), dumpArgs: ['--oplog'] });
  new MongoRestoreJob(chart, 'mongo-restore', { series: mongo, uri: secret('uri3'), database: 'catalog_copy' });

  const mysql = new MysqlBackupCronJob(chart, 'mysql', {
    schedule,
    storage: s3,
    host: 'mariadb',
    port: 3307,
    database: 'shop',
    username: 'backup',
    password: secret('my'),
    caCertificate: TlsCertificate.fromConfigMap(kplus.ConfigMap.fromConfigMapName(chart, 'CaMap', 'db-ca'), 'ca.pem'),
    dumpArgs: ['--ignore-table=shop.sessions'],
    encryption: BackupEncryption.age({ recipients: [AGE_RECIPIENT, AGE_RECIPIENT_2, SSH_RECIPIENT] }),
  });
  const ageIdentity = BackupDecryption.ageIdentity({ secret: kplus.Secret.fromSecretName(chart, 'Age', 'backup-age'), key: 'identity.txt' });
  new MysqlBackupCronJob(chart, 'mysql-plain', { schedule, storage: volume, host: 'mariadb', database: 'shop', username: 'backup', tls: false });
  new MysqlRestoreJob(chart, 'mysql-restore', {
    series: mysql, host: 'mariadb', database: 'shop_restored', username: 'owner', password: secret('my2'), decryption: ageIdentity,
  });
  new MysqlVerifyCronJob(chart, 'mysql-verify', {
    schedule,
    series: mysql,
    assertions: [VerifyAssertion.sql('SELECT COUNT(*) > 0 FROM orders'), VerifyAssertion.minRows('orders', 1), VerifyAssertion.tablesExist(['orders'])],
    decryption: ageIdentity,
  });
  new MysqlVerifyCronJob(chart, 'mysql-verify-mysql', { schedule, series: BackupSeries.fromName(volume, 'shop', 'mysql'), serverFlavor: MysqlServerFlavor.MYSQL });
  new MongoVerifyCronJob(chart, 'mongo-verify', { schedule, series: mongo, assertions: [VerifyAssertion.minDocuments('products', 1)] });

  new BackupCheckCronJob(chart, 'pg-check', { schedule, series: pg, readData: true, stallTimeout: Duration.minutes(5) });
  new BackupCheckCronJob(chart, 'mongo-check', { schedule, series: BackupSeries.fromName(volume, 'catalog', 'mongo'), maxAge: Duration.hours(30) });

  const redis = new RedisBackupCronJob(chart, 'redis', {
    schedule, storage: s3, host: 'redis', port: 6380, username: 'backup', password: secret('redis'), tls: true, caCertificate: ca,
  });
  new RedisVerifyCronJob(chart, 'redis-verify', { schedule, series: redis, assertions: [VerifyAssertion.minKeys(10), VerifyAssertion.keysExist(['config:-n', 'a b'])] });
  new RedisRestoreJob(chart, 'redis-restore', {
    series: redis,
    volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'RedisData', kplus.PersistentVolumeClaim.fromClaimName(chart, 'RedisClaim', 'redis-data')),
    fileName: 'dump.rdb',
    backupId: '20261125T010203Z-1a2b3c4d',
    allowNonEmptyTarget: true,
  });
  new RedisBackupCronJob(chart, 'redis-plain', { schedule: BackupSchedule.hourly(), storage: aws, host: 'redis', retention: Retention.policy({ keepHourly: 24 }) });
  return chart;
}

describe('the runner accepts exactly what the constructs synthesize', () => {
  const charts: Array<[string, () => Chart]> = [
    ['the example app', () => new BackupsChart(Testing.app(), 'backups', { namespace: 'backups' })],
    ["the example's restore app", () => new RestoreChart(Testing.app(), 'restore', { namespace: 'backups', backupId: '20261125T010203Z-1a2b3c4d' })],
    ['every construct in other configurations', variantsChart],
  ];
  for (const [name, make] of charts) {
    test(name, () => {
      const pods = runnerPods(make());
      expect(pods.length).toBeGreaterThan(0);
      for (const pod of pods) {
        let config: any;
        try {
          config = loadRunConfig(pod.argv, pod.env);
        } catch (err) {
          throw new Error(`${pod.where}: the runner refuses what the construct synthesized: ${(err as Error).message}`);
        }
        expect({ where: pod.where, command: config.args.command, engine: config.engine?.name ?? config.engineName, name: config.name })
          .toEqual({ where: pod.where, command: pod.argv[0], engine: pod.env[ENV.ENGINE], name: pod.env[ENV.NAME] });
      }
    });
  }

  test('covers every engine and every command the constructs can produce', () => {
    const seen = new Set(runnerPods(variantsChart()).map(p => `${p.env[ENV.ENGINE]} ${p.argv[0]}`));
    for (const [name, d] of Object.entries(ENGINE_REGISTRY)) {
      expect(seen).toContain(`${name} backup`);
      if (d.capabilities.restore) expect(seen).toContain(`${name} restore`);
      if (d.capabilities.verify) expect(seen).toContain(`${name} verify`);
    }
    expect(seen).toContain('postgres check');
  });
});

/**
 * One rule, both sides: each case changes one input of a valid configuration, once as the
 * construct's prop and once as the runner's variable or argument, and both must refuse it.
 */
describe('a value the runner refuses is refused at synth time too', () => {
  /** A valid PostgreSQL backup pod's env and argv, to change one thing at a time. */
  function validPod(): RunnerPod {
    const chart = Testing.chart();
    new PostgresBackupCronJob(chart, 'orders', {
      schedule: BackupSchedule.daily(), storage: storages(chart).s3, host: 'pg', database: 'orders', username: 'backup',
    });
    return runnerPods(chart)[0];
  }
  function runner(change: (pod: RunnerPod) => RunnerPod): () => unknown {
    const pod = change(validPod());
    return () => loadRunConfig(pod.argv, pod.env);
  }
  const withEnv = (name: string, value: string) => (p: RunnerPod) => ({ ...p, env: { ...p.env, [name]: value } });
  function synth(build: (chart: Chart) => void): () => unknown {
    return () => {
      const chart = Testing.chart();
      build(chart);
      Testing.synth(chart);
    };
  }
  const pgProps = (chart: Chart) => ({ schedule: BackupSchedule.daily(), storage: storages(chart).s3, host: 'pg', database: 'orders', username: 'backup' });

  const cases: Array<[string, () => unknown, () => unknown]> = [];
  for (const name of ['Orders', 'orders-', '-orders', 'a'.repeat(64), 'or ders', 'orders/daily', '']) {
    cases.push([`series name '${name}'`,
      synth(chart => new PostgresBackupCronJob(chart, 'orders', { ...pgProps(chart), backupName: name })),
      runner(withEnv(ENV.NAME, name))]);
  }
  for (const bucket of ['ab', 'Backups', 'my_bucket', '1.2.3.4', 'xn--abc', 'a..b', 'b-s3alias']) {
    cases.push([`bucket '${bucket}'`,
      synth(() => BackupStorage.s3({ bucket })),
      runner(withEnv(ENV.DESTINATION, `s3://${bucket}/prod`))]);
  }
  for (const prefix of ['a/../b', 'a/./b', 'a b', 'a//b', 'ü']) {
    cases.push([`prefix '${prefix}'`,
      synth(() => BackupStorage.s3({ bucket: 'backups', prefix })),
      runner(withEnv(ENV.DESTINATION, `s3://backups/${prefix}`))]);
  }
  for (const endpoint of ['ftp://s3.example.com', 'http://user:pw@s3.example.com', 'http://s3.example.com/path', 'http://s3.example.com/?x=1', 'not a url']) {
    cases.push([`endpoint '${endpoint}'`,
      synth(() => BackupStorage.s3({ bucket: 'backups', endpoint })),
      runner(withEnv(ENV.AWS_ENDPOINT_URL_S3, endpoint))]);
  }
  for (const port of [0, 65536, 1.5, -1]) {
    cases.push([`port ${port}`,
      synth(chart => new PostgresBackupCronJob(chart, 'orders', { ...pgProps(chart), port })),
      runner(withEnv(ENGINE_REGISTRY.postgres.env.PORT, String(port)))]);
  }
  for (const n of [-1, 1.5]) {
    cases.push([`retention count ${n}`,
      synth(() => Retention.keepLast(n)),
      runner(withEnv(ENV.KEEP_LAST, String(n)))]);
  }
  for (const id of ['yesterday', '20261125T010203Z', '20261125T010203Z-1A2B3C4D', '20261125T010203Z-1a2b3c4d.pgdump']) {
    cases.push([`backup id '${id}'`,
      synth(chart => new PostgresRestoreJob(chart, 'restore', {
        series: BackupSeries.fromName(storages(chart).s3, 'orders', 'postgres'), host: 'pg', database: 'x', username: 'u', backupId: id,
      })),
      runner(p => ({ ...p, argv: ['restore', id] }))]);
  }
  for (const arg of ['--file=/tmp/x', '-f/tmp/x', '--format=plain', '-Fp', '--dbname=other', '-d', '--host=evil', '-Z9', '--jobs=4']) {
    cases.push([`pg_dump argument '${arg}'`,
      synth(chart => new PostgresBackupCronJob(chart, 'orders', { ...pgProps(chart), dumpArgs: [arg] })),
      runner(p => ({ ...p, argv: ['backup', '--', arg] }))]);
  }
  for (const mode of ['strict', 'VERIFY-FULL', '']) {
    cases.push([`sslmode '${mode}'`,
      synth(chart => new PostgresBackupCronJob(chart, 'orders', { ...pgProps(chart), sslMode: mode as PostgresSslMode })),
      runner(withEnv(ENGINE_REGISTRY.postgres.env.SSL_MODE, mode || ' '))]);
  }

  for (const seconds of [0]) {
    cases.push([`maxClockSkew ${seconds} s`,
      synth(chart => new PostgresBackupCronJob(chart, 'orders', { ...pgProps(chart), maxClockSkew: Duration.seconds(seconds) })),
      runner(withEnv(ENV.MAX_CLOCK_SKEW_SECONDS, String(seconds)))]);
  }
  for (const seconds of [1, 9]) {
    cases.push([`stallTimeout ${seconds} s`,
      synth(chart => new PostgresBackupCronJob(chart, 'orders', { ...pgProps(chart), stallTimeout: Duration.seconds(seconds) })),
      runner(withEnv(ENV.STALL_TIMEOUT_SECONDS, String(seconds)))]);
  }

  const ageText = (recipients: string[]) => recipients.join('\n');
  const changed = AGE_RECIPIENT.slice(0, 20) + (AGE_RECIPIENT[20] === 'q' ? 'p' : 'q') + AGE_RECIPIENT.slice(21);
  for (const [what, recipients] of [
    ['a changed character', [changed]],
    ['an upper-case key', [AGE_RECIPIENT.toUpperCase()]],
    ['a private key', ['AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33']],
    ['the same key twice', [AGE_RECIPIENT, AGE_RECIPIENT]],
    ['an SSH key age has no recipient type for', ['ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=']],
    ['none', []],
  ] as Array<[string, string[]]>) {
    cases.push([`age recipients: ${what}`,
      synth(() => BackupEncryption.age({ recipients })),
      runner(withEnv(ENV.AGE_RECIPIENTS, ageText(recipients) || '# none'))]);
  }
  for (const keyId of ['-key', 'key!', 'alias/my key', 'k'.repeat(2049)]) {
    cases.push([`KMS key id '${keyId.slice(0, 20)}'`,
      synth(() => S3ServerSideEncryption.kms(keyId)),
      runner(p => ({ ...p, env: { ...p.env, [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: keyId } }))]);
  }

  test.each(cases)('%s', (_what, atSynth, atRun) => {
    expect(atSynth).toThrow();
    expect(atRun).toThrow(RuleError);
  });

  test('the valid starting point is accepted by both', () => {
    expect(runner(p => p)).not.toThrow();
  });
});

describe("the README's environment table", () => {
  test('documents every variable the registry and the contract define', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const names = [
      ...Object.values(ENV),
      ...Object.values(ENGINE_REGISTRY).flatMap(d => Object.values(d.env) as string[]),
    ];
    expect(names.filter(n => !readme.includes(`\`${n}\``))).toEqual([]);
  });
});

describe('a URL with credentials is never echoed, whatever else is wrong with it', () => {
  test.each([
    'ftp://backup:s3cr3t-pw@gateway:9091',
    'http://backup:s3cr3t-pw@gateway:badport',
    'http://backup:s3cr3t-pw@gateway:9091/?x=1',
    'https://backup:s3cr3t-pw@s3.example.com',
  ])('%s', url => {
    for (const rule of [rules.pushgatewayUrl, rules.endpointUrl]) {
      let message = '';
      try {
        rule('FIELD', url);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^FIELD: /);
      expect(message).not.toContain('s3cr3t-pw');
    }
  });
});
