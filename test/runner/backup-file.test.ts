/**
 * The runner as a real child process, PostgreSQL engine with STAND-IN pg_dump/psql (see
 * stand-ins.ts), storing to a file:// destination. Fast, no servers: the stream handling, the
 * failure paths and the log contract. The same paths against real PostgreSQL and S3 are in
 * postgres-s3.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { baseEnv, buildRunner, childPids, isAlive, runRunner, startRunner } from './runner-process';
import { expectedSha256, readRecords, writeStandIns } from './stand-ins';
import { ENV } from '../../lib/contract';

const MiB = 1024 * 1024;
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
    [ENV.PGHOST]: 'db.example',
    [ENV.PGDATABASE]: 'orders',
    [ENV.PGUSER]: 'backup',
    [ENV.PGPASSWORD]: PASSWORD,
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
      const run = await runRunner({ ...env(), PATH: bin });
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
      [['rewind'], "configuration error: unknown command 'rewind'; usage: runner backup [-- <extra dump-tool arguments>] | runner list | runner restore [latest|<backup id>] [-- <extra restore-tool arguments>] | runner prune | runner verify [latest|<backup id>]"],
      [['backup', '--', '--file=/tmp/out'], "configuration error: dump arguments: '--file' is set by the runner (output, format, connection or password) and cannot be passed after '--'; remove it."],
    ])('%j', async (args, msg) => {
      const run = await runRunner(env(), args);
      expect(run.code).toBe(2);
      expect(run.lines).toEqual([expect.objectContaining({ level: 'error', msg })]);
      expect(readRecords(record)).toEqual([]);
    });

    test('a missing variable', async () => {
      const e = env();
      delete e[ENV.NAME];
      const run = await runRunner(e);
      expect(run.code).toBe(2);
      expect(run.last.msg).toBe("configuration error: BACKUP_NAME is not set: set it to a series name such as 'orders-db'.");
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
