/**
 * `verify` with BACKUP_ENGINE=redis against real Redis. The verify pod's sidecar is emulated with
 * the construct's own supervisor script (lib/verify-cron-job.ts's supervisorScript with
 * RedisVerifyCronJob's redis-server command line), only the directory and port swapped: it waits
 * for the RDB file the runner puts in place, starts redis-server from it on 127.0.0.1, and stops
 * it when the runner writes the done file. Backups are made by the runner itself (file://).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEBUG, ODD_KEYS, damagedCopy, fillRedis, fingerprint } from './redis-data';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { backupIdOf } from '../../image/src/key';
import { ENV } from '../../lib/contract';
import { redisVerifyServerStart } from '../../lib/redis-verify-cron-job';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { supervisorScript } from '../../lib/verify-cron-job';
import { describeIntegration } from '../servers/env';
import { freePort } from '../servers/ports';
import { RedisServer, startRedis } from '../servers/redis';

jest.setTimeout(120_000);

const RV = ENGINE_REGISTRY.redis.env;

interface Sidecar {
  readonly dir: string;
  readonly file: string;
  readonly done: string;
  readonly port: number;
  readonly exit: Promise<number | null>;
  stderr(): string;
}

describeIntegration('runner: verify of Redis backups with a throwaway redis-server started from the restored RDB', ['redis'], () => {
  let source: RedisServer;
  let empty: RedisServer;
  let keys: number;
  let dest: string;
  let goodKey: string;
  let emptyKey: string;
  const children: ChildProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    source = await startRedis({ args: DEBUG });
    fillRedis(source);
    keys = (await fingerprint(source)).keys;
    empty = await startRedis({ args: DEBUG });
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-redis-dest-'));
    await buildRunner();
    const good = await runRunner(backupEnv(source, 'sessions'));
    expect(good.code).toBe(0);
    goodKey = good.last.key as string;
    const none = await runRunner(backupEnv(empty, 'empty'));
    expect(none.code).toBe(0);
    emptyKey = none.last.key as string;
  });
  afterEach(() => {
    for (const c of children.splice(0)) {
      try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  afterAll(async () => {
    await source?.stop();
    await empty?.stop();
    if (dest) fs.rmSync(dest, { recursive: true, force: true });
  });

  function backupEnv(server: RedisServer, name: string): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'redis',
      [ENV.DESTINATION]: `file://${dest}`,
      [ENV.NAME]: name,
      [RV.HOST]: server.host,
      [RV.PORT]: String(server.port),
      [RV.PASSWORD]: server.password,
    });
  }

  /** The pod's redis container: the supervisor script as RedisVerifyCronJob writes it, on a free port and a temp directory. */
  async function startSidecar(): Promise<Sidecar> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-redis-pod-'));
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'data'));
    fs.mkdirSync(path.join(dir, 'done'));
    const file = path.join(dir, 'data', 'dump.rdb');
    const done = path.join(dir, 'done', 'done');
    const port = await freePort();
    const script = supervisorScript({
      name: 'redis',
      image: 'redis:8.0.2',
      uid: 999,
      stopSignal: 'TERM',
      mounts: {},
      start: redisVerifyServerStart(path.join(dir, 'data'), port),
      startAfterFile: file,
    });
    const child = spawn('bash', ['-c', script], {
      env: { PATH: process.env.PATH, [ENV.VERIFY_DONE_FILE]: done },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', d => { stderr += d; });
    const exit = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)));
    return { dir, file, done, port, exit, stderr: () => stderr };
  }

  async function verify(name: string, ref: string, assertions?: unknown[]) {
    const pod = await startSidecar();
    const run = await runRunner(baseEnv({
      [ENV.ENGINE]: 'redis',
      [ENV.DESTINATION]: `file://${dest}`,
      [ENV.NAME]: name,
      [RV.HOST]: '127.0.0.1',
      [RV.PORT]: String(pod.port),
      [RV.RESTORE_FILE]: pod.file,
      [ENV.VERIFY_DONE_FILE]: pod.done,
      ...assertions ? { [ENV.VERIFY_ASSERTIONS]: JSON.stringify(assertions) } : {},
    }), ['verify', ref]);
    // The runner wrote the done file on exit: the sidecar stops its server and exits 0.
    expect(fs.existsSync(pod.done)).toBe(true);
    expect({ exit: await pod.exit, stderr: pod.stderr() }).toEqual({ exit: 0, stderr: expect.any(String) });
    const checks = run.lines.filter(l => l.msg === 'check').map(l => ({ check: l.check, passed: l.passed, detail: l.detail }));
    return { run, pod, checks };
  }

  test('a good backup passes: restored, loaded, counted, assertions met; the result is stored next to the backup', async () => {
    const { run, pod, checks } = await verify('sessions', 'latest', [
      { type: 'minKeys', min: keys }, { type: 'keysExist', keys: [...ODD_KEYS, 'user:1'] },
    ]);
    expect(run.code).toBe(0);
    expect(checks).toEqual([
      { check: 'restore', passed: true, detail: expect.stringMatching(/^restored \d+ bytes in \d+\.\d s$/) },
      { check: 'contents', passed: true, detail: `restored ${keys} keys` },
      { check: `minKeys(${keys})`, passed: true, detail: `${keys} keys over every database` },
      { check: `keysExist(${[...ODD_KEYS, 'user:1'].join(', ')})`, passed: true, detail: `all ${ODD_KEYS.length + 1} keys exist in database 0` },
    ]);
    expect(run.last).toMatchObject({ level: 'info', msg: 'verify passed', id: backupIdOf(goodKey) });
    expect(fs.readdirSync(path.dirname(pod.file))).toEqual(['dump.rdb']);
    const result = JSON.parse(fs.readFileSync(path.join(dest, `${goodKey}.verify.json`), 'utf8'));
    expect(result).toMatchObject({ backupId: backupIdOf(goodKey), engine: 'redis', passed: true, contents: { objectUnit: 'keys', objects: keys }, target: pod.file });
    // eslint-disable-next-line no-console
    console.log(`redis verify: ${keys} keys, restore ${result.restore.durationSeconds} s`);
  });

  test('failing assertions fail the verification, each naming itself and what it found', async () => {
    const { run, checks } = await verify('sessions', backupIdOf(goodKey), [
      { type: 'minKeys', min: 1_000_000 }, { type: 'keysExist', keys: ['user:1', 'no-such-key', '-n'] },
    ]);
    expect(run.code).toBe(1);
    expect(checks.slice(2)).toEqual([
      { check: 'minKeys(1000000)', passed: false, detail: `${keys} keys over every database; at least 1000000 required` },
      { check: 'keysExist(user:1, no-such-key, -n)', passed: false, detail: '1 of 3 keys missing in database 0: "no-such-key"' },
    ]);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: `verify failed: minKeys(1000000): ${keys} keys over every database; at least 1000000 required; `
        + 'keysExist(user:1, no-such-key, -n): 1 of 3 keys missing in database 0: "no-such-key"',
    });
  });

  test('an empty RDB (a Redis without keys) restores nothing and fails without any assertion', async () => {
    const { run, checks } = await verify('empty', backupIdOf(emptyKey));
    expect(run.code).toBe(1);
    expect(checks).toEqual([
      { check: 'restore', passed: true, detail: expect.any(String) },
      { check: 'contents', passed: false, detail: 'restored nothing: 0 keys; a verification that restores nothing fails' },
    ]);
    expect(run.last.msg).toBe('verify failed: contents: restored nothing: 0 keys; a verification that restores nothing fails');
  });

  test.each([
    ['corrupted (bytes flipped: wrong checksum)', (rdb: Buffer) => {
      const c = Buffer.from(rdb);
      for (let i = 0; i < 8; i++) c[Math.floor(c.length / 2) + i] = 255 - c[Math.floor(c.length / 2) + i];
      return c;
    }],
    ['truncated', (rdb: Buffer) => rdb.subarray(0, Math.floor(rdb.length / 2))],
    ['empty file', () => Buffer.alloc(0)],
  ])('an RDB %s with a matching manifest: redis-check-rdb fails the restore, the server never starts', async (_what, mutate) => {
    const id = damagedCopy(dest, goodKey, mutate);
    try {
      const { run, pod, checks } = await verify('sessions', id, [{ type: 'minKeys', min: 1 }]);
      expect(run.code).toBe(1);
      expect(checks).toEqual([{ check: 'restore', passed: false, detail: expect.stringMatching(/^redis-check-rdb rejected the restored RDB: .+; it was not put in place$/) }]);
      expect(run.last.msg).toMatch(/^verify failed: restore: redis-check-rdb rejected the restored RDB: .+; it was not put in place$/);
      expect(fs.readdirSync(path.dirname(pod.file))).toEqual([]);
    } finally {
      for (const f of fs.readdirSync(path.join(dest, 'sessions')).filter(n => n.includes(id))) fs.rmSync(path.join(dest, 'sessions', f));
    }
  });

  test('a stored object changed after its manifest: the checksum fails the restore before a byte is written', async () => {
    const id = damagedCopy(dest, goodKey, rdb => rdb);
    const key = goodKey.replace(backupIdOf(goodKey), id);
    try {
      const stored = fs.readFileSync(path.join(dest, key));
      stored[stored.length - 20] = 255 - stored[stored.length - 20];
      fs.writeFileSync(path.join(dest, key), stored);
      const { run, pod } = await verify('sessions', id);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^verify failed: restore: .*has sha256 [0-9a-f]{64} but its manifest records [0-9a-f]{64}/);
      expect(fs.readdirSync(path.dirname(pod.file))).toEqual([]);
    } finally {
      for (const f of fs.readdirSync(path.join(dest, 'sessions')).filter(n => n.includes(id))) fs.rmSync(path.join(dest, 'sessions', f));
    }
  });
});
