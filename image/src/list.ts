/**
 * `list`: the series' complete backups, newest first by the storage's time, one JSON line each,
 * then a summary line. A backup whose manifest cannot be read is reported as a warning and not
 * counted as listed; one whose stored object's size differs from its manifest is reported as
 * damaged, with the reason, instead of listed as complete. A backup whose id (the pod's clock)
 * disagrees with the storage's record by more than the tolerance is listed with `skewed` and a
 * warning. Each listed backup shows its latest verification (`verified`: when, whether it passed,
 * how long the restore took, what it held) or null when it was never verified; a verification
 * result that cannot be read is a warning, and the backup is listed with `verified: null`.
 */
import { CatalogEntry, damageOf, readCatalog, readManifest } from './catalog';
import { formatDuration } from './clock';
import { describeError } from './errors';
import { Logger } from './log';
import { Manifest } from './manifest';
import { Storage } from './storage/storage';
import { VerifiedSummary, readVerifyResult, verifiedSummary } from './verify-result';

/** Manifests read at once: enough to hide latency, few enough for any S3 server. */
const CONCURRENCY = 8;

export async function runList(
  storage: Storage, prefix: string, log: Logger, signal: AbortSignal,
): Promise<{ backups: number; incomplete: number; damaged: number }> {
  const catalog = await readCatalog(storage, prefix, signal);
  const manifests = await mapLimit(catalog.backups, CONCURRENCY, async entry => {
    try {
      return await readManifest(storage, entry, signal);
    } catch (err) {
      signal.throwIfAborted();
      return err as Error;
    }
  });
  const verified = await mapLimit(catalog.backups, CONCURRENCY, async (entry): Promise<VerifiedSummary | null> => {
    if (!entry.verifyResultKey) return null;
    try {
      return verifiedSummary(await readVerifyResult(storage, entry.verifyResultKey, signal));
    } catch (err) {
      signal.throwIfAborted();
      log.warn(`unreadable verification result: ${describeError(err)}`, { id: entry.id, key: entry.verifyResultKey });
      return null;
    }
  });
  let listed = 0;
  let damaged = 0;
  let skewed = 0;
  let newest: string | null = null;
  catalog.backups.forEach((entry, i) => {
    const m = manifests[i];
    if (m instanceof Error) {
      log.warn(`unreadable manifest: ${describeError(m)}`, { id: entry.id, key: entry.key });
      return;
    }
    const damage = damageOf(entry, m);
    if (damage) {
      damaged++;
      log.warn(`damaged backup ${entry.id}: ${damage}`, { id: entry.id, key: entry.key, damaged: damage, bytes: m.bytes, storedBytes: entry.storedBytes });
      return;
    }
    const skewMs = idSkewMs(entry, m, storage.maxClockSkewMs);
    if (skewMs !== undefined) {
      skewed++;
      log.warn(`backup ${entry.id} was named by a clock ${formatDuration(Math.abs(skewMs))} ${skewMs > 0 ? 'ahead' : 'behind'}: `
        + `the storage recorded it at ${entry.time.toISOString()}; it is ordered by the storage's time`, { id: entry.id, key: entry.key, skewSeconds: Math.round(skewMs / 1000) });
    }
    listed++;
    newest ??= entry.id;
    log.info('backup', {
      id: entry.id,
      key: entry.key,
      time: m.startedAt ?? entry.idTime.toISOString(),
      storedAt: entry.time.toISOString(),
      ...(skewMs !== undefined ? { skewed: true, skewSeconds: Math.round(skewMs / 1000) } : {}),
      bytes: m.bytes,
      sha256: m.sha256,
      engine: m.engine,
      database: m.database,
      compression: m.compression,
      // Who can decrypt it: the recipients' public keys, readable without any identity.
      encrypted: m.encryption !== undefined,
      ...(m.encryption ? { recipients: m.encryption.recipients } : {}),
      format: m.format,
      tool: m.tool,
      server: m.server,
      durationSeconds: m.durationSeconds,
      verified: verified[i],
    });
  });
  const incomplete = catalog.leftovers.length;
  log.info('list complete', {
    location: storage.location,
    prefix,
    backups: listed,
    newest,
    incomplete,
    damaged,
    skewed,
    unreadable: catalog.backups.length - listed - damaged,
    orphanedVerifyResults: catalog.orphanedVerifyResults.length,
  });
  return { backups: listed, incomplete, damaged };
}

/**
 * How far the clock that wrote the backup was off, when more than `toleranceMs`: its manifest's
 * finish time (the pod's clock, a moment before the manifest was stored) against the time the
 * storage recorded the manifest. Without a usable finish time, only an id later than the storage's
 * record shows.
 */
function idSkewMs(entry: CatalogEntry, manifest: Manifest, toleranceMs: number): number | undefined {
  const finished = typeof manifest.finishedAt === 'string' ? Date.parse(manifest.finishedAt) : NaN;
  const skew = Number.isNaN(finished)
    ? Math.max(0, entry.idTime.getTime() - entry.time.getTime())
    : finished - entry.time.getTime();
  return Math.abs(skew) > toleranceMs ? skew : undefined;
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
