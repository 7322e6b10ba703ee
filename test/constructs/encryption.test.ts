/**
 * Client-side encryption (age) and S3 server-side encryption in the constructs: the recipient
 * rules both sides share (lib/age.ts), checked against the real `age` CLI, and the wiring: the
 * recipients reach backup pods, the identity reaches restore and verify runner containers only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  BackupDecryption, BackupEncryption, BackupSchedule, BackupSeries, BackupStorage, MongoBackupCronJob, MongoRestoreJob, MongoVerifyCronJob,
  MysqlBackupCronJob, MysqlRestoreJob, MysqlVerifyCronJob, PostgresBackupCronJob, PostgresRestoreJob, PostgresVerifyCronJob,
  RedisBackupCronJob, RedisRestoreJob, RedisVerifyCronJob, S3ServerSideEncryption,
} from '../../lib';
import { ageRecipient, ageRecipients, ageRecipientsFromText, bech32Decode, bech32Encode, recipientsToText } from '../../lib/age';
import { ENV, IMAGE } from '../../lib/contract';
import { RuleError } from '../../lib/rules';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { cronJobs, envOf, jobs, newChart, postgresProps } from '../helpers/synth';
import { describeIntegration } from '../servers/env';

const AGE = '/usr/bin/age';
const AGE_KEYGEN = '/usr/bin/age-keygen';
const IDENTITY_FILE = `${IMAGE.AGE_IDENTITY_DIR}/${IMAGE.AGE_IDENTITY_FILE_NAME}`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'age-rules-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fresh X25519 identity from the real age-keygen: its private key file and its recipient. */
function ageKey(): { identityFile: string; identity: string; recipient: string } {
  const identityFile = path.join(tmp, `key-${crypto.randomBytes(4).toString('hex')}.txt`);
  execFileSync(AGE_KEYGEN, ['-o', identityFile], { stdio: 'pipe' });
  const recipient = execFileSync(AGE_KEYGEN, ['-y', identityFile], { encoding: 'utf8' }).trim();
  const identity = fs.readFileSync(identityFile, 'utf8').split('\n').find(l => l.startsWith('AGE-SECRET-KEY-1'))!;
  return { identityFile, identity, recipient };
}

function sshString(b: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(b.length);
  return Buffer.concat([length, b]);
}
const sshMpint = (b: Buffer) => sshString(b[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);

/** An SSH key pair made with node: its private key (PEM, which age reads) and its authorized_keys line. */
function sshKey(type: 'ssh-ed25519' | 'ssh-rsa', rsaBits = 2048): { identityFile: string; recipient: string } {
  const identityFile = path.join(tmp, `ssh-${crypto.randomBytes(4).toString('hex')}.pem`);
  let blob: Buffer;
  if (type === 'ssh-ed25519') {
    const pair = crypto.generateKeyPairSync('ed25519');
    fs.writeFileSync(identityFile, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from(pair.publicKey.export({ format: 'jwk' }).x!, 'base64url'))]);
  } else {
    const pair = crypto.generateKeyPairSync('rsa', { modulusLength: rsaBits });
    fs.writeFileSync(identityFile, pair.privateKey.export({ format: 'pem', type: 'pkcs1' }));
    const jwk = pair.publicKey.export({ format: 'jwk' });
    blob = Buffer.concat([sshString(Buffer.from(type)), sshMpint(Buffer.from(jwk.e!, 'base64url')), sshMpint(Buffer.from(jwk.n!, 'base64url'))]);
  }
  return { identityFile, recipient: `${type} ${blob.toString('base64')} backup@example` };
}

/** Whether the real age CLI takes `recipient` (encrypts to it). */
function ageAccepts(recipient: string): boolean {
  return spawnSync(AGE, ['-r', recipient], { input: 'x', stdio: ['pipe', 'ignore', 'ignore'] }).status === 0;
}

function encryptWithCli(recipientsText: string, plaintext: string): Buffer {
  const file = path.join(tmp, `recipients-${crypto.randomBytes(4).toString('hex')}.txt`);
  fs.writeFileSync(file, recipientsText);
  return execFileSync(AGE, ['-R', file], { input: plaintext });
}

function decryptWithCli(identityFile: string, ciphertext: Buffer): string {
  return execFileSync(AGE, ['-d', '-i', identityFile], { input: ciphertext, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/** Replaces character `at` of `s` by another character of the bech32 alphabet. */
function changeChar(s: string, at: number): string {
  const alphabet = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  const other = alphabet[(alphabet.indexOf(s[at]) + 1) % alphabet.length];
  return s.slice(0, at) + other + s.slice(at + 1);
}

describeIntegration('age recipients, checked like the age CLI checks them', ['age'], () => {
  test('keys from age-keygen are accepted, and decode to 32 bytes that encode back to the same text', () => {
    for (let i = 0; i < 5; i++) {
      const { recipient } = ageKey();
      expect(ageRecipient('recipients[0]', recipient)).toBe(recipient);
      const decoded = bech32Decode(recipient);
      if (!decoded.ok) throw new Error(decoded.why);
      expect(decoded.hrp).toBe('age');
      expect(decoded.data.length).toBe(32);
      expect(bech32Encode('age', decoded.data)).toBe(recipient);
    }
  });

  test('any one changed character is a checksum error, and the age CLI refuses the same text', () => {
    const { recipient } = ageKey();
    // Every position of the data and checksum part (after 'age1').
    for (let at = 4; at < recipient.length; at++) {
      const changed = changeChar(recipient, at);
      expect(() => ageRecipient('recipients[0]', changed)).toThrow(/^recipients\[0\]: '.*' is not a valid age recipient: its checksum does not match/);
    }
    // The CLI agrees, on a sample (it takes ~10ms a run).
    for (const at of [4, 20, recipient.length - 7, recipient.length - 1]) expect(ageAccepts(changeChar(recipient, at))).toBe(false);
    expect(ageAccepts(recipient)).toBe(true);
  });

  test('two swapped characters and a lost one are refused too', () => {
    const { recipient } = ageKey();
    const swapped = recipient.slice(0, 10) + recipient[11] + recipient[10] + recipient.slice(12);
    if (swapped !== recipient) expect(() => ageRecipient('r', swapped)).toThrow(/checksum does not match/);
    expect(() => ageRecipient('r', recipient.slice(0, 30) + recipient.slice(31))).toThrow(/checksum does not match|non-zero padding|bytes/);
    expect(ageAccepts(recipient.slice(0, 30) + recipient.slice(31))).toBe(false);
  });

  test('the same verdict as the age CLI on well-formed bech32 that is not an X25519 recipient', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['31 bytes', bech32Encode('age', crypto.randomBytes(31)), /holds 31 bytes, not a 32-byte X25519 key/],
      ['33 bytes', bech32Encode('age', crypto.randomBytes(33)), /holds 33 bytes/],
      ['a plugin recipient', bech32Encode('age1yubikey', crypto.randomBytes(33)), /age plugin recipient \('age1yubikey'\); plugins are not installed in the image/],
      ['upper case', ageKey().recipient.toUpperCase(), /has upper-case letters; the age CLI accepts only the lower-case form/],
      ['a character outside the alphabet', ageKey().recipient.slice(0, 20) + 'b' + ageKey().recipient.slice(21), /character 21 \('b'\) is not in the bech32 alphabet/],
    ];
    for (const [name, text, message] of cases) {
      expect({ name, age: ageAccepts(text) }).toEqual({ name, age: false });
      expect(() => ageRecipient('recipients[1]', text)).toThrow(message);
    }
  });

  test('ssh-ed25519 and ssh-rsa keys are accepted with their comment, and age encrypts to them', () => {
    for (const key of [sshKey('ssh-ed25519'), sshKey('ssh-rsa')]) {
      expect(ageRecipient('r', key.recipient)).toBe(key.recipient);
      expect(ageRecipient('r', `  ${key.recipient.replace(/ /g, '  \t')}  `)).toBe(key.recipient);
      expect(ageAccepts(key.recipient)).toBe(true);
    }
  });

  test('SSH keys age refuses are refused, naming what to use instead', () => {
    const small = sshKey('ssh-rsa', 1024);
    expect(ageAccepts(small.recipient)).toBe(false);
    expect(() => ageRecipient('recipients[0]', small.recipient)).toThrow(/^recipients\[0\]: 'ssh-rsa AAAA.*' is a 1024-bit RSA key; age refuses RSA keys under 2048 bits: use an ssh-ed25519 key or an age1… key\.$/);

    const ecdsa = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI16Q62jVt4GbVmsAGpJCcMafbW998cAZekDO0SICunQZ+6SgP3/uxL7Dpq3fWRJ+ORp3EFpGsCriyheaNxqvtM= root@vm';
    expect(ageAccepts(ecdsa)).toBe(false);
    expect(() => ageRecipient('r', ecdsa)).toThrow(/'ecdsa-sha2-nistp256' keys are not supported by age/);

    const ed = sshKey('ssh-ed25519').recipient;
    const [, blob] = ed.split(' ');
    // An Ed25519 blob labelled ssh-rsa: age goes by the blob and takes it; we refuse the contradiction,
    // which would also put a wrong key type into the manifest.
    expect(() => ageRecipient('r', `ssh-rsa ${blob}`)).toThrow(/the key data is of type 'ssh-ed25519', not 'ssh-rsa'/);
    // A truncated blob, and no key at all.
    const truncated = `ssh-ed25519 ${Buffer.from(blob, 'base64').subarray(0, 40).toString('base64')}`;
    for (const [text, message] of [
      [truncated, /is not a 32-byte Ed25519 key/],
      ['ssh-ed25519 ', /has no key after 'ssh-ed25519'|is not 'ssh-ed25519 <key>/],
      ['ssh-ed25519 AAAA$$$$', /is not valid base64/],
    ] as Array<[string, RegExp]>) {
      expect({ text, age: ageAccepts(text) }).toEqual({ text, age: false });
      expect(() => ageRecipient('r', text)).toThrow(message);
    }
  });

  test('a private key is refused as such, never echoed', () => {
    const { identity } = ageKey();
    for (const text of [identity, identity.toLowerCase(), `  ${identity}`]) {
      let message = '';
      try {
        ageRecipient('recipients[0]', text);
      } catch (err) {
        expect(err).toBeInstanceOf(RuleError);
        message = (err as Error).message;
      }
      expect(message).toMatch(/^recipients\[0\]: this is an age PRIVATE key \(AGE-SECRET-KEY-1…\), not a recipient\. It must never be put in a backup CronJob: give its public key instead/);
      expect(message).not.toContain(identity.slice('AGE-SECRET-KEY-1'.length, 30));
    }
    const pem = fs.readFileSync(sshKey('ssh-ed25519').identityFile, 'utf8');
    expect(() => ageRecipient('r', pem)).toThrow(/^r: this is a PRIVATE key, not a recipient\. It must never be put in a backup CronJob/);
  });

  test('a list: at least one, each key once (the same SSH key with another comment too), errors name the entry', () => {
    const a = ageKey().recipient;
    const ssh = sshKey('ssh-ed25519').recipient;
    expect(ageRecipients('recipients', [a, ssh])).toEqual([a, ssh]);
    expect(() => ageRecipients('recipients', [])).toThrow(/^recipients: no recipient given/);
    expect(() => ageRecipients('recipients', [a, ` ${a}`])).toThrow(/^recipients: recipients \[0\] and \[1\] are the same key/);
    expect(() => ageRecipients('recipients', [ssh, ssh.replace('backup@example', 'other')])).toThrow(/are the same key 'ssh-ed25519 AAAA/);
    expect(() => ageRecipients('recipients', [a, 'age1notakey'])).toThrow(/^recipients\[1\]: /);
    expect(() => ageRecipients('recipients', [a, ''])).toThrow(/^recipients\[1\]: a recipient is empty/);
  });

  test('the text form: one per line, blank lines and # comments skipped, round trip with recipientsToText', () => {
    const list = [ageKey().recipient, ageKey().recipient, sshKey('ssh-rsa').recipient];
    const text = recipientsToText(list);
    expect(text.split('\n')).toHaveLength(3);
    expect(ageRecipientsFromText(ENV.AGE_RECIPIENTS, text)).toEqual(list);
    expect(ageRecipientsFromText(ENV.AGE_RECIPIENTS, `# ops team\r\n${list[0]}\r\n\n  ${list[1]}  \n`)).toEqual(list.slice(0, 2));
    expect(() => ageRecipientsFromText(ENV.AGE_RECIPIENTS, '\n# none\n')).toThrow(/^BACKUP_AGE_RECIPIENTS: no recipient given; .* one per line\.$/);
    expect(() => ageRecipientsFromText(ENV.AGE_RECIPIENTS, undefined)).toThrow(/^BACKUP_AGE_RECIPIENTS: no recipient given/);
    expect(() => ageRecipientsFromText(ENV.AGE_RECIPIENTS, `${list[0]}\n${list[0]}`)).toThrow(/^BACKUP_AGE_RECIPIENTS: recipients 1 and 2 are the same key/);
    expect(() => ageRecipientsFromText(ENV.AGE_RECIPIENTS, `${list[0]}\n${changeChar(list[1], 9)}`)).toThrow(/^BACKUP_AGE_RECIPIENTS \(recipient 2\): .* checksum does not match/);
  });

  test('what passes is what age encrypts to: the text form as an age -R file, every identity decrypts', () => {
    const keys = [ageKey(), ageKey(), sshKey('ssh-ed25519'), sshKey('ssh-rsa')];
    const text = recipientsToText(ageRecipientsFromText('r', keys.map(k => k.recipient).join('\n')));
    const ciphertext = encryptWithCli(text, 'orders dump');
    for (const key of keys) expect(decryptWithCli(key.identityFile, ciphertext)).toBe('orders dump');
    expect(() => decryptWithCli(ageKey().identityFile, ciphertext)).toThrow(/no identity matched any of the recipients/);
  });
});

// --- constructs ---------------------------------------------------------------------------------

const schedule = BackupSchedule.daily({ hour: 2 });
const identitySecret = (chart: Chart) => (chart.node.tryFindChild('AgeKey') as kplus.ISecret | undefined) ?? kplus.Secret.fromSecretName(chart, 'AgeKey', 'backup-age');
const decryption = (chart: Chart, key = 'identity.txt') => BackupDecryption.ageIdentity({ secret: identitySecret(chart), key });

/** Everything about the identity a workload carries: volumes from its Secret, mounts at its directory, the variable, per container. */
function identityTraces(workload: any) {
  const spec = podSpecOf(workload);
  return {
    volumes: (spec.volumes ?? []).filter((v: any) => v.secret?.secretName === 'backup-age'),
    containers: spec.containers.map((c: any) => ({
      name: c.name,
      mounts: (c.volumeMounts ?? []).filter((m: any) => m.mountPath.startsWith(IMAGE.AGE_IDENTITY_DIR)),
      env: (c.env ?? []).filter((e: any) => e.name === ENV.AGE_IDENTITY_FILE).map((e: any) => e.value),
    })),
  };
}

/** An app with a backup, restore and verify of every engine, the backups encrypted, restores and verifies with the identity. */
function encryptedApp(recipients: string[]): Chart {
  const chart = newChart();
  const storage = BackupStorage.s3({ bucket: 'backups', prefix: 'prod' });
  const encryption = BackupEncryption.age({ recipients });
  const pw = (name: string) => ({ secret: kplus.Secret.fromSecretName(chart, `Pw${name}`, name), key: 'password' });

  const pg = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage, encryption, postgresMajor: 15 }));
  new PostgresRestoreJob(chart, 'orders-restore', { series: pg, host: 'pg', database: 'orders_copy', username: 'owner', decryption: decryption(chart) });
  new PostgresVerifyCronJob(chart, 'orders-verify', { schedule, series: pg, decryption: BackupDecryption.ageIdentity({ secret: identitySecret(chart), key: 'k2' }) });

  const mysql = new MysqlBackupCronJob(chart, 'shop', { schedule, storage, host: 'mariadb', database: 'shop', username: 'backup', password: pw('my'), encryption });
  new MysqlRestoreJob(chart, 'shop-restore', { series: mysql, host: 'mariadb', database: 'shop_copy', username: 'owner', decryption: decryption(chart) });
  new MysqlVerifyCronJob(chart, 'shop-verify', { schedule, series: mysql, decryption: decryption(chart) });

  const mongo = new MongoBackupCronJob(chart, 'catalog', { schedule, storage, uri: pw('uri'), database: 'catalog', encryption });
  new MongoRestoreJob(chart, 'catalog-restore', { series: mongo, uri: pw('uri2'), database: 'catalog_copy', decryption: decryption(chart) });
  new MongoVerifyCronJob(chart, 'catalog-verify', { schedule, series: mongo, decryption: decryption(chart) });

  const redis = new RedisBackupCronJob(chart, 'cache', { schedule, storage, host: 'redis', encryption });
  new RedisRestoreJob(chart, 'cache-restore', {
    series: redis,
    volume: kplus.Volume.fromPersistentVolumeClaim(chart, 'RedisData', kplus.PersistentVolumeClaim.fromClaimName(chart, 'RedisClaim', 'redis-data')),
    decryption: decryption(chart),
  });
  new RedisVerifyCronJob(chart, 'cache-verify', { schedule, series: redis, decryption: decryption(chart) });
  return chart;
}

/** Public keys (from age-keygen, and an SSH key), so the construct tests need no CLI. */
const RECIPIENT = 'age1w99qfac58e3c89hcvegqgj5g0vu00gjy6gl6jx7l8xx80v4xqe0s9j2yc3';
const SSH_RECIPIENT = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIY7ej+oNVL2AubfY/RJdX5ElIYx/vWIpaccfhbqn4w4 ops@example';
/** Shaped like a private key; refused by its prefix. */
const PRIVATE_KEY = 'AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33';

describe('BackupEncryption and BackupDecryption on the constructs', () => {
  const recipients = [RECIPIENT, SSH_RECIPIENT];

  test('every engine: the backup pod gets the recipients, one per line, and nothing of the identity', () => {
    const objects = Testing.synth(encryptedApp(recipients));
    const backups = objects.filter(o => o.kind === 'CronJob' && o.metadata.labels['app.kubernetes.io/component'].endsWith('-backup'));
    expect(backups.map(b => b.metadata.labels['app.kubernetes.io/component']).sort()).toEqual(['mongo-backup', 'mysql-backup', 'postgres-backup', 'redis-backup']);
    for (const backup of backups) {
      expect(envOf(backup)[ENV.AGE_RECIPIENTS]).toBe(`${recipients[0]}\n${recipients[1]}`);
      const traces = identityTraces(backup);
      expect(traces.volumes).toEqual([]);
      for (const c of traces.containers) expect(c).toEqual({ name: c.name, mounts: [], env: [] });
      expect(JSON.stringify(backup)).not.toMatch(/backup-age|AGE_IDENTITY|\/etc\/cdk8s-db-backup\/age/);
      validateSchema(backup);
      expect(restrictedViolations(podSpecOf(backup))).toEqual([]);
    }
  });

  test('every restore and verify: only the runner container mounts the one key, read-only, mode 0440, and is told where', () => {
    const objects = Testing.synth(encryptedApp(recipients));
    const readers = objects.filter(o => ['Job', 'CronJob'].includes(o.kind) && /-(restore|verify)$/.test(o.metadata.labels['app.kubernetes.io/component']));
    expect(readers).toHaveLength(8);
    for (const reader of readers) {
      const key = reader.metadata.name.includes('orders-verify') ? 'k2' : 'identity.txt';
      const traces = identityTraces(reader);
      expect(traces.volumes).toEqual([{ name: 'age-identity', secret: { secretName: 'backup-age', items: [{ key, path: IMAGE.AGE_IDENTITY_FILE_NAME, mode: 0o440 }] } }]);
      const [runner, ...sidecars] = traces.containers;
      expect(runner.mounts).toEqual([{ mountPath: IMAGE.AGE_IDENTITY_DIR, name: 'age-identity', readOnly: true }]);
      expect(runner.env).toEqual([IDENTITY_FILE]);
      // The verify pod's throwaway database server never sees it.
      for (const sidecar of sidecars) expect(sidecar).toEqual({ name: sidecar.name, mounts: [], env: [] });
      // Readable by the runner: the pod's fsGroup is the runner's group, which the kubelet gives the file.
      expect(podSpecOf(reader).securityContext).toMatchObject({ runAsUser: IMAGE.UID, fsGroup: IMAGE.GID });
      expect(envOf(reader)[ENV.AGE_RECIPIENTS]).toBeUndefined();
      validateSchema(reader);
      expect(restrictedViolations(podSpecOf(reader))).toEqual([]);
    }
  });

  test('a restore or verify of an encrypted series of this app without decryption fails at synth, naming it and the writer', () => {
    const build = (make: (chart: Chart, series: PostgresBackupCronJob) => void) => () => {
      const chart = newChart();
      const pg = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { encryption: BackupEncryption.age({ recipients }), postgresMajor: 15 }));
      make(chart, pg);
    };
    expect(build((chart, series) => new PostgresRestoreJob(chart, 'r', { series, host: 'pg', database: 'x', username: 'o' })))
      .toThrow(/^test\/r: decryption: the series 'orders' is encrypted \(test\/orders has encryption: BackupEncryption\.age\(…\)\), so a PostgresRestoreJob cannot read it without the identity\. Give decryption: BackupDecryption\.ageIdentity\(\{ secret, key \}\)/);
    expect(build((chart, series) => new PostgresVerifyCronJob(chart, 'v', { schedule, series })))
      .toThrow(/^test\/v: decryption: the series 'orders' is encrypted .* so a PostgresVerifyCronJob cannot read it/);
    // With it, both synthesize.
    expect(build((chart, series) => {
      new PostgresRestoreJob(chart, 'r', { series, host: 'pg', database: 'x', username: 'o', decryption: decryption(chart) });
      new PostgresVerifyCronJob(chart, 'v', { schedule, series, decryption: decryption(chart, 'other') });
      Testing.synth(chart);
    })).not.toThrow();
  });

  test('a series of unknown encryption (fromName) or an unencrypted one needs no decryption, and takes one', () => {
    const chart = newChart();
    const plain = new PostgresBackupCronJob(chart, 'plain', postgresProps(chart));
    expect(plain.encrypted).toBe(false);
    new PostgresRestoreJob(chart, 'r1', { series: BackupSeries.fromName(plain.storage, 'orders', 'postgres'), host: 'pg', database: 'x', username: 'o' });
    new PostgresRestoreJob(chart, 'r2', { series: plain, host: 'pg', database: 'x', username: 'o' });
    // Older backups of a series may be encrypted after encryption was turned off: an identity is allowed.
    new PostgresRestoreJob(chart, 'r3', { series: plain, host: 'pg', database: 'x', username: 'o', decryption: decryption(chart) });
    const [r1, r2, r3] = jobs(chart);
    expect(identityTraces(r1).volumes).toEqual([]);
    expect(identityTraces(r2).volumes).toEqual([]);
    expect(identityTraces(r3).volumes).toHaveLength(1);
    expect(new PostgresBackupCronJob(chart, 'enc', { schedule, storage: plain.storage, host: 'pg', database: 'orders', username: 'backup', backupName: 'enc', encryption: BackupEncryption.age({ recipients }) }).encrypted).toBe(true);
  });

  test('bad input fails at synth, naming the prop and the fix', () => {
    const identity = PRIVATE_KEY;
    expect(() => BackupEncryption.age({ recipients: [identity] })).toThrow(/^recipients\[0\]: this is an age PRIVATE key/);
    expect(() => BackupEncryption.age({ recipients: [] })).toThrow(/^recipients: no recipient given; give age public keys/);
    expect(() => BackupEncryption.age({} as any)).toThrow(/^recipients: no recipient given/);
    expect(() => BackupEncryption.age(undefined as any)).toThrow(/^recipients: must be set/);
    expect(() => BackupEncryption.age({ recipients: [recipients[0], changeChar(recipients[0], 12)] })).toThrow(/^recipients\[1\]: .* checksum does not match/);
    const chart = newChart();
    expect(() => BackupDecryption.ageIdentity({ secret: identitySecret(chart), key: 'bad key' })).toThrow(/^decryption\.key: 'bad key' is not a valid Secret or ConfigMap key/);
    expect(() => BackupDecryption.ageIdentity(identity as any)).toThrow(/^decryption: expected \{ secret, key \}, got a string; never put a secret's value in code/);
    expect(() => new PostgresBackupCronJob(chart, 'x', postgresProps(chart, { encryption: { recipients } as any })))
      .toThrow(/^test\/x: encryption: expected a BackupEncryption, got .*; give e\.g\. encryption: BackupEncryption\.age/);
    expect(() => new PostgresRestoreJob(chart, 'y', {
      series: BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'orders', 'postgres'), host: 'pg', database: 'x', username: 'o', decryption: { secret: identitySecret(chart), key: 'k' } as any,
    })).toThrow(/^test\/y: decryption: expected a BackupDecryption, e\.g\. decryption: BackupDecryption\.ageIdentity/);
  });
});

describe('S3ServerSideEncryption', () => {
  const sseEnv = (workload: any) => Object.fromEntries(Object.entries(envOf(workload)).filter(([name]) => name.startsWith('BACKUP_S3_SSE')));
  function backupWith(serverSideEncryption?: S3ServerSideEncryption) {
    const chart = newChart();
    const storage = BackupStorage.s3({ bucket: 'backups', serverSideEncryption });
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { storage }));
    new PostgresRestoreJob(chart, 'r', { series: BackupSeries.fromName(storage, 'orders', 'postgres'), host: 'pg', database: 'x', username: 'o' });
    return [...cronJobs(chart), ...jobs(chart)];
  }

  test('kms with a key, kms with the default key, S3-managed keys, none', () => {
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    for (const workload of backupWith(S3ServerSideEncryption.kms(arn))) expect(sseEnv(workload)).toEqual({ [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: arn });
    for (const workload of backupWith(S3ServerSideEncryption.kms('alias/backups'))) expect(sseEnv(workload)).toEqual({ [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: 'alias/backups' });
    for (const workload of backupWith(S3ServerSideEncryption.kms())) expect(sseEnv(workload)).toEqual({ [ENV.S3_SSE]: 'aws:kms' });
    for (const workload of backupWith(S3ServerSideEncryption.s3Managed())) expect(sseEnv(workload)).toEqual({ [ENV.S3_SSE]: 'AES256' });
    for (const workload of backupWith()) expect(sseEnv(workload)).toEqual({});
  });

  test('a key id that cannot be one, or another type, is refused', () => {
    for (const keyId of ['', 'alias/my key', 'key\n', '-key', 'key!', 'k'.repeat(2049)]) {
      expect(() => S3ServerSideEncryption.kms(keyId)).toThrow(/^serverSideEncryption: KMS key id: .* is not a KMS key id; give a key id \(1234abcd/);
    }
    expect(() => BackupStorage.s3({ bucket: 'backups', serverSideEncryption: 'aws:kms' as any })).toThrow(/^serverSideEncryption: expected an S3ServerSideEncryption/);
  });
});

describe('a private key hidden inside a recipient is refused too', () => {
  test.each([
    ['in an SSH comment', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me AGE-SECRET-KEY-1QQQQ'],
    ['after a line break', 'age1w99qfac58e3c89hcvegqgj5g0vu00gjy6gl6jx7l8xx80v4xqe0s9j2yc3\nAGE-SECRET-KEY-1QQQQ'],
    ['in lower case', 'age-secret-key-1qqqq'],
  ])('%s: refused without echoing it', (_where, recipient) => {
    let message = '';
    try {
      ageRecipient('recipients[0]', recipient);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^recipients\[0\]: this is an age PRIVATE key/);
    expect(message).not.toMatch(/QQQQ|qqqq/);
  });

  test('a line break inside one recipient is refused', () => {
    expect(() => ageRecipient('recipients[0]', 'age1w99qfac58e3c89hcvegqgj5g0vu00gjy6gl6jx7l8xx80v4xqe0s9j2yc3\nage1x'))
      .toThrow(/^recipients\[0\]: a recipient must be one line/);
  });
});
