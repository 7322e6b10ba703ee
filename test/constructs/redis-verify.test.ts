import { Size, Testing } from 'cdk8s';
import { atPath } from './at-path';
import { BackupSchedule, BackupSeries, BackupStorage, RedisVerifyCronJob, RedisVerifyCronJobProps, VerifyAssertion } from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';

function verifyProps(chart: any, overrides: Partial<RedisVerifyCronJobProps> = {}): RedisVerifyCronJobProps {
  return {
    schedule: BackupSchedule.daily({ hour: 6 }),
    series: BackupSeries.fromName(s3Storage(chart), 'sessions', 'redis'),
    ...overrides,
  };
}

function synthVerify(overrides: Partial<RedisVerifyCronJobProps> = {}): any {
  const chart = newChart();
  new RedisVerifyCronJob(chart, 'sessions-verify', verifyProps(chart, overrides));
  return cronJobs(chart)[0];
}

describe('RedisVerifyCronJob', () => {
  test('synthesizes this CronJob', () => {
    const chart = newChart();
    new RedisVerifyCronJob(chart, 'sessions-verify', verifyProps(chart, { assertions: [VerifyAssertion.minKeys(100), VerifyAssertion.keysExist(['config:flags'])] }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('a valid CronJob whose pod, throwaway server included, passes the restricted Pod Security Standard', () => {
    const cj = synthVerify();
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(podSpecOf(cj).containers.map((c: any) => c.name)).toEqual(['verify', 'redis']);
    expect(podSpecOf(cj).initContainers).toBeUndefined();
  });

  test('the runner restores the latest backup into the shared file and checks the server on 127.0.0.1', () => {
    const cj = synthVerify({ assertions: [VerifyAssertion.minKeys(100), VerifyAssertion.keysExist(['config:flags', 'odd key'])] });
    expect(container(cj, 'verify').args).toEqual(['verify', 'latest']);
    const env = envOf(cj, 'verify');
    expect(env).toMatchObject({
      BACKUP_ENGINE: 'redis',
      BACKUP_NAME: 'sessions',
      BACKUP_REDIS_HOST: '127.0.0.1',
      BACKUP_REDIS_PORT: '6379',
      BACKUP_REDIS_RESTORE_FILE: '/data/dump.rdb',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
    });
    expect(JSON.parse(env.BACKUP_VERIFY_ASSERTIONS)).toEqual([{ type: 'minKeys', min: 100 }, { type: 'keysExist', keys: ['config:flags', 'odd key'] }]);
    expect(env).not.toHaveProperty('REDISCLI_AUTH');
    expect(cj.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'sessions', 'app.kubernetes.io/component': 'redis-verify' });
  });

  test('the throwaway server: pinned image, starts from the restored file only, localhost only, writes nothing back, non-root', () => {
    const cj = synthVerify({ dataSizeLimit: Size.gibibytes(4) });
    const server = container(cj, 'redis');
    expect(server.image).toBe('redis:8.0.2');
    expect(server.command.slice(0, 2)).toEqual(['bash', '-c']);
    const script: string = server.command[2];
    // It waits for the file before it starts redis-server.
    expect(script.indexOf("while [ ! -e '/data/dump.rdb' ]")).toBeGreaterThanOrEqual(0);
    expect(script.indexOf("while [ ! -e '/data/dump.rdb' ]")).toBeLessThan(script.indexOf('redis-server'));
    expect(script).toContain("redis-server --bind 127.0.0.1 --port 6379 --dir '/data' --dbfilename dump.rdb --save '' --appendonly no --protected-mode yes &");
    expect(script).toContain('kill -TERM');
    expect(server.securityContext).toMatchObject({
      runAsUser: 999, runAsGroup: 999, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
    });
    const volumes = Object.fromEntries(podSpecOf(cj).volumes.map((v: any) => [v.name, v]));
    const serverMounts = Object.fromEntries(server.volumeMounts.map((m: any) => [m.mountPath, m]));
    const runnerMounts = Object.fromEntries(container(cj, 'verify').volumeMounts.map((m: any) => [m.mountPath, m]));
    // One size-limited emptyDir for the RDB, written by the runner and read by the server.
    expect(serverMounts['/data'].name).toBe(runnerMounts['/data'].name);
    expect(volumes[serverMounts['/data'].name].emptyDir).toEqual({ sizeLimit: '4096Mi' });
    expect(serverMounts['/run/backup-verify']).toMatchObject({ name: 'verify-done', readOnly: true });
    // Every volume of the pod is mounted somewhere.
    const mounted = new Set([...server.volumeMounts, ...container(cj, 'verify').volumeMounts].map((m: any) => m.name));
    expect(Object.keys(volumes).filter(v => !mounted.has(v))).toEqual([]);
  });

  test('redisImage and serverResources override the server', () => {
    const cj = synthVerify({ redisImage: 'registry.example.com/redis:8.0.2', serverResources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(4) } } });
    expect(container(cj, 'redis')).toMatchObject({
      image: 'registry.example.com/redis:8.0.2',
      resources: { requests: { memory: '2048Mi' }, limits: { memory: '4096Mi' } },
    });
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => RedisVerifyCronJobProps, RegExp]>([
      ['missing series', c => verifyProps(c, { series: undefined as any }), /^series: must be set to the backups a RedisVerifyCronJob reads/],
      ['a series of another engine', c => verifyProps(c, { series: BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'shop', 'mysql') }),
        /^series: 'shop' holds MySQL backups \(engine 'mysql'\), but a RedisVerifyCronJob reads Redis backups \(engine 'redis'\) only/],
      ['untagged server image', c => verifyProps(c, { redisImage: 'redis' }), /^redisImage: 'redis' is untagged/],
      ['latest server image', c => verifyProps(c, { redisImage: 'redis:latest' }), /^redisImage: 'redis:latest' is tagged 'latest'/],
      ['an SQL assertion', c => verifyProps(c, { assertions: [VerifyAssertion.sql('SELECT 1')] }), /^assertions\[0\]: 'sql' is not an assertion Redis can check; use 'minKeys', 'keysExist'/],
      ['minKeys(0)', c => verifyProps(c, { assertions: [VerifyAssertion.minKeys(0)] }), /min must be a whole number of at least 1/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new RedisVerifyCronJob(chart, 'sessions-verify', props(chart))).toThrow(atPath('test/sessions-verify', message));
    });
  });
});
