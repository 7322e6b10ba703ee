/**
 * Names are bytes both sides agree on (#9, section 5): database, schema, table and key names with
 * non-ASCII characters, spaces and quotes survive a backup and a restore run INSIDE the image, on
 * every engine whose server runs here; a series name outside `[a-z0-9._-]` is refused by the image
 * as by the constructs. The image's clients must run in a UTF-8 locale: in the C locale MariaDB's
 * client asked the server for the database `dbü€` in latin1 and got `Unknown database`.
 *
 * MongoDB: no server or mongo-tools are obtainable on these machines (DESIGN.md), so its names are
 * not tested here; its runner tests use a stand-in mongodump.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOCKERFILE, containerEnv, dockerfileStages, runContainer } from './container';
import { UTF8_LOCALE, childEnv, hasUtf8Locale } from '../../image/src/proc';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { RuleError, seriesName } from '../../lib/rules';
import { createTestBucket, TestBucket } from '../runner/s3-helpers';
import { describeIntegration, requireMysql, requirePostgres, requireRedis } from '../servers/env';
import { quoteMysqlIdent } from '../servers/mariadb';
import { quoteIdent } from '../servers/postgres';
import { redisCli, startRedis } from '../servers/redis';

jest.setTimeout(180_000);

const PG = ENGINE_REGISTRY.postgres.env;
const MYSQL = ENGINE_REGISTRY.mysql.env;
const REDIS = ENGINE_REGISTRY.redis.env;

/**
 * Non-ASCII (2- and 3-byte UTF-8), spaces, both quote characters, and the look of a long option
 * with a value (a tool reading it as an argument would take it for one; libpq would take a dbname
 * with '=' for a connection string); a random tail because every test file shares one server.
 * No '.', '/' or '\' (MariaDB refuses them in database names) and no '_' or '%' (wildcards in a
 * MariaDB GRANT's database name).
 */
function oddName(stem: string): string {
  return `--${stem}=ü€ "q" 'x' ${randomBytes(4).toString('hex')}`;
}

/** PostgreSQL takes a backslash too. */
function oddPostgresName(stem: string): string {
  return `${oddName(stem)} \\`;
}

/** The host's psql reads a --dbname with '=' as a connection string: name the database in one. */
function pgConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
const SCHEMA = 'schéma';
const TABLE = 'tàble "1"';
/** Row values with the same kinds of bytes, a 4-byte character and a backslash. */
const ROW_TEXT = 'dbü€ "q" \'x\' 🎉 \\ tàble';

describe('childEnv: every child process runs in a UTF-8 locale', () => {
  test.each([
    ['no locale variable', {}],
    ['LANG=C', { LANG: 'C' }],
    ['LANG=POSIX', { LANG: 'POSIX' }],
    ['LANG=en_US.ISO-8859-1', { LANG: 'en_US.ISO-8859-1' }],
    ['LC_CTYPE=C over LANG=C.UTF-8', { LANG: 'C.UTF-8', LC_CTYPE: 'C' }],
    ['LC_ALL=C over LANG=en_US.UTF-8', { LANG: 'en_US.UTF-8', LC_ALL: 'C' }],
  ])('%s → LANG and LC_ALL are C.UTF-8', (_what, locale: Record<string, string>) => {
    expect(hasUtf8Locale(locale)).toBe(false);
    const env = childEnv({ PATH: '/usr/bin', ...locale });
    expect(env).toMatchObject({ PATH: '/usr/bin', LANG: UTF8_LOCALE, LC_ALL: UTF8_LOCALE });
    expect(hasUtf8Locale(env)).toBe(true);
  });

  test.each([
    ['LANG=C.UTF-8', { LANG: 'C.UTF-8' }],
    ['LANG=de_DE.UTF-8', { LANG: 'de_DE.UTF-8' }],
    ['LANG=C.utf8 (as locale -a spells it)', { LANG: 'C.utf8' }],
    ['LC_CTYPE=en_US.UTF-8 over LANG=C', { LANG: 'C', LC_CTYPE: 'en_US.UTF-8' }],
    ['LC_ALL=sr_RS.UTF-8@latin', { LC_ALL: 'sr_RS.UTF-8@latin' }],
  ])('%s is UTF-8 already and stays as the user set it', (_what, locale: Record<string, string>) => {
    expect(childEnv({ PATH: '/usr/bin', ...locale })).toEqual({ PATH: '/usr/bin', ...locale });
  });

  test('the locale does not change which secrets a child gets', () => {
    const env = childEnv({ [PG.PASSWORD]: 'p', [ENV.AWS_SECRET_ACCESS_KEY]: 's', [REDIS.PASSWORD]: 'r' }, [PG.PASSWORD], { PGAPPNAME: 'x' });
    expect(env).toEqual({ [PG.PASSWORD]: 'p', PGAPPNAME: 'x', LANG: UTF8_LOCALE, LC_ALL: UTF8_LOCALE });
  });

  test('the image sets LANG=C.UTF-8 in the stage every engine is built from, so the runner itself has it too', () => {
    const stages = dockerfileStages(fs.readFileSync(DOCKERFILE, 'utf8'));
    const base = stages.find(s => s.name === 'base')!;
    const env = base.instructions.filter(i => /^ENV\s/i.test(i)).join(' ');
    expect(env).toMatch(/(^|\s)LANG=C\.UTF-8(\s|$)/);
    // No later stage takes it back.
    for (const stage of stages) {
      for (const i of stage.instructions.filter(x => /^ENV\s/i.test(x))) expect(i).not.toMatch(/\b(LANG|LC_ALL|LC_CTYPE)=(?!C\.UTF-8)/);
    }
  });
});

describe('series names: only [a-z0-9._-], the same rule on both sides', () => {
  test.each(['sériés', 'orders €', 'orders "q"', "orders 'x'", 'Orders'])('the rule the constructs call refuses %j', name => {
    expect(() => seriesName('backupName', name)).toThrow(RuleError);
  });
});

describeIntegration('companion image: a series name outside [a-z0-9._-] is refused with exit 2, nothing written', ['image:postgres'], () => {
  test.each(['sériés', 'orders € "q" \'x\''])('BACKUP_NAME=%j', async name => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'names-series-'));
    try {
      fs.chmodSync(dir, 0o777);
      const run = await runContainer('postgres', ['backup'], containerEnv({
        [ENV.ENGINE]: 'postgres',
        [ENV.DESTINATION]: `file://${dir}`,
        [ENV.NAME]: name,
        [PG.HOST]: '127.0.0.1',
        [PG.PORT]: '5432',
        [PG.USER]: 'backup',
        [PG.PASSWORD]: 'unused',
        [PG.DATABASE]: 'orders',
      }));
      expect(run.nonJson).toEqual([]);
      expect({ code: run.code, lines: run.lines.length }).toEqual({ code: 2, lines: 1 });
      // The value arrived as the same bytes: the error quotes it back.
      expect(run.last).toMatchObject({ level: 'error', msg: expect.stringContaining(`${ENV.NAME}: '${name}' is not a valid series name`) });
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A backup in the container of `engine` into `b`; returns its key after checking the run. */
async function backupInImage(
  b: TestBucket, engine: string, series: string, vars: Record<string, string>, podmanRunArgs?: string,
): Promise<{ key: string; database: unknown }> {
  const run = await runContainer(engine, ['backup'], containerEnv({
    ...b.runnerEnv('names') as Record<string, string>, [ENV.ENGINE]: engine, [ENV.NAME]: series, ...vars,
  }, podmanRunArgs));
  if (run.code !== 0) throw new Error(`backup in the ${engine} image exited ${run.code}: ${JSON.stringify(run.last)}\n${run.stderr}`);
  expect(run.nonJson).toEqual([]);
  expect(run.last).toMatchObject({ msg: 'backup complete' });
  const key = run.last!.key as string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'names-manifest-'));
  try {
    await b.download(`${key}.manifest.json`, path.join(dir, 'manifest.json'));
    return { key, database: JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).database };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A restore of `latest` in the container of `engine` from `b`; returns the final log line. */
async function restoreInImage(b: TestBucket, engine: string, series: string, vars: Record<string, string>) {
  const run = await runContainer(engine, ['restore', 'latest'], containerEnv({
    ...b.runnerEnv('names') as Record<string, string>, [ENV.ENGINE]: engine, [ENV.NAME]: series, ...vars,
  }));
  if (run.code !== 0) throw new Error(`restore in the ${engine} image exited ${run.code}: ${JSON.stringify(run.last)}\n${run.stderr}`);
  expect(run.nonJson).toEqual([]);
  return run.last!;
}

describeIntegration('companion image (postgres): database, schema and table names with non-ASCII, spaces and quotes', ['image:postgres', 'postgres', 's3'], () => {
  test('backup → runner restore into a database with such a name → identical contents', async () => {
    const pg = requirePostgres();
    const b = await createTestBucket('names-pg');
    try {
      const source = oddPostgresName('db');
      const target = oddPostgresName('rëstored');
      await pg.psql(`CREATE DATABASE ${quoteIdent(source)}; CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(pg.user)};`);
      const qualified = `${quoteIdent(SCHEMA)}.${quoteIdent(TABLE)}`;
      await pg.psql(`
        CREATE SCHEMA ${quoteIdent(SCHEMA)};
        CREATE TABLE ${qualified} (id int PRIMARY KEY, ${quoteIdent('cölumn "c"')} text);
        INSERT INTO ${qualified} VALUES (1, ${pgLiteral(ROW_TEXT)}), (2, ${pgLiteral(source)});
        INSERT INTO ${qualified} SELECT g, 'rów ' || g || ' ☃' FROM generate_series(3, 500) g;
        CREATE TABLE public.${quoteIdent(TABLE)} (id int PRIMARY KEY, v text);
        INSERT INTO public.${quoteIdent(TABLE)} VALUES (1, ${pgLiteral(ROW_TEXT)});
      `, pgConninfo(source));

      const conn = { [PG.HOST]: '127.0.0.1', [PG.PORT]: String(pg.port), [PG.USER]: pg.user, [PG.PASSWORD]: pg.password };
      const backup = await backupInImage(b, 'postgres', 'pg-names', { ...conn, [PG.DATABASE]: source });
      expect(backup.database).toBe(source);

      const last = await restoreInImage(b, 'postgres', 'pg-names', { ...conn, [PG.DATABASE]: target });
      expect(last).toMatchObject({ msg: 'restore complete', key: backup.key, targetDatabase: target });

      const contents = async (db: string) => (await pg.psql(`
        SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY n.nspname, c.relname) FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('public', ${pgLiteral(SCHEMA)});
        SELECT count(*) || ':' || md5(string_agg(x::text, '|' ORDER BY x.id)) FROM ${qualified} x;
        SELECT count(*) || ':' || md5(string_agg(x::text, '|' ORDER BY x.id)) FROM public.${quoteIdent(TABLE)} x;
        SELECT ${quoteIdent('cölumn "c"')} FROM ${qualified} WHERE id <= 2 ORDER BY id;
      `, pgConninfo(db))).trim().split('\n');
      const restored = await contents(target);
      expect(restored).toEqual(await contents(source));
      expect(restored[0]).toBe(`public.${TABLE},${SCHEMA}.${TABLE}`);
      expect(restored.slice(-2)).toEqual([ROW_TEXT, source]);
    } finally {
      b.s3.destroy();
    }
  });
});

describeIntegration('companion image (mysql): database and table names with non-ASCII, spaces and quotes', ['image:mysql', 'mysql', 's3'], () => {
  test('a pod that sets LANG=C and LC_ALL=C: the runner still gives the client a UTF-8 locale, and the database is found', async () => {
    const my = requireMysql();
    const b = await createTestBucket('names-my-c');
    try {
      const source = oddName('db');
      await my.createDatabase(source);
      await my.sql(`CREATE TABLE ${quoteMysqlIdent(TABLE)} (id INT PRIMARY KEY); INSERT INTO ${quoteMysqlIdent(TABLE)} VALUES (1);`, source);
      const backup = await backupInImage(b, 'mysql', 'my-names-c', {
        [MYSQL.HOST]: my.host,
        [MYSQL.PORT]: String(my.port),
        [MYSQL.USER]: my.user,
        [MYSQL.PASSWORD]: my.password,
        [MYSQL.TLS]: 'false',
        [MYSQL.DATABASE]: source,
      }, '--env LANG=C --env LC_ALL=C');
      expect(backup.database).toBe(source);
    } finally {
      b.s3.destroy();
    }
  });

  test('backup → runner restore into a database with such a name → identical CHECKSUM TABLE', async () => {
    const my = requireMysql();
    const b = await createTestBucket('names-my');
    try {
      const source = oddName('db');
      const target = oddName('rëstored');
      await my.createDatabase(source);
      await my.createDatabase(target);
      // Restoring creates tables, which the backup user may do only in the target.
      await my.sql(`GRANT ALL PRIVILEGES ON ${quoteMysqlIdent(target)}.* TO 'backup'@'127.0.0.1';`);
      await my.sql(`
        CREATE TABLE ${quoteMysqlIdent(TABLE)} (id INT PRIMARY KEY, ${quoteMysqlIdent('cölumn "c"')} VARCHAR(200) CHARACTER SET utf8mb4);
        INSERT INTO ${quoteMysqlIdent(TABLE)} VALUES (1, ${mysqlLiteral(ROW_TEXT)}), (2, ${mysqlLiteral(source)});
        INSERT INTO ${quoteMysqlIdent(TABLE)} SELECT seq, CONCAT('rów ', seq, ' ☃') FROM seq_3_to_500;
      `, source);

      const conn = {
        [MYSQL.HOST]: my.host,
        [MYSQL.PORT]: String(my.port),
        [MYSQL.USER]: my.user,
        [MYSQL.PASSWORD]: my.password,
        // The test server has no certificate; the image's MariaDB 11.8 client requires TLS by default.
        [MYSQL.TLS]: 'false',
      };
      const backup = await backupInImage(b, 'mysql', 'my-names', { ...conn, [MYSQL.DATABASE]: source });
      expect(backup.database).toBe(source);

      const last = await restoreInImage(b, 'mysql', 'my-names', { ...conn, [MYSQL.DATABASE]: target });
      expect(last).toMatchObject({ msg: 'restore complete', key: backup.key, targetDatabase: target });

      // CHECKSUM TABLE prints `<database>.<table>\t<checksum>`: the database's name is taken out.
      const contents = async (db: string) => (await my.sql(`
        SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = DATABASE();
        CHECKSUM TABLE ${quoteMysqlIdent(db)}.${quoteMysqlIdent(TABLE)};
        SELECT ${quoteMysqlIdent('cölumn "c"')} FROM ${quoteMysqlIdent(TABLE)} WHERE id <= 2 ORDER BY id;
      `, db)).trim().split('\n').map(line => line.startsWith(`${db}.`) ? `<db>${line.slice(db.length)}` : line);
      const restored = await contents(target);
      expect(restored).toEqual(await contents(source));
      expect(restored[0]).toBe(TABLE);
      expect(restored[1]).toMatch(new RegExp(`^<db>\\.${escapeRegExp(TABLE)}\\t\\d+$`));
      expect(restored.slice(-2)).toEqual([mysqlBatch(ROW_TEXT), source]);
    } finally {
      b.s3.destroy();
    }
  });
});

describeIntegration('companion image (mysql): a database named like an option is dumped as that database', ['image:mysql', 'mysql', 's3'], () => {
  test('`--all-databases`: that database only, with no CREATE DATABASE or USE that a restore would run against the source', async () => {
    const my = requireMysql();
    const b = await createTestBucket('names-my-opt');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'names-my-opt-'));
    const source = '--all-databases';
    try {
      await my.sql(`DROP DATABASE IF EXISTS ${quoteMysqlIdent(source)};`);
      await my.createDatabase(source);
      await my.sql(`CREATE TABLE ${quoteMysqlIdent(TABLE)} (id INT PRIMARY KEY); INSERT INTO ${quoteMysqlIdent(TABLE)} VALUES (1);`, source);
      const backup = await backupInImage(b, 'mysql', 'my-names-opt', {
        [MYSQL.HOST]: my.host,
        [MYSQL.PORT]: String(my.port),
        [MYSQL.USER]: my.user,
        [MYSQL.PASSWORD]: my.password,
        [MYSQL.TLS]: 'false',
        [MYSQL.DATABASE]: source,
      });
      expect(backup.database).toBe(source);
      const data = path.join(dir, 'dump.sql.zst');
      await b.download(backup.key, data);
      const sql = execFileSync('zstd', ['-d', '-c', '-q', data], { maxBuffer: 2 ** 30 }).toString('utf8');
      expect(sql.match(/^(CREATE DATABASE|USE) .*$/gm)).toBeNull();
      expect(sql.match(/^CREATE TABLE .*$/gm)).toEqual([`CREATE TABLE ${quoteMysqlIdent(TABLE)} (`]);
    } finally {
      await my.sql(`DROP DATABASE IF EXISTS ${quoteMysqlIdent(source)};`);
      fs.rmSync(dir, { recursive: true, force: true });
      b.s3.destroy();
    }
  });
});

describeIntegration('companion image (redis): keys and values with non-ASCII, spaces and quotes', ['image:redis', 'redis', 's3'], () => {
  test('backup → a fresh redis-server loads the RDB → the same keys and values, byte for byte', async () => {
    requireRedis();
    // A server of its own: the shared one is emptied by other test files.
    const source = await startRedis();
    const b = await createTestBucket('names-redis');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'names-redis-'));
    try {
      const pairs: Array<[string, string]> = [
        [oddName('key '), ROW_TEXT],
        [TABLE, SCHEMA],
        ['plain', oddName('välue ')],
      ];
      for (const [k, v] of pairs) await redisCli(source, ['SET', k, v]);
      await redisCli(source, ['HSET', SCHEMA, TABLE, ROW_TEXT]);

      const backup = await backupInImage(b, 'redis', 'redis-names', {
        [REDIS.HOST]: source.host, [REDIS.PORT]: String(source.port), [REDIS.PASSWORD]: source.password,
      });
      fs.chmodSync(dir, 0o755);
      const data = path.join(dir, 'backup.rdb.zst');
      await b.download(backup.key, data);
      execFileSync('zstd', ['-d', '-q', '-o', path.join(dir, 'dump.rdb'), data]);
      fs.chmodSync(path.join(dir, 'dump.rdb'), 0o644);
      const loaded = await startRedis({ args: ['--dir', dir, '--dbfilename', 'dump.rdb'] });
      try {
        const keys = (s: typeof source) => redisCli(s, ['KEYS', '*']).then(out => out.split('\n').filter(Boolean).sort());
        expect(await keys(loaded)).toEqual([...pairs.map(p => p[0]), SCHEMA].sort());
        for (const [k, v] of pairs) expect(await redisCli(loaded, ['GET', k])).toBe(`${v}\n`);
        expect(await redisCli(loaded, ['HGET', SCHEMA, TABLE])).toBe(`${ROW_TEXT}\n`);
      } finally {
        await loaded.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await source.stop();
      b.s3.destroy();
    }
  });
});

function pgLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function mysqlLiteral(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** How `mariadb --batch` prints a value: backslash escaped. */
function mysqlBatch(text: string): string {
  return text.replace(/\\/g, '\\\\');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
