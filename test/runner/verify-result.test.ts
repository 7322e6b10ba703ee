/**
 * The verification result (`<backup key>.verify.json`): its schema and key, storing it without
 * touching anything else, and how catalog, list, prune and check treat it, on a real file://
 * storage in a temporary directory (no servers). The assertions a verify run reads from its
 * variables. The PostgreSQL verify itself runs against real servers in verify-postgres.test.ts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { readCatalog } from '../../image/src/catalog';
import { runCheck } from '../../image/src/check';
import { VerifyConfig, loadRunConfig } from '../../image/src/config';
import { ConfigError } from '../../image/src/errors';
import { MANIFEST_SUFFIX } from '../../image/src/key';
import { runList } from '../../image/src/list';
import { Logger } from '../../image/src/log';
import { Manifest } from '../../image/src/manifest';
import { runPrune } from '../../image/src/prune';
import { createStorage } from '../../image/src/storage';
import { Storage } from '../../image/src/storage/storage';
import { describeContents, readVerifyAssertions } from '../../image/src/verify';
import {
  VERIFY_RESULT_SCHEMA, VerifyResultDocument, VerifyResultError, parseVerifyResult, readVerifyResult, verifyResultKey, writeVerifyResult,
} from '../../image/src/verify-result';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { RuleError } from '../../lib/rules';

const signal = new AbortController().signal;
const KEY = 'orders/20260101T000000Z-0a1b2c3d.pgdump.zst';

function resultFor(key: string, overrides: Partial<VerifyResultDocument> = {}): VerifyResultDocument {
  return {
    formatVersion: 1,
    backupId: path.basename(key).split('.')[0],
    key,
    engine: 'postgres',
    verifiedAt: '2026-01-01T00:10:00.000Z',
    passed: true,
    checks: [
      { check: 'restore', passed: true, detail: 'restored 123 bytes in 1.5 s' },
      { check: 'contents', passed: true, detail: 'restored 2 tables (20500 rows)' },
    ],
    restore: { durationSeconds: 1.5, bytes: 123, rawBytes: 456 },
    contents: { objectUnit: 'tables', objects: 2, itemUnit: 'rows', items: 20500 },
    server: { version: '15.14' },
    target: 'verify_20260101t000000z_0a1b2c3d',
    runner: { version: '0.0.0' },
    ...overrides,
  };
}

describe('the result document', () => {
  test('its key is the backup key + .verify.json; a stored document reads back as written', () => {
    expect(verifyResultKey(KEY)).toBe(`${KEY}.verify.json`);
    const doc = resultFor(KEY);
    expect(parseVerifyResult(verifyResultKey(KEY), JSON.stringify(doc))).toEqual(doc);
    // A failed restore: no duration, no contents, no server.
    const failed = resultFor(KEY, { passed: false, restore: { durationSeconds: null, bytes: 123, rawBytes: null }, contents: null, server: null });
    expect(parseVerifyResult(verifyResultKey(KEY), JSON.stringify(failed))).toEqual(failed);
  });

  test('the schema names every field of the document', () => {
    expect(Object.keys(VERIFY_RESULT_SCHEMA).sort()).toEqual(Object.keys(resultFor(KEY)).sort());
  });

  test.each<[string, unknown, RegExp]>([
    ['not JSON', '{', /is not valid: it is not JSON/],
    ['an array', '[]', /it must be a JSON object, got an array/],
    ['a newer format', { ...resultFor(KEY), formatVersion: 2, passed: 'x' }, /formatVersion is 2; this runner reads format 1 only[^;]*$/],
    ['passed missing', { ...resultFor(KEY), passed: undefined }, /passed is missing/],
    ['a check without detail', { ...resultFor(KEY), checks: [{ check: 'restore', passed: true }] }, /checks \[0\]\.detail must be a string/],
    ['a negative count', { ...resultFor(KEY), contents: { objectUnit: 'tables', objects: -1 } }, /contents \.objects must be a whole number, got -1 or null/],
    ['another backup', resultFor('orders/20260101T000000Z-ffffffff.pgdump.zst'), /its key is 'orders\/20260101T000000Z-ffffffff.pgdump.zst', not that of the backup/],
    ['an unknown engine', { ...resultFor(KEY), engine: 'oracle' }, /engine must be one of postgres, mongo, mysql, redis/],
  ])('%s is refused, naming what is wrong', (_what, value, message) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    expect(() => parseVerifyResult(verifyResultKey(KEY), text)).toThrow(VerifyResultError);
    expect(() => parseVerifyResult(verifyResultKey(KEY), text)).toThrow(message);
  });

  test('contents in words: a restore that left nothing says why it fails', () => {
    expect(describeContents({ objectUnit: 'tables', objects: 2, itemUnit: 'rows', items: 20500 })).toBe('restored 2 tables (20500 rows)');
    expect(describeContents({ objectUnit: 'keys', objects: 0 })).toBe('restored nothing: 0 keys; a verification that restores nothing fails');
  });
});

describe('verify assertions from the variables', () => {
  test('BACKUP_VERIFY_SQL becomes an sql assertion, before BACKUP_VERIFY_ASSERTIONS', () => {
    const env = {
      [ENV.VERIFY_SQL]: 'SELECT true',
      [ENV.VERIFY_ASSERTIONS]: JSON.stringify([{ type: 'minRows', table: 'orders', min: 3 }, { type: 'tablesExist', tables: ['a', 'b'] }]),
    };
    expect(readVerifyAssertions(env, 'postgres')).toEqual([
      { type: 'sql', query: 'SELECT true' }, { type: 'minRows', table: 'orders', min: 3 }, { type: 'tablesExist', tables: ['a', 'b'] },
    ]);
    expect(readVerifyAssertions({ [ENV.VERIFY_SQL]: '  ' }, 'postgres')).toEqual([]);
    expect(readVerifyAssertions({}, 'redis')).toEqual([]);
  });

  test('an engine without SQL refuses BACKUP_VERIFY_SQL, naming the variable and the fix', () => {
    const err = (() => {
      try {
        readVerifyAssertions({ [ENV.VERIFY_SQL]: 'SELECT 1' }, 'redis');
      } catch (e) {
        return e as Error;
      }
      throw new Error('not refused');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe("BACKUP_VERIFY_SQL: Redis has no SQL to check; remove it, and use BACKUP_VERIFY_ASSERTIONS with 'minKeys', 'keysExist' instead.");
  });

  test('assertions of another engine, or not JSON, are refused naming BACKUP_VERIFY_ASSERTIONS', () => {
    expect(() => readVerifyAssertions({ [ENV.VERIFY_ASSERTIONS]: '[{"type":"minKeys","min":1}]' }, 'postgres'))
      .toThrow(/^BACKUP_VERIFY_ASSERTIONS\[0\]: 'minKeys' is not an assertion PostgreSQL can check/);
    expect(() => readVerifyAssertions({ [ENV.VERIFY_ASSERTIONS]: 'orders' }, 'postgres')).toThrow(RuleError);
  });

  test('loadRunConfig: verify gets an engine with the verify capability and the assertions', () => {
    const env = {
      [ENV.DESTINATION]: 'file:///backup',
      [ENV.NAME]: 'orders',
      [ENV.ENGINE]: 'postgres',
      [ENGINE_REGISTRY.postgres.env.DATABASE]: 'postgres',
      [ENV.VERIFY_ASSERTIONS]: '[{"type":"minRows","table":"orders","min":1}]',
    };
    const config = loadRunConfig(['verify', 'latest'], env) as VerifyConfig;
    expect(config.engine.verify).toBeDefined();
    expect(config.assertions).toEqual([{ type: 'minRows', table: 'orders', min: 1 }]);
    expect(() => loadRunConfig(['verify'], { ...env, [ENV.VERIFY_ASSERTIONS]: '{}' })).toThrow(/^BACKUP_VERIFY_ASSERTIONS: must be a JSON array/);
  });
});

describe('results on a file:// series', () => {
  let dir: string;
  let storage: Storage;
  let prefix: string;
  let lines: Array<Record<string, any>>;
  let log: Logger;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-result-'));
    storage = createStorage({ kind: 'file', dir });
    prefix = storage.seriesPrefix('orders');
    lines = [];
    log = new Logger({}, l => lines.push(JSON.parse(l)));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const put = (key: string, text: string | Buffer) => storage.put(key, Readable.from([Buffer.from(text)]), {}, signal);

  /** A complete backup (data + manifest) with id `id`; resolves with its data key. */
  async function backup(id: string): Promise<string> {
    const key = `${prefix}${id}.pgdump`;
    const data = Buffer.from(`data of ${id}`);
    await put(key, data);
    const manifest: Manifest = {
      formatVersion: 1,
      engine: 'postgres',
      database: 'orders',
      key,
      bytes: data.length,
      rawBytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      compression: 'none',
      format: ENGINE_REGISTRY.postgres.format,
      tool: { name: 'pg_dump', version: '15' },
      server: { version: '15' },
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: new Date().toISOString(),
      durationSeconds: 1,
      runner: { version: '0' },
    };
    await put(key + MANIFEST_SUFFIX, JSON.stringify(manifest));
    return key;
  }

  /** Every file under the series with its bytes and mtime. */
  function snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of fs.readdirSync(path.join(dir, prefix))) {
      const p = path.join(dir, prefix, f);
      out[f] = `${fs.readFileSync(p).toString('base64')} ${fs.statSync(p).mtimeMs}`;
    }
    return out;
  }

  test('writing a result never touches the backup or its manifest; a second one replaces the first', async () => {
    const key = await backup('20260101T000000Z-0a1b2c3d');
    const before = snapshot();
    const resultKey = await writeVerifyResult(storage, resultFor(key), signal);
    expect(resultKey).toBe(`${key}.verify.json`);
    const after = snapshot();
    expect(Object.keys(after).sort()).toEqual([...Object.keys(before), path.basename(resultKey)].sort());
    for (const f of Object.keys(before)) expect(after[f]).toBe(before[f]);
    await writeVerifyResult(storage, resultFor(key, { passed: false, verifiedAt: '2026-01-02T00:00:00.000Z' }), signal);
    expect(await readVerifyResult(storage, resultKey, signal)).toMatchObject({ passed: false, verifiedAt: '2026-01-02T00:00:00.000Z' });
    for (const f of Object.keys(before)) expect(snapshot()[f]).toBe(before[f]);
  });

  test('catalog: a result is never a backup nor data without a manifest; one whose backup is gone is an orphan', async () => {
    const a = await backup('20260101T000000Z-0a1b2c3d');
    const b = await backup('20260102T000000Z-0a1b2c3e');
    await writeVerifyResult(storage, resultFor(a), signal);
    // b's manifest is gone (an interrupted prune): b is data without a manifest, its result an orphan.
    await writeVerifyResult(storage, resultFor(b), signal);
    await storage.delete(b + MANIFEST_SUFFIX, signal);
    // c is gone entirely.
    const c = `${prefix}20251231T000000Z-0a1b2c3f.pgdump`;
    await put(verifyResultKey(c), JSON.stringify(resultFor(c)));

    const catalog = await readCatalog(storage, prefix, signal);
    expect(catalog.backups.map(e => [e.key, e.verifyResultKey])).toEqual([[a, verifyResultKey(a)]]);
    expect(catalog.leftovers.map(l => [l.kind, l.key])).toEqual([['data-without-manifest', b]]);
    expect(catalog.orphanedVerifyResults.map(o => o.key).sort()).toEqual([verifyResultKey(b), verifyResultKey(c)].sort());
  });

  test('list shows each backup\'s latest verification, or null; an unreadable one is a warning', async () => {
    const a = await backup('20260101T000000Z-0a1b2c3d');
    const b = await backup('20260102T000000Z-0a1b2c3e');
    const c = await backup('20260103T000000Z-0a1b2c3f');
    const failedRestore = { durationSeconds: null, bytes: 1, rawBytes: null };
    await writeVerifyResult(storage, resultFor(a, { passed: false, restore: failedRestore, contents: null }), signal);
    await writeVerifyResult(storage, resultFor(b), signal);
    await put(verifyResultKey(c), '{"formatVersion":1}');
    const r = await runList(storage, prefix, log, signal);
    expect(r).toEqual({ backups: 3, incomplete: 0, damaged: 0 });
    const listed = Object.fromEntries(lines.filter(l => l.msg === 'backup').map(l => [l.key, l.verified]));
    expect(listed).toEqual({
      [a]: { at: '2026-01-01T00:10:00.000Z', passed: false, restoreDurationSeconds: null, contents: null },
      [b]: { at: '2026-01-01T00:10:00.000Z', passed: true, restoreDurationSeconds: 1.5, contents: { objectUnit: 'tables', objects: 2, itemUnit: 'rows', items: 20500 } },
      [c]: null,
    });
    expect(lines.find(l => l.level === 'warn')).toMatchObject({ msg: expect.stringMatching(/^unreadable verification result: verification result .* is not valid: backupId is missing/), key: verifyResultKey(c) });
  });

  test('prune deletes a backup\'s result after its manifest and data, and orphaned results whatever their age', async () => {
    const old = await backup('20260101T000000Z-0a1b2c3d');
    await new Promise(r => setTimeout(r, 20));
    const kept = await backup('20260102T000000Z-0a1b2c3e');
    await writeVerifyResult(storage, resultFor(old), signal);
    await writeVerifyResult(storage, resultFor(kept), signal);
    const gone = `${prefix}20251231T000000Z-0a1b2c3f.pgdump`;
    await put(verifyResultKey(gone), JSON.stringify(resultFor(gone)));
    const deleted: string[] = [];
    const recording: Storage = Object.create(storage);
    recording.delete = (k, s) => {
      deleted.push(k);
      return storage.delete(k, s);
    };

    const r = await runPrune({ storage: recording, prefix, policy: { keepLast: 1 }, incompleteMinAgeMs: 3_600_000, log, signal });
    expect(r).toMatchObject({ kept: 1, removed: 1, orphanedVerifyResultsRemoved: 1, failures: 0 });
    expect(deleted).toEqual([old + MANIFEST_SUFFIX, old, verifyResultKey(old), verifyResultKey(gone)]);
    const left = [kept, kept + MANIFEST_SUFFIX, verifyResultKey(kept)].map(k => path.basename(k));
    expect(Object.keys(snapshot()).sort()).toEqual(left.sort());
  });

  test('check passes with results stored, and counts an orphaned result as a leftover, not a problem', async () => {
    const a = await backup('20260101T000000Z-0a1b2c3d');
    await writeVerifyResult(storage, resultFor(a), signal);
    const gone = `${prefix}20251231T000000Z-0a1b2c3f.pgdump`;
    await put(verifyResultKey(gone), JSON.stringify(resultFor(gone)));
    const settings = { readData: true };
    const r = await runCheck({ storage, prefix, settings, incompleteMinAgeMs: 3_600_000, log, signal, progressIntervalMs: 10_000 });
    expect(r).toMatchObject({ passed: true, problems: [], soundBackups: 1, damagedBackups: 0, inProgress: 0, leftovers: 1 });
  });
});
