/**
 * The runner against real servers: Redis (redis-server, redis-cli from Debian) and a real S3 server
 * (Ceph radosgw), both started by test/servers/global-setup.ts, plus a Redis with TLS started here
 * on certificates made with openssl. A restore is a fresh redis-server started on the downloaded
 * RDB (`--dir`, `--dbfilename`); keys, types and values are compared.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogLine, baseEnv, buildRunner, childPids, isAlive, runRunner, startRunner } from './runner-process';
import { TestBucket, createTestBucket, expectNothingLeft, keyOf, sha256File } from './s3-helpers';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requireRedis, requireS3 } from '../servers/env';
import { freePort } from '../servers/ports';
import { RedisServer, redisCli, startRedis } from '../servers/redis';

jest.setTimeout(120_000);

const RV = ENGINE_REGISTRY.redis.env;

/** Every key of every logical database with its type and value, as redis-cli prints them. */
async function contents(c: { host: string; port: number; password: string }): Promise<string[]> {
  const out: string[] = [];
  for (const db of ['0', '3']) {
    const keys = (await redisCli(c, ['-n', db, '--scan'])).split('\n').filter(Boolean).sort();
    for (const key of keys) {
      const type = (await redisCli(c, ['-n', db, 'TYPE', key])).trim();
      const read = {
        string: ['GET', key],
        hash: ['HGETALL', key],
        list: ['LRANGE', key, '0', '-1'],
        set: ['SMEMBERS', key],
        zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
      }[type]!;
      const value = (await redisCli(c, ['-n', db, ...read])).split('\n').sort().join('|');
      out.push(`${db} ${key} ${type} ${value}`);
    }
  }
  return out;
}

describeIntegration('runner: Redis → S3 (radosgw), real servers', ['redis', 's3'], () => {
  let redis: ReturnType<typeof requireRedis>;
  let b: TestBucket;
  let source: string[];

  beforeAll(async () => {
    redis = requireRedis();
    b = await createTestBucket('runner-redis');
    await redisCli(redis, ['FLUSHALL']);
    const commands = [
      'SET plain "Grüße 🐘 \\"quoted\\" \\x00\\xff binary"',
      'HSET user:1 name Ada email ada@example.com',
      'RPUSH queue a b c a',
      'SADD tags x y z',
      'ZADD board 1.5 alice 3 bob',
      'SET expiring soon EX 3600',
      'SELECT 3',
      'SET other-db yes',
    ];
    for (let i = 0; i < 200; i++) commands.splice(1, 0, `SET k:${i} v${'x'.repeat(i)}`);
    await redisCli(redis, [], commands.join('\n') + '\n');
    source = await contents(redis);
    expect(source.length).toBeGreaterThan(200);
    await buildRunner();
  });
  afterAll(() => b?.s3.destroy());

  function runnerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'redis',
      ...b.runnerEnv('prod/redis'),
      [ENV.NAME]: 'sessions',
      [RV.HOST]: redis.host,
      [RV.PORT]: String(redis.port),
      [RV.PASSWORD]: redis.password,
      ...extra,
    });
  }

  /** Starts a fresh redis-server on the RDB (decompressed) and returns what it holds. */
  async function restore(compressed: string): Promise<string[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-redis-restore-'));
    try {
      execFileSync('zstd', ['-d', '-q', '-o', path.join(dir, 'dump.rdb'), compressed]);
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(path.join(dir, 'dump.rdb'), 0o644);
      const fresh = await startRedis({ args: ['--dir', dir, '--dbfilename', 'dump.rdb'] });
      try {
        return await contents(fresh);
      } finally {
        await fresh.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('round trip: backup → RDB + manifest in S3 → sha256 → a fresh redis-server loads it → identical keys and values', async () => {
    const run = await runRunner(runnerEnv());
    expect(run.code).toBe(0);
    const key = run.last.key as string;
    expect(key).toMatch(/^prod\/redis\/sessions\/\d{8}T\d{6}Z-[0-9a-f]{8}\.rdb\.zst$/);
    expect(Object.keys(await b.objects()).sort()).toEqual([key, `${key}.manifest.json`]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-redis-rt-'));
    try {
      await b.download(`${key}.manifest.json`, path.join(dir, 'manifest.json'));
      await b.download(key, path.join(dir, 'data.zst'));
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      expect(manifest).toMatchObject({
        engine: 'redis',
        database: null,
        format: 'redis-rdb',
        compression: 'zstd',
        sha256: sha256File(path.join(dir, 'data.zst')),
        tool: { name: 'redis-cli', version: redis.version },
        server: { version: redis.version },
      });
      for (const secret of [redis.password, requireS3().secretAccessKey]) {
        expect(JSON.stringify(manifest) + run.output).not.toContain(secret);
      }
      expect(await restore(path.join(dir, 'data.zst'))).toEqual(source);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('file:// destination: round trip', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-redisfile-'));
    try {
      const run = await runRunner(runnerEnv({ [ENV.DESTINATION]: `file://${dir}` }));
      expect(run.code).toBe(0);
      expect(await restore(path.join(dir, run.last.key as string))).toEqual(source);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('TLS: a server with a certificate made here by openssl, verified with BACKUP_REDIS_TLS_CA_FILE', () => {
    let certs: string;
    let tls: RedisServer;
    let tlsPort: number;

    beforeAll(async () => {
      certs = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-redis-tls-'));
      const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'pipe' });
      const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      for (const ca of ['ca', 'other-ca']) openssl('req', '-x509', ...newKey, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=${ca}`);
      openssl('req', ...newKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
      fs.writeFileSync(path.join(certs, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
      // redis-server runs as its own system user.
      fs.chmodSync(certs, 0o755);
      for (const f of fs.readdirSync(certs)) fs.chmodSync(path.join(certs, f), 0o644);
      tlsPort = await freePort();
      tls = await startRedis({
        args: [
          '--tls-port', String(tlsPort), '--tls-cert-file', path.join(certs, 'server.crt'), '--tls-key-file', path.join(certs, 'server.key'),
          '--tls-ca-cert-file', path.join(certs, 'ca.crt'), '--tls-auth-clients', 'no',
        ],
      });
      await redisCli(tls, ['SET', 'over-tls', 'yes']);
      expect(await contents(tls)).toHaveLength(1);
    });
    afterAll(async () => {
      await tls?.stop();
      fs.rmSync(certs, { recursive: true, force: true });
    });

    const tlsEnv = (dir: string, extra: NodeJS.ProcessEnv = {}) => runnerEnv({
      [ENV.DESTINATION]: `file://${dir}`,
      [RV.PORT]: String(tlsPort),
      [RV.PASSWORD]: tls.password,
      [RV.TLS]: 'true',
      [RV.TLS_CA_FILE]: path.join(certs, 'ca.crt'),
      ...extra,
    });

    async function inDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-redis-tls-dest-'));
      try {
        return await fn(dir);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }

    test('backup over TLS: the RDB holds the server\'s data', () => inDir(async dir => {
      const run = await runRunner(tlsEnv(dir));
      expect(run.code).toBe(0);
      expect(await restore(path.join(dir, run.last.key as string))).toEqual(await contents(tls));
    }));

    test('a CA that did not sign the server\'s certificate: refused in preflight, nothing stored', () => inDir(async dir => {
      const run = await runRunner(tlsEnv(dir, { [RV.TLS_CA_FILE]: path.join(certs, 'other-ca.crt') }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^backup failed: cannot connect to Redis: .*certificate verify failed/);
      expect(fs.readdirSync(dir)).toEqual([]);
    }));

    test('the TLS port without BACKUP_REDIS_TLS: refused in preflight, nothing stored', () => inDir(async dir => {
      const env = tlsEnv(dir);
      delete env[RV.TLS];
      delete env[RV.TLS_CA_FILE];
      const run = await runRunner(env);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^backup failed: cannot connect to Redis: /);
      expect(fs.readdirSync(dir)).toEqual([]);
    }));
  });

  describe('faults: no object at the key, no open upload, earlier backups untouched, exit ≠ 0, one clear line', () => {
    let before: Record<string, string>;

    beforeAll(async () => {
      // An earlier backup in the series for the faults to leave untouched, made here so that each
      // fault test also runs on its own.
      const run = await runRunner(runnerEnv());
      expect(run.code).toBe(0);
    });

    beforeEach(async () => {
      before = await b.objects();
      expect(Object.keys(before).length).toBeGreaterThanOrEqual(2);
      expect(await b.openUploads()).toEqual([]);
    });

    test('wrong password: fails in preflight with the server\'s reason, the password nowhere', async () => {
      const wrong = 'wrong-redis-pass';
      const run = await runRunner(runnerEnv({ [RV.PASSWORD]: wrong }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe('backup failed: cannot connect to Redis: AUTH failed: WRONGPASS invalid username-password pair or user is disabled.');
      expect(run.output).not.toContain(wrong);
      await expectNothingLeft(b, before, undefined);
    });

    test('S3 unreachable at start: fails in preflight, before redis-cli --rdb starts', async () => {
      const closed = await freePort();
      const run = await runRunner(runnerEnv({ [ENV.AWS_ENDPOINT_URL_S3]: `http://127.0.0.1:${closed}` }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^backup failed: cannot reach bucket .*ECONNREFUSED/);
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      await expectNothingLeft(b, before, undefined);
    });

    describe('faults mid-stream (a dedicated server holding ~200 MB of poorly compressible values)', () => {
      const MB = 1e6;
      let big: RedisServer;
      const midStream = (l: LogLine) => l.msg === 'progress' && (l.bytes as number) >= 40 * MB;

      beforeAll(async () => {
        big = await startRedis();
        // 200 batches of 1,000 SETs of 1 KiB of base64, in Redis's own protocol through --pipe.
        for (let batch = 0; batch < 200; batch++) {
          let resp = '';
          for (let i = 0; i < 1000; i++) {
            const key = `big:${batch}:${i}`;
            const value = randomBytes(768).toString('base64');
            resp += `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`;
          }
          await redisCli(big, ['--pipe'], resp);
        }
        expect(Number((await redisCli(big, ['DBSIZE'])).trim())).toBe(200_000);
      });
      afterAll(() => big?.stop());

      const bigEnv = () => runnerEnv({
        [RV.PORT]: String(big.port), [RV.PASSWORD]: big.password, [ENV.PROGRESS_INTERVAL_MS]: '50',
      });

      test('redis-cli killed mid-stream: nothing stored, no open upload, exit 1', async () => {
        const run = await startRunner(bigEnv());
        await run.waitForLine(midStream);
        const [cliPid] = childPids(run.child.pid!, 'redis-cli');
        expect(cliPid).toBeDefined();
        process.kill(cliPid, 'SIGKILL');
        const status = await run.exited;
        expect(status.code).toBe(1);
        expect(run.lines[run.lines.length - 1]).toMatchObject({
          level: 'error',
          msg: expect.stringMatching(/^backup failed: redis-cli was killed by SIGKILL/),
          cleanup: 'verified: nothing stored at the key, no unfinished upload',
        });
        await expectNothingLeft(b, before, keyOf(run.lines));
      });

      test('SIGTERM mid-upload: redis-cli stopped, upload aborted and verified, exit 143', async () => {
        const run = await startRunner(bigEnv());
        await run.waitForLine(midStream);
        const children = childPids(run.child.pid!);
        expect(childPids(run.child.pid!, 'redis-cli')).toHaveLength(1);
        run.child.kill('SIGTERM');
        const status = await run.exited;
        expect(status.code).toBe(143);
        expect(run.lines[run.lines.length - 1]).toMatchObject({
          level: 'error', msg: 'interrupted by SIGTERM', cleanup: 'verified: nothing stored at the key, no unfinished upload',
        });
        for (const pid of children) expect(isAlive(pid)).toBe(false);
        await expectNothingLeft(b, before, keyOf(run.lines));
      });
    });
  });
});
