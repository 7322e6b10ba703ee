/**
 * Every failure says its cause on the final line (#9 §4): the restore tool's error line rather
 * than the broken pipe it leaves behind, the runner's own checks (a manifest that is not valid,
 * data that is not in the compression its manifest names), a storage server that stalls, and
 * malformed destinations. Against real PostgreSQL 15, MariaDB and Ceph radosgw where they matter.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket, expectNothingLeft, keyOf } from './s3-helpers';
import { TcpProxy } from './tcp-proxy';
import { loadRunConfig } from '../../image/src/config';
import { Logger } from '../../image/src/log';
import { MANIFEST_FORMAT_VERSION, ManifestError, parseManifest } from '../../image/src/manifest';
import { CompressionCheck, CompressionMismatchError, compressionOf } from '../../image/src/restore';
import { S3Storage } from '../../image/src/storage/s3';
import { StallError, guardStall } from '../../image/src/storage/stall';
import { ToolExitError, reportsError, startTool } from '../../image/src/tool';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requireMysql, requirePostgres, requireS3, uniqueName } from '../servers/env';
import { mysqlRunnerEnv, quoteMysqlIdent } from '../servers/mariadb';
import { postgresRunnerEnv, quoteIdent } from '../servers/postgres';

jest.setTimeout(240_000);

const PGV = ENGINE_REGISTRY.postgres.env;
const MYV = ENGINE_REGISTRY.mysql.env;
/** The shortest stall timeout the rules allow. */
const STALL_SECONDS = 10;

describe('a manifest is checked against its schema when read', () => {
  const data = Buffer.from('the backup');
  const valid = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    engine: 'postgres',
    database: 'orders',
    key: 'prod/orders/20240501T020304Z-0badf00d.pgdump.zst',
    bytes: data.length,
    rawBytes: 100,
    sha256: createHash('sha256').update(data).digest('hex'),
    compression: 'zstd',
    format: 'pg_dump-custom',
    tool: { name: 'pg_dump', version: '15.14' },
    server: { version: '15.14' },
    startedAt: '2024-05-01T02:03:04.000Z',
    finishedAt: '2024-05-01T02:04:04.000Z',
    durationSeconds: 60,
    runner: { version: '0.0.0' },
  };
  const KEY = `${valid.key}.manifest.json`;
  const parse = (value: unknown) => () => parseManifest(KEY, typeof value === 'string' ? value : JSON.stringify(value));

  test('a complete manifest, and one without the descriptive fields, are read as they are', () => {
    expect(parseManifest(KEY, JSON.stringify(valid))).toEqual(valid);
    const { tool: _t, server: _s, runner: _r, rawBytes: _b, startedAt: _a, finishedAt: _f, durationSeconds: _d, ...needed } = valid;
    expect(parseManifest(KEY, JSON.stringify({ ...needed, addedLater: true }))).toMatchObject(needed);
  });

  test.each<[string, unknown, string]>([
    ['not JSON', '{"formatVersion": 1,', 'it is not JSON'],
    ['null', null, 'it must be a JSON object, got null'],
    ['an array', [valid], 'it must be a JSON object, got an array'],
    ['a string', '"manifest"', 'it must be a JSON object, got "manifest"'],
    ['a number', 5, 'it must be a JSON object, got 5'],
    ['an unknown formatVersion', { ...valid, formatVersion: 3, bytes: 'many' }, 'formatVersion is 3; this runner reads formats 1 and 2 only'],
    ['no formatVersion', { ...valid, formatVersion: undefined }, 'formatVersion is missing'],
    ['bytes as a string', { ...valid, bytes: '10' }, 'bytes must be a whole number of bytes, got "10"'],
    ['negative bytes', { ...valid, bytes: -1 }, 'bytes must be a whole number of bytes, got -1'],
    ['an unknown engine', { ...valid, engine: 'oracle' }, 'engine must be one of postgres, mongo, mysql, redis, got "oracle"'],
    ['an unknown compression', { ...valid, compression: 'lz4' }, 'compression must be one of zstd, gzip, none, got "lz4"'],
    ['a short sha256', { ...valid, sha256: 'abc' }, 'sha256 must be 64 lowercase hex digits, got "abc"'],
    ['database a number', { ...valid, database: 7 }, 'database must be a string, got 7 or null'],
    ['tool a string', { ...valid, tool: 'pg_dump' }, 'tool must be an object, got "pg_dump"'],
    ['tool without a name', { ...valid, tool: { version: '15' } }, 'tool .name must be a non-empty string, got nothing'],
    ['a bad time', { ...valid, startedAt: 'yesterday' }, 'startedAt must be an ISO 8601 time, got "yesterday"'],
    ['missing fields', { formatVersion: 1, engine: 'postgres' }, 'database is missing; key is missing; bytes is missing; sha256 is missing; compression is missing; format is missing'],
  ])('%s → "manifest <key> is not valid: …", a ManifestError, never a TypeError', (_what, value, problem) => {
    expect(parse(value)).toThrow(ManifestError);
    expect(parse(value)).toThrow(`manifest ${KEY} is not valid: ${problem}`);
  });
});

describe("a failed tool's error line names the cause", () => {
  test.each([
    'pg_restore: error: could not execute query: ERROR:  permission denied for schema public',
    'psql:<stdin>:12: ERROR:  relation "items" already exists',
    "ERROR 1142 (42000) at line 22: DROP command denied to user 'r'@'localhost' for table `shop`.`t`",
    '2024-05-01T02:03:04.000+0000\tFailed: shop.things: error restoring from archive: connection reset',
    'mariadb-dump: Got error: 1045: "Access denied for user" when trying to connect',
    'FATAL:  password authentication failed for user "x"',
  ])('an error line: %s', line => {
    expect(reportsError(line)).toBe(true);
  });

  test.each([
    'Command was: CREATE TABLE public.error_log (',
    'LINE 1: CREATE TABLE public.items (',
    'pg_restore: warning: errors ignored on restore: 3',
    '    payload text NOT NULL',
  ])('not an error line: %s', line => {
    expect(reportsError(line)).toBe(false);
  });

  test('the error line, not the statement echoed after it, with the exit status', async () => {
    const lines: string[] = [];
    const log = new Logger({}, l => lines.push(l));
    const script = [
      'echo "pg_restore: error: could not execute query: ERROR:  permission denied for schema public" >&2',
      'echo "LINE 1: CREATE TABLE public.items (" >&2',
      'echo "Command was: CREATE TABLE public.items (" >&2',
      'echo "    payload text NOT NULL" >&2',
      'echo ");" >&2',
      'exit 1',
    ].join('\n');
    const tool = startTool({ command: 'sh', args: ['-c', script], env: { PATH: process.env.PATH } }, { stdin: 'ignore', stdout: 'ignore' }, log);
    const err = await tool.done.catch(e => e);
    expect(err).toBeInstanceOf(ToolExitError);
    expect(err.message).toBe('sh exited with code 1 (error: pg_restore: error: could not execute query: ERROR:  permission denied for schema public)');
    expect(lines).toHaveLength(5);
  });
});

describe('data that is not in the compression its manifest names', () => {
  const zstdFrame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00]);
  const gzip = Buffer.from([0x1f, 0x8b, 0x08, 0x00]);
  const pgdump = Buffer.from('PGDMP\x01\x0e\x00');

  test('compressionOf reads the first bytes', () => {
    expect(compressionOf(zstdFrame)).toBe('zstd');
    expect(compressionOf(Buffer.from([0x50, 0x2a, 0x4d, 0x18]))).toBe('zstd');
    expect(compressionOf(gzip)).toBe('gzip');
    expect(compressionOf(pgdump)).toBe('none');
  });

  const check = async (compression: 'zstd' | 'gzip' | 'none', chunks: Buffer[]) => {
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), new CompressionCheck({ key: 'k', compression }), new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }));
    return Buffer.concat(out);
  };

  test('matching data passes unchanged, whatever the chunk boundaries', async () => {
    const data = Buffer.concat([zstdFrame, randomBytes(100)]);
    for (let i = 1; i < 8; i++) expect(await check('zstd', [data.subarray(0, i), data.subarray(i)])).toEqual(data);
    expect(await check('none', [pgdump])).toEqual(pgdump);
  });

  test.each<['zstd' | 'gzip' | 'none', Buffer, string]>([
    ['zstd', pgdump, 'the backup k is not zstd data as its manifest says (it starts with the bytes 50 47 44 4d)'],
    ['gzip', zstdFrame, 'the backup k is not gzip data as its manifest says (it starts with the bytes 28 b5 2f fd, which is zstd)'],
    ['none', gzip, 'the backup k is not uncompressed data as its manifest says (it starts with the bytes 1f 8b 08 00, which is gzip)'],
  ])('manifest says %s → CompressionMismatchError before any byte passes', async (compression, data, message) => {
    const err = await check(compression, [data]).catch(e => e);
    expect(err).toBeInstanceOf(CompressionMismatchError);
    expect(err.message).toBe(message);
  });
});

describe('a stalled read fails after the stall timeout; a reader that is busy is not stalled', () => {
  test('no byte for the timeout while the reader waits → StallError', async () => {
    const source = new PassThrough();
    source.write('first');
    const started = Date.now();
    const chunks: Buffer[] = [];
    const err = await pipeline(guardStall(source, 300, 'reading x'), new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    })).catch(e => e);
    expect(err).toBeInstanceOf(StallError);
    expect(err.message).toBe(`reading x stalled: no progress for 0.3 s (${ENV.STALL_TIMEOUT_SECONDS})`);
    expect(Buffer.concat(chunks).toString()).toBe('first');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(source.destroyed).toBe(true);
  });

  test('a reader that takes longer than the timeout per chunk: no stall', async () => {
    const data = Array.from({ length: 4 }, () => randomBytes(64 * 1024));
    let got = 0;
    await pipeline(guardStall(Readable.from(data), 200, 'reading x'), new Writable({
      highWaterMark: 1,
      write(c: Buffer, _e, cb) {
        got += c.length;
        setTimeout(cb, 400);
      },
    }));
    expect(got).toBe(4 * 64 * 1024);
  });
});

describe(`${ENV.STALL_TIMEOUT_SECONDS}`, () => {
  const series = { [ENV.DESTINATION]: 'file:///backup', [ENV.NAME]: 'orders' };
  const stallOf = (raw?: string) => loadRunConfig(['list'], { ...series, [ENV.STALL_TIMEOUT_SECONDS]: raw }).destination.stallTimeoutMs;

  test('120 s unless set; whole seconds of at least 10', () => {
    expect(stallOf()).toBe(120_000);
    expect(stallOf('')).toBe(120_000);
    expect(stallOf('10')).toBe(10_000);
    expect(stallOf('600')).toBe(600_000);
  });

  test.each(['5', '0', '1.5', 'two', '-10'])('%j is refused, naming the variable', raw => {
    expect(() => stallOf(raw)).toThrow(new RegExp(`^${ENV.STALL_TIMEOUT_SECONDS}: `));
  });
});

describe('malformed destinations are usage errors (exit 2), nothing started', () => {
  test.each([
    ['file:///tmp/%zz', "has a '%' that starts no valid escape"],
    ['file://host/x', 'must be an absolute path with an empty host'],
    ['file:relative', "must start with 's3://'"],
    ['s3://', 'BACKUP_DESTINATION'],
    ['s3:///x', 'BACKUP_DESTINATION'],
  ])('%s', async (destination, message) => {
    const run = await runRunner({
      PATH: '/nonexistent', [ENV.ENGINE]: 'postgres', [ENV.NAME]: 'orders', [PGV.DATABASE]: 'db', [ENV.AWS_REGION]: 'us-east-1', [ENV.DESTINATION]: destination,
    }, ['backup']);
    expect(run.code).toBe(2);
    expect(run.lines).toHaveLength(1);
    expect(run.last.level).toBe('error');
    expect(run.last.msg).toMatch(/^configuration error: BACKUP_DESTINATION: /);
    expect(run.last.msg).toContain(message);
  });
});

describeIntegration('the final line of a failed restore or a stalled transfer, PostgreSQL and radosgw', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let source: string;
  let role: string;
  let rolePassword: string;
  const prefix = 'causes';

  beforeAll(async () => {
    pg = requirePostgres();
    b = await createTestBucket('causes');
    source = uniqueName('csrc').replace(/-/g, '_');
    role = uniqueName('cuser').replace(/-/g, '_');
    rolePassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN PASSWORD '${rolePassword}';`);
    await pg.createDatabase(source);
    // ~40 MB of incompressible text: large enough that a transfer is under way when it freezes.
    await pg.psql(`
      CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO items SELECT g, (SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 64) s) FROM generate_series(1, 20000) g;
    `, source);
    await buildRunner();
  });

  afterAll(() => b?.s3.destroy());

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: 'orders',
      ...postgresRunnerEnv(pg, source),
      [ENV.COMPRESSION]: 'none',
      [ENV.STALL_TIMEOUT_SECONDS]: String(STALL_SECONDS),
      ...extra,
    });
  }

  /** The restoring role, into `target`. */
  const targetEnv = (target: string, extra: NodeJS.ProcessEnv = {}) => env({
    [PGV.USER]: role, [PGV.PASSWORD]: rolePassword, [PGV.DATABASE]: target, ...extra,
  });

  const userTables = async (db: string) => Number((await pg.psql('SELECT count(*) FROM pg_tables WHERE schemaname = \'public\';', db)).trim());

  async function backup(): Promise<{ id: string; key: string }> {
    const run = await runRunner(env());
    expect(run.code).toBe(0);
    const key = run.last.key as string;
    return { key, id: key.slice(key.lastIndexOf('/') + 1).split('.')[0] };
  }

  async function getText(key: string): Promise<string> {
    const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
    return out.Body!.transformToString();
  }

  /** Replaces a manifest through the storage, as a user with write access could. */
  async function putManifest(key: string, body: string): Promise<void> {
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${key}.manifest.json`, Body: body }));
  }

  test('restoring as a role without CREATE on schema public: pg_restore\'s error line and exit status, not a broken pipe', async () => {
    const { id } = await backup();
    // Owned by the superuser: since PostgreSQL 15 other roles cannot create in its public schema.
    const target = uniqueName('cnocreate').replace(/-/g, '_');
    await pg.createDatabase(target);
    const run = await runRunner(targetEnv(target), ['restore', id]);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: 'restore failed: pg_restore exited with code 1 (error: pg_restore: error: could not execute query: ERROR:  permission denied for schema public)',
    });
    expect(await userTables(target)).toBe(0);
  });

  test('a manifest whose compression does not match the data: the runner says so, the target sees no byte', async () => {
    const { id, key } = await backup();
    const manifest = JSON.parse(await getText(`${key}.manifest.json`));
    expect(manifest.compression).toBe('none');
    await putManifest(key, JSON.stringify({ ...manifest, compression: 'zstd' }));
    const target = uniqueName('cmismatch').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(role)};`);
    const run = await runRunner(targetEnv(target), ['restore', id]);
    expect(run.code).toBe(1);
    expect(run.last.msg).toBe(`restore failed: the backup ${key} is not zstd data as its manifest says (it starts with the bytes 50 47 44 4d)`);
    expect(await userTables(target)).toBe(0);
  });

  test.each<[string, string, string]>([
    ['null', 'null', 'it must be a JSON object, got null'],
    ['an unknown formatVersion', '{"formatVersion": 7}', 'formatVersion is 7; this runner reads formats 1 and 2 only'],
    ['bytes as a string', '', 'bytes must be a whole number of bytes, got "1"'],
  ])('a manifest that is %s: "manifest <key> is not valid", exit 1', async (_what, text, problem) => {
    const { id, key } = await backup();
    const manifest = JSON.parse(await getText(`${key}.manifest.json`));
    await putManifest(key, text || JSON.stringify({ ...manifest, bytes: '1' }));
    const run = await runRunner(targetEnv('postgres'), ['restore', id]);
    expect(run.code).toBe(1);
    expect(run.last.msg).toMatch(new RegExp(`^restore failed: manifest ${key}\\.manifest\\.json is not valid: ${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(run.output).not.toMatch(/TypeError/);
  });

  describe('a frozen S3 server', () => {
    let proxy: TcpProxy;
    beforeEach(async () => {
      const url = new URL(requireS3().endpoint);
      proxy = await TcpProxy.start(url.hostname, Number(url.port));
    });
    afterEach(() => proxy.close());

    test('backup: the upload stalls, fails after the stall timeout, is aborted; exit 1 naming the stall', async () => {
      const before = await b.objects();
      const frozen = proxy.freezeAfter({ up: 2 * 1024 * 1024 });
      const started = Date.now();
      const running = runRunner(env({ [ENV.AWS_ENDPOINT_URL_S3]: proxy.endpoint, [ENV.NAME]: 'stalled' }));
      await frozen;
      const frozeAt = Date.now();
      // Frozen far longer than the timeout (the SDK retries each request, each waits the timeout),
      // then back, so the aborted upload can be confirmed gone.
      setTimeout(() => proxy.thaw(), 60_000);
      const run = await running;
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(new RegExp(`^backup failed: upload to s3://${b.bucket}/${prefix}/stalled/\\S+ failed: the transfer stalled: no progress for ${STALL_SECONDS} s \\(${ENV.STALL_TIMEOUT_SECONDS}\\)`));
      expect(Date.now() - frozeAt).toBeGreaterThanOrEqual(STALL_SECONDS * 1000);
      expect(Date.now() - started).toBeLessThan(150_000);
      await expectNothingLeft(b, before, keyOf(run.lines));
    });

    test('an upload to a server frozen for good: the abort after the stall gives up at its deadline, the open upload named', async () => {
      // Below the rules' minimum, which only the variable goes through: the bound is what is tested.
      const stallMs = 2_000;
      const abortDeadlineMs = 5_000;
      const c = requireS3();
      const storage = new S3Storage({
        kind: 's3', bucket: b.bucket, prefix: 'frozen', region: c.region, endpoint: proxy.endpoint, forcePathStyle: true, stallTimeoutMs: stallMs,
      }, abortDeadlineMs);
      // The storage takes its keys from the SDK's credential chain, as in the runner.
      process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
      const key = `frozen/${uniqueName('k')}`;
      const frozen = proxy.freezeAfter({ up: 2 * 1024 * 1024 });
      const body = Readable.from((function* () {
        for (let i = 0; i < 40; i++) yield randomBytes(1024 * 1024);
      })());
      const started = Date.now();
      const err = await storage.put(key, body, {}, new AbortController().signal).catch(e => e).finally(() => {
        delete process.env.AWS_ACCESS_KEY_ID;
        delete process.env.AWS_SECRET_ACCESS_KEY;
      });
      const took = Date.now() - started;
      await frozen;
      expect(err.message).toMatch(new RegExp(`^upload to s3://${b.bucket}/${key} failed; multipart upload \\(unknown: S3 unreachable\\) could not be aborted and is left open`));
      expect(String(err.cause?.message)).toMatch(/stalled: no progress for 2 s/);
      // The SDK's three attempts of the stalled requests, then the abort's deadline: never unbounded.
      expect(took).toBeLessThan(60_000);
      expect(body.destroyed).toBe(true);
      // Requests held by the freeze go through now, the runner's abort among them: either aborts it.
      proxy.thaw();
      const open = await b.s3.send(new ListMultipartUploadsCommand({ Bucket: b.bucket, Prefix: key }));
      for (const u of open.Uploads ?? []) {
        await b.s3.send(new AbortMultipartUploadCommand({ Bucket: b.bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => undefined);
      }
    });

    test('restore: the download stalls, fails after the stall timeout; exit 1 naming the stall', async () => {
      const { id, key } = await backup();
      const target = uniqueName('cstall').replace(/-/g, '_');
      await pg.psql(`CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(role)};`);
      const frozen = proxy.freezeAfter({ down: 4 * 1024 * 1024 });
      const running = runRunner(targetEnv(target, { [ENV.AWS_ENDPOINT_URL_S3]: proxy.endpoint }), ['restore', id]);
      await frozen;
      const frozeAt = Date.now();
      const run = await running;
      proxy.thaw();
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe(`restore failed: reading s3://${b.bucket}/${key} stalled: no progress for ${STALL_SECONDS} s (${ENV.STALL_TIMEOUT_SECONDS})`);
      expect(Date.now() - frozeAt).toBeGreaterThanOrEqual(STALL_SECONDS * 1000);
      expect(Date.now() - frozeAt).toBeLessThan(STALL_SECONDS * 1000 + 20_000);
      expect(await userTables(target)).toBe(0);
    });
  });
});

describeIntegration('the final line of a failed MariaDB restore', ['mysql', 's3'], () => {
  let my: ReturnType<typeof requireMysql>;
  let b: TestBucket;

  beforeAll(async () => {
    my = requireMysql();
    b = await createTestBucket('causes-mysql');
    await buildRunner();
  });
  afterAll(() => b?.s3.destroy());

  test('a statement the restoring user may not run: mariadb\'s ERROR line and exit status', async () => {
    const source = uniqueName('csrc').replace(/-/g, '_');
    await my.createDatabase(source);
    await my.sql('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, \'a\'), (2, \'b\');', source);
    const env = (extra: NodeJS.ProcessEnv) => baseEnv({
      [ENV.ENGINE]: 'mysql',
      ...b.runnerEnv('causes'),
      [ENV.NAME]: 'shop',
      ...mysqlRunnerEnv(my, source),
      ...extra,
    });
    const made = await runRunner(env({}));
    expect(made.code).toBe(0);

    const target = uniqueName('ctgt').replace(/-/g, '_');
    const user = uniqueName('ro').replace(/-/g, '_').slice(0, 30);
    const password = randomBytes(12).toString('hex');
    await my.createDatabase(target);
    await my.sql(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; GRANT SELECT ON ${quoteMysqlIdent(target)}.* TO '${user}'@'%';`);
    const run = await runRunner(env({ [MYV.USER]: user, [MYV.PASSWORD]: password, [MYV.DATABASE]: target }), ['restore']);
    expect(run.code).toBe(1);
    expect(run.last.msg).toMatch(/^restore failed: (mariadb|mysql) exited with code 1 \((last message|error): ERROR \d+ \(\w+\) at line \d+: \w+ command denied to user /);
    expect(await my.sql('SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE();', target)).toMatch(/^0\s*$/);
  });
});
