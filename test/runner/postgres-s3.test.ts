/**
 * The runner against real servers: PostgreSQL 15 (pg_dump, psql, pg_restore from Debian) and a real
 * S3 server (Ceph radosgw), both started by test/servers/global-setup.ts. The runner runs as a
 * child process exactly as in the image.
 *
 * One source database with ~200 MB of poorly compressible rows, so every fault below hits while
 * data is flowing and a multipart upload is open.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogLine, baseEnv, buildRunner, childPids, isAlive, runRunner, startRunner } from './runner-process';
import { TestBucket, createTestBucket, expectNothingLeft as expectBucketAsBefore, keyOf, samplePeakRss, sha256File } from './s3-helpers';
import { TcpProxy } from './tcp-proxy';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, requireS3, uniqueName } from '../servers/env';
import { freePort } from '../servers/ports';
import { PG_BINDIR, postgresRunnerEnv, quoteIdent, tableDigests } from '../servers/postgres';

jest.setTimeout(300_000);

const MB = 1e6;
const ROWS = 1_000_000; // ~200 MB of dump: six md5 hex strings per row
const TABLES = ['big', 'kinds'];
const PGV = ENGINE_REGISTRY.postgres.env;

describeIntegration('runner: PostgreSQL → S3 (radosgw), real servers', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let bucket: string;
  let source: string;
  let sourceDigests: Record<string, string>;
  const prefix = 'prod/db';

  beforeAll(async () => {
    pg = requirePostgres();
    b = await createTestBucket('runner');
    bucket = b.bucket;
    source = uniqueName('src').replace(/-/g, '_');
    await pg.createDatabase(source);
    await pg.psql(`
      CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO big SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text)
        || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, ${ROWS}) g;
      CREATE TABLE kinds (id serial PRIMARY KEY, j jsonb, t timestamptz, n numeric, b bytea, a text[], nul text);
      INSERT INTO kinds (j, t, n, b, a, nul) SELECT jsonb_build_object('k', g, 'v', repeat('x', g % 7)),
        '2024-01-01'::timestamptz + g * interval '1 hour', g / 7.0, decode(md5(g::text), 'hex'),
        ARRAY['a', g::text, E'quote\\'s'], CASE WHEN g % 3 = 0 THEN NULL ELSE 'v' END FROM generate_series(1, 1000) g;
    `, source);
    await buildRunner();
    sourceDigests = await digests(source);
  });

  afterAll(() => b?.s3.destroy());

  function runnerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: 'orders',
      ...postgresRunnerEnv(pg, source),
      [ENV.PROGRESS_INTERVAL_MS]: '100',
      ...extra,
    });
  }

  const digests = (db: string) => tableDigests(pg, db, TABLES);

  const objects = () => b.objects();
  const openUploads = () => b.openUploads();
  const download = (key: string, file: string) => b.download(key, file);

  /** zstd -d < file | pg_restore into a new database; returns its name. */
  async function restore(file: string): Promise<string> {
    const target = uniqueName('restored').replace(/-/g, '_');
    await pg.createDatabase(target);
    await new Promise<void>((resolve, reject) => {
      const zstd = spawn('zstd', ['-d', '-c', '-q', file], { stdio: ['ignore', 'pipe', 'inherit'] });
      const restoreProc = spawn(path.join(PG_BINDIR, 'pg_restore'), [
        '--host', pg.socketDir, '--port', String(pg.port), '--username', pg.superuser,
        '--dbname', target, '--no-owner', '--exit-on-error',
      ], { stdio: [zstd.stdout, 'inherit', 'pipe'] });
      let stderr = '';
      restoreProc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      restoreProc.on('close', code => (code === 0 ? resolve() : reject(new Error(`pg_restore exited ${code}: ${stderr}`))));
    });
    return target;
  }

  /** Well into the dump: several 16 MiB parts uploaded, so a multipart upload is open. */
  const midStream = (l: LogLine) => l.msg === 'progress' && (l.bytes as number) >= 40 * MB;

  test('round trip: backup → object + manifest in S3 → sha256 → pg_restore into a new database → identical rows', async () => {
    const started = await startRunner(runnerEnv());
    const peakRss = samplePeakRss(started.child.pid!);
    const status = await started.exited;
    const run = { ...status, lines: started.lines, output: started.output(), last: started.lines[started.lines.length - 1] };
    expect(run.code).toBe(0);
    // Constant memory: ~5 parts of 16 MiB in flight plus Node and the SDK, whatever the dump's size.
    expect(peakRss()).toBeLessThan(300 * MB);
    const done = run.last;
    expect(done).toMatchObject({ level: 'info', msg: 'backup complete' });
    const key = done.key as string;
    expect(key).toMatch(/^prod\/db\/orders\/\d{8}T\d{6}Z-[0-9a-f]{8}\.pgdump\.zst$/);

    const stored = await objects();
    expect(Object.keys(stored).sort()).toEqual([key, `${key}.manifest.json`]);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-rt-'));
    try {
      const manifestFile = path.join(tmp, 'manifest.json');
      await download(`${key}.manifest.json`, manifestFile);
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
      const dataFile = path.join(tmp, 'data.zst');
      await download(key, dataFile);
      expect(manifest).toMatchObject({
        formatVersion: 1,
        engine: 'postgres',
        database: source,
        key,
        compression: 'zstd',
        format: 'pg_dump-custom',
        bytes: fs.statSync(dataFile).size,
        sha256: sha256File(dataFile),
        tool: { name: 'pg_dump', version: expect.stringMatching(/^15\./) },
        server: { version: expect.stringMatching(/^15\./) },
      });
      expect(manifest.rawBytes).toBeGreaterThan(150 * MB);
      expect(JSON.stringify(manifest)).not.toContain(pg.password);
      expect(JSON.stringify(manifest)).not.toContain(requireS3().secretAccessKey);
      expect(run.output).not.toContain(pg.password);
      expect(run.output).not.toContain(requireS3().secretAccessKey);
      // Nothing but JSON lines, stdout and stderr together (the container log merges them).
      for (const line of run.output.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();

      const restored = await restore(dataFile);
      expect(await digests(restored)).toEqual(sourceDigests);
      process.stderr.write(`[runner round trip] peak RSS ${(peakRss() / MB).toFixed(0)} MB; raw ${(manifest.rawBytes / MB).toFixed(0)} MB → stored ${(manifest.bytes / MB).toFixed(0)} MB in ${manifest.durationSeconds} s (${(manifest.rawBytes / MB / manifest.durationSeconds).toFixed(0)} MB/s raw)\n`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  describe('faults: no object at the key, no manifest, no open multipart upload, earlier backups untouched, exit ≠ 0, one clear line', () => {
    let before: Record<string, string>;

    beforeAll(async () => {
      // An earlier backup in the series for the faults to leave untouched, made here (of a small
      // database, in a second) so that each fault test also runs on its own.
      const small = uniqueName('earlier').replace(/-/g, '_');
      await pg.createDatabase(small);
      await pg.psql('CREATE TABLE t AS SELECT 1 AS x;', small);
      const run = await runRunner(runnerEnv({ [PGV.DATABASE]: small }));
      expect(run.code).toBe(0);
    });

    beforeEach(async () => {
      before = await objects();
      expect(Object.keys(before).length).toBeGreaterThanOrEqual(2);
      expect(await openUploads()).toEqual([]);
    });

    const expectNothingLeft = (key: string | undefined) => expectBucketAsBefore(b, before, key);

    test('(a) pg_dump killed mid-stream', async () => {
      const run = await startRunner(runnerEnv());
      await run.waitForLine(midStream);
      const [dumpPid] = childPids(run.child.pid!, 'pg_dump');
      expect(dumpPid).toBeDefined();
      process.kill(dumpPid, 'SIGKILL');
      const status = await run.exited;
      expect(status.code).toBe(1);
      const last = run.lines[run.lines.length - 1];
      expect(last).toMatchObject({ level: 'error', msg: 'backup failed: pg_dump was killed by SIGKILL', cleanup: 'verified: nothing stored at the key, no unfinished upload' });
      await expectNothingLeft(keyOf(run.lines));
    });

    test('(b) S3 connection cut mid-upload (connections reset, refused for 3 s)', async () => {
      const c = requireS3();
      const url = new URL(c.endpoint);
      const proxy = await TcpProxy.start(url.hostname, Number(url.port));
      try {
        const cut = proxy.cutAfter(48 * MB, 3_000);
        const run = await startRunner(runnerEnv({ [ENV.AWS_ENDPOINT_URL_S3]: proxy.endpoint }));
        await cut;
        const status = await run.exited;
        expect(status.code).toBe(1);
        const last = run.lines[run.lines.length - 1];
        expect(last.level).toBe('error');
        expect(last.msg).toMatch(new RegExp(`^backup failed: upload to s3://${bucket}/${keyOf(run.lines).replace(/\./g, '\\.')} failed: .*(ECONNRESET|socket hang up|ECONNREFUSED|EPIPE)`));
        expect(last.cleanup).toBe('verified: nothing stored at the key, no unfinished upload');
        expect(proxy.resets).toBeGreaterThan(0);
        await expectNothingLeft(keyOf(run.lines));
      } finally {
        await proxy.close();
      }
    });

    test('(c) S3 unreachable at start: fails in preflight, before pg_dump starts', async () => {
      const closed = await freePort();
      const started = Date.now();
      const run = await runRunner(runnerEnv({ [ENV.AWS_ENDPOINT_URL_S3]: `http://127.0.0.1:${closed}` }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(new RegExp(`^backup failed: cannot reach bucket s3://${bucket} at http://127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`));
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      expect(Date.now() - started).toBeLessThan(20_000);
      await expectNothingLeft(undefined);
    });

    test('(d) wrong PostgreSQL password: fails in preflight with the server\'s reason', async () => {
      const wrong = 'wrong-Password-123';
      const run = await runRunner(runnerEnv({ [PGV.PASSWORD]: wrong }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe(`backup failed: cannot connect to PostgreSQL: connection to server at "${pg.host}", port ${pg.port} failed: FATAL:  password authentication failed for user "${pg.user}"`);
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      expect(run.output).not.toContain(wrong);
      await expectNothingLeft(undefined);
    });

    test('(f) PGSSLMODE reaches libpq: require against a server without TLS fails in preflight', async () => {
      const run = await runRunner(runnerEnv({ [PGV.SSL_MODE]: 'require' }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^backup failed: cannot connect to PostgreSQL: .*server does not support SSL, but SSL was required/);
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      await expectNothingLeft(undefined);
    });

    test('(e) SIGTERM mid-upload: pg_dump stopped, upload aborted and verified, exit 143', async () => {
      const run = await startRunner(runnerEnv());
      await run.waitForLine(midStream);
      const children = childPids(run.child.pid!);
      expect(childPids(run.child.pid!, 'pg_dump')).toHaveLength(1);
      run.child.kill('SIGTERM');
      const status = await run.exited;
      expect(status.code).toBe(143);
      expect(run.lines[run.lines.length - 1]).toMatchObject({ level: 'error', msg: 'interrupted by SIGTERM', cleanup: 'verified: nothing stored at the key, no unfinished upload' });
      for (const pid of children) expect(isAlive(pid)).toBe(false);
      await expectNothingLeft(keyOf(run.lines));
    });
  });

  describe('file:// destination with real pg_dump', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-pgfile-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    function listFiles(): string[] {
      return execFileSync('find', [dir, '-type', 'f', '-printf', '%P\\n'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    }

    test('round trip through pg_restore', async () => {
      const run = await runRunner(runnerEnv({ [ENV.DESTINATION]: `file://${dir}` }));
      expect(run.code).toBe(0);
      const key = run.last.key as string;
      expect(listFiles()).toEqual([key, `${key}.manifest.json`]);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, `${key}.manifest.json`), 'utf8'));
      expect(manifest.sha256).toBe(sha256File(path.join(dir, key)));
      const restored = await restore(path.join(dir, key));
      expect(await digests(restored)).toEqual(sourceDigests);
    });

    test('pg_dump killed mid-stream leaves no file, not even a temporary one', async () => {
      const run = await startRunner(runnerEnv({ [ENV.DESTINATION]: `file://${dir}` }));
      await run.waitForLine(midStream);
      process.kill(childPids(run.child.pid!, 'pg_dump')[0], 'SIGKILL');
      expect((await run.exited).code).toBe(1);
      expect(run.lines[run.lines.length - 1].msg).toBe('backup failed: pg_dump was killed by SIGKILL');
      expect(listFiles()).toEqual([]);
    });
  });

  describe('pass-through options (#9): allowed ones reach pg_dump and pg_restore, refused ones start nothing', () => {
    const ptPrefix = 'pass-through';
    let small: string;
    let owner: string;
    let ownerPassword: string;

    beforeAll(async () => {
      small = uniqueName('pt').replace(/-/g, '_');
      owner = uniqueName('ptowner').replace(/-/g, '_');
      ownerPassword = randomBytes(12).toString('hex');
      await pg.psql(`CREATE ROLE ${quoteIdent(owner)} LOGIN PASSWORD '${ownerPassword}';`);
      await pg.createDatabase(small);
      await pg.psql(`
        CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL);
        INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 100) g;
        CREATE TABLE audit_log (id int, what text);
        INSERT INTO audit_log VALUES (1, 'left out by --exclude-table');
        CREATE SCHEMA reporting;
        CREATE TABLE reporting.daily (day date);
        INSERT INTO reporting.daily VALUES ('2024-01-01');
      `, small);
    });

    const ptEnv = (extra: NodeJS.ProcessEnv = {}) => runnerEnv({ ...b.runnerEnv(ptPrefix), [PGV.DATABASE]: small, ...extra });
    const ptObjects = async () => Object.keys(await objects()).filter(k => k.startsWith(`${ptPrefix}/`));
    const relations = async (db: string) => (await pg.psql(`SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename) FROM pg_tables
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema');`, db)).trim();

    test('--exclude-table, --schema and --no-owner: backup; a pg_restore --clean --if-exists restore over existing tables', async () => {
      const backup = await runRunner(ptEnv(), ['backup', '--', '--exclude-table=audit_log', '--schema=public', '--no-owner']);
      expect(backup.code).toBe(0);
      expect(backup.last).toMatchObject({ msg: 'backup complete' });

      // A target that already has an orders table with other rows, owned by the restoring role.
      const target = uniqueName('pttgt').replace(/-/g, '_');
      await pg.psql(`CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(owner)};`);
      await pg.psql(`CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (-1, 'stale');
        ALTER TABLE orders OWNER TO ${quoteIdent(owner)};`, target);
      const asOwner = ptEnv({ [PGV.USER]: owner, [PGV.PASSWORD]: ownerPassword, [PGV.DATABASE]: target, [ENV.RESTORE_FORCE]: 'true' });

      // Without --clean the existing table stops the restore, and the single transaction leaves the target as it was.
      const plain = await runRunner(asOwner, ['restore']);
      expect(plain.code).toBe(1);
      expect((await pg.psql('SELECT string_agg(id::text, \',\') FROM orders;', target)).trim()).toBe('-1');

      const restored = await runRunner(asOwner, ['restore', 'latest', '--', '--clean', '--if-exists']);
      expect(restored.code).toBe(0);
      expect(restored.last).toMatchObject({ msg: 'restore complete' });
      expect(await tableDigests(pg, target, ['orders'])).toEqual(await tableDigests(pg, small, ['orders']));
      // --exclude-table and --schema took effect in the dump.
      expect(await relations(target)).toBe('public.orders');
      expect(await relations(small)).toBe('public.audit_log,public.orders,reporting.daily');
    });

    test.each<[string, string[], RegExp]>([
      ['backup', ['--dbn=postgres'], /dump-tool arguments: '--dbn=postgres' is pg_dump's --dbname \(-d\)/],
      ['backup', ['dbname=postgres'], /dump-tool arguments: 'dbname=postgres' is a positional argument, which pg_dump would take as the database to dump/],
      ['backup', ['--form=p'], /dump-tool arguments: '--form=p' is pg_dump's --format \(-F\), which the runner sets itself/],
      ['backup', ['-vf', 'OUT'], /dump-tool arguments: '-vf' is pg_dump's --file \(-f\)/],
      ['restore', ['--dbn=postgres'], /restore-tool arguments: '--dbn=postgres' is pg_restore's --dbname \(-d\)/],
      ['restore', ['-C'], /restore-tool arguments: '-C' is pg_restore's --create \(-C\)/],
    ])('%s -- %j: exit 2 before anything starts, nothing written anywhere', async (command, args, expected) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-pt-'));
      try {
        const before = await ptObjects();
        const run = await runRunner(ptEnv(), [command, '--', ...args.map(a => a.replace('OUT', path.join(dir, 'out')))]);
        expect(run.code).toBe(2);
        expect(run.last.level).toBe('error');
        expect(run.last.msg).toMatch(expected);
        expect(run.lines.some(l => l.msg === 'dump starting' || l.msg === 'restore target')).toBe(false);
        expect(fs.readdirSync(dir)).toEqual([]);
        expect(await ptObjects()).toEqual(before);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
