/**
 * The runner against real servers: MariaDB (mariadb-dump, mariadb from Debian) and a real S3 server
 * (Ceph radosgw), both started by test/servers/global-setup.ts. The runner runs as a child process
 * exactly as in the image. A restore is `zstd -d | mariadb <new database>`, then every table's
 * checksum and the schema code (view, trigger, routine, event) are compared.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogLine, baseEnv, buildRunner, childPids, isAlive, runRunner, startRunner } from './runner-process';
import { TestBucket, createTestBucket, expectNothingLeft, keyOf, samplePeakRss, sha256File } from './s3-helpers';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requireMysql, requireS3, uniqueName } from '../servers/env';
import { mysqlRunnerEnv, quoteMysqlIdent } from '../servers/mariadb';
import { freePort } from '../servers/ports';

jest.setTimeout(300_000);

const MB = 1e6;
const ROWS = 1_000_000; // ~200 MB of SQL: six md5 hex strings per row
const TABLES = ['big', 'kinds'];
const MYV = ENGINE_REGISTRY.mysql.env;

describeIntegration('runner: MariaDB → S3 (radosgw), real servers', ['mysql', 's3'], () => {
  let my: ReturnType<typeof requireMysql>;
  let b: TestBucket;
  let source: string;
  let sourceChecksums: Record<string, string>;
  let tmp: string;
  const prefix = 'prod/mysql';

  beforeAll(async () => {
    my = requireMysql();
    b = await createTestBucket('runner-mysql');
    source = uniqueName('src').replace(/-/g, '_');
    await my.createDatabase(source);
    await my.sql(`
      CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL) ENGINE=InnoDB;
      INSERT INTO big SELECT seq, CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND())) FROM seq_1_to_${ROWS};
      CREATE TABLE kinds (id int AUTO_INCREMENT PRIMARY KEY, u varchar(100), j json, t datetime(6), n decimal(20,6), bl blob, nul text) ENGINE=InnoDB;
      INSERT INTO kinds (u, j, t, n, bl, nul) SELECT CONCAT('Grüße 🐘 ', seq, ' "quote''s" \\\\ backslash\ttab'), JSON_OBJECT('k', seq, 'v', REPEAT('x', seq % 7)),
        '2024-01-01' + INTERVAL seq HOUR, seq / 7, UNHEX(CONCAT(MD5(seq), '00FF0A0D')), IF(seq % 3 = 0, NULL, 'v') FROM seq_1_to_1000;
      CREATE VIEW kinds_view AS SELECT id, u FROM kinds WHERE nul IS NULL;
      CREATE TRIGGER kinds_ins BEFORE INSERT ON kinds FOR EACH ROW SET NEW.nul = COALESCE(NEW.nul, 'set by trigger');
      CREATE PROCEDURE count_kinds() SELECT COUNT(*) FROM kinds;
      CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM kinds WHERE id < 0;
    `, source);
    await buildRunner();
    sourceChecksums = await checksums(source);
  });

  beforeEach(() => {
    // The runner's TMPDIR: where its private option file goes, checked empty afterwards.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-mysql-tmp-'));
  });
  afterEach(() => {
    expect(fs.readdirSync(tmp)).toEqual([]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  afterAll(() => b?.s3.destroy());

  function runnerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'mysql',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: 'shop',
      ...mysqlRunnerEnv(my, source),
      [ENV.PROGRESS_INTERVAL_MS]: '100',
      TMPDIR: tmp,
      ...extra,
    });
  }

  /** Row count and CHECKSUM TABLE of each table, plus the schema code a restore must bring back. */
  async function checksums(db: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const t of TABLES) {
      out[t] = (await my.sql(`SELECT COUNT(*) FROM ${quoteMysqlIdent(t)}; CHECKSUM TABLE ${quoteMysqlIdent(t)};`, db)).trim().replace(/\S+\.(\S+)\t/, '$1\t');
    }
    out.code = (await my.sql(`
      SELECT CONCAT('view ', table_name) FROM information_schema.views WHERE table_schema = DATABASE()
      UNION ALL SELECT CONCAT('trigger ', trigger_name) FROM information_schema.triggers WHERE trigger_schema = DATABASE()
      UNION ALL SELECT CONCAT('routine ', routine_name) FROM information_schema.routines WHERE routine_schema = DATABASE()
      UNION ALL SELECT CONCAT('event ', event_name) FROM information_schema.events WHERE event_schema = DATABASE();`, db)).trim();
    return out;
  }

  /** zstd -d < file | mariadb into a new database; returns its name. */
  async function restore(file: string): Promise<string> {
    const target = uniqueName('restored').replace(/-/g, '_');
    await my.createDatabase(target);
    await new Promise<void>((resolve, reject) => {
      const zstd = spawn('zstd', ['-d', '-c', '-q', file], { stdio: ['ignore', 'pipe', 'inherit'] });
      const client = spawn('mariadb', ['--no-defaults', `--socket=${my.socket}`, '--user=root', '--database', target], { stdio: [zstd.stdout, 'inherit', 'pipe'] });
      let stderr = '';
      client.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      client.on('close', code => (code === 0 ? resolve() : reject(new Error(`mariadb exited ${code}: ${stderr}`))));
    });
    return target;
  }

  let first: string | undefined;
  const midStream = (l: LogLine) => l.msg === 'progress' && (l.bytes as number) >= 40 * MB;

  test('round trip: backup → object + manifest in S3 → sha256 → mariadb into a new database → identical tables and schema code', async () => {
    const started = await startRunner(runnerEnv());
    const peakRss = samplePeakRss(started.child.pid!);
    const status = await started.exited;
    const output = started.output();
    expect(status.code).toBe(0);
    expect(peakRss()).toBeLessThan(300 * MB);
    const done = started.lines[started.lines.length - 1];
    expect(done).toMatchObject({ level: 'info', msg: 'backup complete' });
    const key = done.key as string;
    expect(key).toMatch(/^prod\/mysql\/shop\/\d{8}T\d{6}Z-[0-9a-f]{8}\.sql\.zst$/);
    expect(Object.keys(await b.objects()).sort()).toEqual([key, `${key}.manifest.json`]);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-mysql-rt-'));
    try {
      await b.download(`${key}.manifest.json`, path.join(dir, 'manifest.json'));
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      const dataFile = path.join(dir, 'data.zst');
      await b.download(key, dataFile);
      expect(manifest).toMatchObject({
        formatVersion: 1,
        engine: 'mysql',
        database: source,
        key,
        compression: 'zstd',
        format: 'mysqldump-sql',
        bytes: fs.statSync(dataFile).size,
        sha256: sha256File(dataFile),
        tool: { name: 'mariadb-dump', version: expect.stringMatching(/^\d+\.\d+\.\d+-MariaDB/) },
        server: { version: my.version },
      });
      expect(manifest.rawBytes).toBeGreaterThan(150 * MB);
      for (const secret of [my.password, requireS3().secretAccessKey]) {
        expect(JSON.stringify(manifest)).not.toContain(secret);
        expect(output).not.toContain(secret);
      }
      expect(await checksums(await restore(dataFile))).toEqual(sourceChecksums);
      first = key;
      process.stderr.write(`[runner mysql round trip] peak RSS ${(peakRss() / MB).toFixed(0)} MB; raw ${(manifest.rawBytes / MB).toFixed(0)} MB → stored ${(manifest.bytes / MB).toFixed(0)} MB in ${manifest.durationSeconds} s (${(manifest.rawBytes / MB / manifest.durationSeconds).toFixed(0)} MB/s raw)\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the runner's restore: latest → a new empty database → identical tables and schema code", async () => {
    expect(first).toBeDefined();
    const target = uniqueName('restored').replace(/-/g, '_');
    await my.createDatabase(target);
    // Restoring needs more than dumping: the views, triggers and routines carry DEFINER clauses,
    // which only a user with SET USER (or SUPER) may recreate.
    await my.sql(`GRANT ALL PRIVILEGES ON ${quoteMysqlIdent(target)}.* TO 'backup'@'127.0.0.1'; GRANT SET USER ON *.* TO 'backup'@'127.0.0.1';`);
    const run = await runRunner(runnerEnv({ [MYV.DATABASE]: target }), ['restore', 'latest']);
    expect({ code: run.code, last: run.last.msg }).toEqual({ code: 0, last: 'restore complete' });
    expect(run.last).toMatchObject({ level: 'info', msg: 'restore complete', key: first, targetDatabase: target });
    expect(await checksums(target)).toEqual(sourceChecksums);
    expect(run.output).not.toContain(my.password);
  });

  describe('faults: no object at the key, no manifest, no open multipart upload, earlier backups untouched, exit ≠ 0, one clear line', () => {
    let before: Record<string, string>;

    beforeAll(async () => {
      // An earlier backup in the series for the faults to leave untouched, made here (of a small
      // database, in a second) so that each fault test also runs on its own.
      const small = uniqueName('earlier').replace(/-/g, '_');
      await my.createDatabase(small);
      await my.sql('CREATE TABLE t (x int PRIMARY KEY); INSERT INTO t VALUES (1);', small);
      // Its own TMPDIR: the per-test one is made after this hook.
      const run = await runRunner(runnerEnv({ [MYV.DATABASE]: small, TMPDIR: os.tmpdir() }));
      expect(run.code).toBe(0);
    });

    beforeEach(async () => {
      before = await b.objects();
      expect(Object.keys(before).length).toBeGreaterThanOrEqual(2);
      expect(await b.openUploads()).toEqual([]);
    });

    test('(a) mariadb-dump killed mid-stream; while it ran, the password was in neither its argv nor its environment, only in a 0600 file in a 0700 directory', async () => {
      const run = await startRunner(runnerEnv());
      await run.waitForLine(midStream);
      const [dumpPid] = childPids(run.child.pid!, 'mariadb-dump');
      expect(dumpPid).toBeDefined();
      const argv = fs.readFileSync(`/proc/${dumpPid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const environ = fs.readFileSync(`/proc/${dumpPid}/environ`, 'utf8');
      expect(argv[1]).toMatch(new RegExp(`^--defaults-extra-file=${tmp}/backup-mariadb-dump-[^/]+/my\\.cnf$`));
      const optionFile = argv[1].slice('--defaults-extra-file='.length);
      expect(fs.statSync(optionFile).mode % 0o1000).toBe(0o600);
      expect(fs.statSync(path.dirname(optionFile)).mode % 0o1000).toBe(0o700);
      expect(fs.readFileSync(optionFile, 'utf8')).toContain(`password="${my.password}"`);
      expect(argv.join(' ')).not.toContain(my.password);
      expect(environ).not.toContain(my.password);
      expect(environ).not.toContain('MYSQL_PWD');

      process.kill(dumpPid, 'SIGKILL');
      expect((await run.exited).code).toBe(1);
      expect(run.lines[run.lines.length - 1]).toMatchObject({
        level: 'error', msg: 'backup failed: mariadb-dump was killed by SIGKILL', cleanup: 'verified: nothing stored at the key, no unfinished upload',
      });
      expect(fs.existsSync(optionFile)).toBe(false);
      await expectNothingLeft(b, before, keyOf(run.lines));
    });

    test('(c) S3 unreachable at start: fails in preflight, before mariadb-dump starts', async () => {
      const closed = await freePort();
      const run = await runRunner(runnerEnv({ [ENV.AWS_ENDPOINT_URL_S3]: `http://127.0.0.1:${closed}` }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(new RegExp(`^backup failed: cannot reach bucket s3://${b.bucket} at http://127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`));
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      await expectNothingLeft(b, before, undefined);
    });

    test('(d) wrong password: fails in preflight with the server\'s reason, the password nowhere', async () => {
      const wrong = 'wrong-Pass"word#1';
      const run = await runRunner(runnerEnv({ [MYV.PASSWORD]: wrong }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe(`backup failed: cannot connect to MySQL: ERROR 1045 (28000): Access denied for user '${my.user}'@'127.0.0.1' (using password: YES)`);
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      expect(run.output).not.toContain(wrong);
      await expectNothingLeft(b, before, undefined);
    });

    test('(f) BACKUP_MYSQL_TLS_CA_FILE turns TLS on: a server without TLS is refused in preflight, not used in clear text', async () => {
      const run = await runRunner(runnerEnv({ [MYV.TLS_CA_FILE]: path.join(tmp, 'no-such-ca.pem') }));
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe('backup failed: cannot connect to MySQL: ERROR 2026 (HY000): TLS/SSL error: SSL is required, but the server does not support it');
      expect(run.lines.some(l => l.msg === 'dump starting')).toBe(false);
      await expectNothingLeft(b, before, undefined);
    });

    test('(e) SIGTERM mid-upload: mariadb-dump stopped, upload aborted and verified, exit 143', async () => {
      const run = await startRunner(runnerEnv());
      await run.waitForLine(midStream);
      const children = childPids(run.child.pid!);
      expect(childPids(run.child.pid!, 'mariadb-dump')).toHaveLength(1);
      run.child.kill('SIGTERM');
      expect((await run.exited).code).toBe(143);
      expect(run.lines[run.lines.length - 1]).toMatchObject({ level: 'error', msg: 'interrupted by SIGTERM', cleanup: 'verified: nothing stored at the key, no unfinished upload' });
      for (const pid of children) expect(isAlive(pid)).toBe(false);
      await expectNothingLeft(b, before, keyOf(run.lines));
    });
  });

  test('file:// destination: round trip through mariadb', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-mysqlfile-'));
    try {
      const run = await runRunner(runnerEnv({ [ENV.DESTINATION]: `file://${dir}` }));
      expect(run.code).toBe(0);
      const key = run.last.key as string;
      const files = execFileSync('find', [dir, '-type', 'f', '-printf', '%P\\n'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      expect(files).toEqual([key, `${key}.manifest.json`]);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, `${key}.manifest.json`), 'utf8'));
      expect(manifest.sha256).toBe(sha256File(path.join(dir, key)));
      expect(await checksums(await restore(path.join(dir, key)))).toEqual(sourceChecksums);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('pass-through options (#9): allowed ones reach mariadb-dump and mariadb, refused ones start nothing', () => {
    const ptPrefix = 'pass-through';
    let small: string;

    beforeAll(async () => {
      small = uniqueName('pt').replace(/-/g, '_');
      await my.createDatabase(small);
      await my.sql(`
        CREATE TABLE orders (id int PRIMARY KEY, item varchar(50) NOT NULL) ENGINE=InnoDB;
        INSERT INTO orders SELECT seq, CONCAT('item ', seq) FROM seq_1_to_100;
        CREATE TABLE sessions (id int PRIMARY KEY, token varchar(50)) ENGINE=InnoDB;
        INSERT INTO sessions VALUES (1, 'left out by --ignore-table');
        CREATE TRIGGER orders_ins BEFORE INSERT ON orders FOR EACH ROW SET NEW.item = UPPER(NEW.item);
      `, small);
    });

    const ptEnv = (extra: NodeJS.ProcessEnv = {}) => runnerEnv({ ...b.runnerEnv(ptPrefix), [MYV.DATABASE]: small, ...extra });
    const ptObjects = async () => Object.keys(await b.objects()).filter(k => k.startsWith(`${ptPrefix}/`));

    test('--ignore-table and --skip-triggers: backup; a restore with --max-allowed-packet and --binary-mode', async () => {
      const backup = await runRunner(ptEnv(), ['backup', '--', '--ignore-table', `${small}.sessions`, '--skip-triggers']);
      expect(backup.code).toBe(0);
      expect(backup.last).toMatchObject({ msg: 'backup complete' });

      const target = uniqueName('pttgt').replace(/-/g, '_');
      await my.createDatabase(target);
      await my.sql(`GRANT ALL PRIVILEGES ON ${quoteMysqlIdent(target)}.* TO 'backup'@'127.0.0.1';`);
      const restored = await runRunner(ptEnv({ [MYV.DATABASE]: target }), ['restore', 'latest', '--', '--max-allowed-packet=64M', '--binary-mode']);
      expect({ code: restored.code, last: restored.last.msg }).toEqual({ code: 0, last: 'restore complete' });
      const tablesOf = async (db: string) => (await my.sql('SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = DATABASE();', db)).trim();
      const triggersOf = async (db: string) => (await my.sql('SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE();', db)).trim();
      expect(await tablesOf(small)).toBe('orders,sessions');
      expect(await tablesOf(target)).toBe('orders');
      expect(await triggersOf(small)).toBe('1');
      expect(await triggersOf(target)).toBe('0');
      const rows = (db: string) => my.sql('SELECT COUNT(*), MD5(GROUP_CONCAT(id, item ORDER BY id)) FROM orders;', db);
      expect(await rows(target)).toBe(await rows(small));
    });

    test.each<[string, string[], RegExp]>([
      ['backup', ['--datab'], /dump-tool arguments: '--datab' is mariadb-dump's --databases \(-B\)/],
      ['backup', ['--result=OUT'], /dump-tool arguments: '--result=.*' is mariadb-dump's --result-file \(-r\)/],
      ['backup', ['-vrOUT'], /dump-tool arguments: '-vr.*' is mariadb-dump's --result-file \(-r\)/],
      ['backup', ['--loose-result-file=OUT'], /dump-tool arguments: '--loose-result-file=.*' is mariadb-dump's --result-file/],
      ['backup', ['--skip-single-transaction'], /dump-tool arguments: '--skip-single-transaction' is mariadb-dump's --single-transaction, which the runner sets itself/],
      ['backup', ['other_db'], /dump-tool arguments: 'other_db' is a positional argument/],
      ['restore', ['--datab=mysql'], /restore-tool arguments: '--datab=mysql' is mariadb's --database \(-D\)/],
      // Found by this file: the dumps carry no USE lines, so --one-database made mariadb skip every statement and exit 0.
      ['restore', ['-o'], /restore-tool arguments: '-o' is mariadb's --one-database \(-o\), .*skip every statement/],
      ['restore', ['mysql'], /restore-tool arguments: 'mysql' is a positional argument, which mariadb would take as the database to restore into/],
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
