/**
 * `verify` with BACKUP_ENGINE=mysql against real servers: backups of the shared MariaDB (made by the
 * runner itself) in a real S3 server (Ceph radosgw), verified in a second, throwaway MariaDB started
 * here and reached as the verify pod reaches its sidecar: root without a password from 127.0.0.1,
 * BACKUP_MYSQL_DATABASE=mysql, no TLS. The runner runs as a child process exactly as in the image.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner, startRunner } from './runner-process';
import { TestBucket, createTestBucket } from './s3-helpers';
import { mysqlModule } from '../../image/src/engines/mysql';
import { backupIdOf } from '../../image/src/key';
import { Logger } from '../../image/src/log';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requireMysql, uniqueName } from '../servers/env';
import { MysqlServer, mysqlRunnerEnv, startMariadb } from '../servers/mariadb';
import { freePort } from '../servers/ports';

jest.setTimeout(300_000);

const MB = 1e6;
/** ~50 MB of SQL: six md5 hex strings per row. */
const BIG_ROWS = 250_000;
const ORDERS = 100;
/** A table name with a backtick and a space: quoted right, or the counts and checks fail. */
const ODD = 'odd` name';
const ODD_ROWS = 3;
const MYV = ENGINE_REGISTRY.mysql.env;

describeIntegration('runner verify: MariaDB backups restored into a throwaway MariaDB, radosgw', ['mysql', 's3'], () => {
  let my: ReturnType<typeof requireMysql>;
  let throwaway: MysqlServer;
  let b: TestBucket;
  let tmp: string;
  const prefix = 'prod';
  const ids: Record<'shop' | 'empty', string> = { shop: '', empty: '' };

  beforeAll(async () => {
    my = requireMysql();
    [b, throwaway] = await Promise.all([createTestBucket('verify-mysql'), startMariadb()]);
    // What the official image's entrypoint makes of MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 and MARIADB_ROOT_HOST=127.0.0.1.
    await throwaway.sql("CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;");

    const shop = uniqueName('vshop').replace(/-/g, '_');
    const empty = uniqueName('vempty').replace(/-/g, '_');
    await my.createDatabase(shop);
    await my.createDatabase(empty);
    await my.sql(`
      CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL) ENGINE=InnoDB;
      INSERT INTO big SELECT seq, CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND()), MD5(RAND())) FROM seq_1_to_${BIG_ROWS};
      CREATE TABLE orders (id int PRIMARY KEY, item varchar(100)) ENGINE=InnoDB;
      INSERT INTO orders SELECT seq, CONCAT('item ', seq) FROM seq_1_to_${ORDERS};
      CREATE TABLE \`${ODD.replace(/`/g, '``')}\` (id int PRIMARY KEY) ENGINE=InnoDB;
      INSERT INTO \`${ODD.replace(/`/g, '``')}\` SELECT seq FROM seq_1_to_${ODD_ROWS};
      CREATE VIEW orders_view AS SELECT id FROM orders;
    `, shop);
    await buildRunner();
    for (const [series, database] of [['shop', shop], ['empty', empty]] as const) {
      const run = await runRunner(baseEnv({
        [ENV.ENGINE]: 'mysql', ...b.runnerEnv(prefix), [ENV.NAME]: series, ...mysqlRunnerEnv(my, database),
      }));
      expect(run.code).toBe(0);
      ids[series] = backupIdOf(run.last.key as string);
    }
  });

  beforeEach(() => {
    // The runner's TMPDIR: where its private option files go, checked empty afterwards.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mysql-tmp-'));
  });
  afterEach(async () => {
    expect(fs.readdirSync(tmp)).toEqual([]);
    fs.rmSync(tmp, { recursive: true, force: true });
    // Every verification drops its database, whatever the outcome.
    expect(await throwaway.sql("SHOW DATABASES LIKE 'verify\\_%'")).toBe('');
  });
  afterAll(async () => {
    b?.s3.destroy();
    await throwaway?.stop();
  });

  /** The verify pod's runner environment, against the throwaway server. */
  function verifyEnv(series: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'mysql',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: series,
      [MYV.HOST]: '127.0.0.1',
      [MYV.PORT]: String(throwaway.port),
      [MYV.USER]: 'root',
      [MYV.DATABASE]: 'mysql',
      [MYV.TLS]: 'false',
      [ENV.PROGRESS_INTERVAL_MS]: '1000',
      TMPDIR: tmp,
      ...extra,
    });
  }

  const assertions = (...a: object[]) => ({ [ENV.VERIFY_ASSERTIONS]: JSON.stringify(a) });

  async function get(key: string): Promise<Buffer> {
    const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async function keyOfId(id: string): Promise<string> {
    return Object.keys(await b.objects()).find(k => k.includes(id) && k.endsWith('.sql.zst'))!;
  }

  test('a good backup passes every kind of assertion; rows counted exactly; the result stored next to the backup', async () => {
    const done = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mysql-done-')), 'done');
    const run = await runRunner(verifyEnv('shop', {
      [ENV.VERIFY_DONE_FILE]: done,
      ...assertions(
        { type: 'sql', query: `SELECT COUNT(*) = ${BIG_ROWS} FROM big` },
        { type: 'minRows', table: ODD, min: ODD_ROWS },
        { type: 'minRows', table: 'orders', min: ORDERS },
        { type: 'tablesExist', tables: ['big', 'orders', ODD, 'orders_view'] },
      ),
    }), ['verify', 'latest']);
    expect(run.code).toBe(0);
    const contents = { objectUnit: 'tables', objects: 3, itemUnit: 'rows', items: BIG_ROWS + ORDERS + ODD_ROWS };
    expect(run.last).toMatchObject({ level: 'info', msg: 'verify passed', id: ids.shop, contents });
    expect(run.lines.filter(l => l.msg === 'check').map(l => [l.check, l.passed, l.detail])).toEqual([
      ['restore', true, expect.stringMatching(/^restored \d+ bytes in \d+\.\d s$/)],
      ['contents', true, `restored 3 tables (${BIG_ROWS + ORDERS + ODD_ROWS} rows)`],
      ['sql', true, 'the query returned 1'],
      [`minRows(${ODD}, ${ODD_ROWS})`, true, `${ODD} has ${ODD_ROWS} rows`],
      [`minRows(orders, ${ORDERS})`, true, `orders has ${ORDERS} rows`],
      [`tablesExist(big, orders, ${ODD}, orders_view)`, true, 'all 4 exist'],
    ]);
    expect(fs.existsSync(done)).toBe(true);
    fs.rmSync(path.dirname(done), { recursive: true });

    const key = await keyOfId(ids.shop);
    const result = JSON.parse((await get(`${key}.verify.json`)).toString());
    expect(result).toMatchObject({ backupId: ids.shop, key, engine: 'mysql', passed: true, contents, target: `verify_${ids.shop.toLowerCase().replace(/-/g, '_')}` });
    const manifest = JSON.parse((await get(`${key}.manifest.json`)).toString());
    expect(manifest.rawBytes).toBeGreaterThan(45 * MB);
    const seconds = run.last.restoreDurationSeconds as number;
    expect(result.restore.durationSeconds).toBe(seconds);
    const at = (check: string) => Date.parse(run.lines.find(l => l.msg === 'check' && l.check === check)!.time as string);
    process.stderr.write(`[verify mysql] restored ${(manifest.rawBytes / MB).toFixed(1)} MB of SQL (${(manifest.bytes / MB).toFixed(1)} MB stored) `
      + `into MariaDB ${throwaway.version} in ${seconds.toFixed(2)} s; counting ${BIG_ROWS + ORDERS + ODD_ROWS} rows exactly took ${at('contents') - at('restore')} ms\n`);
  });

  test('each kind of failing assertion fails, naming itself and what it found, in the final line and the result', async () => {
    const run = await runRunner(verifyEnv('shop', assertions(
      { type: 'sql', query: `SELECT COUNT(*) > ${BIG_ROWS} FROM big` },
      { type: 'sql', query: 'SELECT NULL' },
      { type: 'sql', query: 'SELECT 1 UNION ALL SELECT 1' },
      { type: 'sql', query: 'SELECT nope FROM big' },
      { type: 'minRows', table: 'orders', min: ORDERS + 1 },
      { type: 'minRows', table: 'gone', min: 1 },
      { type: 'tablesExist', tables: ['big', 'gone', 'ORDERS'] },
    )), ['verify', ids.shop]);
    expect(run.code).toBe(1);
    const failed = [
      'sql: the query returned 0; 1 (true) is required',
      'sql: the query returned NULL; 1 (true) is required',
      'sql: the query returned 2 rows; exactly one is required',
      // MariaDB 10.11.19 says 'SELECT' where older releases said 'field list'.
      "sql: the query failed: ERROR 1054 (42S22) at line 1: Unknown column 'nope' in 'SELECT'",
      `minRows(orders, ${ORDERS + 1}): orders has ${ORDERS} rows; at least ${ORDERS + 1} required`,
      'minRows(gone, 1): gone does not exist',
      // Table names are case-sensitive on Linux (lower_case_table_names=0), as the server compares them.
      'tablesExist(big, gone, ORDERS): missing: gone, ORDERS',
    ];
    expect(run.last).toMatchObject({ level: 'error', id: ids.shop });
    const clause = /Unknown column 'nope' in '(field list|SELECT)'/.exec(run.last.msg as string)?.[1] ?? 'SELECT';
    expect(run.last.msg).toBe(`verify failed: ${failed.join('; ')}`.replace("in 'SELECT'", `in '${clause}'`));
    const result = JSON.parse((await get(`${await keyOfId(ids.shop)}.verify.json`)).toString());
    expect(result.passed).toBe(false);
    expect(result.checks.filter((c: any) => !c.passed)).toHaveLength(failed.length);
  });

  test('an empty backup (a database without tables) fails: a verification that restores nothing fails', async () => {
    const run = await runRunner(verifyEnv('empty'), ['verify', 'latest']);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({
      level: 'error', msg: 'verify failed: contents: restored nothing: 0 tables; a verification that restores nothing fails', id: ids.empty,
    });
    expect(run.lines.find(l => l.msg === 'check' && l.check === 'restore')).toMatchObject({ passed: true });
  });

  describe('a damaged backup fails', () => {
    /** A copy of the good backup under a new id, its data changed by `mutate`; `remanifest`: a manifest that matches the new data. */
    async function copyBackup(mutate: (data: Buffer) => Buffer, remanifest = false): Promise<string> {
      const key = await keyOfId(ids.shop);
      const id = `29990101T000000Z-${randomBytes(4).toString('hex')}`;
      const newKey = key.replace(ids.shop, id);
      const data = mutate(await get(key));
      const manifest = JSON.parse((await get(`${key}.manifest.json`)).toString());
      const changed = remanifest ? { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') } : {};
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: newKey, Body: data }));
      await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${newKey}.manifest.json`, Body: JSON.stringify({ ...manifest, ...changed, key: newKey }) }));
      return id;
    }

    async function deleteBackup(id: string) {
      for (const k of Object.keys(await b.objects()).filter(x => x.includes(id))) {
        await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: k }));
      }
    }

    async function expectRestoreFailed(id: string, detail: RegExp) {
      const run = await runRunner(verifyEnv('shop'), ['verify', id]);
      expect(run.code).toBe(1);
      expect(run.last).toMatchObject({ level: 'error', id });
      expect(run.last.msg).toMatch(new RegExp(`^verify failed: restore: ${detail.source}$`));
      // Nothing is counted or asserted after a failed restore.
      expect(run.lines.filter(l => l.msg === 'check').map(l => l.check)).toEqual(['restore']);
      const result = JSON.parse((await get(`${await keyOfId(id)}.verify.json`)).toString());
      expect(result).toMatchObject({ passed: false, contents: null, restore: { durationSeconds: null } });
      await deleteBackup(id);
    }

    test('corrupted: one byte changed, same length', async () => {
      const id = await copyBackup(d => {
        const c = Buffer.from(d);
        c[Math.floor(c.length / 2)] = 255 - c[Math.floor(c.length / 2)];
        return c;
      });
      await expectRestoreFailed(id, /.* has sha256 [0-9a-f]{64} but its manifest records [0-9a-f]{64}: the object is corrupt or was changed \(integrity check before the restore\)/);
    });

    test('truncated object: refused before anything is restored', async () => {
      let fullSize = 0;
      const id = await copyBackup(d => {
        fullSize = d.length;
        return d.subarray(0, Math.floor(d.length / 2));
      });
      const run = await runRunner(verifyEnv('shop'), ['verify', id]);
      expect(run.code).toBe(1);
      expect(run.last).toMatchObject({
        level: 'error',
        msg: `verify failed: backup ${id} is damaged: ${(await keyOfId(id))} is ${Math.floor(fullSize / 2)} bytes but its manifest records ${fullSize}: the object is truncated or was changed`,
      });
      // No verification started: no database on the server (afterEach), no result stored.
      expect(run.lines.some(l => l.msg === 'check')).toBe(false);
      expect(Object.keys(await b.objects()).filter(k => k.includes(id)).sort()).toEqual([await keyOfId(id), `${await keyOfId(id)}.manifest.json`]);
      await deleteBackup(id);
    });

    test('a dump cut off mid-statement, its manifest matching: mariadb fails it', async () => {
      // What a dump tool that died mid-way would have left, had it been stored as complete.
      const id = await copyBackup(d => {
        const sql = execFileSync('zstd', ['-d', '-c', '-q'], { input: d, maxBuffer: 512 * MB });
        const cut = sql.subarray(0, sql.indexOf('INSERT INTO `big`') + 5000);
        return execFileSync('zstd', ['-c', '-q', '-1'], { input: cut, maxBuffer: 512 * MB });
      }, true);
      await expectRestoreFailed(id, /mariadb exited with code 1 \(last message: ERROR 1064 \(42000\) at line \d+: You have an error in your SQL syntax; .*\)/);
    });
  });

  test('SIGTERM mid-restore (deadline, eviction): exit 143, the database dropped, no result stored, the done file written', async () => {
    const done = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mysql-done-')), 'done');
    const key = await keyOfId(ids.shop);
    await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: `${key}.verify.json` }));
    const run = await startRunner(verifyEnv('shop', { [ENV.VERIFY_DONE_FILE]: done, [ENV.PROGRESS_INTERVAL_MS]: '100' }), ['verify', ids.shop]);
    await run.waitForLine(l => l.msg === 'integrity verified');
    await run.waitForLine(l => l.msg === 'progress' && (l.bytes as number) > 0);
    // The restore is loading: the verify database exists and has tables.
    expect(await throwaway.sql("SHOW DATABASES LIKE 'verify\\_%'")).not.toBe('');
    run.child.kill('SIGTERM');
    const status = await run.exited;
    expect(status.code).toBe(143);
    expect(run.lines[run.lines.length - 1]).toMatchObject({ level: 'error', msg: 'interrupted by SIGTERM' });
    expect(fs.existsSync(done)).toBe(true);
    fs.rmSync(path.dirname(done), { recursive: true });
    expect(Object.keys(await b.objects())).not.toContain(`${key}.verify.json`);
  });

  test('an assertion the engine cannot check is refused before any byte moves', async () => {
    const run = await runRunner(verifyEnv('shop', assertions({ type: 'minKeys', min: 1 })), ['verify', 'latest']);
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(/BACKUP_VERIFY_ASSERTIONS\[0\]: 'minKeys' is not an assertion MySQL can check; use 'sql', 'minRows', 'tablesExist'/);
  });

  describe('waiting for the throwaway server (in process)', () => {
    function prepare(port: number, serverWaitMs: number, lines: string[]) {
      const env = verifyEnv('shop', { [MYV.PORT]: String(port) });
      const engine = mysqlModule.create(mysqlModule.readSettings(env), env);
      const log = new Logger(env, l => { lines.push(l); });
      return engine.verify!.prepare(ids.shop, { serverWaitMs, signal: new AbortController().signal, log });
    }

    test('a server that starts accepting connections later is waited for', async () => {
      const port = await freePort();
      // The server "comes up" after 2.5 s: a forwarder to the throwaway server opens the port.
      let forwarder: net.Server | undefined;
      const timer = setTimeout(() => {
        forwarder = net.createServer(c => {
          const u = net.connect(throwaway.port, '127.0.0.1');
          c.pipe(u).pipe(c);
          c.on('error', () => u.destroy());
          u.on('error', () => c.destroy());
        }).listen(port, '127.0.0.1');
      }, 2_500);
      const lines: string[] = [];
      try {
        const target = await prepare(port, 30_000, lines);
        expect(target.name).toBe(`verify_${ids.shop.toLowerCase().replace(/-/g, '_')}`);
        expect(await throwaway.sql(`SHOW DATABASES LIKE '${target.name}'`)).toBe(`${target.name}\n`);
        await target.cleanup();
        expect(lines.map(l => JSON.parse(l).msg)).toEqual(['waiting for the verify server', 'verify database created']);
        expect(JSON.parse(lines[0]).reason).toMatch(/^ERROR 2002 \(HY000\): Can't connect to server on '127\.0\.0\.1'/);
      } finally {
        clearTimeout(timer);
        forwarder?.close();
      }
    });

    test('a server that never comes up: a clear error after serverWaitMs, nothing created', async () => {
      const lines: string[] = [];
      await expect(prepare(await freePort(), 2_000, lines)).rejects.toThrow(
        /^the verify server did not accept connections within 2 s: ERROR 2002 \(HY000\): Can't connect to server on '127\.0\.0\.1'/);
    });
  });
});
