/**
 * What a series holds, read from a listing: complete backups (a data object and its manifest) and
 * incomplete leftovers (data without a manifest, a manifest without data, unfinished writes).
 * Manifests are the source of truth. A backup's verification result (`<data key>.verify.json`,
 * verify-result.ts) is never a backup nor a leftover of one: it belongs to its backup's entry, or,
 * when that backup is gone, it is an orphan `prune` removes. Every time that orders, chooses or ages something is the
 * time the storage recorded, never the pod's clock (DESIGN.md, invariant 7): a backup's id says
 * when the pod thought it started, and a pod with a wrong clock names it wrongly.
 */
import { storageNow } from './clock';
import { describeError } from './errors';
import { MANIFEST_SUFFIX, backupIdOf, timeOfId } from './key';
import { Logger } from './log';
import { Manifest, ManifestError, parseManifest } from './manifest';
import { Storage, StoredObject, Unfinished } from './storage/storage';
import { VERIFY_RESULT_SUFFIX } from './verify-result';
import { BACKUP_ID_PATTERN, LATEST_BACKUP_ID } from '../../lib/contract';

export interface CatalogEntry {
  readonly id: string;
  readonly key: string;
  readonly manifestKey: string;
  /**
   * Its time for retention and `latest`: when the storage recorded its manifest, i.e. when it
   * became a backup. Retention's hourly/daily/weekly/... periods use this time too, so a backup
   * named by a wrong clock lands in the period it was really made in.
   */
  readonly time: Date;
  /** The start its id encodes (the pod's clock). */
  readonly idTime: Date;
  /**
   * The id's time is later than the storage's record of the backup by more than the tolerance:
   * it was named by a clock running ahead. (A clock behind shows only against the manifest's
   * duration; `list` checks that.)
   */
  readonly skewed: boolean;
  /** The stored data object's size, from the listing. */
  readonly storedBytes: number;
  /** The key of its latest verification result (`<key>.verify.json`), when one is stored. */
  readonly verifyResultKey?: string;
}

export type LeftoverKind = 'data-without-manifest' | 'manifest-without-data' | 'unfinished-write';

export interface Leftover {
  readonly kind: LeftoverKind;
  readonly id: string;
  readonly key: string;
  /**
   * Its age reference, on the storage's clock: when the storage recorded the unfinished write's
   * start or last write (S3 Initiated, a temporary file's mtime), or the leftover object's write.
   */
  readonly since: Date;
  readonly unfinished?: Unfinished;
}

export interface Catalog {
  /** Newest first, by the storage's time (then by id). */
  readonly backups: CatalogEntry[];
  readonly leftovers: Leftover[];
  /**
   * Verification results whose backup is not complete (its data or its manifest is gone): left
   * by an interrupted prune, or written by a verification that ended after its backup was pruned.
   */
  readonly orphanedVerifyResults: StoredObject[];
  /** The storage's time when the catalog was read (the pod's clock corrected by the measured skew). */
  readonly now: Date;
}

/** A backup reference (`latest` or an id) that matches no complete backup. */
export class BackupNotFoundError extends Error {
  public readonly name = 'BackupNotFoundError';
}

/**
 * The series under `seriesPrefix` (Storage.seriesPrefix). First compares the pod's clock with the
 * storage's (a ClockSkewError when they disagree), since everything read here is used to delete
 * or choose. The storage lists keys at any depth and any key that merely starts with the prefix;
 * only direct children named like a backup belong to the series (another series' keys, e.g.
 * under `<prefix>/<name>/<more>/`, or those of a series whose name merely starts like this one's,
 * are not its leftovers).
 */
export async function readCatalog(storage: Storage, seriesPrefix: string, signal: AbortSignal): Promise<Catalog> {
  const now = await storageNow(storage, signal);
  const [objects, unfinished] = await Promise.all([storage.list(seriesPrefix, signal), storage.listUnfinished(seriesPrefix, signal)]);
  const own = (key: string) => ownKey(seriesPrefix, key);
  const data = new Map<string, StoredObject>();
  const manifests = new Map<string, StoredObject>();
  const results = new Map<string, StoredObject>();
  for (const o of objects.filter(x => own(x.key))) {
    if (o.key.endsWith(MANIFEST_SUFFIX)) manifests.set(o.key.slice(0, -MANIFEST_SUFFIX.length), o);
    else if (o.key.endsWith(VERIFY_RESULT_SUFFIX)) results.set(o.key.slice(0, -VERIFY_RESULT_SUFFIX.length), o);
    else data.set(o.key, o);
  }
  const backups: CatalogEntry[] = [];
  const leftovers: Leftover[] = [];
  for (const [key, o] of data) {
    const id = backupIdOf(key);
    const m = manifests.get(key);
    if (m) {
      const idTime = timeOfId(id);
      const skewed = idTime.getTime() - m.modified.getTime() > storage.maxClockSkewMs;
      const result = results.get(key);
      backups.push({
        id, key, manifestKey: m.key, time: m.modified, idTime, storedBytes: o.bytes, skewed, ...(result ? { verifyResultKey: result.key } : {}),
      });
    } else {
      leftovers.push({ kind: 'data-without-manifest', id, key, since: o.modified });
    }
  }
  for (const [key, m] of manifests) {
    if (!data.has(key)) leftovers.push({ kind: 'manifest-without-data', id: backupIdOf(key), key: m.key, since: m.modified });
  }
  for (const u of unfinished.filter(x => own(x.key))) {
    leftovers.push({ kind: 'unfinished-write', id: backupIdOf(u.key), key: u.key, since: u.started, unfinished: u });
  }
  const orphanedVerifyResults = [...results].filter(([key]) => !(data.has(key) && manifests.has(key))).map(([, o]) => o);
  backups.sort(newestFirst);
  return { backups, leftovers, orphanedVerifyResults, now };
}

/**
 * Whether `key` is a key of the series at `seriesPrefix`: exactly `<seriesPrefix><id>.<ext>`, with
 * an id that matches the backup id pattern and nothing deeper.
 */
export function ownKey(seriesPrefix: string, key: string): boolean {
  if (!key.startsWith(seriesPrefix)) return false;
  const rest = key.slice(seriesPrefix.length);
  const id = backupIdOf(rest);
  return !rest.includes('/') && BACKUP_ID_PATTERN.test(id) && rest.length > id.length + 1 && rest[id.length] === '.';
}

/** Newest first by the storage's time; ties broken by id so the order never depends on the listing. */
export function newestFirst(a: CatalogEntry, b: CatalogEntry): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The backup `ref` names: `latest` or an id; the error lists the newest ids. */
export function resolveBackup(catalog: Catalog, ref: string, location: string): CatalogEntry {
  const newest = catalog.backups.slice(0, 5).map(b => b.id);
  const known = newest.length ? `the newest are ${newest.join(', ')}` : 'there are none';
  if (ref === LATEST_BACKUP_ID) {
    if (catalog.backups[0]) return catalog.backups[0];
    throw new BackupNotFoundError(`no complete backup (with a manifest) at ${location}`);
  }
  const found = catalog.backups.find(b => b.id === ref);
  if (found) return found;
  const incomplete = catalog.leftovers.some(l => l.id === ref);
  throw new BackupNotFoundError(`backup ${ref} not found at ${location}${incomplete ? ' (only an incomplete leftover without a manifest has that id)' : ''}; ${known}`);
}

/** Why a backup's stored data cannot be what its manifest describes, or undefined. */
export function damageOf(entry: CatalogEntry, manifest: Manifest): string | undefined {
  return entry.storedBytes === manifest.bytes ? undefined
    : `${entry.key} is ${entry.storedBytes} bytes but its manifest records ${manifest.bytes}: the object is truncated or was changed`;
}

/**
 * The backup `ref` names, with its manifest. `latest` is the newest by the storage's time whose
 * stored object matches its manifest; each newer damaged backup is skipped with a warning naming
 * it. A damaged backup named by its id is refused, with the same reason `list` gives.
 */
export async function chooseBackup(
  storage: Storage, catalog: Catalog, ref: string, location: string, log: Logger, signal: AbortSignal,
): Promise<{ entry: CatalogEntry; manifest: Manifest }> {
  const first = resolveBackup(catalog, ref, location);
  const candidates = ref === LATEST_BACKUP_ID ? catalog.backups : [first];
  const skipped: string[] = [];
  for (const entry of candidates) {
    const manifest = await readManifest(storage, entry, signal);
    const damage = damageOf(entry, manifest);
    if (!damage) {
      if (skipped.length) log.warn(`latest: skipped ${skipped.length} damaged backup(s) newer than ${entry.id}: ${skipped.join(', ')}`, { id: entry.id, skipped });
      return { entry, manifest };
    }
    if (ref !== LATEST_BACKUP_ID) throw new Error(`backup ${entry.id} is damaged: ${damage}`);
    log.warn(`skipping damaged backup ${entry.id}: ${damage}`, { id: entry.id, key: entry.key, damaged: damage });
    skipped.push(entry.id);
  }
  throw new BackupNotFoundError(`no undamaged complete backup at ${location}; damaged: ${skipped.join(', ')}`);
}

/**
 * Reads and checks a backup's manifest: valid by its schema (a ManifestError "manifest <key> is
 * not valid: …" otherwise) and describing this very object.
 */
export async function readManifest(storage: Storage, entry: CatalogEntry, signal: AbortSignal): Promise<Manifest> {
  let text: string;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(entry.manifestKey, signal)) {
      chunks.push(chunk as Buffer);
      if (chunks.length > 64) throw new Error('larger than any manifest');
    }
    text = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw new Error(`cannot read the manifest ${entry.manifestKey}: ${describeError(err)}`, { cause: err });
  }
  const manifest = parseManifest(entry.manifestKey, text);
  if (manifest.key !== entry.key) {
    throw new ManifestError(`manifest ${entry.manifestKey} is not valid: its key is '${manifest.key}', not that of the object it is stored with, ${entry.key}`);
  }
  return manifest;
}
