/**
 * A verification's result, stored next to the backup it verified as `<backup key>.verify.json`:
 * whether the backup restored, what the restore left (counted), each check, and how long the
 * restore took, which is what a recovery would take. One per backup: a later verification of the
 * same backup replaces it. It never touches the backup or its manifest (another key), and it is
 * never a backup itself (catalog.ts sets it apart); `prune` deletes it after the backup's manifest
 * and data, and deletes one whose backup is gone.
 *
 * Read back by `list` from storage anyone with write access could have changed, so it is checked
 * against VERIFY_RESULT_SCHEMA before a field is used, like a manifest.
 */
import { Readable } from 'node:stream';
import { CheckResult, RestoredContents } from './engines/engine';
import { describeError } from './errors';
import { Logger } from './log';
import { Check, nonEmptyString, object, oneOf, orNull, seconds, shown, string, time } from './manifest';
import { ObjectExistsError, Storage } from './storage/storage';
import { ENGINE_NAMES, EngineName } from '../../lib/registry';

export const VERIFY_RESULT_FORMAT_VERSION = 1;

/** What follows a backup's data key in its verification result's key. */
export const VERIFY_RESULT_SUFFIX = '.verify.json';

/** The key of the verification result of the backup whose data is at `dataKey`. */
export function verifyResultKey(dataKey: string): string {
  return dataKey + VERIFY_RESULT_SUFFIX;
}

/** The stored document. */
export interface VerifyResultDocument {
  readonly formatVersion: number;
  readonly backupId: string;
  /** The verified backup's data key. */
  readonly key: string;
  readonly engine: EngineName;
  /** When the checks ended (the pod's clock), ISO 8601. */
  readonly verifiedAt: string;
  /** Every check passed. */
  readonly passed: boolean;
  /** In the order they ran: `restore`, `contents`, then each assertion. */
  readonly checks: readonly CheckResult[];
  readonly restore: {
    /**
     * Wall time of the restore: reading the manifest, the whole-object checksum, download,
     * decompression and load. What a recovery of this backup would take. null when it failed.
     */
    readonly durationSeconds: number | null;
    /** Stored size of the backup (compressed), from its manifest. */
    readonly bytes: number;
    /** Size before compression, from its manifest; null when unknown. */
    readonly rawBytes: number | null;
  };
  /** What the restore left, counted; null when the restore failed or the count could not be made. */
  readonly contents: RestoredContents | null;
  /** The throwaway server's version, when known. */
  readonly server: { readonly version: string | null } | null;
  /** Where it was restored: e.g. the throwaway database's name. */
  readonly target: string;
  readonly runner: { readonly version: string };
}

/** A result that is not JSON, or not what VERIFY_RESULT_SCHEMA describes. */
export class VerifyResultError extends Error {
  public readonly name = 'VerifyResultError';
}

const boolean: Check = v => (typeof v === 'boolean' ? undefined : `must be true or false, got ${shown(v)}`);
const count: Check = v => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `must be a whole number, got ${shown(v)}`);
const optional = (check: Check): Check => v => (v === undefined ? undefined : check(v));
const arrayOf = (check: Check): Check => v => {
  if (!Array.isArray(v)) return `must be an array, got ${shown(v)}`;
  for (let i = 0; i < v.length; i++) {
    const problem = check(v[i]);
    if (problem) return `[${i}]${problem}`;
  }
  return undefined;
};

const contents = object({ objectUnit: nonEmptyString, objects: count, itemUnit: optional(nonEmptyString), items: optional(count) });

/** Every field of a format-1 result; each is required. Fields it does not name are ignored. */
export const VERIFY_RESULT_SCHEMA: { readonly [K in keyof VerifyResultDocument]: Check } = {
  formatVersion: v => (v === VERIFY_RESULT_FORMAT_VERSION ? undefined
    : `is ${shown(v)}; this runner reads format ${VERIFY_RESULT_FORMAT_VERSION} only (was it written by a newer runner?)`),
  backupId: nonEmptyString,
  key: nonEmptyString,
  engine: oneOf(ENGINE_NAMES),
  verifiedAt: time,
  passed: boolean,
  checks: arrayOf(object({ check: nonEmptyString, passed: boolean, detail: string })),
  restore: object({ durationSeconds: orNull(seconds), bytes: count, rawBytes: orNull(count) }),
  contents: orNull(contents),
  server: orNull(object({ version: orNull(string) })),
  target: string,
  runner: object({ version: string }),
};

/**
 * The result stored at `resultKey`, from its text. Throws a VerifyResultError "verification result
 * <key> is not valid: <what>" naming every field that is wrong, and when it describes another
 * backup than the one it is stored with.
 */
export function parseVerifyResult(resultKey: string, text: string): VerifyResultDocument {
  const invalid = (what: string) => new VerifyResultError(`verification result ${resultKey} is not valid: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(`it is not JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`it must be a JSON object, got ${Array.isArray(value) ? 'an array' : shown(value)}`);
  }
  const fields = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, check] of Object.entries(VERIFY_RESULT_SCHEMA) as Array<[string, Check]>) {
    const problem = name in fields ? check(fields[name]) : 'is missing';
    if (problem) problems.push(`${name} ${problem}`);
    if (name === 'formatVersion' && problem) break;
  }
  if (problems.length) throw invalid(problems.join('; '));
  const doc = fields as unknown as VerifyResultDocument;
  if (verifyResultKey(doc.key) !== resultKey) {
    throw invalid(`its key is '${doc.key}', not that of the backup it is stored with`);
  }
  return doc;
}

/** Reads and checks the result at `resultKey` (a VerifyResultError, or the storage's error). */
export async function readVerifyResult(storage: Storage, resultKey: string, signal: AbortSignal): Promise<VerifyResultDocument> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of await storage.get(resultKey, signal)) {
    chunks.push(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytes > 1_048_576) throw new VerifyResultError(`verification result ${resultKey} is larger than 1 MiB, larger than any result`);
  }
  return parseVerifyResult(resultKey, Buffer.concat(chunks).toString('utf8'));
}

/** What `list` shows of a backup's latest verification. */
export interface VerifiedSummary {
  readonly at: string;
  readonly passed: boolean;
  readonly restoreDurationSeconds: number | null;
  readonly contents: RestoredContents | null;
}

export function verifiedSummary(doc: VerifyResultDocument): VerifiedSummary {
  return { at: doc.verifiedAt, passed: doc.passed, restoreDurationSeconds: doc.restore.durationSeconds, contents: doc.contents };
}

/**
 * Stores `doc` at its backup's result key, replacing an earlier result of the same backup (put
 * never overwrites, so an existing one is deleted first). Never touches any other key. Resolves
 * with the key; rejects when the storage refuses (the caller logs it: a result that could not be
 * stored does not change the verdict).
 */
export async function writeVerifyResult(storage: Storage, doc: VerifyResultDocument, signal: AbortSignal): Promise<string> {
  const key = verifyResultKey(doc.key);
  const body = () => Readable.from([Buffer.from(JSON.stringify(doc, null, 2) + '\n')]);
  try {
    await storage.put(key, body(), { contentType: 'application/json' }, signal);
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err;
    await storage.delete(key, signal);
    await storage.put(key, body(), { contentType: 'application/json' }, signal);
  }
  return key;
}

/** writeVerifyResult that logs instead of rejecting; resolves with the key, or undefined when it failed. */
export async function storeVerifyResult(storage: Storage, doc: VerifyResultDocument, log: Logger, signal: AbortSignal): Promise<string | undefined> {
  try {
    return await writeVerifyResult(storage, doc, signal);
  } catch (err) {
    log.warn(`could not store the verification result ${verifyResultKey(doc.key)}: ${describeError(err)}; the verdict stands. `
      + `The verify pod's credentials need to write (s3:PutObject) and replace (s3:DeleteObject) ${verifyResultKey(doc.key)}`,
    { key: verifyResultKey(doc.key) });
    return undefined;
  }
}
