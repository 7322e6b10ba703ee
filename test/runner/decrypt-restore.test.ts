/**
 * Restore and verify of age-encrypted backups (issue #12) against real PostgreSQL 15 and radosgw,
 * the runner as a real process, the keys made by the real `age-keygen` and `ssh-keygen`: an
 * encrypted round trip with each recipient's identity (key rotation) and with an SSH identity; a
 * missing, wrong, unreadable, empty or malformed identity fails before the target database sees a
 * byte (no restore tool runs, no table appears); a bit-flipped or truncated ciphertext fails the
 * runner's sha256 check, and with a manifest rewritten to match the tampered bytes it fails in age
 * (which authenticates every 64 KiB chunk) and the target is left without tables; verify decrypts
 * too.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket } from './s3-helpers';
import { backupIdOf } from '../../image/src/key';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';
import { postgresRunnerEnv, quoteIdent, tableDigests } from '../servers/postgres';

jest.setTimeout(180_000);

const TABLES = ['items', 'kinds'];
const PGV = ENGINE_REGISTRY.postgres.env;
/** age's payload chunk: 64 KiB of plaintext plus a 16-byte tag. */
const CHUNK = 64 * 1024 + 16;

interface AgeKey { readonly file: string; readonly recipient: string; readonly secret: string }

describeIntegration('runner: restore and verify of age-encrypted backups, PostgreSQL and radosgw', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let dir: string;
  let source: string;
  let digests: Record<string, string>;
  let role: string;
  let rolePassword: string;
  let oldKey: AgeKey; // key rotation: the backup is encrypted to both
  let newKey: AgeKey;
  let strangerKey: AgeKey; // not a recipient
  let sshKey: { file: string; recipient: string };
  let otherSshKey: { file: string };
  let encrypted: string; // id of a backup encrypted to oldKey and newKey
  let encryptedKey: string;
  let sshEncrypted: string; // id of a backup encrypted to sshKey
  let plain: string; // id of an unencrypted backup
  const prefix = 'prod';

  function ageKey(name: string): AgeKey {
    const file = path.join(dir, `${name}.txt`);
    execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
    const secret = fs.readFileSync(file, 'utf8').split('\n').find(l => l.startsWith('AGE-SECRET-KEY-1'))!;
    return { file, secret, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
  }

  function sshKeyPair(name: string): { file: string; recipient: string } {
    const file = path.join(dir, name);
    execFileSync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', name, '-f', file]);
    return { file, recipient: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
  }

  beforeAll(async () => {
    pg = requirePostgres();
    b = await createTestBucket('decrypt');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decrypt-restore-'));
    oldKey = ageKey('old');
    newKey = ageKey('new');
    strangerKey = ageKey('stranger');
    sshKey = sshKeyPair('ssh');
    otherSshKey = sshKeyPair('other-ssh');
    source = uniqueName('dsrc').replace(/-/g, '_');
    role = uniqueName('decrypter').replace(/-/g, '_');
    rolePassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB PASSWORD '${rolePassword}';`);
    await pg.createDatabase(source);
    // md5 text compresses about 2:1: the stored object is several age chunks (~700 KB).
    await pg.psql(`
      CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
      CREATE TABLE kinds (id serial PRIMARY KEY, j jsonb, b bytea);
      INSERT INTO kinds (j, b) SELECT jsonb_build_object('k', g), decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;
    `, source);
    digests = await tableDigests(pg, source, TABLES);
    await buildRunner();
    const made = async (extra: NodeJS.ProcessEnv) => {
      const run = await runRunner(backupEnv(extra));
      expect(run.code).toBe(0);
      await new Promise(r => setTimeout(r, 1100));
      return run.last.key as string;
    };
    plain = backupIdOf(await made({}));
    sshEncrypted = backupIdOf(await made({ [ENV.AGE_RECIPIENTS]: sshKey.recipient }));
    encryptedKey = await made({ [ENV.AGE_RECIPIENTS]: `${oldKey.recipient}\n${newKey.recipient}\n` });
    encrypted = backupIdOf(encryptedKey);
  });

  afterAll(() => {
    b?.s3.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function backupEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      ...b.runnerEnv(prefix),
      [ENV.NAME]: 'orders',
      ...postgresRunnerEnv(pg, source),
      [ENV.PROGRESS_INTERVAL_MS]: '100',
      ...extra,
    });
  }

  /** The restoring role aimed at `target`, with the identity file `identity` (none when undefined). */
  function targetEnv(target: string, identity: string | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return backupEnv({
      [PGV.USER]: role, [PGV.PASSWORD]: rolePassword, [PGV.DATABASE]: target, ...(identity ? { [ENV.AGE_IDENTITY_FILE]: identity } : {}), ...extra,
    });
  }

  async function newTarget(): Promise<string> {
    const name = uniqueName('dtgt').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${quoteIdent(name)} OWNER ${quoteIdent(role)};`);
    return name;
  }

  const userTables = async (db: string) => Number((await pg.psql('SELECT count(*) FROM pg_tables WHERE schemaname = \'public\';', db)).trim());

  async function get(key: string): Promise<Buffer> {
    const out = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  /** Restores `ref` with `identity` into a new target; expects it refused before the target saw a byte. */
  async function expectRefused(ref: string, identity: string | undefined, code: number, message: RegExp) {
    const target = await newTarget();
    const run = await runRunner(targetEnv(target, identity), ['restore', ref]);
    expect({ code: run.code, last: run.last.msg }).toEqual({ code, last: expect.stringMatching(message) });
    // No restore tool ran, and the target has no table.
    expect(run.lines.some(l => l.source === 'pg_restore' || l.msg === 'progress')).toBe(false);
    expect(await userTables(target)).toBe(0);
    return run;
  }

  test('the encrypted backup: manifest format 2 with both recipients, a .age key, an age file the CLI decrypts', async () => {
    expect(encryptedKey).toMatch(/\.pgdump\.zst\.age$/);
    const manifest = JSON.parse((await get(`${encryptedKey}.manifest.json`)).toString());
    expect(manifest).toMatchObject({ formatVersion: 2, encryption: { format: 'age', recipients: [oldKey.recipient, newKey.recipient] } });
    const file = path.join(dir, 'object.age');
    fs.writeFileSync(file, await get(encryptedKey));
    const dump = execFileSync('sh', ['-c', `age -d -i ${newKey.file} ${file} | zstd -d -c`], { maxBuffer: 64 * 1024 * 1024 });
    expect(dump.subarray(0, 5).toString()).toBe('PGDMP');
  });

  test('restore with either recipient\'s identity (key rotation): identical rows; the header is opened before the target is written', async () => {
    for (const key of [oldKey, newKey]) {
      const target = await newTarget();
      const run = await runRunner(targetEnv(target, key.file), ['restore', encrypted]);
      expect(run.code).toBe(0);
      const msgs = run.lines.map(l => l.msg);
      expect(run.lines.find(l => l.msg === 'backup is encrypted')).toMatchObject({ identityRecipients: [key.recipient] });
      // One read: the header opens before the stream starts; the sha256 matched at its end.
      expect(msgs.indexOf('identity opens the age header')).toBeGreaterThan(msgs.indexOf('single pass'));
      expect(msgs.indexOf('integrity verified')).toBeGreaterThan(msgs.indexOf('identity opens the age header'));
      expect(run.last).toMatchObject({ msg: 'restore complete', id: encrypted, targetDatabase: target });
      expect(await tableDigests(pg, target, TABLES)).toEqual(digests);
      // The identity never shows.
      expect(run.output).not.toContain(key.secret);
    }
  });

  test('restore with an SSH identity (ssh-ed25519 recipient)', async () => {
    const target = await newTarget();
    const run = await runRunner(targetEnv(target, sshKey.file), ['restore', sshEncrypted]);
    expect(run.code).toBe(0);
    expect(await tableDigests(pg, target, TABLES)).toEqual(digests);
  });

  test('an unencrypted backup restores as before, with an identity given or not', async () => {
    for (const identity of [undefined, oldKey.file]) {
      const target = await newTarget();
      const run = await runRunner(targetEnv(target, identity), ['restore', plain]);
      expect(run.code).toBe(0);
      expect(run.lines.some(l => l.msg === 'backup is encrypted')).toBe(false);
      expect(await tableDigests(pg, target, TABLES)).toEqual(digests);
    }
  });

  test('no identity: exit 2, the line names the recipients and the variable; the target is untouched', async () => {
    const run = await expectRefused(encrypted, undefined, 2, new RegExp(
      `^configuration error: backup ${encrypted} is encrypted for age recipients ${oldKey.recipient}, ${newKey.recipient}; `
      + `give the identity \\(${ENV.AGE_IDENTITY_FILE} / the construct's decryption\\) of one of them\\.$`,
    ));
    // Refused before the target database was even asked.
    expect(run.lines.some(l => l.msg === 'restore target')).toBe(false);
  });

  test('the wrong identity: exit 2, the line names the identity\'s public key; the target is untouched', async () => {
    await expectRefused(encrypted, strangerKey.file, 2, new RegExp(
      `^configuration error: backup ${encrypted} is encrypted for age recipients ${oldKey.recipient}, ${newKey.recipient}, `
      + `but the identity in ${ENV.AGE_IDENTITY_FILE} \\('${strangerKey.file}'\\) is ${strangerKey.recipient}, not one of them`,
    ));
  });

  test('the wrong SSH identity: the object\'s age header does not open; exit 2 before any restore tool runs', async () => {
    const run = await expectRefused(sshEncrypted, otherSshKey.file, 2, new RegExp(
      `^configuration error: the identity in ${ENV.AGE_IDENTITY_FILE} \\('${otherSshKey.file}'\\) does not decrypt backup ${sshEncrypted}: no identity matched any of the recipients`,
    ));
    expect(run.lines.map(l => l.msg)).toContain('single pass');
  });

  test('a manifest that lists the identity but an object that is not for it: the header check catches it', async () => {
    const id = await copyBackup(encrypted, d => d, m => ({ ...m, encryption: { format: 'age', recipients: [strangerKey.recipient] } }));
    await expectRefused(id, strangerKey.file, 2, /does not decrypt backup .*: no identity matched any of the recipients \(its manifest lists age1/);
    await deleteBackup(id);
  });

  test('an identity file that is missing, empty or not an identity: exit 2 naming the variable, nothing of the file echoed', async () => {
    const missing = path.join(dir, 'nope.txt');
    await expectRefused(encrypted, missing, 2, new RegExp(`^configuration error: ${ENV.AGE_IDENTITY_FILE}: '${missing}' cannot be read \\(ENOENT\\); mount the age identity`));
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '\n');
    await expectRefused(encrypted, empty, 2, new RegExp(`^configuration error: ${ENV.AGE_IDENTITY_FILE}: '${empty}' is empty; mount the age identity`));
    const junk = path.join(dir, 'junk.txt');
    fs.writeFileSync(junk, 'not-a-key-s3cr3tjunk\n');
    const run = await expectRefused(encrypted, junk, 2, new RegExp(`^configuration error: ${ENV.AGE_IDENTITY_FILE}: '${junk}' is not an age identity file \\(line 1 is not an age identity\\)`));
    expect(run.output).not.toContain('s3cr3tjunk');
    // A public key given where the identity belongs.
    const pub = path.join(dir, 'pub.txt');
    fs.writeFileSync(pub, `${oldKey.recipient}\n`);
    await expectRefused(encrypted, pub, 2, /is not an age identity file/);
    // A relative path is refused with the configuration.
    await expectRefused(encrypted, 'identity.txt', 2, new RegExp(`^configuration error: ${ENV.AGE_IDENTITY_FILE}: 'identity.txt' must be an absolute file path`));
  });

  describe('a tampered ciphertext fails, and the target is left without tables', () => {
    const flipNearEnd = (d: Buffer) => {
      const c = Buffer.from(d);
      c[c.length - 40] = 255 - c[c.length - 40]; // inside the last chunk: every chunk before it decrypts and streams on
      return c;
    };

    test('with the original manifest: the runner\'s sha256 check, in the single pass before age gets the last chunk; nothing committed', async () => {
      const id = await copyBackup(encrypted, flipNearEnd, m => m);
      const target = await newTarget();
      const run = await runRunner(targetEnv(target, oldKey.file), ['restore', id]);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/has sha256 [0-9a-f]{64} but its manifest records [0-9a-f]{64}: the object is corrupt or was changed \(single pass, while restoring\); pg_restore never got the end of the archive, so its single transaction rolled back and the target kept nothing$/);
      // The damage is in the held-back tail: age never decrypted it, so it is not what failed.
      expect(run.output).not.toContain('failed to decrypt');
      expect(await userTables(target)).toBe(0);
      await deleteBackup(id);
    });

    test('bit flipped in the last chunk, manifest matching: age fails the chunk, the restore tool is stopped and rolls back', async () => {
      const data = await get(encryptedKey);
      expect(data.length).toBeGreaterThan(3 * CHUNK); // earlier chunks reach pg_restore first
      const id = await copyBackup(encrypted, flipNearEnd, matching);
      const target = await newTarget();
      const run = await runRunner(targetEnv(target, oldKey.file), ['restore', id]);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^restore failed: the backup \S+ failed age decryption \(failed to decrypt and authenticate payload chunk\): the ciphertext is damaged or truncated, although it matches its manifest's sha256 .*the restore tool was stopped before the end of its input/);
      // The header opened and the stream started: only age could tell.
      expect(run.lines.map(l => l.msg)).toContain('identity opens the age header');
      expect(await userTables(target)).toBe(0);
      await deleteBackup(id);
    });

    test('truncated at a chunk boundary, manifest matching: age notices the missing last chunk', async () => {
      const id = await copyBackup(encrypted, d => {
        const header = d.indexOf('\n', d.indexOf('\n--- ') + 1) + 1 + 16;
        return d.subarray(0, header + 3 * CHUNK);
      }, matching);
      const target = await newTarget();
      const run = await runRunner(targetEnv(target, oldKey.file), ['restore', id]);
      expect(run.code).toBe(1);
      expect(run.last.msg).toMatch(/^restore failed: the backup \S+ failed age decryption \(unexpected EOF\)/);
      expect(await userTables(target)).toBe(0);
      await deleteBackup(id);
    });

    test('a damaged header, manifest matching: refused before any restore tool runs', async () => {
      const id = await copyBackup(encrypted, d => {
        const c = Buffer.from(d);
        const mac = c.indexOf('\n--- ') + 6;
        c[mac] = c[mac] === 0x41 ? 0x42 : 0x41;
        return c;
      }, matching);
      await expectRefused(id, oldKey.file, 1, /^restore failed: \S+ does not decrypt: its age header is damaged \(bad header MAC\)/);
      await deleteBackup(id);
    });
  });

  test('verify of an encrypted backup with the identity passes; without it the restore check fails naming the variable', async () => {
    const ok = await runRunner(targetEnv('postgres', newKey.file, { [ENV.VERIFY_SQL]: 'SELECT count(*) = 20000 FROM items' }), ['verify', encrypted]);
    expect(ok.code).toBe(0);
    expect(ok.lines.filter(l => l.msg === 'check').map(c => [c.check, c.passed])).toEqual([['restore', true], ['contents', true], ['sql', true]]);
    expect(ok.last).toMatchObject({ msg: 'verify passed', id: encrypted });
    const missing = await runRunner(targetEnv('postgres', undefined), ['verify', encrypted]);
    expect(missing.code).toBe(1);
    expect(missing.last.msg).toMatch(new RegExp(`^verify failed: restore: backup ${encrypted} is encrypted for age recipients .*give the identity \\(${ENV.AGE_IDENTITY_FILE}`));
  });

  /** The manifest rewritten to match tampered bytes: only age can notice. */
  function matching(m: Record<string, unknown>, data: Buffer): Record<string, unknown> {
    return { ...m, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  }

  /** A copy of backup `id` under a new id, its data changed by `mutate` and its manifest by `manifest`. */
  async function copyBackup(
    id: string, mutate: (d: Buffer) => Buffer, manifest: (m: Record<string, unknown>, data: Buffer) => Record<string, unknown>,
  ): Promise<string> {
    const key = Object.keys(await b.objects()).find(k => k.includes(id) && !k.endsWith('.manifest.json'))!;
    const newId = `29990101T000000Z-${randomBytes(4).toString('hex')}`;
    const newKey_ = key.replace(id, newId);
    const data = mutate(await get(key));
    const m = manifest(JSON.parse((await get(`${key}.manifest.json`)).toString()), data);
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: newKey_, Body: data }));
    await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `${newKey_}.manifest.json`, Body: JSON.stringify({ ...m, key: newKey_ }) }));
    return newId;
  }

  async function deleteBackup(id: string) {
    for (const k of Object.keys(await b.objects()).filter(x => x.includes(id))) {
      await b.s3.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: k }));
    }
  }
});
