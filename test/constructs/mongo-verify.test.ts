import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { atPath } from './at-path';
import { VerifyConfig, loadRunConfig } from '../../image/src/config';
import { BackupSchedule, BackupSeries, BackupStorage, MongoBackupCronJob, MongoVerifyCronJob, MongoVerifyCronJobProps, VerifyAssertion } from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';

function verifyProps(chart: any, overrides: Partial<MongoVerifyCronJobProps> = {}): MongoVerifyCronJobProps {
  return {
    schedule: BackupSchedule.daily({ hour: 6 }),
    series: BackupSeries.fromName(s3Storage(chart), 'catalog', 'mongo'),
    ...overrides,
  };
}

function synthVerify(overrides: Partial<MongoVerifyCronJobProps> = {}): any {
  const chart = newChart();
  new MongoVerifyCronJob(chart, 'catalog-verify', verifyProps(chart, overrides));
  return cronJobs(chart)[0];
}

describe('MongoVerifyCronJob', () => {
  test('synthesizes this CronJob', () => {
    const chart = newChart();
    new MongoVerifyCronJob(chart, 'catalog-verify', verifyProps(chart, { assertions: [VerifyAssertion.minDocuments('products', 100)] }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('a valid CronJob whose pod, throwaway server included, passes the restricted Pod Security Standard', () => {
    const cj = synthVerify();
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(podSpecOf(cj).containers.map((c: any) => c.name)).toEqual(['verify', 'mongo']);
    expect(podSpecOf(cj).initContainers).toBeUndefined();
  });

  test('the runner verifies the latest backup against the server on 127.0.0.1, with no password and no database in the URI', () => {
    const cj = synthVerify({ assertions: [VerifyAssertion.minDocuments('products', 100), VerifyAssertion.minDocuments('shop.orders', 1)] });
    expect(container(cj, 'verify').args).toEqual(['verify', 'latest']);
    const env = envOf(cj, 'verify');
    expect(env).toMatchObject({
      BACKUP_ENGINE: 'mongo',
      BACKUP_NAME: 'catalog',
      BACKUP_DESTINATION: 's3://backups/prod',
      BACKUP_MONGO_URI: 'mongodb://127.0.0.1:27017',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
    });
    expect(env).not.toHaveProperty('BACKUP_MONGO_DATABASE');
    expect(JSON.parse(env.BACKUP_VERIFY_ASSERTIONS)).toEqual([
      { type: 'minDocuments', collection: 'products', min: 100 },
      { type: 'minDocuments', collection: 'shop.orders', min: 1 },
    ]);
    expect(cj.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'catalog', 'app.kubernetes.io/component': 'mongo-verify' });
  });

  test('the runner accepts what the construct synthesizes: a Mongo verify with its assertions', () => {
    const cj = synthVerify({ assertions: [VerifyAssertion.minDocuments('products', 100)] });
    const env = Object.fromEntries(container(cj, 'verify').env.map((e: any) => [e.name, e.value ?? 'from-a-secret']));
    const config = loadRunConfig(container(cj, 'verify').args, env) as VerifyConfig;
    expect(config).toMatchObject({ command: 'verify', ref: 'latest', engine: { name: 'mongo' }, assertions: [{ type: 'minDocuments', collection: 'products', min: 100 }] });
    expect(config.engine.verify).toBeDefined();
  });

  test('the series can be the MongoBackupCronJob itself', () => {
    const chart = newChart();
    const backup = new MongoBackupCronJob(chart, 'catalog', {
      schedule: BackupSchedule.daily({ hour: 2 }),
      storage: s3Storage(chart),
      uri: { secret: kplus.Secret.fromSecretName(chart, 'Mongo', 'catalog-mongo'), key: 'uri' },
      database: 'catalog',
    });
    new MongoVerifyCronJob(chart, 'catalog-verify', { schedule: BackupSchedule.daily({ hour: 6 }), series: backup });
    const verify = cronJobs(chart).find((c: any) => podSpecOf(c).containers.some((k: any) => k.name === 'mongo'));
    expect(envOf(verify, 'verify')).toMatchObject({ BACKUP_NAME: 'catalog', BACKUP_MONGO_URI: 'mongodb://127.0.0.1:27017' });
  });

  test('the throwaway server: pinned image, mongod itself on 127.0.0.1 only, non-root, every written path on an emptyDir', () => {
    const cj = synthVerify({ dataSizeLimit: Size.gibibytes(20) });
    const server = container(cj, 'mongo');
    expect(server.image).toBe('mongo:8.0.19');
    expect(server.command.slice(0, 2)).toEqual(['bash', '-c']);
    // Not through the image's entrypoint, which adds --bind_ip_all.
    expect(server.command[2]).toContain('mongod --bind_ip 127.0.0.1 --port 27017 --dbpath /data/db --nounixsocket --wiredTigerCacheSizeGB 0.25 &');
    expect(server.command[2]).not.toContain('docker-entrypoint.sh');
    expect(server.command[2]).toContain('kill -TERM');
    expect(server.securityContext).toMatchObject({
      runAsUser: 999, runAsGroup: 999, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
    });
    expect(server.ports).toBeUndefined();
    expect(envOf(cj, 'mongo')).toEqual({ BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done' });
    const volumes = Object.fromEntries(podSpecOf(cj).volumes.map((v: any) => [v.name, v]));
    const mounts = Object.fromEntries(server.volumeMounts.map((m: any) => [m.mountPath, m]));
    for (const written of ['/data/db', '/tmp']) expect(volumes[mounts[written].name].emptyDir).toBeDefined();
    expect(volumes[mounts['/data/db'].name].emptyDir).toEqual({ sizeLimit: '20480Mi' });
    expect(mounts['/run/backup-verify']).toMatchObject({ name: 'verify-done', readOnly: true });
    // The runner does not see the server's volumes.
    const runnerMounts = container(cj, 'verify').volumeMounts.map((m: any) => m.name);
    expect(runnerMounts).not.toContain(mounts['/data/db'].name);
  });

  test('mongoImage and serverResources override the server; the cache follows the memory limit', () => {
    const cj = synthVerify({ mongoImage: 'registry.example.com/mongo:7.0.21', serverResources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(4) } } });
    expect(container(cj, 'mongo')).toMatchObject({
      image: 'registry.example.com/mongo:7.0.21',
      resources: { requests: { memory: '2048Mi' }, limits: { memory: '4096Mi' } },
    });
    // MongoDB's own rule, half of (memory - 1 GiB), applied to the container's limit.
    expect(container(cj, 'mongo').command[2]).toContain('--wiredTigerCacheSizeGB 1.5 &');
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => MongoVerifyCronJobProps, RegExp]>([
      ['missing series', c => verifyProps(c, { series: undefined as any }), /^series: must be set to the backups a MongoVerifyCronJob reads/],
      ['a series of another engine', c => verifyProps(c, { series: BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'shop', 'mysql') }),
        /^series: 'shop' holds MySQL backups \(engine 'mysql'\), but a MongoVerifyCronJob reads MongoDB backups \(engine 'mongo'\) only/],
      ['untagged server image', c => verifyProps(c, { mongoImage: 'mongo' }), /^mongoImage: 'mongo' is untagged/],
      ['latest server image', c => verifyProps(c, { mongoImage: 'mongo:latest' }), /^mongoImage: 'mongo:latest' is tagged 'latest'/],
      ['an SQL assertion', c => verifyProps(c, { assertions: [VerifyAssertion.sql('SELECT 1')] }), /^assertions\[0\]: 'sql' is not an assertion MongoDB can check; use 'minDocuments'/],
      ['a Redis assertion', c => verifyProps(c, { assertions: [VerifyAssertion.minKeys(1)] }), /^assertions\[0\]: 'minKeys' is not an assertion MongoDB can check; use 'minDocuments'/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new MongoVerifyCronJob(chart, 'catalog-verify', props(chart))).toThrow(atPath('test/catalog-verify', message));
    });

    test('minDocuments(…, 0) is refused where it is made', () => {
      expect(() => VerifyAssertion.minDocuments('products', 0)).toThrow(/min must be a whole number of at least 1/);
    });
  });
});

/*
 * The server container's command, as synthesized, run with a STAND-IN `mongod` first on PATH (no
 * MongoDB can be installed here): a process that records its argv and, like mongod, shuts down on
 * SIGTERM. It proves the supervisor stops the server when the runner is done, so the Job completes.
 */
describe('the throwaway mongod stops when the runner is done', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mongod-'));
    fs.mkdirSync(path.join(dir, 'bin'));
  });
  afterEach(() => {
    try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function standIn(body: string): void {
    fs.writeFileSync(path.join(dir, 'bin', 'mongod'), `#!/bin/bash\n# STAND-IN for mongod. Not the real server.\necho "$@" > "${dir}/argv"\n${body}\n`, { mode: 0o755 });
  }

  function start(): { exit: Promise<number | null>; stderr: () => string } {
    const server = container(synthVerify(), 'mongo');
    let stderr = '';
    child = spawn(server.command[0], server.command.slice(1), {
      env: { PATH: `${dir}/bin:${process.env.PATH}`, BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done') },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    child.stderr!.on('data', d => { stderr += d; });
    const exit = new Promise<number | null>(resolve => child!.on('exit', code => resolve(code)));
    return { exit, stderr: () => stderr };
  }

  const waitFor = async (file: string) => {
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise(r => setTimeout(r, 50));
    if (!fs.existsSync(file)) throw new Error(`the stand-in server never wrote ${file}`);
  };
  const SERVER_UNTIL_SIGTERM = `exec node -e '
    const fs = require("fs"); const done = process.env.BACKUP_VERIFY_DONE_FILE;
    process.on("SIGTERM", () => { fs.writeFileSync(done + ".server", "stopped\\n"); process.exit(0); });
    fs.writeFileSync(done + ".up", ""); setInterval(() => {}, 1000);'`;

  test('the done file stops mongod with SIGTERM, and the container exits 0', async () => {
    standIn(SERVER_UNTIL_SIGTERM);
    const { exit } = start();
    await waitFor(path.join(dir, 'done.up'));
    expect(fs.readFileSync(path.join(dir, 'argv'), 'utf8').trim()).toBe('--bind_ip 127.0.0.1 --port 27017 --dbpath /data/db --nounixsocket --wiredTigerCacheSizeGB 0.25');
    fs.writeFileSync(path.join(dir, 'done'), '');
    expect(await exit).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'done.server'), 'utf8')).toBe('stopped\n');
  }, 20_000);

  test('a mongod that dies before the runner is done fails the container', async () => {
    standIn('exit 48');
    const { exit, stderr } = start();
    expect(await exit).toBe(1);
    expect(stderr()).toContain('mongo exited before the verification finished');
  }, 20_000);

  test('SIGTERM (deadline, eviction) stops mongod and exits 143', async () => {
    standIn(SERVER_UNTIL_SIGTERM);
    const { exit } = start();
    await waitFor(path.join(dir, 'done.up'));
    child!.kill('SIGTERM');
    expect(await exit).toBe(143);
    expect(fs.readFileSync(path.join(dir, 'done.server'), 'utf8')).toBe('stopped\n');
  }, 20_000);
});
