/**
 * The runner as a real child process on a file:// destination. First with STAND-IN pg_dump/psql
 * (see stand-ins.ts): fast, no servers, the stream handling, the failure paths and the log
 * contract (the same paths against real PostgreSQL and S3 are in postgres-s3.test.ts). Then with
 * a real PostgreSQL: list, prune and restore on file://, as prune-s3.test.ts and
 * restore-postgres.test.ts do on S3.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { baseEnv, buildRunner, childPids, isAlive, runRunner, startRunner } from './runner-process';
import { expectedSha256, readRecords, writeStandIns } from './stand-ins';
import { backupIdOf, backupKey, timeOfId, timestamp } from '../../image/src/key';
import { applyRetention } from '../../image/src/retention';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';
import { postgresRunnerEnv, quoteIdent, tableDigests } from '../servers/postgres';

const MiB = 1024 * 1024;
const PG = ENGINE_REGISTRY.postgres.env;
const PASSWORD = 'Stand-in-Secret-9f3a!';
let standIns: string;
let dest: string;
let record: string;

beforeAll(async () => {
  standIns = writeStandIns();
  await buildRunner();
});

beforeEach(() => {
  dest = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-dest-'));
  record = path.join(dest, '..', `${path.basename(dest)}.record`);
});

afterEach(() => {
  fs.rmSync(dest, { recursive: true, force: true });
  fs.rmSync(record, { force: true });
});

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv({
    [ENV.ENGINE]: 'postgres',
    [ENV.DESTINATION]: `file://${dest}/prod`,
    [ENV.NAME]: 'orders',
    [PG.HOST]: 'db.example',
    [PG.DATABASE]: 'orders',
    [PG.USER]: 'backup',
    [PG.PASSWORD]: PASSWORD,
    [ENV.PROGRESS_INTERVAL_MS]: '50',
    STANDIN_RECORD: record,
    ...extra,
  }, standIns);
}

/** Every file under the destination, relative, sorted. */
function files(): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else out.push(r);
    }
  };
  if (fs.existsSync(dest)) walk(dest, '');
  return out.sort();
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

describe('backup to file:// with a stand-in pg_dump', () => {
  test.each([
    ['zstd', '.pgdump.zst', (b: Buffer) => execFileSync('zstd', ['-d', '-c', '-q'], { input: b, maxBuffer: 64 * MiB })],
    ['gzip', '.pgdump.gz', (b: Buffer) => zlib.gunzipSync(b)],
    ['none', '.pgdump', (b: Buffer) => b],
  ])('round trip with %s: stored bytes, sha256 and manifest match the dump', async (compression, ext, decompress) => {
    const size = 12 * MiB + 12345;
    const run = await runRunner(env({ [ENV.COMPRESSION]: compression, STANDIN_BYTES: String(size) }));
    expect(run.code).toBe(0);

    const stored = files();
    expect(stored).toHaveLength(2);
    const [data, manifestFile] = stored;
    expect(data).toMatch(new RegExp(`^prod/orders/\\d{8}T\\d{6}Z-[0-9a-f]{8}${ext.replace(/\./g, '\\.')}$`));
    expect(manifestFile).toBe(`${data}.manifest.json`);

    const bytes = fs.readFileSync(path.join(dest, data));
    const raw = decompress(bytes);
    expect(raw.length).toBe(size);
    expect(sha256(raw)).toBe(expectedSha256(size));

    const manifest = JSON.parse(fs.readFileSync(path.join(dest, manifestFile), 'utf8'));
    expect(manifest).toEqual({
      formatVersion: 1,
      engine: 'postgres',
      database: 'orders',
      // Relative to the destination directory (file:///…/prod), as an S3 key is to the bucket.
      key: data.slice('prod/'.length),
      bytes: bytes.length,
      rawBytes: size,
      sha256: sha256(bytes),
      compression,
      format: 'pg_dump-custom',
      tool: { name: 'pg_dump', version: '15.14' },
      server: { version: '15.14 (stand-in)' },
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      durationSeconds: expect.any(Number),
      runner: { version: expect.stringMatching(/^\d+\.\d+\.\d+/) },
    });
    expect(JSON.stringify(manifest)).not.toContain(PASSWORD);

    expect(run.last).toMatchObject({ level: 'info', msg: 'backup complete', key: data.slice('prod/'.length), bytes: bytes.length, rawBytes: size, sha256: sha256(bytes) });
    expect(run.output).not.toContain(PASSWORD);
  });

  test.each([1000, 99_999, 100_000])('the raw size of a small dump (%i bytes) is counted too (zstd pads small sizes in its report)', async size => {
    const run = await runRunner(env({ STANDIN_BYTES: String(size) }));
    expect(run.code).toBe(0);
    expect(run.last).toMatchObject({ msg: 'backup complete', rawBytes: size });
  });

  test('pg_dump gets the custom format with its zlib off, extra args after ours, and the password only by env', async () => {
    const run = await runRunner(env({ STANDIN_BYTES: '1000' }), ['backup', '--', '--exclude-table=audit_log', '--schema=public']);
    expect(run.code).toBe(0);
    const dump = readRecords(record).find(r => r.tool === 'pg_dump')!;
    expect(dump.argv).toEqual(['--format=custom', '--compress=0', '--no-password', '--exclude-table=audit_log', '--schema=public']);
    expect(dump.envNames).toEqual(expect.arrayContaining(['PGHOST', 'PGDATABASE', 'PGUSER', 'PGPASSWORD']));
    for (const r of readRecords(record)) expect(r.argv.join(' ')).not.toContain(PASSWORD);
  });

  test('the dump tool does not get the S3 credentials', async () => {
    const run = await runRunner(env({ STANDIN_BYTES: '1000', [ENV.AWS_SECRET_ACCESS_KEY]: 'aws-secret-value', [ENV.AWS_ACCESS_KEY_ID]: 'AKIAEXAMPLE' }));
    expect(run.code).toBe(0);
    for (const r of readRecords(record)) {
      expect(r.envNames).not.toContain('AWS_SECRET_ACCESS_KEY');
      expect(r.envNames).not.toContain('AWS_ACCESS_KEY_ID');
    }
  });

  test('progress lines with bytes and MB/s while the dump runs', async () => {
    const run = await runRunner(env({ STANDIN_BYTES: String(64 * MiB), [ENV.COMPRESSION]: 'gzip' }));
    expect(run.code).toBe(0);
    const progress = run.lines.filter(l => l.msg === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toEqual(expect.objectContaining({ bytes: expect.any(Number), MBps: expect.any(Number), elapsedSeconds: expect.any(Number) }));
    expect(progress[progress.length - 1].bytes as number).toBeGreaterThan(0);
  });

  test('earlier backups of the series stay untouched', async () => {
    const first = await runRunner(env({ STANDIN_BYTES: '5000', STANDIN_SEED: 'first' }));
    expect(first.code).toBe(0);
    const before = files().map(f => [f, sha256(fs.readFileSync(path.join(dest, f)))]);
    const second = await runRunner(env({ STANDIN_BYTES: '5000', STANDIN_SEED: 'second' }));
    const failed = await runRunner(env({ STANDIN_BYTES: String(8 * MiB), STANDIN_FAIL_AT: String(4 * MiB) }));
    expect(second.code).toBe(0);
    expect(failed.code).toBe(1);
    const after = files();
    expect(after).toHaveLength(4);
    for (const [f, digest] of before) expect(sha256(fs.readFileSync(path.join(dest, f)))).toBe(digest);
  });

  describe('failures leave nothing behind and say why in one line', () => {
    function expectNothingStored() {
      // Not even a hidden temporary file.
      expect(files().filter(f => f !== 'file')).toEqual([]);
    }

    test('pg_dump exits 1 mid-stream', async () => {
      const run = await runRunner(env({ STANDIN_BYTES: String(32 * MiB), STANDIN_FAIL_AT: String(20 * MiB) }));
      expect(run.code).toBe(1);
      expectNothingStored();
      expect(run.last).toMatchObject({
        level: 'error',
        msg: 'backup failed: pg_dump exited with code 1 (last message: pg_dump: error: query failed: server closed the connection unexpectedly)',
        cleanup: 'verified: nothing stored at the key, no unfinished upload',
      });
      // Its stderr was forwarded as a warning when it happened.
      expect(run.lines).toContainEqual(expect.objectContaining({ level: 'warn', source: 'pg_dump', msg: 'pg_dump: error: query failed: server closed the connection unexpectedly' }));
    });

    test('pg_dump is killed mid-stream (the stream just ends, as with an OOM kill)', async () => {
      const run = await runRunner(env({ STANDIN_BYTES: String(32 * MiB), STANDIN_KILL_AT: String(20 * MiB) }));
      expect(run.code).toBe(1);
      expectNothingStored();
      expect(run.last).toMatchObject({ level: 'error', msg: 'backup failed: pg_dump was killed by SIGKILL' });
    });

    test.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('%s to the runner mid-stream stops pg_dump and exits %i', async (signal, code) => {
      const run = await startRunner(env({ STANDIN_BYTES: String(64 * MiB), STANDIN_HANG_AT: String(10 * MiB) }));
      await run.waitForLine(l => l.msg === 'progress' && (l.bytes as number) >= 3 * MiB);
      const dumpPid = readRecords(record).find(r => r.tool === 'pg_dump')!.pid;
      expect(isAlive(dumpPid)).toBe(true);
      run.child.kill(signal);
      const status = await run.exited;
      expect(status.code).toBe(code);
      expectNothingStored();
      expect(isAlive(dumpPid)).toBe(false);
      expect(run.lines[run.lines.length - 1]).toMatchObject({ level: 'error', msg: `interrupted by ${signal}`, cleanup: 'verified: nothing stored at the key, no unfinished upload' });
    });

    test('wrong password: a clear cause from preflight, pg_dump never starts, the password is not echoed', async () => {
      const run = await runRunner(env({ STANDIN_PSQL_FAIL: 'password authentication failed for user "backup"' }));
      expect(run.code).toBe(1);
      expectNothingStored();
      expect(run.last.msg).toBe('backup failed: cannot connect to PostgreSQL: connection to server at "db" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user "backup" (password was [REDACTED])');
      expect(run.output).not.toContain(PASSWORD);
      expect(readRecords(record).map(r => r.tool)).toEqual(['psql']);
    });

    test('a server newer than pg_dump fails loudly before dumping', async () => {
      const run = await runRunner(env({ STANDIN_SERVER_VERSION_NUM: '170002' }));
      expect(run.code).toBe(1);
      expectNothingStored();
      expect(run.last.msg).toBe('backup failed: server is PostgreSQL 17 but pg_dump is 15: pg_dump cannot dump a newer server; use an image whose postgresql-client is 17 or newer');
      expect(readRecords(record).map(r => r.tool)).toEqual(['psql']);
    });

    test('pg_dump missing from PATH', async () => {
      const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-nodeonly-'));
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      // Without compression, so the missing dump tool is the only missing program.
      const run = await runRunner({ ...env({ [ENV.COMPRESSION]: 'none' }), PATH: bin });
      fs.rmSync(bin, { recursive: true });
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe('backup failed: pg_dump not found on PATH; is it installed in the image?: spawn pg_dump ENOENT');
    });

    test('a destination that is not a directory fails before the dump', async () => {
      fs.writeFileSync(path.join(dest, 'file'), '');
      const run = await runRunner(env({ [ENV.DESTINATION]: `file://${dest}/file` }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe(`backup failed: destination file://${dest}/file is not a writable directory (is the volume mounted?): EEXIST: file already exists, mkdir '${dest}/file'`);
      expect(readRecords(record).filter(r => r.tool === 'pg_dump')).toEqual([]);
    });
  });

  describe('usage and configuration errors exit 2 before anything runs', () => {
    test.each([
      [['rewind'], "configuration error: unknown command 'rewind'; usage: runner backup [-- <extra dump-tool arguments>] | runner list | runner restore [latest|<backup id>] [-- <extra restore-tool arguments>] | runner prune | runner verify [latest|<backup id>] | runner check"],
      // The argument as given and the option pg_dump would read it as (lib/rules.ts words the rest).
      [['backup', '--', '--file=/tmp/out'], /^configuration error: dump-tool arguments: '--file=\/tmp\/out' is pg_dump's --file \(-f\), .*; remove it/],
    ])('%j', async (args, msg) => {
      const run = await runRunner(env(), args);
      expect(run.code).toBe(2);
      expect(run.lines).toEqual([expect.objectContaining({ level: 'error', msg: typeof msg === 'string' ? msg : expect.stringMatching(msg) })]);
      expect(readRecords(record)).toEqual([]);
    });

    test('a missing variable', async () => {
      const e = env();
      delete e[ENV.NAME];
      const run = await runRunner(e);
      expect(run.code).toBe(2);
      expect(run.last.msg).toBe("configuration error: BACKUP_NAME: must be set, e.g. a series name such as 'orders-db'.");
    });
  });

  test('zstd killed mid-stream: the dump tool is not left blocked, nothing is stored', async () => {
    // zstd reads the dump tool's stdout directly; the runner must not hold the pipe open.
    const run = await startRunner(env({ STANDIN_BYTES: String(4096 * MiB) }));
    await run.waitForLine(l => l.msg === 'progress' && (l.bytes as number) >= 1 * MiB);
    const [zstdPid] = childPids(run.child.pid!, 'zstd');
    const children = childPids(run.child.pid!);
    process.kill(zstdPid, 'SIGKILL');
    const status = await run.exited;
    expect(status.code).toBe(1);
    expect(run.lines[run.lines.length - 1].msg).toMatch(/^backup failed: zstd was killed by SIGKILL/);
    expect(files()).toEqual([]);
    for (const pid of children) expect(isAlive(pid)).toBe(false);
  });

  test('no child process outlives the runner', async () => {
    const run = await startRunner(env({ STANDIN_BYTES: String(64 * MiB), STANDIN_HANG_AT: String(8 * MiB) }));
    await run.waitForLine(l => l.msg === 'progress' && (l.bytes as number) >= 1 * MiB);
    const children = childPids(run.child.pid!);
    expect(children.length).toBeGreaterThanOrEqual(2); // the dump tool and zstd
    run.child.kill('SIGTERM');
    await run.exited;
    for (const pid of children) expect(isAlive(pid)).toBe(false);
  });
});

describeIntegration('list, prune and restore on file:// with a real PostgreSQL', ['postgres'], () => {
  const DAY = 86_400_000;
  const TABLES = ['items', 'kinds'];
  let pg: ReturnType<typeof requirePostgres>;
  let source: string;
  let role: string;
  let rolePassword: string;
  let volume: string;
  /** The destination directory: a prefix below the mount point, as file:///backup/prod. */
  let root: string;

  beforeAll(async () => {
    pg = requirePostgres();
    source = uniqueName('fsrc').replace(/-/g, '_');
    role = uniqueName('frestorer').replace(/-/g, '_');
    rolePassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB PASSWORD '${rolePassword}';`);
    await pg.createDatabase(source);
    await pg.psql(`
      CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
      CREATE TABLE kinds (id serial PRIMARY KEY, j jsonb, b bytea, a text[], nul text);
      INSERT INTO kinds (j, b, a, nul) SELECT jsonb_build_object('k', g), decode(md5(g::text), 'hex'),
        ARRAY['a', g::text, E'quote\\'s'], CASE WHEN g % 3 = 0 THEN NULL ELSE 'v' END FROM generate_series(1, 500) g;
    `, source);
    volume = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-file-pg-'));
    root = path.join(volume, 'prod');
  });
  afterAll(() => fs.rmSync(volume, { recursive: true, force: true }));

  function pgEnv(name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      [ENV.DESTINATION]: `file://${root}`,
      [ENV.NAME]: name,
      ...postgresRunnerEnv(pg, source),
      [ENV.PROGRESS_INTERVAL_MS]: '100',
      ...extra,
    });
  }

  /** Every file under `under` in the destination directory, relative to it, sorted. */
  function stored(under: string): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(r);
        else out.push(r);
      }
    };
    if (fs.existsSync(path.join(root, under))) walk(under);
    return out.sort();
  }

  function write(key: string, bytes: Buffer | string, mtime?: Date): void {
    fs.mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
    fs.writeFileSync(path.join(root, key), bytes);
    if (mtime) fs.utimesSync(path.join(root, key), mtime, mtime);
  }

  /**
   * A data file and its manifest as the runner writes them (they need not hold real dumps), with
   * the mtimes a run at `time` would have left: the storage's record is what retention reads.
   */
  function seed(seriesPrefix: string, time: Date, withManifest = true): string {
    const key = backupKey(seriesPrefix, 'pgdump.zst', time);
    const bytes = randomBytes(64);
    write(key, bytes, time);
    if (withManifest) {
      write(`${key}.manifest.json`, JSON.stringify({
        formatVersion: 1,
        engine: 'postgres',
        database: 'db',
        key,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        compression: 'zstd',
        format: 'pg_dump-custom',
        startedAt: time.toISOString(),
        finishedAt: time.toISOString(),
      }), time);
    }
    return key;
  }

  /** The temporary file an unfinished write of `key` leaves, last written at `mtime`. */
  function unfinished(key: string, mtime: Date): string {
    const temp = `${path.dirname(key)}/.${path.basename(key)}.partial-${randomBytes(4).toString('hex')}`;
    write(temp, 'half a dump', mtime);
    return temp;
  }

  test('backup, then list: the complete backups newest first; leftovers and nested series are not listed', async () => {
    const made: string[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await runRunner(pgEnv('orders'));
      expect(run.code).toBe(0);
      made.push(run.last.key as string);
      // Distinct timestamps, so newest-first is well defined.
      await new Promise(r => setTimeout(r, 1100));
    }
    seed('orders/', new Date(Date.now() - DAY), false);
    unfinished(backupKey('orders/', 'pgdump.zst', new Date()), new Date());
    seed('orders/daily/', new Date());
    seed('orders-eu/', new Date());

    const run = await runRunner(pgEnv('orders'), ['list']);
    expect(run.code).toBe(0);
    const listed = run.lines.filter(l => l.msg === 'backup');
    expect(listed.map(l => l.key)).toEqual([...made].reverse());
    for (const line of listed) {
      const manifest = JSON.parse(fs.readFileSync(path.join(root, `${line.key as string}.manifest.json`), 'utf8'));
      expect(line).toMatchObject({
        id: backupIdOf(line.key as string),
        bytes: manifest.bytes,
        sha256: manifest.sha256,
        engine: 'postgres',
        database: source,
        compression: 'zstd',
        format: 'pg_dump-custom',
        tool: { name: 'pg_dump' },
      });
      expect(fs.statSync(path.join(root, line.key as string)).size).toBe(manifest.bytes);
    }
    expect(run.last).toMatchObject({
      msg: 'list complete', location: `file://${root}`, prefix: 'orders/', backups: 2, newest: backupIdOf(made[1]), incomplete: 2, unreadable: 0,
    });
  });

  test('restore latest from file:// into a fresh database: identical tables', async () => {
    const made = await runRunner(pgEnv('restored'));
    expect(made.code).toBe(0);
    const digests = await tableDigests(pg, source, TABLES);
    const target = uniqueName('ftgt').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(role)};`);
    const run = await runRunner(pgEnv('restored', { [PG.USER]: role, [PG.PASSWORD]: rolePassword, [PG.DATABASE]: target }), ['restore']);
    expect(run.code).toBe(0);
    expect(run.lines.some(l => l.msg === 'integrity verified')).toBe(true);
    expect(run.last).toMatchObject({ msg: 'restore complete', id: backupIdOf(made.last.key as string), targetDatabase: target });
    expect(await tableDigests(pg, target, TABLES)).toEqual(digests);
    expect(run.output).not.toContain(rolePassword);
  });

  test('prune a 60-day history: exactly the policy\'s backups remain; old leftovers go, recent ones and other series stay', async () => {
    const now = Date.now();
    const keys: string[] = [];
    // 30 backups: every 2 days for 60 days, with a cluster of 3 on the newest day.
    for (let i = 0; i < 27; i++) keys.push(seed('hist/', new Date(now - (i * 2 + 1) * DAY - 3600_000)));
    for (let i = 0; i < 3; i++) keys.push(seed('hist/', new Date(now - (i + 1) * 3600_000)));
    const oldOrphan = seed('hist/', new Date(now - 5 * DAY), false);
    const recentOrphan = seed('hist/', new Date(now - 3600_000), false);
    // Unfinished writes are aged by the time the storage recorded (the temporary file's mtime).
    const oldTemp = unfinished(`hist/${timestamp(new Date(now - 10 * DAY))}-0badf00d.pgdump.zst`, new Date(now - 10 * DAY));
    const recentTemp = unfinished(`hist/${timestamp(new Date(now - 3600_000))}-1badf00d.pgdump.zst`, new Date(now - 3600_000));
    // Under the series' prefix but not the series: never touched, however old.
    seed('hist/daily/', new Date(now - 50 * DAY));
    seed('hist/daily/', new Date(now - 40 * DAY), false);
    unfinished(`hist/daily/${timestamp(new Date(now - 30 * DAY))}-2badf00d.pgdump.zst`, new Date(now - 30 * DAY));
    seed('hist-eu/', new Date(now - 50 * DAY), false);
    const series = () => stored('hist').filter(f => !f.startsWith('hist/daily/'));
    const others = () => [...stored('hist/daily'), ...stored('hist-eu')];
    const othersBefore = others();
    expect(othersBefore).toHaveLength(5);

    const policy = { keepLast: 2, keepDaily: 4, keepWeekly: 3, keepMonthly: 2 };
    const expected = applyRetention(keys.map(k => ({ id: backupIdOf(k), key: k, time: timeOfId(backupIdOf(k)) })), policy);
    expect(expected.remove.length).toBeGreaterThan(10);

    const run = await runRunner(pgEnv('hist', {
      [ENV.KEEP_LAST]: '2', [ENV.KEEP_DAILY]: '4', [ENV.KEEP_WEEKLY]: '3', [ENV.KEEP_MONTHLY]: '2',
    }), ['prune']);
    expect(run.code).toBe(0);
    const keptKeys = expected.keep.map(k => k.key);
    expect(series()).toEqual([...keptKeys, ...keptKeys.map(k => `${k}.manifest.json`), recentOrphan, recentTemp].sort());
    expect(others()).toEqual(othersBefore);
    expect(run.lines.filter(l => l.msg === 'keep').map(l => l.id)).toEqual(expected.keep.map(k => k.id));
    expect(run.lines.find(l => l.msg === 'keep')!.reasons).toContain('newest');
    expect(run.lines.filter(l => l.msg === 'remove').map(l => l.id).sort()).toEqual(expected.remove.map(k => k.id).sort());
    expect(run.lines.filter(l => l.msg === 'remove incomplete').map(l => [l.kind, l.key]).sort()).toEqual([
      ['data-without-manifest', oldOrphan],
      ['unfinished-write', oldTemp.replace(/\/\.(.+)\.partial-[0-9a-f]{8}$/, '/$1')],
    ].sort());
    expect(run.last).toMatchObject({ msg: 'prune complete', kept: expected.keep.length, removed: expected.remove.length, leftoversRemoved: 2, leftoversKept: 2, failures: 0 });

    // With a minimum age of 0 the recent leftovers go too; the other series still stay.
    const again = await runRunner(pgEnv('hist', { [ENV.KEEP_LAST]: '100', [ENV.INCOMPLETE_MIN_AGE_SECONDS]: '0' }), ['prune']);
    expect(again.code).toBe(0);
    expect(series()).toEqual([...keptKeys, ...keptKeys.map(k => `${k}.manifest.json`)].sort());
    expect(others()).toEqual(othersBefore);
  });

  test('retention and latest follow the time the storage recorded, not the id', async () => {
    const now = Date.now();
    // Ids from a clock a year ahead, but written (by the storage's clock) 3 and 2 days ago.
    const future = [3, 2].map(days => {
      const key = seed('storage-time/', new Date(now + 365 * DAY - days * DAY));
      for (const k of [key, `${key}.manifest.json`]) fs.utimesSync(path.join(root, k), new Date(now - days * DAY), new Date(now - days * DAY));
      return key;
    });
    const recent = seed('storage-time/', new Date(now - DAY));
    const list = await runRunner(pgEnv('storage-time'), ['list']);
    expect(list.lines.filter(l => l.msg === 'backup').map(l => l.key)).toEqual([recent, future[1], future[0]]);
    expect(list.lines.filter(l => l.msg === 'backup').map(l => l.skewed)).toEqual([undefined, true, true]);
    const prune = await runRunner(pgEnv('storage-time', { [ENV.KEEP_DAILY]: '2' }), ['prune']);
    expect(prune.code).toBe(0);
    // Daily periods by the storage's time: the recent one and the one written 2 days ago.
    expect(stored('storage-time')).toEqual([recent, `${recent}.manifest.json`, future[1], `${future[1]}.manifest.json`].sort());
  });

  test('list marks a backup whose stored size differs from its manifest as damaged; restore latest skips it with a warning', async () => {
    const good = await runRunner(pgEnv('damaged'));
    expect(good.code).toBe(0);
    await new Promise(r => setTimeout(r, 1100));
    const bad = await runRunner(pgEnv('damaged'));
    expect(bad.code).toBe(0);
    const goodId = backupIdOf(good.last.key as string);
    const badKey = bad.last.key as string;
    const badId = backupIdOf(badKey);
    fs.truncateSync(path.join(root, badKey), 100);

    const list = await runRunner(pgEnv('damaged'), ['list']);
    expect(list.code).toBe(0);
    expect(list.lines.filter(l => l.msg === 'backup').map(l => l.id)).toEqual([goodId]);
    const warning = list.lines.find(l => l.level === 'warn' && l.id === badId)!;
    expect(warning.msg).toMatch(new RegExp(`^damaged backup ${badId}: ${badKey} is 100 bytes but its manifest records \\d+: the object is truncated or was changed$`));
    expect(list.last).toMatchObject({ msg: 'list complete', backups: 1, newest: goodId, damaged: 1, unreadable: 0 });

    const target = uniqueName('fdmg').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(role)};`);
    const restoreEnv = pgEnv('damaged', { [PG.USER]: role, [PG.PASSWORD]: rolePassword, [PG.DATABASE]: target });
    const run = await runRunner(restoreEnv, ['restore', 'latest']);
    expect(run.code).toBe(0);
    expect(run.lines.find(l => l.level === 'warn' && (l.msg as string).startsWith(`skipping damaged backup ${badId}: `))).toBeDefined();
    expect(run.last).toMatchObject({ msg: 'restore complete', id: goodId });
    // Named by its id, a damaged backup is refused before the target is touched, with the same reason.
    const byId = await runRunner(restoreEnv, ['restore', badId]);
    expect(byId.code).toBe(1);
    expect(byId.last.msg).toMatch(new RegExp(`^restore failed: backup ${badId} is damaged: ${badKey} is 100 bytes but its manifest records \\d+: the object is truncated or was changed$`));
  });

  test('prune touches only its own series: names that are prefixes of each other, series nested in each other', async () => {
    const old = new Date(Date.now() - 30 * DAY);
    const own = [seed('shop/', old), seed('shop/', new Date(Date.now() - DAY))];
    const ownOrphan = seed('shop/', old, false);
    const ownTemp = unfinished(`shop/${timestamp(old)}-3badf00d.pgdump.zst`, old);
    // Another series whose name starts with 'shop', one nested below it (destination file://<root>/shop,
    // series 'daily'), and files under the series' directory that are named like no backup.
    const others = [
      seed('shop-eu/', old), seed('shop-eu/', old, false), unfinished(`shop-eu/${timestamp(old)}-4badf00d.pgdump.zst`, old),
      seed('shop/daily/', old), seed('shop/daily/', old, false), unfinished(`shop/daily/${timestamp(old)}-5badf00d.pgdump.zst`, old),
    ];
    for (const odd of [`shop/${timestamp(old)}-6badf00d`, `shop/${timestamp(old)}-7badf00d.pgdump.zst.d/x`, 'shop/notes.txt', `shop/x${timestamp(old)}-8badf00d.pgdump.zst`]) {
      write(odd, 'not a backup', old);
      others.push(odd);
    }
    const before = stored('');
    const run = await runRunner(pgEnv('shop', { [ENV.KEEP_LAST]: '1' }), ['prune']);
    expect(run.code).toBe(0);
    const gone = before.filter(f => !stored('').includes(f));
    expect(gone.filter(f => !f.startsWith('shop/') || f.slice('shop/'.length).includes('/'))).toEqual([]);
    expect(gone.sort()).toEqual([own[0], `${own[0]}.manifest.json`, ownOrphan, ownTemp].sort());
    expect(stored('')).toEqual(expect.arrayContaining(others));
  });

  test('backup with KEEP_LAST=2 prunes the series after a successful backup', async () => {
    const old = [3, 2, 1].map(days => seed('auto/', new Date(Date.now() - days * DAY)));
    const run = await runRunner(pgEnv('auto', { [ENV.KEEP_LAST]: '2' }));
    expect(run.code).toBe(0);
    const made = run.lines.find(l => l.msg === 'backup complete')!.key as string;
    expect(stored('auto')).toEqual([made, `${made}.manifest.json`, old[2], `${old[2]}.manifest.json`].sort());
    expect(run.last).toMatchObject({ msg: 'prune complete', kept: 2, removed: 2 });
  });
});
