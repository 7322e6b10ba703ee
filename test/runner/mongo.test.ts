/**
 * The Mongo engine with a STAND-IN mongodump and mongorestore (stand-ins.ts): no MongoDB server or
 * mongo-tools can be installed here (DESIGN.md). The stand-ins fail unless the runner kept its
 * promises: the connection string never in argv, only in a 0600 config file in a 0700 directory.
 * The real round trip needs MONGO_URL and mongo-tools (not available on these machines).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { expectedSha256, readRecords, writeStandIns } from './stand-ins';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';

const V = ENGINE_REGISTRY.mongo.env;

const PASSWORD = 'm0ngo"P@ss/word';
const URI = `mongodb://backup:${encodeURIComponent(PASSWORD)}@mongo-0.mongo:27017,mongo-1.mongo:27017/?authSource=admin&replicaSet=rs0`;
let standIns: string;
let dest: string;
let record: string;
let tmp: string;

beforeAll(async () => {
  standIns = writeStandIns();
  await buildRunner();
});

beforeEach(() => {
  dest = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-mongo-dest-'));
  record = `${dest}.record`;
  // The runner's TMPDIR: where it puts the private config file, checked empty afterwards.
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-mongo-tmp-'));
});

afterEach(() => {
  for (const p of [dest, record, tmp]) fs.rmSync(p, { recursive: true, force: true });
});

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv({
    [ENV.ENGINE]: 'mongo',
    [ENV.DESTINATION]: `file://${dest}`,
    [ENV.NAME]: 'shop',
    [V.URI]: URI,
    STANDIN_EXPECT_URI: URI,
    STANDIN_RECORD: record,
    TMPDIR: tmp,
    ...extra,
  }, standIns);
}

function storedFiles(): string[] {
  return fs.existsSync(path.join(dest, 'shop')) ? fs.readdirSync(path.join(dest, 'shop')).sort() : [];
}

describe('mongo engine with a stand-in mongodump', () => {
  test('round trip: archive to stdout, the URI only in a private config file that is removed afterwards', async () => {
    const size = 3 * 1024 * 1024 + 7;
    const run = await runRunner(env({ STANDIN_BYTES: String(size), [V.DATABASE]: 'shop' }), ['backup', '--', '--numParallelCollections=2']);
    expect(run.code).toBe(0);

    const [rec] = readRecords(record).filter(r => r.tool === 'mongodump');
    expect(rec.argv).toEqual(['--archive', `--config=${rec.config!.path}`, '--db=shop', '--numParallelCollections=2']);
    expect(rec.config).toEqual({ path: expect.stringMatching(new RegExp(`^${tmp}/backup-mongodump-[^/]+/mongodump\\.yaml$`)), mode: 0o600, dirMode: 0o700 });
    // The stand-in's view of its own argv and environment: no URI, no password.
    expect(JSON.stringify(rec.argv)).not.toContain('mongodb://');
    expect(rec.envNames).not.toContain(V.URI);
    // The private directory is gone.
    expect(fs.readdirSync(tmp)).toEqual([]);

    const [data, manifestFile] = storedFiles();
    expect(data).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}\.archive\.zst$/);
    const raw = execFileSync('zstd', ['-d', '-c', '-q'], { input: fs.readFileSync(path.join(dest, 'shop', data)), maxBuffer: 64 * 1024 * 1024 });
    expect(createHash('sha256').update(raw).digest('hex')).toBe(expectedSha256(size));
    const manifest = JSON.parse(fs.readFileSync(path.join(dest, 'shop', manifestFile), 'utf8'));
    expect(manifest).toMatchObject({
      engine: 'mongo',
      database: 'shop',
      format: 'mongodump-archive',
      rawBytes: size,
      tool: { name: 'mongodump', version: '100.10.0-standin' },
      server: { version: null },
    });
    const everything = JSON.stringify(manifest) + run.output;
    for (const secret of [URI, PASSWORD, encodeURIComponent(PASSWORD)]) expect(everything).not.toContain(secret);
    // mongodump's stderr chatter is forwarded as log lines.
    expect(run.lines).toContainEqual(expect.objectContaining({ source: 'mongodump', msg: expect.stringContaining('writing test.things to archive on stdout') }));
  });

  test('without a database, every database is dumped (no --db)', async () => {
    const run = await runRunner(env({ STANDIN_BYTES: '100' }));
    expect(run.code).toBe(0);
    expect(readRecords(record)[0].argv.some(a => a.startsWith('--db'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dest, 'shop', storedFiles()[1]), 'utf8')).database).toBeNull();
  });

  test('a failing mongodump: nothing stored, config file removed, one clear line', async () => {
    const run = await runRunner(env({ STANDIN_BYTES: String(8 * 1024 * 1024), STANDIN_FAIL_AT: String(2 * 1024 * 1024) }));
    expect(run.code).toBe(1);
    expect(storedFiles()).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: 'backup failed: mongodump exited with code 1 (last message: Failed: error writing data for collection test.things: connection reset)',
    });
    expect(run.output).not.toContain(PASSWORD);
  });

  test.each(['mongodump', 'mongorestore'])('the stand-in %s really rejects a URI in argv (so the tests can fail)', tool => {
    const out = (() => {
      try {
        execFileSync(path.join(standIns, tool), ['--archive', `--uri=${URI}`], { env: { ...process.env, STANDIN_EXPECT_URI: URI }, stdio: 'pipe' });
        return 'exited 0';
      } catch (e) {
        return String((e as { stderr: Buffer }).stderr);
      }
    })();
    expect(out).toContain('connection string found in argv');
  });
});

describe('mongo restore through the runner with a stand-in mongorestore', () => {
  const size = 2 * 1024 * 1024 + 13;

  /** A backup of `shop` made by the runner with the stand-in mongodump. */
  async function backup(): Promise<string> {
    const run = await runRunner(env({ STANDIN_BYTES: String(size), [V.DATABASE]: 'shop' }));
    expect(run.code).toBe(0);
    fs.rmSync(record, { force: true });
    return run.last.key as string;
  }

  test('the archive reaches mongorestore byte for byte, under the target database\'s name; the URI only in a private file that is removed', async () => {
    const key = await backup();
    const run = await runRunner(env({ [V.DATABASE]: 'shop_copy' }), ['restore', 'latest', '--', '--drop']);
    expect(run.code).toBe(0);
    expect(run.last).toMatchObject({ level: 'info', msg: 'restore complete', key, targetDatabase: 'shop_copy' });

    const [rec] = readRecords(record).filter(r => r.tool === 'mongorestore');
    expect(rec.stdin).toEqual({ bytes: size, sha256: expectedSha256(size) });
    expect(rec.argv).toEqual([
      '--archive', `--config=${rec.config!.path}`, '--nsInclude=shop.*', '--nsFrom=shop.*', '--nsTo=shop_copy.*', '--drop',
    ]);
    expect(rec.config).toEqual({ path: expect.stringMatching(new RegExp(`^${tmp}/backup-mongorestore-[^/]+/mongorestore\\.yaml$`)), mode: 0o600, dirMode: 0o700 });
    expect(rec.envNames).not.toContain(V.URI);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(run.lines).toContainEqual(expect.objectContaining({ source: 'mongorestore', msg: expect.stringContaining('finished restoring shop.things') }));
    for (const secret of [URI, PASSWORD, encodeURIComponent(PASSWORD)]) expect(run.output).not.toContain(secret);
  });

  test('into the database it came from: only that database\'s namespaces, no renaming', async () => {
    await backup();
    const run = await runRunner(env({ [V.DATABASE]: 'shop' }), ['restore']);
    expect(run.code).toBe(0);
    const [rec] = readRecords(record).filter(r => r.tool === 'mongorestore');
    expect(rec.argv.slice(2)).toEqual(['--nsInclude=shop.*']);
  });

  test('a failing mongorestore: exit 1 with its last message, config file removed', async () => {
    await backup();
    const run = await runRunner(env({ [V.DATABASE]: 'shop', STANDIN_FAIL_AT: String(1024 * 1024) }), ['restore']);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: 'restore failed: mongorestore exited with code 1 (last message: Failed: shop.things: error restoring from archive: connection reset)',
    });
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(run.output).not.toContain(PASSWORD);
  });

  test('a reserved restore argument is a configuration error before anything starts', async () => {
    const run = await runRunner(env({ [V.DATABASE]: 'shop' }), ['restore', '--', '--nsTo=other.*']);
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(/^configuration error: restore-tool arguments: '--nsTo=other\.\*' is mongorestore's --nsTo, which the runner sets itself/);
    expect(readRecords(record)).toEqual([]);
  });
});
