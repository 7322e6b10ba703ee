/**
 * `restore` with BACKUP_ENGINE=redis against real Redis (redis-server, redis-cli, redis-check-rdb
 * from Debian): the runner backs up a Redis holding keys with odd names and binary values, restores
 * the RDB into a file (BACKUP_REDIS_RESTORE_FILE), and a fresh redis-server started from that file
 * must hold exactly the same data (DEBUG DIGEST over every key, value and expiry of every database).
 * A damaged backup, or a target file that exists without BACKUP_RESTORE_FORCE, never changes the
 * file. Backups go to a file:// destination, where a damaged copy with a matching manifest is easy
 * to make.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEBUG, ODD_KEYS, damagedCopy, fillRedis, fingerprint, loadRdb } from './redis-data';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { backupIdOf } from '../../image/src/key';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration } from '../servers/env';
import { RedisServer, redisCli, startRedis } from '../servers/redis';

jest.setTimeout(120_000);

const RV = ENGINE_REGISTRY.redis.env;

describeIntegration('runner: Redis restore into an RDB file, real Redis', ['redis'], () => {
  let source: RedisServer;
  let expected: { digest: string; keys: number };
  let dest: string;
  let backupKey: string;

  beforeAll(async () => {
    source = await startRedis({ args: DEBUG });
    fillRedis(source);
    expected = await fingerprint(source);
    expect(expected.keys).toBeGreaterThan(500);
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-restore-dest-'));
    await buildRunner();
    const run = await runRunner(env());
    expect(run.code).toBe(0);
    backupKey = run.last.key as string;
  });
  afterAll(async () => {
    await source?.stop();
    if (dest) fs.rmSync(dest, { recursive: true, force: true });
  });

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'redis',
      [ENV.DESTINATION]: `file://${dest}`,
      [ENV.NAME]: 'sessions',
      [RV.HOST]: source.host,
      [RV.PORT]: String(source.port),
      [RV.PASSWORD]: source.password,
      ...extra,
    });
  }

  /** A directory for the restored file, removed afterwards. */
  async function inTarget<T>(fn: (dir: string, file: string) => Promise<T>): Promise<T> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-restore-target-'));
    try {
      return await fn(dir, path.join(dir, 'dump.rdb'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('round trip: the restored file is in place, readable, nothing else left; a fresh redis-server holds identical data', () => inTarget(async (dir, file) => {
    const started = Date.now();
    const run = await runRunner(env({ [RV.RESTORE_FILE]: file }), ['restore', backupIdOf(backupKey)]);
    expect(run.code).toBe(0);
    expect(run.lines.find(l => l.msg === 'restore target')).toMatchObject({ tool: { name: 'redis-check-rdb' }, existingTables: 0 });
    expect(fs.readdirSync(dir)).toEqual(['dump.rdb']);
    expect((fs.statSync(file).mode % 0o1000).toString(8)).toBe('644');
    expect(await loadRdb(file)).toEqual(expected);
    // eslint-disable-next-line no-console
    console.log(`redis restore of ${expected.keys} keys (${fs.statSync(file).size} bytes): ${Date.now() - started} ms`);
  }));

  test('the odd key names came back byte for byte (EXISTS through argv)', () => inTarget(async (_dir, file) => {
    const run = await runRunner(env({ [RV.RESTORE_FILE]: file }), ['restore']);
    expect(run.code).toBe(0);
    // redis-server runs as its own system user: it reads the file the runner wrote (0644).
    fs.chmodSync(path.dirname(file), 0o755);
    const fresh = await startRedis({ args: ['--dir', path.dirname(file), '--dbfilename', 'dump.rdb'] });
    try {
      for (const key of ODD_KEYS) expect({ key, exists: (await redisCli(fresh, ['EXISTS', key])).trim() }).toEqual({ key, exists: '1' });
      expect((await redisCli(fresh, ['EXISTS', 'not-there'])).trim()).toBe('0');
    } finally {
      await fresh.stop();
    }
  }));

  test('an existing file is refused without BACKUP_RESTORE_FORCE (exit 2, untouched); with it, replaced', () => inTarget(async (dir, file) => {
    fs.writeFileSync(file, 'the live RDB');
    const refused = await runRunner(env({ [RV.RESTORE_FILE]: file }), ['restore']);
    expect(refused.code).toBe(2);
    expect(refused.last.msg).toBe(`configuration error: ${RV.RESTORE_FILE}: ${file} already exists, and a restore never replaces an RDB by mistake.`
      + ` Stop the Redis that starts from it, then set ${ENV.RESTORE_FORCE}=true (RedisRestoreJob's allowNonEmptyTarget) to replace it, or restore into another file.`);
    expect(fs.readFileSync(file, 'utf8')).toBe('the live RDB');
    expect(fs.readdirSync(dir)).toEqual(['dump.rdb']);

    const forced = await runRunner(env({ [RV.RESTORE_FILE]: file, [ENV.RESTORE_FORCE]: 'true' }), ['restore']);
    expect(forced.code).toBe(0);
    expect(forced.lines.find(l => l.msg === 'restore target')).toMatchObject({ existingTables: 1 });
    expect(fs.readdirSync(dir)).toEqual(['dump.rdb']);
    expect(await loadRdb(file)).toEqual(expected);
  }));

  describe('a damaged RDB with a matching manifest never replaces the target file', () => {
    test.each([
      ['corrupted (bytes flipped in the middle: wrong checksum)', (rdb: Buffer) => {
        const c = Buffer.from(rdb);
        for (let i = 0; i < 8; i++) c[Math.floor(c.length / 2) + i] = 255 - c[Math.floor(c.length / 2) + i];
        return c;
      }, /^restore failed: redis-check-rdb rejected the restored RDB: .+; it was not put in place$/],
      ['truncated (the first half)', (rdb: Buffer) => rdb.subarray(0, Math.floor(rdb.length / 2)),
        /^restore failed: redis-check-rdb rejected the restored RDB: .*Unexpected EOF.*; it was not put in place$/],
      ['empty', () => Buffer.alloc(0), /^restore failed: redis-check-rdb rejected the restored RDB: .*Unexpected EOF.*; it was not put in place$/],
    ])('%s', (_what, mutate, message) => inTarget(async (dir, file) => {
      const id = damagedCopy(dest, backupKey, mutate);
      try {
        const fresh = await runRunner(env({ [RV.RESTORE_FILE]: file }), ['restore', id]);
        expect(fresh.code).toBe(1);
        expect(fresh.lines.some(l => l.msg === 'integrity verified')).toBe(true);
        expect(fresh.last.msg).toMatch(message);
        expect(fs.readdirSync(dir)).toEqual([]);

        fs.writeFileSync(file, 'the old RDB');
        const forced = await runRunner(env({ [RV.RESTORE_FILE]: file, [ENV.RESTORE_FORCE]: 'true' }), ['restore', id]);
        expect(forced.code).toBe(1);
        expect(forced.last.msg).toMatch(message);
        expect(fs.readFileSync(file, 'utf8')).toBe('the old RDB');
        expect(fs.readdirSync(dir)).toEqual(['dump.rdb']);
      } finally {
        for (const f of fs.readdirSync(path.join(dest, 'sessions')).filter(n => n.includes(id))) fs.rmSync(path.join(dest, 'sessions', f));
      }
    }));
  });

  test('a stored object that no longer matches its manifest: refused before a byte is written', () => inTarget(async (dir, file) => {
    const id = damagedCopy(dest, backupKey, rdb => rdb);
    const key = backupKey.replace(backupIdOf(backupKey), id);
    try {
      const stored = fs.readFileSync(path.join(dest, key));
      fs.writeFileSync(path.join(dest, key), stored.subarray(0, stored.length - 10));
      const run = await runRunner(env({ [RV.RESTORE_FILE]: file }), ['restore', id]);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^restore failed: .* is \d+ bytes but its manifest records \d+: the object is truncated or was changed$/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      for (const f of fs.readdirSync(path.join(dest, 'sessions')).filter(n => n.includes(id))) fs.rmSync(path.join(dest, 'sessions', f));
    }
  }));

  test.each([
    ['unset', undefined, new RegExp(`^configuration error: ${RV.RESTORE_FILE}: not set\\. A Redis restore writes the RDB into the file a redis-server loads`)],
    ['relative', 'data/dump.rdb', new RegExp(`^configuration error: ${RV.RESTORE_FILE}: 'data/dump.rdb' must be the absolute path of the RDB file`)],
    ['in a directory that does not exist', '/nonexistent-g/dump.rdb', new RegExp(`^configuration error: ${RV.RESTORE_FILE}: the directory /nonexistent-g does not exist`)],
  ])('BACKUP_REDIS_RESTORE_FILE %s: exit 2 naming the variable, nothing written', async (_what, value, message) => {
    const run = await runRunner(env(value === undefined ? {} : { [RV.RESTORE_FILE]: value }), ['restore']);
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(message);
    expect(run.lines.some(l => l.msg === 'integrity verified')).toBe(false);
  });
});
