import * as fs from 'fs';
import * as path from 'path';
import { App, Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  BackupCheckCronJob, BackupDefaults, BackupSchedule, BackupSeries, MongoBackupCronJob, MongoRestoreJob, MongoVerifyCronJob,
  MysqlBackupCronJob, MysqlRestoreJob, MysqlServerFlavor, MysqlVerifyCronJob, PostgresBackupCronJob, PostgresRestoreJob,
  PostgresVerifyCronJob, RedisBackupCronJob, RedisRestoreJob, RedisVerifyCronJob,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { s3Storage } from '../helpers/synth';

const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;
const REGISTRY = 'registry.example.com/mirror';

const secret = (scope: Construct, name: string) => kplus.Secret.fromSecretName(scope, `Secret-${name}`, name);
const series = (scope: Construct, name: string, engine: string) => BackupSeries.fromName(s3Storage(scope), name, engine);
const daily = BackupSchedule.daily({ hour: 2 });
// One series per backup construct: an app refuses two writers of one series.
const seriesOf = (scope: Construct) => scope.node.path.replace(/[^a-z0-9]+/g, '-');

/** Every construct kind of the library, made in `scope` with the fewest props. */
const KINDS: Record<string, (scope: Construct) => void> = {
  PostgresBackupCronJob: s => new PostgresBackupCronJob(s, 'c', {
    schedule: daily,
    storage: s3Storage(s),
    backupName: seriesOf(s),
    host: 'pg.db.svc',
    database: 'orders',
    username: 'backup',
    password: { secret: secret(s, 'pg'), key: 'password' },
  }),
  PostgresRestoreJob: s => new PostgresRestoreJob(s, 'c', {
    series: series(s, 'orders', 'postgres'),
    host: 'pg.db.svc',
    database: 'orders',
    username: 'owner',
    password: { secret: secret(s, 'pg'), key: 'password' },
  }),
  PostgresVerifyCronJob: s => new PostgresVerifyCronJob(s, 'c', { schedule: daily, series: series(s, 'orders', 'postgres'), postgresMajor: 17 }),
  MysqlBackupCronJob: s => new MysqlBackupCronJob(s, 'c', {
    schedule: daily,
    storage: s3Storage(s),
    backupName: seriesOf(s),
    host: 'mysql.db.svc',
    database: 'shop',
    username: 'backup',
    password: { secret: secret(s, 'my'), key: 'password' },
  }),
  MysqlRestoreJob: s => new MysqlRestoreJob(s, 'c', {
    series: series(s, 'shop', 'mysql'),
    host: 'mysql.db.svc',
    database: 'shop',
    username: 'restore',
    password: { secret: secret(s, 'my'), key: 'password' },
  }),
  MysqlVerifyCronJob: s => new MysqlVerifyCronJob(s, 'c', { schedule: daily, series: series(s, 'shop', 'mysql') }),
  MysqlVerifyCronJobOnMysql: s => new MysqlVerifyCronJob(s, 'c', { schedule: daily, series: series(s, 'shop', 'mysql'), serverFlavor: MysqlServerFlavor.MYSQL }),
  RedisBackupCronJob: s => new RedisBackupCronJob(s, 'c', { schedule: daily, storage: s3Storage(s), backupName: seriesOf(s), host: 'redis.cache.svc' }),
  RedisRestoreJob: s => new RedisRestoreJob(s, 'c', {
    series: series(s, 'sessions', 'redis'),
    volume: kplus.Volume.fromPersistentVolumeClaim(s, 'Data', kplus.PersistentVolumeClaim.fromClaimName(s, 'Pvc', 'redis-data')),
  }),
  RedisVerifyCronJob: s => new RedisVerifyCronJob(s, 'c', { schedule: daily, series: series(s, 'sessions', 'redis') }),
  MongoBackupCronJob: s => new MongoBackupCronJob(s, 'c', {
    schedule: daily, storage: s3Storage(s), backupName: seriesOf(s), uri: { secret: secret(s, 'mongo'), key: 'uri' }, database: 'catalog',
  }),
  MongoRestoreJob: s => new MongoRestoreJob(s, 'c', {
    series: series(s, 'catalog', 'mongo'), uri: { secret: secret(s, 'mongo'), key: 'uri' }, database: 'catalog',
  }),
  MongoVerifyCronJob: s => new MongoVerifyCronJob(s, 'c', { schedule: daily, series: series(s, 'catalog', 'mongo') }),
  BackupCheckCronJob: s => new BackupCheckCronJob(s, 'c', { schedule: daily, series: series(s, 'orders', 'postgres'), maxAge: Duration.hours(26) }),
};

/** The Jobs and CronJobs of a chart (every pod the library makes is in one). */
function workloads(chart: Chart): any[] {
  return Testing.synth(chart).filter(o => o.kind === 'Job' || o.kind === 'CronJob');
}

function images(workload: any): string[] {
  return podSpecOf(workload).containers.map((c: any) => c.image);
}

/** The test's own statement of the documented mapping, for the two kinds of default image there are. */
function mirrored(registry: string, image: string): string {
  if (image.startsWith('ghcr.io/')) return `${registry}/${image.slice('ghcr.io/'.length)}`;
  if (/^[a-z]+:[0-9.]+$/.test(image)) return `${registry}/library/${image}`;
  throw new Error(`not a default image of the library: ${image}`);
}

/** An app with one chart, `test`. */
function newApp(): { app: App; chart: Chart } {
  const app = Testing.app();
  return { app, chart: new Chart(app, 'test') };
}

describe('BackupDefaults.of(scope).useRegistry() and addImagePullSecret()', () => {
  describe.each(Object.keys(KINDS))('%s', kind => {
    test('without BackupDefaults: the default images, no imagePullSecrets', () => {
      const { chart } = newApp();
      KINDS[kind](chart);
      const [workload, ...others] = workloads(chart);
      expect(others).toEqual([]);
      for (const image of images(workload)) expect(image).toMatch(/^(ghcr\.io\/cdk8s-db-backup\/cdk8s-db-backup:|[a-z]+:[0-9.]+$)/);
      expect(images(workload)[0]).toBe(`ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${VERSION}-${workload.metadata.labels['app.kubernetes.io/component'].split('-')[0]}`);
      expect(podSpecOf(workload).imagePullSecrets).toBeUndefined();
    });

    test('every image from the registry, the origin path kept; the pull secrets on the pod; still valid and restricted', () => {
      const plain = newApp();
      KINDS[kind](plain.chart);
      const defaults = images(workloads(plain.chart)[0]);

      const { app, chart } = newApp();
      BackupDefaults.of(app).useRegistry(REGISTRY, { imagePullSecrets: [secret(chart, 'mirror-pull')] });
      BackupDefaults.of(app).addImagePullSecret(secret(chart, 'second-pull'));
      KINDS[kind](chart);
      const [workload] = workloads(chart);
      expect(images(workload)).toEqual(defaults.map(i => mirrored(REGISTRY, i)));
      expect(podSpecOf(workload).imagePullSecrets).toEqual([{ name: 'mirror-pull' }, { name: 'second-pull' }]);
      validateSchema(workload);
      expect(restrictedViolations(podSpecOf(workload))).toEqual([]);
      expect(BackupDefaults.imagesOf(app)).toEqual(defaults.map(i => ({
        image: mirrored(REGISTRY, i),
        origin: i.startsWith('ghcr.io/') ? i : `docker.io/library/${i}`,
      })).sort((a, b) => a.image.localeCompare(b.image)));
    });
  });

  test('the throwaway servers map as documented: postgres:17.8 -> <registry>/library/postgres:17.8, and so on', () => {
    const { app, chart } = newApp();
    BackupDefaults.of(app).useRegistry('mirror.internal:5000');
    for (const kind of ['PostgresVerifyCronJob', 'MysqlVerifyCronJob', 'MysqlVerifyCronJobOnMysql', 'RedisVerifyCronJob', 'MongoVerifyCronJob']) {
      KINDS[kind](new Construct(chart, kind));
    }
    expect(workloads(chart).map(w => images(w)[1])).toEqual([
      'mirror.internal:5000/library/postgres:17.8',
      'mirror.internal:5000/library/mariadb:11.8.6',
      'mirror.internal:5000/library/mysql:8.4.8',
      'mirror.internal:5000/library/redis:8.0.2',
      'mirror.internal:5000/library/mongo:8.0.19',
    ]);
    // A mysql image mapped to the registry still says its family: the server runs mysqld.
    expect(workloads(chart).map(w => podSpecOf(w).containers[1].name)).toEqual(['postgres', 'mariadb', 'mysql', 'redis', 'mongo']);
  });

  test('the nearest scope wins, for the registry and the pull secrets each', () => {
    const { app } = newApp();
    const prod = new Chart(app, 'prod');
    const staging = new Chart(app, 'staging');
    const team = new Construct(staging, 'team');
    BackupDefaults.of(app).useRegistry('registry.example.com/mirror', { imagePullSecrets: [secret(prod, 'app-pull')] });
    BackupDefaults.of(staging).useRegistry('staging-registry.example.com');
    BackupDefaults.of(team).addImagePullSecret(secret(team, 'team-pull'));
    KINDS.RedisBackupCronJob(prod);
    KINDS.RedisBackupCronJob(staging);
    KINDS.RedisBackupCronJob(team);

    const [inProd] = workloads(prod);
    const byInstance = (name: string) => workloads(staging).find(w => w.metadata.labels['app.kubernetes.io/instance'] === name);
    const [inStaging, inTeam] = [byInstance('staging'), byInstance('staging-team')];
    const runner = `cdk8s-db-backup/cdk8s-db-backup:${VERSION}-redis`;
    expect(images(inProd)).toEqual([`registry.example.com/mirror/${runner}`]);
    expect(podSpecOf(inProd).imagePullSecrets).toEqual([{ name: 'app-pull' }]);
    expect(images(inStaging)).toEqual([`staging-registry.example.com/${runner}`]);
    expect(podSpecOf(inStaging).imagePullSecrets).toEqual([{ name: 'app-pull' }]);
    expect(images(inTeam)).toEqual([`staging-registry.example.com/${runner}`]);
    expect(podSpecOf(inTeam).imagePullSecrets).toEqual([{ name: 'team-pull' }]);
  });

  test('a construct\'s own image props win; the pull secrets still apply', () => {
    const { app, chart } = newApp();
    BackupDefaults.of(app).useRegistry(REGISTRY);
    BackupDefaults.of(chart).addImagePullSecret(secret(chart, 'pull'));
    new PostgresVerifyCronJob(chart, 'verify', {
      schedule: daily,
      series: series(chart, 'orders', 'postgres'),
      postgresMajor: 16,
      image: 'own.example.com/tools/backup:1.2.3',
      postgresImage: 'own.example.com/postgres:16.12',
    });
    const [workload] = workloads(chart);
    expect(images(workload)).toEqual(['own.example.com/tools/backup:1.2.3', 'own.example.com/postgres:16.12']);
    expect(podSpecOf(workload).imagePullSecrets).toEqual([{ name: 'pull' }]);
    expect(BackupDefaults.imagesOf(app)).toEqual([
      { image: 'own.example.com/postgres:16.12', origin: 'own.example.com/postgres:16.12' },
      { image: 'own.example.com/tools/backup:1.2.3', origin: 'own.example.com/tools/backup:1.2.3' },
    ]);
  });

  test('one own image, the other from the registry: redisImage given, the runner mapped', () => {
    const { app, chart } = newApp();
    BackupDefaults.of(app).useRegistry(REGISTRY);
    new RedisVerifyCronJob(chart, 'verify', { schedule: daily, series: series(chart, 'sessions', 'redis'), redisImage: 'redis:7.4.2' });
    expect(images(workloads(chart)[0])).toEqual([`${REGISTRY}/cdk8s-db-backup/cdk8s-db-backup:${VERSION}-redis`, 'redis:7.4.2']);
  });

  test('imagesOf lists each image once, sorted, for the constructs below the scope only', () => {
    const { app, chart } = newApp();
    const other = new Chart(app, 'other');
    BackupDefaults.of(app).useRegistry(REGISTRY);
    KINDS.PostgresBackupCronJob(new Construct(chart, 'a'));
    KINDS.PostgresVerifyCronJob(new Construct(chart, 'b'));
    KINDS.MysqlBackupCronJob(new Construct(other, 'c'));
    const runner = (engine: string) => `cdk8s-db-backup/cdk8s-db-backup:${VERSION}-${engine}`;
    expect(BackupDefaults.imagesOf(chart)).toEqual([
      { image: `${REGISTRY}/${runner('postgres')}`, origin: `ghcr.io/${runner('postgres')}` },
      { image: `${REGISTRY}/library/postgres:17.8`, origin: 'docker.io/library/postgres:17.8' },
    ]);
    expect(BackupDefaults.imagesOf(app).map(i => i.image)).toEqual([
      `${REGISTRY}/${runner('mysql')}`, `${REGISTRY}/${runner('postgres')}`, `${REGISTRY}/library/postgres:17.8`,
    ]);
  });

  test('without a registry, imagesOf names the defaults on their origin registries', () => {
    const { app, chart } = newApp();
    KINDS.MongoVerifyCronJob(chart);
    expect(BackupDefaults.imagesOf(app)).toEqual([
      { image: `ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${VERSION}-mongo`, origin: `ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${VERSION}-mongo` },
      { image: 'mongo:8.0.19', origin: 'docker.io/library/mongo:8.0.19' },
    ]);
  });

  test('registry forms that are accepted: a host, a port, localhost, a deep path', () => {
    for (const registry of ['registry.example.com', 'mirror.internal:5000', 'localhost:5000/m', 'localhost', 'r.example.com/a/b-c/d_e/f.g']) {
      const { app, chart } = newApp();
      BackupDefaults.of(app).useRegistry(registry);
      KINDS.RedisBackupCronJob(chart);
      expect(images(workloads(chart)[0])).toEqual([`${registry}/cdk8s-db-backup/cdk8s-db-backup:${VERSION}-redis`]);
    }
  });

  describe('a bad registry is refused where it is given, naming the call and the fix', () => {
    test.each<[string, any, RegExp]>([
      ['empty', '', /^BackupDefaults\.of\(app\)\.useRegistry\(registry\): must be a registry host with an optional path, e\.g\. 'registry\.example\.com\/mirror'/],
      ['blank', '  ', /^BackupDefaults\.of\(app\)\.useRegistry\(registry\): must be a registry host/],
      ['not a string', 5, /^BackupDefaults\.of\(app\)\.useRegistry\(registry\): must be a registry host/],
      ['white space', 'registry.example.com/my mirror', /contains white space/],
      ['a scheme', 'https://registry.example.com/mirror', /'https:\/\/registry\.example\.com\/mirror' has a scheme; image references have none\. Give 'registry\.example\.com\/mirror'/],
      ['a trailing slash', 'registry.example.com/mirror/', /'registry\.example\.com\/mirror\/' ends with '\/'; give it without: 'registry\.example\.com\/mirror'/],
      ['a tag', 'registry.example.com/mirror:1.0', /'registry\.example\.com\/mirror:1\.0' has a tag; give the registry and path only \(each image keeps its own tag\): 'registry\.example\.com\/mirror'/],
      ['a tag on the host', 'registry.example.com:latest', /has a tag; .*: 'registry\.example\.com'/],
      ['a digest', 'registry.example.com/mirror@sha256:abc', /has a digest; .*: 'registry\.example\.com\/mirror'/],
      ['uppercase', 'Registry.example.com/Mirror', /has uppercase letters, which image references do not allow; give 'registry\.example\.com\/mirror'/],
      ['a host without a dot or port', 'mirror/images', /'mirror' has no dot and no port, so a container runtime would read 'mirror\/images\/…' as a path on Docker Hub, not as a registry; give the host with its domain or port, e\.g\. 'mirror\.example\.com\/images' or 'mirror:5000\/images'/],
      ['an empty path component', 'registry.example.com//mirror', /has the path component ''; each must be lowercase letters and digits/],
      ['a bad path component', 'registry.example.com/-mirror', /has the path component '-mirror'/],
      ['a bad host', 'registry-.example.com', /'registry-\.example\.com' is not a registry host name/],
    ])('%s', (_name, value, message) => {
      const { app } = newApp();
      expect(() => BackupDefaults.of(app).useRegistry(value)).toThrow(message);
    });

    test('on a chart, the message names the chart', () => {
      const { chart } = newApp();
      expect(() => BackupDefaults.of(chart).useRegistry('https://r.example.com')).toThrow(/^BackupDefaults\.of\(test\)\.useRegistry\(registry\): 'https:\/\/r\.example\.com' has a scheme/);
    });

    test('a pull secret that is not a Secret', () => {
      const { app } = newApp();
      expect(() => BackupDefaults.of(app).addImagePullSecret('regcred' as any)).toThrow(/^BackupDefaults\.of\(app\)\.addImagePullSecret\(secret\): expected a Secret, e\.g\. kplus\.Secret\.fromSecretName\(chart, 'Pull', 'registry-pull'\)/);
      expect(() => BackupDefaults.of(app).useRegistry(REGISTRY, { imagePullSecrets: [undefined as any] })).toThrow(/imagePullSecrets\[0\] \}\): expected a Secret/);
      expect(() => BackupDefaults.of(app).useRegistry(REGISTRY, { imagePullSecrets: 'regcred' as any })).toThrow(/expected a list of Secrets/);
    });

    test('not a construct', () => {
      expect(() => BackupDefaults.of(undefined as any)).toThrow(/^BackupDefaults\.of\(scope\): expected a construct/);
      expect(() => BackupDefaults.imagesOf({} as any)).toThrow(/^BackupDefaults\.imagesOf\(scope\): expected a construct/);
    });
  });

  test('twice on one scope: the same registry is fine, another is refused; a pull secret added twice is listed once', () => {
    const { app, chart } = newApp();
    BackupDefaults.of(app).useRegistry(REGISTRY);
    BackupDefaults.of(app).useRegistry(REGISTRY, { imagePullSecrets: [secret(chart, 'pull')] });
    BackupDefaults.of(app).addImagePullSecret(kplus.Secret.fromSecretName(chart, 'Again', 'pull'));
    expect(() => BackupDefaults.of(app).useRegistry('other.example.com')).toThrow(
      /^BackupDefaults\.of\(app\)\.useRegistry\(registry\): 'other\.example\.com' differs from 'registry\.example\.com\/mirror', set on this scope before; a scope has one registry\. Call it once, or call BackupDefaults\.of\(\) on a nearer scope/,
    );
    KINDS.RedisBackupCronJob(chart);
    const [workload] = workloads(chart);
    expect(images(workload)[0]).toMatch(/^registry\.example\.com\/mirror\//);
    expect(podSpecOf(workload).imagePullSecrets).toEqual([{ name: 'pull' }]);
  });

  describe('ordering: a call that would change a construct created before it throws, naming the construct', () => {
    test('useRegistry after a construct below the scope', () => {
      const { app, chart } = newApp();
      KINDS.PostgresBackupCronJob(chart);
      expect(() => BackupDefaults.of(app).useRegistry(REGISTRY)).toThrow(
        /^BackupDefaults\.of\(app\): test\/c was created before this call and would miss its registry; call BackupDefaults\.of\(scope\)\.useRegistry\(\) and addImagePullSecret\(\) before creating constructs below that scope\./,
      );
      // Refused means not applied: a construct made now gets what the earlier one got.
      KINDS.PostgresBackupCronJob(new Construct(chart, 'later'));
      expect(workloads(chart).map(w => images(w)[0].split('/')[0])).toEqual(['ghcr.io', 'ghcr.io']);
    });

    test('addImagePullSecret after a construct below the scope', () => {
      const { chart } = newApp();
      KINDS.RedisVerifyCronJob(chart);
      expect(() => BackupDefaults.of(chart).addImagePullSecret(secret(chart, 'pull'))).toThrow(/test\/c was created before this call and would miss its image pull secrets; call BackupDefaults\.of\(scope\)/);
      expect(podSpecOf(workloads(chart)[0]).imagePullSecrets).toBeUndefined();
    });

    test('a late call on a scope that changes nothing created is fine: a nearer scope already decided, or another subtree', () => {
      const { app } = newApp();
      const first = new Chart(app, 'first');
      BackupDefaults.of(first).useRegistry('first.example.com');
      BackupDefaults.of(first).addImagePullSecret(secret(first, 'first-pull'));
      KINDS.RedisBackupCronJob(first);
      BackupDefaults.of(app).useRegistry(REGISTRY);
      BackupDefaults.of(app).addImagePullSecret(secret(first, 'app-pull'));
      const second = new Chart(app, 'second');
      BackupDefaults.of(second).addImagePullSecret(secret(second, 'second-pull'));
      KINDS.RedisBackupCronJob(second);
      expect(images(workloads(first)[0])[0]).toMatch(/^first\.example\.com\//);
      expect(images(workloads(second)[0])[0]).toMatch(/^registry\.example\.com\/mirror\//);
      expect(podSpecOf(workloads(second)[0]).imagePullSecrets).toEqual([{ name: 'second-pull' }]);
    });

    test('a construct with only its own images does not depend on the registry, but on the pull secrets', () => {
      const { app, chart } = newApp();
      new RedisBackupCronJob(chart, 'c', { schedule: daily, storage: s3Storage(chart), host: 'redis.cache.svc', image: 'own.example.com/backup:1.0.0' });
      BackupDefaults.of(app).useRegistry(REGISTRY);
      expect(() => BackupDefaults.of(app).addImagePullSecret(secret(chart, 'pull'))).toThrow(/test\/c was created before this call and would miss its image pull secrets/);
    });
  });
});
