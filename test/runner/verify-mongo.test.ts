/**
 * `verify` with BACKUP_ENGINE=mongo, with STAND-INS for every Mongo tool and for mongod
 * (stand-ins.ts): no MongoDB server or MongoDB Database Tools can be installed on these machines
 * (DESIGN.md). The stand-ins model what the runner relies on, as mongo-tools 100.10 behaves (read
 * from its source): mongorestore's namespace options and the lines it prints per collection,
 * mongoexport's --skip/--limit/--assertExists, mongoimport --drop, the private config file. The
 * stand-in mongod is a JSON file of document counts per collection. What these tests cannot show:
 * that a real mongod accepts the archive, builds its indexes, and counts what mongorestore says;
 * that needs a real run (README: "MongoDB verification").
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { readRecords, writeStandIns } from './stand-ins';
import { mongoModule, MongoRestoreReport, mongoVerifyDatabase, uriDatabase } from '../../image/src/engines/mongo';
import { Logger } from '../../image/src/log';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';

jest.setTimeout(60_000);

const V = ENGINE_REGISTRY.mongo.env;

const SOURCE_PASSWORD = 's0urce"P@ss';
const SOURCE_URI = `mongodb://backup:${encodeURIComponent(SOURCE_PASSWORD)}@mongo-0.mongo:27017/?authSource=admin`;
/** What MongoVerifyCronJob gives the runner: the throwaway mongod beside it. */
const SIDECAR_URI = 'mongodb://127.0.0.1:27017';

let standIns: string;
let dest: string;
let record: string;
let tmp: string;
/** The stand-in mongod's state: { database: { collection: documents } }. */
let server: string;

beforeAll(async () => {
  standIns = writeStandIns();
  await buildRunner();
});

beforeEach(() => {
  dest = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mongo-dest-'));
  record = `${dest}.record`;
  server = `${dest}.server.json`;
  // The runner's TMPDIR: where the private config files go, checked empty afterwards.
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mongo-tmp-'));
});

afterEach(() => {
  for (const p of [dest, record, tmp, server]) fs.rmSync(p, { recursive: true, force: true });
});

const serverState = (): Record<string, Record<string, number>> => JSON.parse(fs.readFileSync(server, 'utf8'));

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv({
    [ENV.ENGINE]: 'mongo',
    [ENV.DESTINATION]: `file://${dest}`,
    [ENV.NAME]: 'shop',
    STANDIN_RECORD: record,
    STANDIN_MONGO_SERVER: server,
    TMPDIR: tmp,
    ...extra,
  }, standIns);
}

/** A backup made by the runner with the stand-in mongodump, of an archive holding `namespaces`. */
async function backup(namespaces: Record<string, number>, database: string | null = 'shop'): Promise<string> {
  const run = await runRunner(env({
    [V.URI]: SOURCE_URI,
    STANDIN_EXPECT_URI: SOURCE_URI,
    STANDIN_BYTES: String(256 * 1024),
    STANDIN_MONGO_ARCHIVE: JSON.stringify(namespaces),
    ...(database ? { [V.DATABASE]: database } : {}),
  }));
  expect(run.code).toBe(0);
  fs.rmSync(record, { force: true });
  return run.last.key as string;
}

/** Verifies the latest backup on the stand-in sidecar (up unless told otherwise). */
async function verify(assertions: unknown[] = [], extra: NodeJS.ProcessEnv = {}, up = true) {
  if (up && !fs.existsSync(server)) fs.writeFileSync(server, '{}');
  return runRunner(env({
    [V.URI]: SIDECAR_URI,
    STANDIN_EXPECT_URI: SIDECAR_URI,
    ...(assertions.length ? { [ENV.VERIFY_ASSERTIONS]: JSON.stringify(assertions) } : {}),
    ...extra,
  }), ['verify', 'latest']);
}

const checks = (run: { lines: Array<Record<string, unknown>> }) => run.lines.filter(l => l.msg === 'check').map(l => [l.check, l.passed, l.detail]);
const idOf = (key: string) => path.basename(key).replace(/\.archive\.zst$/, '');

describe('verify with stand-in mongorestore, mongoexport, mongoimport and mongod', () => {
  test('a good backup: restored into verify_<id>, collections and documents counted, minDocuments read back, result stored, database dropped', async () => {
    const key = await backup({ 'shop.orders': 120, 'shop.customers': 7, 'shop.audit': 0 });
    const id = idOf(key);
    const database = mongoVerifyDatabase(id);
    const run = await verify([
      { type: 'minDocuments', collection: 'orders', min: 120 },
      { type: 'minDocuments', collection: 'customers', min: 1 },
    ]);
    expect(run.code).toBe(0);
    const contents = { objectUnit: 'collections', objects: 3, itemUnit: 'documents', items: 127 };
    expect(run.last).toMatchObject({ level: 'info', msg: 'verify passed', id, target: database, contents });
    expect(checks(run)).toEqual([
      ['restore', true, expect.stringMatching(/^restored \d+ bytes in \d+\.\d s$/)],
      ['contents', true, 'restored 3 collections (127 documents)'],
      ['minDocuments(orders, 120)', true, 'orders has at least 120 documents (mongorestore restored 120)'],
      ['minDocuments(customers, 1)', true, 'customers has at least 1 document (mongorestore restored 7)'],
    ]);

    const records = readRecords(record);
    const [restore] = records.filter(r => r.tool === 'mongorestore');
    expect(restore.argv).toEqual([
      '--archive', `--config=${restore.config!.path}`,
      '--nsInclude=shop.*', '--nsFrom=shop.*', `--nsTo=${database}.*`, '--drop', '--stopOnError',
    ]);
    // The read-back: the 120th document exists (119 skipped), and the collection must exist.
    const exports = records.filter(r => r.tool === 'mongoexport').map(r => r.argv.slice(1));
    expect(exports).toContainEqual([`--db=${database}`, '--collection=orders', '--assertExists', '--skip=119', '--limit=1', '--fields=_id']);
    // Every tool read the URI from a private config file only.
    for (const r of records) {
      expect(r.config).toMatchObject({ mode: 0o600, dirMode: 0o700 });
      expect(r.envNames).not.toContain(V.URI);
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
    // Cleanup dropped every collection, so the database is gone.
    expect(records.filter(r => r.tool === 'mongoimport').map(r => r.argv.slice(1))).toEqual(
      ['orders', 'customers', 'audit'].map(c => [`--db=${database}`, `--collection=${c}`, '--drop']));
    expect(serverState()).toEqual({});

    const result = JSON.parse(fs.readFileSync(path.join(dest, 'shop', `${path.basename(key)}.verify.json`), 'utf8'));
    expect(result).toMatchObject({ backupId: id, engine: 'mongo', passed: true, contents, target: database });
    expect(result.restore.durationSeconds).toBe(run.last.restoreDurationSeconds);
    for (const secret of [SOURCE_PASSWORD, encodeURIComponent(SOURCE_PASSWORD)]) expect(run.output).not.toContain(secret);
  });

  test('failing assertions name themselves and what they found; the database is dropped all the same', async () => {
    await backup({ 'shop.orders': 3 });
    const run = await verify([
      { type: 'minDocuments', collection: 'orders', min: 4 },
      { type: 'minDocuments', collection: 'gone', min: 1 },
    ]);
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({
      level: 'error',
      msg: 'verify failed: minDocuments(orders, 4): orders has 3 documents; at least 4 required; minDocuments(gone, 1): gone does not exist in the restored database',
    });
    expect(serverState()).toEqual({});
  });

  test('the read-back decides, not mongorestore\'s count: a collection holding fewer than reported fails', async () => {
    await backup({ 'shop.orders': 10 });
    // The stand-in mongod loses documents after the restore (what a real count would catch).
    const lose = `${tmp}.lose.js`;
    fs.writeFileSync(lose, `const fs = require('fs'); const f = process.env.STANDIN_MONGO_SERVER;
      const s = JSON.parse(fs.readFileSync(f, 'utf8')); for (const db of Object.keys(s)) if (s[db].orders) s[db].orders = 5; fs.writeFileSync(f, JSON.stringify(s));`);
    const wrapper = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mongo-wrap-'));
    try {
      // A mongoexport that first takes documents away, then is the stand-in.
      fs.writeFileSync(path.join(wrapper, 'mongoexport'), `#!/bin/sh\n${process.execPath} ${lose}\nexec ${path.join(standIns, 'mongoexport')} "$@"\n`, { mode: 0o755 });
      const run = await verify([{ type: 'minDocuments', collection: 'orders', min: 6 }], { PATH: `${wrapper}:${standIns}:${process.env.PATH}` });
      expect(run.code).toBe(1);
      expect(run.last.msg).toBe('verify failed: minDocuments(orders, 6): orders has fewer than 6 documents (mongorestore restored 10)');
    } finally {
      fs.rmSync(wrapper, { recursive: true, force: true });
      fs.rmSync(lose, { force: true });
    }
  });

  test('an archive that holds no collection fails: a verification that restores nothing fails', async () => {
    await backup({});
    const run = await verify();
    expect(run.code).toBe(1);
    expect(run.last).toMatchObject({
      level: 'error', msg: 'verify failed: contents: restored nothing: 0 collections (0 documents); a verification that restores nothing fails',
    });
    expect(checks(run)[0]).toEqual(['restore', true, expect.any(String)]);
    expect(readRecords(record).filter(r => r.tool === 'mongoimport')).toEqual([]);
  });

  test('a whole-server backup: every user database restored into the one verify database as <database>.<collection>; admin, config, local left out', async () => {
    const key = await backup({ 'shop.orders': 4, 'crm.people': 2, 'admin.system.version': 1, 'config.system.sessions': 3, 'local.startup_log': 1 }, null);
    const database = mongoVerifyDatabase(idOf(key));
    let state: Record<string, Record<string, number>> | undefined;
    // Look at the server before the cleanup: a mongoimport wrapper copies the state on its first call.
    const wrapper = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mongo-wrap-'));
    const copy = `${tmp}.state.json`;
    try {
      fs.writeFileSync(path.join(wrapper, 'mongoimport'), `#!/bin/sh\n[ -e ${copy} ] || cp "$STANDIN_MONGO_SERVER" ${copy}\nexec ${path.join(standIns, 'mongoimport')} "$@"\n`, { mode: 0o755 });
      const run = await verify([{ type: 'minDocuments', collection: 'shop.orders', min: 4 }], { PATH: `${wrapper}:${standIns}:${process.env.PATH}` });
      expect(run.last.msg).toBe('verify passed');
      expect(run.code).toBe(0);
      expect(run.last.contents).toEqual({ objectUnit: 'collections', objects: 2, itemUnit: 'documents', items: 6 });
      state = JSON.parse(fs.readFileSync(copy, 'utf8'));
    } finally {
      fs.rmSync(wrapper, { recursive: true, force: true });
      fs.rmSync(copy, { force: true });
    }
    expect(state).toEqual({ [database]: { 'shop.orders': 4, 'crm.people': 2 } });
    const [restore] = readRecords(record).filter(r => r.tool === 'mongorestore');
    expect(restore.argv.slice(2)).toEqual([
      '--nsExclude=admin.*', '--nsExclude=config.*', '--nsExclude=local.*', '--nsFrom=*.*', `--nsTo=${database}.*.*`, '--drop', '--stopOnError',
    ]);
    expect(serverState()).toEqual({});
  });

  test('a document the server refuses fails the restore with mongorestore\'s own line (--stopOnError); what it created is dropped', async () => {
    await backup({ 'shop.orders': 5 });
    const run = await verify([], { STANDIN_MONGO_REFUSE: JSON.stringify({ 'shop.orders': 1 }) });
    expect(run.code).toBe(1);
    expect(run.last.msg).toMatch(/^verify failed: restore: mongorestore exited with code 1 \(error: \S+\tFailed: verify_\w+\.orders: error restoring from archive on stdin: E11000 duplicate key error/);
    expect(serverState()).toEqual({});
  });

  test('namespaces quoted in backquotes (mongorestore after 100.10) are read the same', async () => {
    await backup({ 'shop.orders': 2 });
    const run = await verify([{ type: 'minDocuments', collection: 'orders', min: 2 }], { STANDIN_MONGO_QUOTE: '1' });
    expect(run.code).toBe(0);
    expect(run.last.contents).toEqual({ objectUnit: 'collections', objects: 1, itemUnit: 'documents', items: 2 });
    expect(serverState()).toEqual({});
  });

  test('a server that comes up late is waited for', async () => {
    await backup({ 'shop.orders': 1 });
    const started = Date.now();
    const timer = setTimeout(() => fs.writeFileSync(server, '{}'), 2_500);
    try {
      const run = await verify([], {}, false);
      expect(run.code).toBe(0);
      expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'waiting for the verify server', reason: expect.stringContaining("can't create session") }));
      expect(Date.now() - started).toBeGreaterThan(2_500);
    } finally {
      clearTimeout(timer);
    }
  });

  test('a collection that cannot be dropped is a warning, not a failure', async () => {
    await backup({ 'shop.orders': 1, 'shop.keep': 1 });
    const run = await verify([], { STANDIN_MONGO_DROP_FAIL: 'keep' });
    expect(run.code).toBe(0);
    expect(run.lines).toContainEqual(expect.objectContaining({
      level: 'warn', msg: expect.stringMatching(/^could not drop 1 of the 2 collections of verify_\w+: keep: \(Unauthorized\) not authorized/),
    }));
  });

  test('a connection string that names a database is a configuration error before any byte moves', async () => {
    await backup({ 'shop.orders': 1 });
    const run = await verify([], { [V.URI]: `${SIDECAR_URI}/admin`, STANDIN_EXPECT_URI: `${SIDECAR_URI}/admin` });
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(/^configuration error: BACKUP_MONGO_URI: for verify the connection string must name no database after its hosts/);
    expect(run.output).not.toContain(`${SIDECAR_URI}/admin`);
    expect(readRecords(record)).toEqual([]);
  });

  test('an assertion MongoDB cannot check is refused before any byte moves', async () => {
    await backup({ 'shop.orders': 1 });
    const run = await verify([{ type: 'minRows', table: 'orders', min: 1 }]);
    expect(run.code).toBe(2);
    expect(run.last.msg).toContain("'minRows' is not an assertion MongoDB can check; use 'minDocuments'");
    expect(readRecords(record)).toEqual([]);
  });

  test.each(['mongoexport', 'mongoimport'])('the stand-in %s really rejects a URI in argv and a readable config file (so the tests can fail)', tool => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cfg-'));
    fs.chmodSync(dir, 0o700);
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, `uri: ${JSON.stringify(SIDECAR_URI)}\n`, { mode: 0o644 });
    const stderr = (args: string[]) => String(spawnSync(path.join(standIns, tool), args, {
      env: { ...process.env, STANDIN_EXPECT_URI: SIDECAR_URI },
    }).stderr);
    expect(stderr([`--uri=${SIDECAR_URI}`])).toContain('connection string found in argv');
    expect(stderr([`--config=${file}`])).toContain('config file mode is 644');
  });
});

describe('the Mongo verify pieces, in process', () => {
  test('mongorestore\'s lines as mongo-tools 100.10 prints them (and later releases, quoted) give the counts', () => {
    const report = new MongoRestoreReport('verify_x');
    for (const line of [
      '2026-03-01T00:00:00.000+0000\tpreparing collections to restore from',
      '2026-03-01T00:00:00.000+0000\treading metadata for verify_x.orders from archive on stdin',
      '2026-03-01T00:00:00.000+0000\trestoring verify_x.orders from archive on stdin',
      '2026-03-01T00:00:00.000+0000\trestoring indexes for collection verify_x.orders from metadata',
      '2026-03-01T00:00:00.000+0000\tfinished restoring verify_x.orders (1 document, 0 failures)',
      '2026-03-01T00:00:00.000+0000\treading metadata for `verify_x.a b` from `archive on stdin`',
      '2026-03-01T00:00:00.000+0000\tfinished restoring `verify_x.a b` (12 documents, 2 failures)',
      '2026-03-01T00:00:00.000+0000\tfinished restoring other.things (5 documents, 0 failures)',
      '2026-03-01T00:00:00.000+0000\trestoring verify_x.half from archive on stdin',
      '2026-03-01T00:00:00.000+0000\t13 document(s) restored successfully. 2 document(s) failed to restore.',
    ]) report.read(line);
    expect(report.finished).toEqual([
      { name: 'orders', documents: 1, failures: 0 },
      { name: 'a b', documents: 12, failures: 2 },
    ]);
    expect(report.touched).toEqual(['orders', 'a b', 'half']);
    expect(report.totals).toEqual({ documents: 13, failures: 2 });
    expect(report.documents('a b')).toBe(12);
    expect(report.documents('half')).toBeUndefined();
  });

  test('the verify database name and the database a URI names', () => {
    expect(mongoVerifyDatabase('20261202T000312Z-0d6146a8')).toBe('verify_20261202t000312z_0d6146a8');
    expect(uriDatabase('mongodb://127.0.0.1:27017')).toBe('');
    expect(uriDatabase('mongodb://u:p%2Fw@h1:1,h2:2/?authSource=admin')).toBe('');
    expect(uriDatabase('mongodb://u:p@h/shop?tls=true')).toBe('shop');
    expect(uriDatabase('mongodb+srv://c.example.net/a%20b')).toBe('a b');
  });

  test('a server that never comes up: prepare gives up after serverWaitMs with the tool\'s reason', async () => {
    const e = { PATH: `${standIns}:${process.env.PATH}`, [V.URI]: SIDECAR_URI, STANDIN_EXPECT_URI: SIDECAR_URI, STANDIN_MONGO_SERVER: server, TMPDIR: tmp };
    const engine = mongoModule.create(mongoModule.readSettings(e), e);
    const lines: string[] = [];
    const started = Date.now();
    await expect(engine.verify!.prepare('20261202T000312Z-0d6146a8', {
      serverWaitMs: 1_500, signal: new AbortController().signal, log: new Logger(e, l => lines.push(l)),
    })).rejects.toThrow(/^the verify server did not accept connections within 2 s: can't create session: failed to connect/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(lines.map(l => JSON.parse(l).msg)).toEqual(['waiting for the verify server']);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
