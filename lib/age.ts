/**
 * age recipients (https://age-encryption.org/v1): the public keys a backup is encrypted to, checked
 * the same way by the constructs (at synth, `field` = the prop) and by the runner (before any byte
 * moves, `field` = the variable). Accepted: native X25519 recipients (`age1…`, bech32 with its
 * checksum verified) and the SSH recipients age supports (`ssh-ed25519 AAAA… [comment]`, `ssh-rsa
 * AAAA… [comment]` of at least 2048 bits). A private key given where a public one belongs is
 * refused without echoing it. No cdk8s import: the runner bundles this file. Internal: not
 * exported from the package index.
 */
import { RuleError } from './rules';

function fail(field: string, message: string): never {
  throw new RuleError(`${field}: ${message}`);
}

const FIX = "give age public keys: 'age1…' as printed by `age-keygen` (or `age-keygen -y key.txt`), or an SSH public key line 'ssh-ed25519 AAAA…' / 'ssh-rsa AAAA…'";

// --- bech32 (BIP 173), the encoding of age's X25519 recipients ---------------------------------
// A checksum over 5-bit groups: bit operations are the algorithm here.
/* eslint-disable no-bitwise */

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const value of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i++) {
      if ((top >>> i) & 1) chk ^= GENERATOR[i];
    }
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const codes = [...hrp].map(c => c.charCodeAt(0));
  return [...codes.map(c => c >> 5), 0, ...codes.map(c => c & 31)];
}

/** Why a bech32 string is malformed, or its human-readable part and 8-bit payload. */
type Bech32Result = { ok: true; hrp: string; data: Uint8Array } | { ok: false; why: string };

/** Decodes a lowercase bech32 string (checksum constant 1, not bech32m), as age does (no 90-char limit). */
export function bech32Decode(text: string): Bech32Result {
  const separator = text.lastIndexOf('1');
  if (separator < 1 || separator + 7 > text.length) return { ok: false, why: 'it is too short or has no separator' };
  const hrp = text.slice(0, separator);
  for (const c of hrp) {
    const code = c.charCodeAt(0);
    if (code < 33 || code > 126) return { ok: false, why: 'its prefix has a character outside printable ASCII' };
  }
  const values: number[] = [];
  for (const [offset, c] of [...text.slice(separator + 1)].entries()) {
    const value = CHARSET.indexOf(c);
    if (value < 0) {
      return { ok: false, why: `character ${separator + 2 + offset} ('${c}') is not in the bech32 alphabet (no 'b', 'i', 'o' or '1' after the prefix)` };
    }
    values.push(value);
  }
  if (polymod([...hrpExpand(hrp), ...values]) !== 1) {
    return { ok: false, why: 'its checksum does not match (a character was changed, lost or swapped: copy the key again)' };
  }
  // 5-bit groups to bytes; the leftover bits must be padding: fewer than 5 and all zero.
  const words = values.slice(0, -6);
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const word of words) {
    acc = (acc << 5) | word;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) return { ok: false, why: 'its data has non-zero padding' };
  return { ok: true, hrp, data: Uint8Array.from(bytes) };
}

/** Encodes bytes as bech32 (lowercase). For tests and tools: the constructs only decode. */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >> bits) & 31);
    }
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  const mod = polymod([...hrpExpand(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map(i => (mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map(w => CHARSET[w]).join('')}`;
}

/* eslint-enable no-bitwise */

// --- SSH public key blobs (RFC 4253 section 6.6) ----------------------------------------------

class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  /** The next uint32-length-prefixed string, or undefined when the blob ends early. */
  public next(): Buffer | undefined {
    if (this.offset + 4 > this.buf.length) return undefined;
    const length = this.buf.readUInt32BE(this.offset);
    if (this.offset + 4 + length > this.buf.length) return undefined;
    const value = this.buf.subarray(this.offset + 4, this.offset + 4 + length);
    this.offset += 4 + length;
    return value;
  }
  public get done(): boolean {
    return this.offset === this.buf.length;
  }
}

/** The bit length of an SSH mpint (big-endian two's complement, positive here). */
function mpintBits(value: Buffer): number {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  if (i === value.length) return 0;
  return (value.length - i - 1) * 8 + (32 - Math.clz32(value[i]));
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
export const SSH_RSA_MIN_BITS = 2048;

function sshRecipient(field: string, type: 'ssh-ed25519' | 'ssh-rsa', line: string): string {
  const parts = line.split(/[ \t]+/);
  const encoded = parts[1];
  const shown = `'${type} ${(encoded ?? '').slice(0, 12)}…'`;
  if (encoded === undefined || encoded === '') fail(field, `${shown} has no key after '${type}'; give the whole line of the .pub file, e.g. '${type} AAAA… user@host'.`);
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) fail(field, `${shown}: the key is not valid base64; copy the whole line of the .pub file again.`);
  const reader = new Reader(Buffer.from(encoded, 'base64'));
  const blobType = reader.next()?.toString('latin1');
  if (blobType !== type) fail(field, `${shown}: the key data is ${blobType === undefined ? 'truncated' : `of type '${blobType}'`}, not '${type}'; copy the whole line of the .pub file again.`);
  if (type === 'ssh-ed25519') {
    const key = reader.next();
    if (key === undefined || key.length !== 32 || !reader.done) fail(field, `${shown}: the key data is not a 32-byte Ed25519 key; copy the whole line of the .pub file again.`);
  } else {
    const exponent = reader.next();
    const modulus = reader.next();
    if (exponent === undefined || modulus === undefined || !reader.done) fail(field, `${shown}: the key data is not an RSA public key; copy the whole line of the .pub file again.`);
    const bits = mpintBits(modulus);
    if (bits < SSH_RSA_MIN_BITS) fail(field, `${shown} is a ${bits}-bit RSA key; age refuses RSA keys under ${SSH_RSA_MIN_BITS} bits: use an ssh-ed25519 key or an age1… key.`);
  }
  // Canonical form: type, key, and the comment (if any) with its spacing collapsed.
  return parts.join(' ');
}

// --- recipients -------------------------------------------------------------------------------

/**
 * One age recipient: `age1…` (lowercase bech32, 32-byte X25519 key, checksum verified),
 * `ssh-ed25519 AAAA… [comment]` or `ssh-rsa AAAA… [comment]` (at least 2048 bits). Returns it
 * trimmed, white space inside an SSH line collapsed to single spaces.
 */
export function ageRecipient(field: string, text: string): string {
  if (typeof text !== 'string') fail(field, `expected a string, got ${typeof text}; ${FIX}.`);
  const value = text.trim();
  if (value === '') fail(field, `a recipient is empty; ${FIX}.`);
  // Never echo a private key: not even a prefix of it beyond its well-known marker. Anywhere in
  // the value, not only at its start: an SSH line's comment is free text and reaches the CronJob.
  if (/age-secret-key-/i.test(value)) {
    fail(field, 'this is an age PRIVATE key (AGE-SECRET-KEY-1…), not a recipient. It must never be put in a backup CronJob: give its public key instead (`age-keygen -y key.txt` prints it), and keep the private key in a Secret for restore and verify only (BackupDecryption.ageIdentity).');
  }
  if (/PRIVATE KEY/i.test(value)) {
    fail(field, 'this is a PRIVATE key, not a recipient. It must never be put in a backup CronJob: give the public key (the .pub file, or `ssh-keygen -y -f key` / `age-keygen -y key.txt`).');
  }
  // One recipient is one line: a line break would smuggle a second (unchecked) line into the list.
  if (/[\r\n\0]/.test(value)) fail(field, `a recipient must be one line; give each recipient as its own list item. ${FIX}.`);
  if (value.startsWith('ssh-ed25519') || value.startsWith('ssh-rsa')) {
    const type = value.startsWith('ssh-ed25519') ? 'ssh-ed25519' : 'ssh-rsa';
    if (!/^ssh-(ed25519|rsa)[ \t]/.test(value)) fail(field, `'${value.slice(0, 20)}…' is not '${type} <key> [comment]'; ${FIX}.`);
    return sshRecipient(field, type, value);
  }
  if (/^ssh-|^ecdsa-|^sk-/.test(value)) {
    fail(field, `'${value.split(/\s/)[0]}' keys are not supported by age; use an ssh-ed25519 key, an ssh-rsa key or an age1… key.`);
  }
  if (/^age1/i.test(value)) {
    if (value !== value.toLowerCase()) fail(field, `'${value}' has upper-case letters; the age CLI accepts only the lower-case form: write it in lower case.`);
    if (/\s/.test(value)) fail(field, `'${value}' has white space inside; one recipient per entry (per line in the text form).`);
    const decoded = bech32Decode(value);
    if (!decoded.ok) fail(field, `'${value}' is not a valid age recipient: ${decoded.why}.`);
    if (decoded.hrp !== 'age') {
      fail(field, `'${value.slice(0, 24)}…' is an age plugin recipient ('${decoded.hrp}'); plugins are not installed in the image: use an age1… X25519 key or an SSH key.`);
    }
    if (decoded.data.length !== 32) fail(field, `'${value}' holds ${decoded.data.length} bytes, not a 32-byte X25519 key; copy the key again.`);
    return value;
  }
  fail(field, `'${value.slice(0, 16)}${value.length > 16 ? '…' : ''}' is not an age recipient; ${FIX}.`);
}

/** What identifies the key, so the same key with another comment is a duplicate. */
function recipientKey(recipient: string): string {
  return recipient.split(' ').slice(0, 2).join(' ');
}

/** A list of recipients: each checked by ageRecipient, no key twice, at least one. Returns them canonical. */
export function ageRecipients(field: string, list: readonly string[]): string[] {
  if (!Array.isArray(list) || list.length === 0) fail(field, `no recipient given; ${FIX}.`);
  const seen = new Map<string, number>();
  return list.map((text, i) => {
    const recipient = ageRecipient(`${field}[${i}]`, text);
    const key = recipientKey(recipient);
    const earlier = seen.get(key);
    if (earlier !== undefined) fail(field, `recipients [${earlier}] and [${i}] are the same key '${key.slice(0, 24)}…'; give each key once.`);
    seen.set(key, i);
    return recipient;
  });
}

/**
 * Recipients from text, one per line (the form of BACKUP_AGE_RECIPIENTS and of age's `-R` files):
 * blank lines and lines starting with `#` are skipped; no key twice; at least one.
 */
export function ageRecipientsFromText(field: string, text: string | undefined): string[] {
  const lines = (text ?? '').split(/\r?\n/).map(line => line.trim()).filter(line => line !== '' && !line.startsWith('#'));
  if (lines.length === 0) fail(field, `no recipient given; ${FIX}, one per line.`);
  const seen = new Map<string, number>();
  return lines.map((line, i) => {
    const recipient = ageRecipient(`${field} (recipient ${i + 1})`, line);
    const key = recipientKey(recipient);
    const earlier = seen.get(key);
    if (earlier !== undefined) fail(field, `recipients ${earlier + 1} and ${i + 1} are the same key '${key.slice(0, 24)}…'; give each key once.`);
    seen.set(key, i);
    return recipient;
  });
}

/** The text form read by ageRecipientsFromText (and by `age -R`): one recipient per line. */
export function recipientsToText(list: readonly string[]): string {
  return list.join('\n');
}
