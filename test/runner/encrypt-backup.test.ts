/**
 * Encrypted backups (issue #12): the runner encrypts the compressed dump with Debian's `age` CLI
 * to BACKUP_AGE_RECIPIENTS, and the stored object is a standard age file. Interoperability is
 * proved with the real CLI the other way round: `age -d -i <identity>` and `zstd -d` give back
 * exactly the dump, for every recipient (key rotation); a bit-flipped or truncated object fails
 * `age -d`. First with a STAND-IN pg_dump on file:// (exact bytes, failure paths), then with real
 * PostgreSQL and radosgw.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { baseEnv, buildRunner, childPids, isAlive, runRunner, startRunner } from './runner-process';
import { TestBucket, createTestBucket, keyOf } from './s3-helpers';
import { expectedSha256, readRecords, writeStandIns } from './stand-ins';
import { errorLine } from '../../image/src/encrypt';
import { ENCRYPTED_MANIFEST_FORMAT_VERSION, MANIFEST_FORMAT_VERSION, parseManifest } from '../../image/src/manifest';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';
import { PG_BINDIR, postgresRunnerEnv, tableDigests } from '../servers/postgres';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const PG = ENGINE_REGISTRY.postgres.env;

/** Real keys made by the real tools: an age X25519 identity and an OpenSSH ed25519 key. */
interface Keys {
  readonly dir: string;
  readonly ageIdentity: string;
  readonly ageRecipient: string;
  readonly sshIdentity: string;
  readonly sshRecipient: string;
  readonly otherIdentity: string;
}

function makeKeys(): Keys {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'age-keys-'));
  const ageIdentity = path.join(dir, 'key.txt');
  execFileSync('age-keygen', ['-o', ageIdentity], { stdio: 'ignore' });
  const otherIdentity = path.join(dir, 'other.txt');
  execFileSync('age-keygen', ['-o', otherIdentity], { stdio: 'ignore' });
  const sshIdentity = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@example', '-f', sshIdentity]);
  return {
    dir,
    ageIdentity,
    ageRecipient: execFileSync('age-keygen', ['-y', ageIdentity], { encoding: 'utf8' }).trim(),
    sshIdentity,
    sshRecipient: fs.readFileSync(`${sshIdentity}.pub`, 'utf8').trim(),
    otherIdentity,
  };
}

/** `age -d -i identity` on `data`: the plaintext, or the failure (exit code and age's message). */
function ageDecrypt(data: Buffer, identity: string): { ok: true; plain: Buffer } | { ok: false; code: number | null; message: string } {
  const r = spawnSync('age', ['-d', '-i', identity], { input: data, maxBuffer: 256 * MiB });
  if (r.status === 0) return { ok: true, plain: r.stdout };
  return { ok: false, code: r.status, message: errorLine(r.stderr.toString('utf8')) };
}

const zstdDecompress = (b: Buffer) => execFileSync('zstd', ['-d', '-c', '-q'], { input: b, maxBuffer: 256 * MiB });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The header every age v1 file starts with. */
const AGE_HEADER = 'age-encryption.org/v1\n';

describe('encrypted manifests (parseManifest)', () => {
  const base = {
    formatVersion: MANIFEST_FORMAT_VERSION, engine: 'postgres', database: 'd', key: 'k', bytes: 1, sha256: 'a'.repeat(64), compression: 'zstd', format: 'pg_dump-custom',
  };
  const encryption = { format: 'age', recipients: ['age1x'] };

  test('format 2 with encryption is read; format 1 without it still is', () => {
    expect(parseManifest('m', JSON.stringify({ ...base, formatVersion: ENCRYPTED_MANIFEST_FORMAT_VERSION, encryption })).encryption).toEqual(encryption);
    expect(parseManifest('m', JSON.stringify(base)).encryption).toBeUndefined();
  });

  test.each([
    ['format 2 without encryption', { ...base, formatVersion: 2 }, 'encryption is missing; a format-2 manifest describes an encrypted backup'],
    ['format 1 with encryption', { ...base, encryption }, 'formatVersion is 1 but encryption is set'],
    ['another encryption format', { ...base, formatVersion: 2, encryption: { ...encryption, format: 'gpg' } }, 'encryption .format must be one of age, got "gpg"'],
    ['no recipients', { ...base, formatVersion: 2, encryption: { ...encryption, recipients: [] } }, 'encryption .recipients must be a non-empty list, got []'],
    ['a blank recipient', { ...base, formatVersion: 2, encryption: { ...encryption, recipients: ['age1x', ''] } }, 'encryption .recipients [1] must be a non-empty string'],
    ['an unknown format', { ...base, formatVersion: 3, encryption }, 'formatVersion is 3; this runner reads formats 1 and 2 only'],
  ])('%s is refused', (_name, manifest, message) => {
    expect(() => parseManifest('m', JSON.stringify(manifest))).toThrow(message);
  });
});

describeIntegration('encrypted backup to file:// with a stand-in pg_dump and the real age CLI', ['age'], () => {
  let keys: Keys;
  let standIns: string;
  let dest: string;
  let record: string;

  beforeAll(async () => {
    keys = makeKeys();
    standIns = writeStandIns();
    await buildRunner();
  });
  afterAll(() => fs.rmSync(keys.dir, { recursive: true, force: true }));

  beforeEach(() => {
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-enc-'));
    record = `${dest}.record`;
  });
  afterEach(() => {
    fs.rmSync(dest, { recursive: true, force: true });
    fs.rmSync(record, { force: true });
  });

  function env(extra: NodeJS.ProcessEnv = {}, pathPrefix = standIns): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      [ENV.DESTINATION]: `file://${dest}`,
      [ENV.NAME]: 'orders',
      [PG.HOST]: 'db.example',
      [PG.DATABASE]: 'orders',
      [PG.USER]: 'backup',
      // Long and unlike any key: the runner redacts the password wherever it appears in its log.
      [PG.PASSWORD]: 'Stand-in-Secret-7c2e!',
      [ENV.PROGRESS_INTERVAL_MS]: '50',
      [ENV.AGE_RECIPIENTS]: `${keys.ageRecipient}\n${keys.sshRecipient}\n`,
      STANDIN_RECORD: record,
      ...extra,
    }, pathPrefix);
  }

  const files = (): string[] => (fs.existsSync(path.join(dest, 'orders')) ? fs.readdirSync(path.join(dest, 'orders')).sort() : []);
  const dumpCalls = () => readRecords(record).filter(r => r.tool === 'pg_dump');

  test.each([
    ['zstd', '.pgdump.zst.age', zstdDecompress],
    ['gzip', '.pgdump.gz.age', (b: Buffer) => zlib.gunzipSync(b)],
    ['none', '.pgdump.age', (b: Buffer) => b],
  ])('%s: an age file both recipients decrypt to exactly the dump; manifest format 2 with the recipients', async (compression, ext, decompress) => {
    const size = 9 * MiB + 4321;
    const run = await runRunner(env({ [ENV.COMPRESSION]: compression, STANDIN_BYTES: String(size) }));
    expect(run.code).toBe(0);
    const [data, manifestFile] = files();
    expect(files()).toHaveLength(2);
    expect(data.endsWith(ext)).toBe(true);
    expect(manifestFile).toBe(`${data}.manifest.json`);

    const stored = fs.readFileSync(path.join(dest, 'orders', data));
    expect(stored.subarray(0, AGE_HEADER.length).toString('latin1')).toBe(AGE_HEADER);
    // Old and new key both decrypt (rotation), each to the very bytes the dump tool wrote.
    for (const identity of [keys.ageIdentity, keys.sshIdentity]) {
      const out = ageDecrypt(stored, identity);
      if (!out.ok) throw new Error(`age -d -i ${identity} failed: ${out.message}`);
      const raw = decompress(out.plain);
      expect(raw.length).toBe(size);
      expect(sha256(raw)).toBe(expectedSha256(size));
    }
    const wrong = ageDecrypt(stored, keys.otherIdentity);
    expect(wrong).toMatchObject({ ok: false, message: expect.stringMatching(/no identity matched any of the recipients/) });

    const manifest = JSON.parse(fs.readFileSync(path.join(dest, 'orders', manifestFile), 'utf8'));
    expect(manifest).toMatchObject({
      formatVersion: 2,
      key: `orders/${data}`,
      // The stored (encrypted) bytes: integrity checks and `list` need no identity.
      bytes: stored.length,
      sha256: sha256(stored),
      rawBytes: size,
      compression,
      encryption: { format: 'age', recipients: [keys.ageRecipient, keys.sshRecipient] },
    });
    expect(run.last).toMatchObject({ msg: 'backup complete', bytes: stored.length, sha256: sha256(stored) });
    expect(run.lines[0]).toMatchObject({ msg: 'backup starting', encryption: { format: 'age', recipients: [keys.ageRecipient, keys.sshRecipient] } });

    const list = await runRunner(env(), ['list']);
    expect(list.code).toBe(0);
    expect(list.lines.find(l => l.msg === 'backup')).toMatchObject({ encrypted: true, recipients: [keys.ageRecipient, keys.sshRecipient] });
  });

  test('a flipped byte or a truncated stored object fails age -d (every chunk is authenticated)', async () => {
    const run = await runRunner(env({ STANDIN_BYTES: String(3 * MiB) }));
    expect(run.code).toBe(0);
    const stored = fs.readFileSync(path.join(dest, 'orders', files()[0]));
    expect(ageDecrypt(stored, keys.ageIdentity).ok).toBe(true);

    const flipped = Buffer.from(stored);
    flipped[Math.floor(flipped.length / 2)] = 255 - flipped[Math.floor(flipped.length / 2)];
    expect(ageDecrypt(flipped, keys.ageIdentity)).toMatchObject({ ok: false, code: 1 });
    const flippedLast = Buffer.from(stored);
    flippedLast[flippedLast.length - 1] = 255 - flippedLast[flippedLast.length - 1];
    expect(ageDecrypt(flippedLast, keys.ageIdentity)).toMatchObject({ ok: false, code: 1 });
    // Cut inside the last chunk, and exactly at a chunk boundary (64 KiB of plaintext + 16 bytes
    // tag each): age marks the last chunk, so a file cut between chunks fails too.
    expect(ageDecrypt(stored.subarray(0, stored.length - 100), keys.ageIdentity)).toMatchObject({ ok: false, code: 1 });
    const headerEnd = stored.indexOf('\n---') + 1;
    const payloadStart = stored.indexOf('\n', headerEnd) + 1 + 16; // header MAC line, then the 16-byte nonce
    expect(ageDecrypt(stored.subarray(0, payloadStart + 10 * (64 * 1024 + 16)), keys.ageIdentity)).toMatchObject({ ok: false, code: 1 });
  });

  test.each([
    ['blank', '  \n\n', `${ENV.AGE_RECIPIENTS}: no recipient given`],
    ['a private key', 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ', 'age PRIVATE key'],
    // A real recipient with its last character changed: a typo the bech32 checksum catches.
    ['a bad checksum', 'TYPO', `${ENV.AGE_RECIPIENTS} (recipient 2)`],
  ])('BACKUP_AGE_RECIPIENTS %s: exit 2 before anything starts', async (_name, given, message) => {
    const typo = keys.ageRecipient.slice(0, -1) + (keys.ageRecipient.endsWith('q') ? 'p' : 'q');
    const value = given === 'TYPO' ? `${keys.sshRecipient}\n${typo}` : given;
    const run = await runRunner(env({ [ENV.AGE_RECIPIENTS]: value }));
    expect(run.code).toBe(2);
    expect(run.last.msg).toContain(message);
    expect(run.output).not.toContain('AGE-SECRET-KEY-1QQQ');
    expect(readRecords(record)).toEqual([]);
    expect(files()).toEqual([]);
  });

  test('no age on PATH: the preflight fails before the dump starts', async () => {
    // A PATH with node and zstd only (the stand-ins run on node).
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'no-age-bin-'));
    try {
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      fs.symlinkSync(execFileSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).trim(), path.join(bin, 'zstd'));
      const run = await runRunner({ ...env(), PATH: `${standIns}:${bin}` });
      expect(run.code).not.toBe(0);
      expect(run.last.msg).toMatch(/age not found on PATH/);
      expect(dumpCalls()).toEqual([]);
      expect(files()).toEqual([]);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  test('age refusing a recipient at run time fails the backup with its message; nothing stored', async () => {
    // The real age, given one more recipient it rejects (as a newer validator might let through).
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'age-wrapper-'));
    try {
      fs.writeFileSync(path.join(bin, 'age'), '#!/bin/sh\n[ "$1" = --version ] && exec /usr/bin/age --version\nexec /usr/bin/age -r age1notarecipient "$@"\n', { mode: 0o755 });
      const run = await runRunner(env({ STANDIN_BYTES: String(20 * MiB) }, `${bin}:${standIns}`));
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^backup failed: age exited with code 1: malformed recipient "age1notarecipient"/);
      expect(files()).toEqual([]);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  test.each([
    ['while the dump stalls', { STANDIN_BYTES: String(64 * MiB), STANDIN_HANG_AT: String(8 * MiB) }],
    // zstd is writing into age's pipe then, and dies of SIGPIPE a moment later: a consequence.
    ['while data flows', { STANDIN_BYTES: String(4096 * MiB) }],
  ])('age killed mid-stream (%s): the backup fails with that cause, the dump tool is stopped, nothing stored', async (_when, extra) => {
    const run = await startRunner(env(extra));
    const runnerPid = run.child.pid!;
    await run.waitForLine(l => l.msg === 'progress' && (l.bytes as number) > 4 * MiB);
    const [agePid] = childPids(runnerPid, 'age');
    expect(agePid).toBeDefined();
    const [dumpPid] = dumpCalls().map(r => r.pid);
    process.kill(agePid, 'SIGKILL');
    const status = await run.exited;
    expect(status.code).toBe(1);
    const last = run.lines[run.lines.length - 1];
    expect(last.msg).toBe('backup failed: age was killed by SIGKILL');
    expect(last).toMatchObject({ cleanup: expect.stringMatching(/^verified/) });
    expect(isAlive(dumpPid)).toBe(false);
    expect(childPids(runnerPid)).toEqual([]);
    expect(files()).toEqual([]);
  });
});

describeIntegration('encrypted backup: real PostgreSQL → radosgw, decrypted with the age CLI', ['postgres', 's3', 'age'], () => {
  let keys: Keys;
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let source: string;
  let scratch: string;

  beforeAll(async () => {
    keys = makeKeys();
    pg = requirePostgres();
    b = await createTestBucket('enc');
    source = uniqueName('encsrc').replace(/-/g, '_');
    await pg.createDatabase(source);
    await pg.psql(`CREATE TABLE t (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO t SELECT g, md5(g::text) || md5(random()::text) FROM generate_series(1, 200000) g;`, source);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'enc-s3-'));
    await buildRunner();
  });
  afterAll(() => {
    b?.s3.destroy();
    fs.rmSync(keys.dir, { recursive: true, force: true });
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('the stored object decrypts with either identity and pg_restore reads it into identical rows', async () => {
    const run = await runRunner(baseEnv({
      [ENV.ENGINE]: 'postgres',
      ...b.runnerEnv('prod'),
      [ENV.NAME]: 'orders',
      ...postgresRunnerEnv(pg, source),
      [ENV.AGE_RECIPIENTS]: `${keys.sshRecipient}\n${keys.ageRecipient}`,
    }));
    expect(run.code).toBe(0);
    const key = keyOf(run.lines);
    expect(key).toMatch(/^prod\/orders\/\d{8}T\d{6}Z-[0-9a-f]{8}\.pgdump\.zst\.age$/);
    const file = path.join(scratch, 'backup.age');
    await b.download(key, file);
    const stored = fs.readFileSync(file);
    const manifestFile = path.join(scratch, 'manifest.json');
    await b.download(`${key}.manifest.json`, manifestFile);
    const manifest = parseManifest(key, fs.readFileSync(manifestFile, 'utf8'));
    expect(manifest).toMatchObject({ formatVersion: 2, bytes: stored.length, sha256: sha256(stored), encryption: { format: 'age', recipients: [keys.sshRecipient, keys.ageRecipient] } });

    const plains = [keys.ageIdentity, keys.sshIdentity].map(identity => {
      const out = ageDecrypt(stored, identity);
      if (!out.ok) throw new Error(`age -d failed: ${out.message}`);
      return zstdDecompress(out.plain);
    });
    expect(plains[0].equals(plains[1])).toBe(true);
    expect(plains[0].length).toBe(manifest.rawBytes);
    // A pg_dump custom archive ("PGDMP"), which pg_restore reads into a new database.
    expect(plains[0].subarray(0, 5).toString('latin1')).toBe('PGDMP');
    const target = uniqueName('encrestored').replace(/-/g, '_');
    await pg.createDatabase(target);
    const restore = spawnSync(path.join(PG_BINDIR, 'pg_restore'), [
      '--host', pg.socketDir, '--port', String(pg.port), '--username', pg.superuser, '--dbname', target, '--no-owner', '--exit-on-error',
    ], { input: plains[0], maxBuffer: 16 * MiB });
    expect(restore.stderr.toString()).toBe('');
    expect(restore.status).toBe(0);
    expect(await tableDigests(pg, target, ['t'])).toEqual(await tableDigests(pg, source, ['t']));
  });
});
