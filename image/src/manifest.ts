/**
 * The manifest, written last next to the data: a backup exists only if its manifest does. It says
 * what the data is and how to check it. No secret goes in here: only names, sizes and versions.
 *
 * A manifest is read back from storage anyone with write access could have changed, so it is
 * checked against MANIFEST_SCHEMA, the one description of its fields, before the runner uses any.
 */
import { ServerInfo, ToolInfo } from './engines/engine';
import { COMPRESSIONS, CompressionName } from '../../lib/contract';
import { ENGINE_NAMES, EngineName } from '../../lib/registry';

/** The format of an unencrypted backup's manifest. */
export const MANIFEST_FORMAT_VERSION = 1;
/**
 * The format of an encrypted backup's manifest (it has `encryption`). A runner that reads format 1
 * only refuses it, instead of handing age ciphertext to a restore tool.
 */
export const ENCRYPTED_MANIFEST_FORMAT_VERSION = 2;
/** The formats this runner reads. */
export const MANIFEST_FORMAT_VERSIONS: readonly number[] = [MANIFEST_FORMAT_VERSION, ENCRYPTED_MANIFEST_FORMAT_VERSION];

/** How the stored object is encrypted: an age file to these recipients (public keys). */
export interface ManifestEncryption {
  readonly format: 'age';
  /** The recipients' public keys (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`), as the backup pod had them. */
  readonly recipients: readonly string[];
}

export interface Manifest {
  readonly formatVersion: number;
  readonly engine: EngineName;
  readonly database: string | null;
  /** The data object's key, relative to the bucket or directory. */
  readonly key: string;
  /** Stored size (after compression and encryption). */
  readonly bytes: number;
  /** Bytes the dump tool wrote, before compression; null if the compressor could not report it. */
  readonly rawBytes: number | null;
  /** sha256 of the stored bytes (the age file when encrypted), hex. */
  readonly sha256: string;
  /** The compression of the dump; when encrypted, of the plaintext inside the age file. */
  readonly compression: CompressionName;
  /** The engine's stored format (its registry entry's `format`): which tool reads it back. */
  readonly format: string;
  readonly tool: ToolInfo;
  readonly server: ServerInfo;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly runner: { readonly version: string };
  /** Present if and only if the stored object is an age file (formatVersion 2). */
  readonly encryption?: ManifestEncryption;
}

/** A manifest that is not JSON, or not what MANIFEST_SCHEMA describes. */
export class ManifestError extends Error {
  public readonly name = 'ManifestError';
}

/** A check of one value: undefined when it is right, else what is wrong, e.g. "must be a string, got 5". */
export type Check = (value: unknown) => string | undefined;

/** A value as a check's message shows it, shortened. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export const string: Check = v => (typeof v === 'string' ? undefined : `must be a string, got ${shown(v)}`);
export const nonEmptyString: Check = v => (typeof v === 'string' && v !== '' ? undefined : `must be a non-empty string, got ${shown(v)}`);
export const byteCount: Check = v => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `must be a whole number of bytes, got ${shown(v)}`);
export const seconds: Check = v => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : `must be a number of seconds, got ${shown(v)}`);
export const time: Check = v => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? undefined : `must be an ISO 8601 time, got ${shown(v)}`);
export const sha256: Check = v => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? undefined : `must be 64 lowercase hex digits, got ${shown(v)}`);
export const oneOf = (values: readonly string[]): Check => v => (values.includes(v as string) ? undefined : `must be one of ${values.join(', ')}, got ${shown(v)}`);
export const orNull = (check: Check): Check => v => (v === null ? undefined : check(v) && `${check(v)} or null`);
export const nonEmptyList = (check: Check): Check => v => {
  if (!Array.isArray(v) || v.length === 0) return `must be a non-empty list, got ${shown(v)}`;
  for (const [i, item] of v.entries()) {
    const problem = check(item);
    if (problem) return `[${i}] ${problem}`;
  }
  return undefined;
};
export const object = (fields: Record<string, Check>): Check => v => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `must be an object, got ${shown(v)}`;
  for (const [name, check] of Object.entries(fields)) {
    const problem = check((v as Record<string, unknown>)[name]);
    if (problem) return `.${name} ${problem}`;
  }
  return undefined;
};

interface Field {
  readonly check: Check;
  /**
   * Needed to restore or check a backup. The others describe it (for `list` and people) and are
   * checked when present: manifests written by hand or by other tools may leave them out.
   */
  readonly required: boolean;
}

/** Every field of a format-1 or format-2 manifest. Fields it does not name are ignored. */
export const MANIFEST_SCHEMA: { readonly [K in keyof Manifest]: Field } = {
  formatVersion: {
    required: true,
    check: v => (MANIFEST_FORMAT_VERSIONS.includes(v as number) ? undefined
      : `is ${shown(v)}; this runner reads formats ${MANIFEST_FORMAT_VERSIONS.join(' and ')} only (was the backup made by a newer runner? restore it with that version's image)`),
  },
  engine: { required: true, check: oneOf(ENGINE_NAMES) },
  database: { required: true, check: orNull(string) },
  key: { required: true, check: nonEmptyString },
  bytes: { required: true, check: byteCount },
  rawBytes: { required: false, check: orNull(byteCount) },
  sha256: { required: true, check: sha256 },
  compression: { required: true, check: oneOf(COMPRESSIONS) },
  format: { required: true, check: nonEmptyString },
  tool: { required: false, check: object({ name: nonEmptyString, version: string }) },
  server: { required: false, check: object({ version: orNull(string) }) },
  startedAt: { required: false, check: time },
  finishedAt: { required: false, check: time },
  durationSeconds: { required: false, check: seconds },
  runner: { required: false, check: object({ version: string }) },
  // Required by format 2, absent from format 1: parseManifest checks that pairing.
  encryption: { required: false, check: object({ format: oneOf(['age']), recipients: nonEmptyList(nonEmptyString) }) },
};

/**
 * The manifest stored at `key`, from its text. Throws a ManifestError "manifest <key> is not
 * valid: <what>" naming every field that is wrong, the format version first.
 */
export function parseManifest(key: string, text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`manifest ${key} is not valid: it is not JSON (${(err as Error).message})`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ManifestError(`manifest ${key} is not valid: it must be a JSON object, got ${Array.isArray(value) ? 'an array' : shown(value)}`);
  }
  const fields = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, field] of Object.entries(MANIFEST_SCHEMA) as Array<[string, Field]>) {
    if (!(name in fields) || fields[name] === undefined) {
      if (field.required) problems.push(`${name} is missing`);
      continue;
    }
    const problem = field.check(fields[name]);
    if (problem) problems.push(`${name} ${problem}`);
    // An unknown version may mean anything in its other fields: say that alone.
    if (name === 'formatVersion' && problem) break;
  }
  if (problems.length === 0) {
    const encrypted = fields.encryption !== undefined;
    if (fields.formatVersion === ENCRYPTED_MANIFEST_FORMAT_VERSION && !encrypted) {
      problems.push(`encryption is missing; a format-${ENCRYPTED_MANIFEST_FORMAT_VERSION} manifest describes an encrypted backup`);
    } else if (fields.formatVersion === MANIFEST_FORMAT_VERSION && encrypted) {
      problems.push(`formatVersion is ${MANIFEST_FORMAT_VERSION} but encryption is set; an encrypted backup's manifest is format ${ENCRYPTED_MANIFEST_FORMAT_VERSION}`);
    }
  }
  if (problems.length) throw new ManifestError(`manifest ${key} is not valid: ${problems.join('; ')}`);
  return fields as unknown as Manifest;
}
