/**
 * What a series holds, read from a listing: complete backups (a data object and its manifest) and
 * incomplete leftovers (data without a manifest, a manifest without data, unfinished writes).
 * Manifests are the source of truth; a backup's time is its start, which its id encodes.
 */
import { describeError } from './errors';
import { MANIFEST_SUFFIX, backupIdOf, timeOfId } from './key';
import { Manifest } from './manifest';
import { Storage, StoredObject, Unfinished } from './storage/storage';
import { BACKUP_ID_PATTERN, LATEST_BACKUP_ID } from '../../lib/contract';

export interface CatalogEntry {
  readonly id: string;
  readonly key: string;
  readonly manifestKey: string;
  /** The backup's start (from its id). */
  readonly time: Date;
  /** The stored data object's size, from the listing. */
  readonly storedBytes: number;
}

export type LeftoverKind = 'data-without-manifest' | 'manifest-without-data' | 'unfinished-write';

export interface Leftover {
  readonly kind: LeftoverKind;
  readonly id: string;
  readonly key: string;
  /**
   * Its age reference: when the storage recorded the unfinished write, or the start its id encodes
   * (not the last write: a backup's data is followed by its manifest within seconds, so data that
   * has none two days after its backup started was abandoned).
   */
  readonly since: Date;
  readonly unfinished?: Unfinished;
}

export interface Catalog {
  /** Newest first. */
  readonly backups: CatalogEntry[];
  readonly leftovers: Leftover[];
}

/** A backup reference (`latest` or an id) that matches no complete backup. */
export class BackupNotFoundError extends Error {
  public readonly name = 'BackupNotFoundError';
}

/**
 * The series under `seriesPrefix` (Storage.seriesPrefix). The storage lists keys at any depth and
 * any key that merely starts with the prefix; only direct children named like a backup belong to
 * the series (another series' keys, e.g. under `<prefix>/<name>/<more>/`, are not its leftovers).
 */
export async function readCatalog(storage: Storage, seriesPrefix: string, signal: AbortSignal): Promise<Catalog> {
  const [objects, unfinished] = await Promise.all([storage.list(seriesPrefix, signal), storage.listUnfinished(seriesPrefix, signal)]);
  const own = (key: string) => {
    const rest = key.slice(seriesPrefix.length);
    return key.startsWith(seriesPrefix) && !rest.includes('/') && BACKUP_ID_PATTERN.test(backupIdOf(rest));
  };
  const data = new Map<string, StoredObject>();
  const manifests = new Map<string, StoredObject>();
  for (const o of objects.filter(x => own(x.key))) {
    if (o.key.endsWith(MANIFEST_SUFFIX)) manifests.set(o.key.slice(0, -MANIFEST_SUFFIX.length), o);
    else data.set(o.key, o);
  }
  const backups: CatalogEntry[] = [];
  const leftovers: Leftover[] = [];
  for (const [key, o] of data) {
    const id = backupIdOf(key);
    if (manifests.has(key)) {
      backups.push({ id, key, manifestKey: key + MANIFEST_SUFFIX, time: timeOfId(id), storedBytes: o.bytes });
    } else {
      leftovers.push({ kind: 'data-without-manifest', id, key, since: timeOfId(id) });
    }
  }
  for (const [key, m] of manifests) {
    if (!data.has(key)) leftovers.push({ kind: 'manifest-without-data', id: backupIdOf(key), key: m.key, since: timeOfId(backupIdOf(key)) });
  }
  for (const u of unfinished.filter(x => own(x.key))) {
    leftovers.push({ kind: 'unfinished-write', id: backupIdOf(u.key), key: u.key, since: u.started, unfinished: u });
  }
  backups.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return { backups, leftovers };
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

/** Reads and checks a backup's manifest: it must be JSON and describe this very object. */
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
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new Error(`the manifest ${entry.manifestKey} is not valid JSON`, { cause: err });
  }
  const problems: string[] = [];
  if (manifest.key !== entry.key) problems.push(`its key is '${manifest.key}'`);
  if (!Number.isInteger(manifest.bytes) || manifest.bytes < 0) problems.push('it has no byte count');
  if (typeof manifest.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(manifest.sha256)) problems.push('it has no sha256');
  if (problems.length) throw new Error(`the manifest ${entry.manifestKey} does not describe ${entry.key}: ${problems.join(', ')}`);
  return manifest;
}
