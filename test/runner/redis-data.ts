/**
 * Test data for the Redis restore and verify tests: a Redis filled with keys of every type, odd
 * names and binary values; its fingerprint; loading an RDB into a fresh server; and a damaged copy
 * of a stored backup whose manifest matches it (so only the RDB check can catch it).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupIdOf } from '../../image/src/key';
import { RedisServer, redisCli, startRedis } from '../servers/redis';

/** redis-server arguments that allow DEBUG DIGEST. */
export const DEBUG = ['--enable-debug-command', 'yes'];

/** One RESP command: every argument as raw bytes. */
function resp(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Keys whose names a shell or redis-cli's own option parser would misread. */
export const ODD_KEYS = ['-n', '--rdb', 'with space', 'new\nline', "quote'\"", 'Grüße 🐘', '$(touch /tmp/pwned)', '*'];

/** Fills `server` with keys of every type, odd names, binary values, an expiry and a second database. */
export function fillRedis(server: RedisServer): void {
  const commands: Buffer[] = [];
  for (const key of ODD_KEYS) commands.push(resp('SET', key, randomBytes(64)));
  commands.push(resp('SET', Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x80]), randomBytes(300)));
  commands.push(resp('HSET', 'user:1', 'name', 'Ada', 'bin', randomBytes(32)));
  commands.push(resp('RPUSH', 'queue', 'a', 'b', 'c', 'a'));
  commands.push(resp('SADD', 'tags', 'x', 'y', 'z'));
  commands.push(resp('ZADD', 'board', '1.5', 'alice', '3', 'bob'));
  commands.push(resp('SET', 'expiring', 'soon', 'EX', '3600'));
  for (let i = 0; i < 500; i++) commands.push(resp('SET', `k:${i}`, randomBytes(i)));
  commands.push(resp('SELECT', '3'), resp('SET', 'other-db', 'yes'));
  execFileSync('redis-cli', ['-h', server.host, '-p', String(server.port), '--pipe'], {
    input: Buffer.concat(commands),
    env: { PATH: process.env.PATH, REDISCLI_AUTH: server.password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** The dataset's digest (every key, value and expiry of every database) and key count. */
export async function fingerprint(server: Pick<RedisServer, 'host' | 'port' | 'password'>): Promise<{ digest: string; keys: number }> {
  const digest = (await redisCli(server, ['DEBUG', 'DIGEST'])).trim();
  if (!/^[0-9a-f]{40}$/.test(digest)) throw new Error(`DEBUG DIGEST answered '${digest}'`);
  const info = await redisCli(server, ['INFO', 'keyspace']);
  const keys = [...info.matchAll(/^db\d+:keys=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  return { digest, keys };
}

/** A fresh redis-server started from `file` (its own user must read it), and what it holds. */
export async function loadRdb(file: string): Promise<{ digest: string; keys: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-load-'));
  try {
    fs.copyFileSync(file, path.join(dir, 'dump.rdb'));
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'dump.rdb'), 0o644);
    const fresh = await startRedis({ args: [...DEBUG, '--dir', dir, '--dbfilename', 'dump.rdb'] });
    try {
      return await fingerprint(fresh);
    } finally {
      await fresh.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}


/**
 * A copy of the backup at `key` (under the file:// destination `dest`) under a new id, its RDB
 * changed by `mutate`, with a manifest that matches the changed object. Returns the new id.
 */
export function damagedCopy(dest: string, key: string, mutate: (rdb: Buffer) => Buffer): string {
  const data = path.join(dest, key);
  const manifest = JSON.parse(fs.readFileSync(`${data}.manifest.json`, 'utf8'));
  const rdb = mutate(execFileSync('zstd', ['-d', '-q', '-c', data]));
  const compressed = execFileSync('zstd', ['-q', '-c'], { input: rdb });
  const id = `29990101T000000Z-${randomBytes(4).toString('hex')}`;
  const newKey = key.replace(backupIdOf(key), id);
  fs.writeFileSync(path.join(dest, newKey), compressed);
  fs.writeFileSync(path.join(dest, `${newKey}.manifest.json`), JSON.stringify({
    ...manifest, key: newKey, bytes: compressed.length, rawBytes: rdb.length, sha256: createHash('sha256').update(compressed).digest('hex'),
  }));
  return id;
}
