/**
 * Decryption of age-encrypted backups (manifest `encryption.format: 'age'`) for restore and verify,
 * through Debian's `age` CLI: stored object → checksum → `age -d -i <identity file>` → decompressor.
 *
 * The identity is checked before the restore target is touched: the file must be readable and hold
 * age identities; a native identity's public keys (`age-keygen -y`) must be among the backup's
 * recipients; and the object's own age header must open with it (age unwraps the file key and checks
 * the header's MAC on the first bytes of the object). So a missing or wrong identity fails with a
 * line that says which, before any restore tool starts. The payload is authenticated chunk by chunk
 * (64 KiB) while it streams: a changed or truncated ciphertext fails, and the restore tool is stopped
 * before the end of its input (restore.ts).
 *
 * Nothing here prints the identity: only its path and its public keys.
 */
import * as fs from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { errorLine } from './encrypt';
import { ConfigError } from './errors';
import { IntegrityError } from './integrity';
import { Manifest } from './manifest';
import { capture, childEnv, describeExit, spawnChild } from './proc';
import { Storage } from './storage/storage';
import { ENV, IMAGE } from '../../lib/contract';

/** Where the constructs mount the identity. */
const DEFAULT_IDENTITY_PATH = `${IMAGE.AGE_IDENTITY_DIR}/${IMAGE.AGE_IDENTITY_FILE_NAME}`;

/** An identity file is a few lines; anything larger is not one. */
const MAX_IDENTITY_BYTES = 64 * 1024;

/** age headers are a few hundred bytes per recipient; this allows many, with ssh-rsa stanzas. */
const MAX_HEADER_BYTES = 256 * 1024;

/** The payload nonce that follows the header. */
const NONCE_BYTES = 16;

const FIX_IDENTITY = "mount the age identity (the AGE-SECRET-KEY-1… line age-keygen wrote, or an SSH private key) there from a Secret (the construct's `decryption: BackupDecryption.ageIdentity(…)`)";

/**
 * BACKUP_AGE_IDENTITY_FILE: undefined when unset or empty, else an absolute path on one line.
 * Not opened here (reading the configuration touches no disk): loadAgeIdentity does that.
 */
export function ageIdentityFileFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env[ENV.AGE_IDENTITY_FILE];
  if (raw === undefined || raw === '') return undefined;
  if (!raw.startsWith('/') || /[\r\n\0]/.test(raw)) {
    throw new ConfigError(`${ENV.AGE_IDENTITY_FILE}: '${raw}' must be an absolute file path on one line, e.g. '${DEFAULT_IDENTITY_PATH}'.`);
  }
  return raw;
}

/** A usable identity file. */
export interface AgeIdentity {
  readonly file: string;
  /**
   * The public keys of its native X25519 identities (`age1…`, from `age-keygen -y`); undefined for
   * an SSH private key, whose public key only the object's header can be checked against.
   */
  readonly recipients?: readonly string[];
}

/**
 * Reads and checks the identity file: readable, not empty, and age identities (native keys, as
 * `age-keygen -y` reads them) or an SSH private key. Throws a ConfigError naming the variable;
 * the messages never contain the file's contents.
 */
export async function loadAgeIdentity(file: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<AgeIdentity> {
  const where = `${ENV.AGE_IDENTITY_FILE}: '${file}'`;
  let text: string;
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new ConfigError(`${where} is not a file; ${FIX_IDENTITY}.`);
    if (stat.size > MAX_IDENTITY_BYTES) throw new ConfigError(`${where} is ${stat.size} bytes, too large for an age identity file; ${FIX_IDENTITY}.`);
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${where} cannot be read (${code ?? (err as Error).message}); ${FIX_IDENTITY}.`, { cause: err });
  }
  if (text.trim() === '') throw new ConfigError(`${where} is empty; ${FIX_IDENTITY}.`);
  if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/m.test(text)) return { file };
  const out = await capture('age-keygen', ['-y', file], childEnv(env), 30_000, signal);
  if (out.code !== 0) {
    // Only where the problem is, never what age-keygen quotes of the file: it is a secret.
    const line = /error at line (\d+)/.exec(out.stderr)?.[1];
    const why = line ? `line ${line} is not an age identity` : /no secret keys found/.test(out.stderr) ? 'it has no AGE-SECRET-KEY-1… line' : 'age-keygen -y cannot read it';
    throw new ConfigError(`${where} is not an age identity file (${why}); ${FIX_IDENTITY}.`);
  }
  const recipients = out.stdout.split('\n').map(l => l.trim()).filter(l => l !== '');
  if (recipients.length === 0) throw new ConfigError(`${where} has no age identity; ${FIX_IDENTITY}.`);
  return { file, recipients };
}

/** Recipients as a message lists them: at most three, then how many more. */
function listed(recipients: readonly string[]): string {
  const shownOnes = recipients.slice(0, 3).join(', ');
  return recipients.length > 3 ? `${shownOnes} and ${recipients.length - 3} more` : shownOnes;
}

/**
 * Before anything is touched: an encrypted backup needs an identity, and a native identity must be
 * one of the backup's recipients. Resolves with the identity to decrypt with, or undefined for an
 * unencrypted backup.
 */
export function requireIdentityFor(id: string, manifest: Manifest, identity: AgeIdentity | undefined): AgeIdentity | undefined {
  const encryption = manifest.encryption;
  if (!encryption) return undefined;
  if (encryption.format !== 'age') {
    throw new Error(`backup ${id} is encrypted as '${String(encryption.format)}', which this runner cannot decrypt`);
  }
  const recipients = encryption.recipients;
  if (!identity) {
    throw new ConfigError(`backup ${id} is encrypted for age recipients ${listed(recipients)}; give the identity (${ENV.AGE_IDENTITY_FILE} / the construct's decryption) of one of them.`);
  }
  if (identity.recipients && !identity.recipients.some(r => recipients.includes(r))) {
    throw new ConfigError(`backup ${id} is encrypted for age recipients ${listed(recipients)}, but the identity in ${ENV.AGE_IDENTITY_FILE} ('${identity.file}') is `
      + `${listed(identity.recipients)}, not one of them; give the identity of one of the backup's recipients.`);
  }
  return identity;
}

/** The age header of the stored object, with the payload nonce after it: its first bytes only. */
async function readHeader(storage: Storage, key: string, signal: AbortSignal): Promise<Buffer> {
  const body = await storage.get(key, signal);
  const parts: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      length += chunk.length;
      const head = Buffer.concat(parts);
      // The header ends with the line "--- <MAC>\n"; the 16-byte nonce follows.
      const mac = head.indexOf('\n--- ');
      const end = mac < 0 ? -1 : head.indexOf('\n', mac + 1);
      if (end >= 0 && head.length >= end + 1 + NONCE_BYTES) return head.subarray(0, end + 1 + NONCE_BYTES);
      if (length > MAX_HEADER_BYTES) break;
    }
  } finally {
    body.destroy();
  }
  const head = Buffer.concat(parts);
  if (!head.subarray(0, 22).equals(Buffer.from('age-encryption.org/v1\n'))) {
    throw new IntegrityError(`${key} is not an age file although its manifest says it is encrypted (it does not start with 'age-encryption.org/v1')`);
  }
  throw new IntegrityError(`${key} has no complete age header in its first ${Math.min(length, MAX_HEADER_BYTES)} bytes`);
}

/**
 * Opens the object's age header with the identity, before the target is touched: age unwraps the
 * file key and checks the header's MAC, then stops where the payload would start. Throws a
 * ConfigError when no identity matches the header's recipients, an IntegrityError when the header
 * is damaged.
 */
export async function checkIdentityOpensHeader(
  storage: Storage, manifest: Manifest, id: string, identity: AgeIdentity, env: NodeJS.ProcessEnv, signal: AbortSignal,
): Promise<void> {
  const header = await readHeader(storage, manifest.key, signal);
  const p = spawnChild('age', ['-d', '-i', identity.file], { env: childEnv(env), stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  p.child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4096);
  });
  p.child.stdin!.on('error', () => undefined);
  p.child.stdin!.end(header);
  const abort = () => void p.stop(1_000);
  signal.addEventListener('abort', abort, { once: true });
  const status = await p.exited;
  signal.removeEventListener('abort', abort);
  if (p.spawnError) throw p.spawnError;
  signal.throwIfAborted();
  const line = errorLine(stderr);
  if (/no identity matched any of the recipients/.test(line)) {
    const recipients = manifest.encryption?.recipients ?? [];
    throw new ConfigError(`the identity in ${ENV.AGE_IDENTITY_FILE} ('${identity.file}') does not decrypt backup ${id}: ${line} `
      + `(its manifest lists ${listed(recipients)}); give the identity of one of the backup's recipients.`);
  }
  if (/^reading "/.test(line)) {
    throw new ConfigError(`${ENV.AGE_IDENTITY_FILE}: age cannot use '${identity.file}' as an identity (${line.replace(/^reading "[^"]*": /, '')}); ${FIX_IDENTITY}.`);
  }
  if (/header|MAC|stanza|malformed|unknown format|invalid/i.test(line)) {
    throw new IntegrityError(`${manifest.key} does not decrypt: its age header is damaged (${line}), although it matches its manifest's sha256; the backup was written damaged or replaced together with its manifest`);
  }
  // Anything else is age stopping where the payload starts ("unexpected EOF"): the header opened.
  if (status.code === 0 || line !== '') return;
  throw new Error(`age -d stopped without saying why (${describeExit('age', status)})`);
}

/** age's failure while decrypting the payload: the ciphertext is damaged or truncated. */
export class DecryptionError extends Error {
  public readonly name = 'DecryptionError';
}

export interface Decryptor {
  readonly input: Writable;
  readonly output: Readable;
  /** Resolves when age exited 0 (every chunk authenticated and out); rejects with the cause. */
  readonly done: Promise<void>;
  /** Resolves (never rejects) once age has stopped. */
  readonly exited: Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * `age -d -i <identity>` as a pipe. age exiting non-zero on its own (not stopped by the runner) is a
 * DecryptionError: the payload failed authentication or ended early.
 */
export function startDecryptor(manifest: Pick<Manifest, 'key'>, identity: AgeIdentity, env: NodeJS.ProcessEnv): Decryptor {
  const p = spawnChild('age', ['-d', '-i', identity.file], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  p.child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4096);
  });
  // A write after age died is reported through its exit status.
  p.child.stdin!.on('error', () => undefined);
  const done = p.exited.then(status => {
    if (p.spawnError) throw p.spawnError;
    if (status.code === 0) return;
    const line = errorLine(stderr);
    if (status.signal === null) {
      throw new DecryptionError(`the backup ${manifest.key} failed age decryption (${line || describeExit('age -d', status)}): the ciphertext is damaged or truncated`);
    }
    throw new Error(`${describeExit('age -d', status)}${line ? `: ${line}` : ''}`);
  });
  done.catch(() => undefined);
  return { input: p.child.stdin!, output: p.child.stdout!, done, exited: p.exited, stop: () => p.stop(1_000) };
}
