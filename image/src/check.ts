/**
 * `check`: the view from the storage. Lists the series and fails when there is no complete
 * backup, when the newest sound one is older than BACKUP_CHECK_MAX_AGE_SECONDS (by the storage's
 * clock), when a manifest's object is missing or has another size, and with
 * BACKUP_CHECK_READ_DATA when a stored object's sha256 differs from its manifest (like
 * `restic check --read-data`). Every problem is one JSON line; the final line sums them up.
 *
 * It only reads (list and get): the storage is wrapped so that a write or delete would fail, and
 * a storage that refuses to list unfinished uploads (no `s3:ListBucketMultipartUploads`) only
 * leaves them uncounted. Objects are streamed through a hash, never buffered: constant memory.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Catalog, CatalogEntry, damageOf, readCatalog, readManifest } from './catalog';
import { formatDuration } from './clock';
import { describeError } from './errors';
import { HashCheck, IntegrityError } from './integrity';
import { mapLimit } from './list';
import { Logger } from './log';
import { Manifest } from './manifest';
import { Storage } from './storage/storage';
import { ENV } from '../../lib/contract';
import { booleanFromText, checkMaxAgeSeconds, countFromText } from '../../lib/rules';

/** Manifests read at once, as `list` does. */
const MANIFEST_CONCURRENCY = 8;

export interface CheckSettings {
  /**
   * BACKUP_CHECK_MAX_AGE_SECONDS in milliseconds: the most the newest sound backup may age. Unset:
   * no age check (the image alone may check integrity only; the construct always sets it).
   */
  readonly maxAgeMs?: number;
  /** BACKUP_CHECK_READ_DATA: read every stored object and compare its sha256 with its manifest. */
  readonly readData: boolean;
}

/** The check's variables, checked; throws a RuleError naming the variable. */
export function readCheckSettings(env: NodeJS.ProcessEnv): CheckSettings {
  const raw = env[ENV.CHECK_MAX_AGE_SECONDS];
  let maxAgeMs: number | undefined;
  if (raw !== undefined && raw !== '') {
    maxAgeMs = checkMaxAgeSeconds(ENV.CHECK_MAX_AGE_SECONDS, countFromText(ENV.CHECK_MAX_AGE_SECONDS, raw)) * 1000;
  }
  return { maxAgeMs, readData: booleanFromText(ENV.CHECK_READ_DATA, env[ENV.CHECK_READ_DATA], false) };
}

/** What is wrong, one per finding. */
export type CheckProblemKind = 'no-backup' | 'stale' | 'missing-object' | 'unreadable-manifest' | 'size-mismatch' | 'sha256-mismatch' | 'unreadable-object';

export interface CheckProblem {
  readonly kind: CheckProblemKind;
  /** The cause and the fix, in one sentence or two. */
  readonly message: string;
  readonly id?: string;
  readonly key?: string;
}

export interface CheckOptions {
  readonly storage: Storage;
  readonly prefix: string;
  readonly settings: CheckSettings;
  /** Incomplete leftovers younger than this are writes in progress. */
  readonly incompleteMinAgeMs: number;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly progressIntervalMs: number;
}

export interface CheckReport {
  readonly passed: boolean;
  /** Newest first. */
  readonly problems: CheckProblem[];
  /** Complete backups (with a manifest) whose check found nothing wrong. */
  readonly soundBackups: number;
  /** Complete backups with a problem (unreadable manifest, size or sha256 mismatch, unreadable object). */
  readonly damagedBackups: number;
  /** The newest sound backup, if any, and its age on the storage's clock. */
  readonly newest?: { readonly id: string; readonly key: string; readonly time: Date; readonly ageMs: number; readonly bytes: number };
  /** Data without a manifest and unfinished writes younger than the incomplete age: backups being written. */
  readonly inProgress: number;
  /**
   * Older incomplete leftovers, and verification results whose backup is gone: `prune`'s to
   * remove, not a problem of the series. (A backup's own verification result is not looked at.)
   */
  readonly leftovers: number;
  /** False when the storage refused to list unfinished writes (read-only credentials): they are not counted. */
  readonly unfinishedListed: boolean;
  /** Stored bytes read and hashed (readData). */
  readonly bytesRead: number;
}

/** Runs the check; resolves with what it found (problems are logged as found), rejects only when the storage cannot be listed. */
export async function runCheck(o: CheckOptions): Promise<CheckReport> {
  const { log, signal } = o;
  let unfinishedListed = true;
  const storage = readOnlyStorage(o.storage, () => {
    unfinishedListed = false;
  });
  const catalog = await readCatalog(storage, o.prefix, signal);
  const where = `${o.storage.location} (series prefix ${o.prefix})`;
  const problems: CheckProblem[] = [];
  const report = (problem: CheckProblem, fields: Record<string, unknown> = {}) => {
    problems.push(problem);
    log.error(`problem: ${problem.message}`, { problem: problem.kind, id: problem.id, key: problem.key, ...fields });
  };

  // A manifest whose object is gone: prune deletes the manifest first, so this is never a step
  // of the runner's own work, but something removed the data.
  for (const l of catalog.leftovers.filter(x => x.kind === 'manifest-without-data')) {
    const dataKey = l.key.slice(0, l.key.length - '.manifest.json'.length);
    report({
      kind: 'missing-object',
      id: l.id,
      key: dataKey,
      message: `backup ${l.id}: its manifest ${l.key} is stored but its object ${dataKey} is missing, so it cannot be restored; `
        + 'find out what deleted it (a lifecycle rule, another tool), and delete the manifest once the backup is given up',
    });
  }

  const manifests = await mapLimit(catalog.backups, MANIFEST_CONCURRENCY, async entry => {
    try {
      return await readManifest(storage, entry, signal);
    } catch (err) {
      signal.throwIfAborted();
      return err as Error;
    }
  });
  const sound: Array<{ entry: CatalogEntry; manifest: Manifest }> = [];
  catalog.backups.forEach((entry, i) => {
    const m = manifests[i];
    if (m instanceof Error) {
      report({
        kind: 'unreadable-manifest',
        id: entry.id,
        key: entry.manifestKey,
        message: `backup ${entry.id}: ${describeError(m)}; without a valid manifest it cannot be checked or restored by the runner`,
      });
      return;
    }
    const damage = damageOf(entry, m);
    if (damage) {
      report({ kind: 'size-mismatch', id: entry.id, key: entry.key, message: `backup ${entry.id}: ${damage}; do not restore from it` },
        { bytes: m.bytes, storedBytes: entry.storedBytes });
      return;
    }
    sound.push({ entry, manifest: m });
  });

  let bytesRead = 0;
  let checked = sound;
  if (o.settings.readData) {
    const total = sound.reduce((n, s) => n + s.manifest.bytes, 0);
    log.info('reading every stored object', { backups: sound.length, bytes: total });
    checked = [];
    for (const s of sound) {
      const problem = await readAndHash(storage, s.manifest, s.entry, signal, o.progressIntervalMs, log, n => {
        bytesRead += n;
      });
      if (problem) report(problem);
      else checked.push(s);
    }
  }

  const newestSound = checked[0];
  const newest = newestSound && {
    id: newestSound.entry.id,
    key: newestSound.entry.key,
    time: newestSound.entry.time,
    ageMs: Math.max(0, catalog.now.getTime() - newestSound.entry.time.getTime()),
    bytes: newestSound.manifest.bytes,
  };
  const freshness = freshnessProblem(catalog, newest, o.settings.maxAgeMs, where, catalog.backups.length - checked.length);
  if (freshness) {
    report(freshness, newest ? { ageSeconds: Math.floor(newest.ageMs / 1000), maxAgeSeconds: (o.settings.maxAgeMs ?? 0) / 1000 } : {});
    // The final line leads with the first problem: a stale or empty series is what a person must act
    // on soonest, but when damage is why no backup is sound, the damage is the cause to name.
    if (freshness.kind === 'stale' || problems.length === 1) problems.unshift(problems.pop()!);
  }

  const incomplete = catalog.leftovers.filter(l => l.kind !== 'manifest-without-data');
  const inProgress = incomplete.filter(l => catalog.now.getTime() - l.since.getTime() < o.incompleteMinAgeMs).length;
  return {
    passed: problems.length === 0,
    problems,
    soundBackups: checked.length,
    damagedBackups: catalog.backups.length - checked.length,
    newest,
    inProgress,
    leftovers: incomplete.length - inProgress + catalog.orphanedVerifyResults.length,
    unfinishedListed,
    bytesRead,
  };
}

function freshnessProblem(
  catalog: Catalog, newest: CheckReport['newest'], maxAgeMs: number | undefined, where: string, damaged: number,
): CheckProblem | undefined {
  if (!newest) {
    const why = damaged > 0 ? `every one of the ${damaged} complete backup(s) has a problem (see above)` : 'there is none';
    return {
      kind: 'no-backup',
      message: `no sound complete backup (data with its manifest) at ${where}: ${why}; check that the backup CronJob runs and `
        + `succeeds, and that ${ENV.DESTINATION} and ${ENV.NAME} name the series it writes`,
    };
  }
  if (maxAgeMs === undefined || newest.ageMs <= maxAgeMs) return undefined;
  return {
    kind: 'stale',
    id: newest.id,
    key: newest.key,
    message: `the newest sound backup ${newest.id} is ${formatDuration(newest.ageMs)} old (stored at ${newest.time.toISOString()} by the `
      + `storage's clock, now ${catalog.now.toISOString()}), older than the ${formatDuration(maxAgeMs)} allowed (${ENV.CHECK_MAX_AGE_SECONDS}); `
      + "look at the backup CronJob's recent Jobs: it has not stored a backup since",
  };
}

/**
 * Streams one stored object through the hash check; undefined when it matches its manifest. A
 * read that fails (a stall included) is a problem of that backup, not the end of the check; an
 * abort (SIGTERM) ends the check.
 */
async function readAndHash(
  storage: Storage, manifest: Manifest, entry: CatalogEntry, signal: AbortSignal, progressIntervalMs: number, log: Logger,
  onBytes: (n: number) => void,
): Promise<CheckProblem | undefined> {
  const hash = new HashCheck(manifest, 'check --read-data');
  const progress = setInterval(() => log.info('progress', { id: entry.id, bytes: hash.bytes, of: manifest.bytes }), progressIntervalMs);
  progress.unref();
  try {
    const body = await storage.get(entry.key, signal);
    const discard = new Writable({ write: (_chunk, _enc, cb) => cb() });
    await pipeline(body, hash, discard, { signal });
    return undefined;
  } catch (err) {
    signal.throwIfAborted();
    if (err instanceof IntegrityError) {
      const kind = /sha256/.test(err.message) ? 'sha256-mismatch' : 'size-mismatch';
      return { kind, id: entry.id, key: entry.key, message: `backup ${entry.id}: ${err.message}; do not restore from it` };
    }
    return {
      kind: 'unreadable-object',
      id: entry.id,
      key: entry.key,
      message: `backup ${entry.id}: reading ${entry.key} failed: ${describeError(err)}; its data could not be checked (run the check again)`,
    };
  } finally {
    clearInterval(progress);
    onBytes(hash.bytes);
  }
}

/**
 * `storage` with every write refused, so the check cannot change what it checks whatever a
 * future edit calls; listing unfinished writes that the credentials may not do yields none.
 */
function readOnlyStorage(storage: Storage, onUnfinishedDenied: () => void): Storage {
  const refuse = (what: string) => () => Promise.reject(new Error(`internal error: check must not ${what}`));
  return {
    location: storage.location,
    maxClockSkewMs: storage.maxClockSkewMs,
    seriesPrefix: name => storage.seriesPrefix(name),
    preflight: signal => storage.preflight(signal),
    get: (key, signal) => storage.get(key, signal),
    stat: (key, signal) => storage.stat(key, signal),
    list: (prefix, signal) => storage.list(prefix, signal),
    async listUnfinished(prefix, signal) {
      try {
        return await storage.listUnfinished(prefix, signal);
      } catch (err) {
        if (!accessDenied(err)) throw err;
        onUnfinishedDenied();
        return [];
      }
    },
    put: refuse('write an object'),
    delete: refuse('delete an object'),
    removeUnfinished: refuse('remove an unfinished write'),
  };
}

/** Whether `err` (or a cause of it) is the storage refusing the request to these credentials. */
function accessDenied(err: unknown): boolean {
  for (let e = err as { name?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.name === 'AccessDenied' || e.$metadata?.httpStatusCode === 403) return true;
    e = e.cause as typeof e;
  }
  return false;
}
