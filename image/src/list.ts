/**
 * `list`: the series' complete backups, newest first, one JSON line each, then a summary line.
 * A backup whose manifest cannot be read is reported as a warning and not counted as listed.
 */
import { readCatalog, readManifest } from './catalog';
import { describeError } from './errors';
import { Logger } from './log';
import { Storage } from './storage/storage';

/** Manifests read at once: enough to hide latency, few enough for any S3 server. */
const CONCURRENCY = 8;

export async function runList(storage: Storage, prefix: string, log: Logger, signal: AbortSignal): Promise<{ backups: number; incomplete: number }> {
  const catalog = await readCatalog(storage, prefix, signal);
  const manifests = await mapLimit(catalog.backups, CONCURRENCY, async entry => {
    try {
      return await readManifest(storage, entry, signal);
    } catch (err) {
      signal.throwIfAborted();
      return err as Error;
    }
  });
  let listed = 0;
  catalog.backups.forEach((entry, i) => {
    const m = manifests[i];
    if (m instanceof Error) {
      log.warn(`unreadable manifest: ${describeError(m)}`, { id: entry.id, key: entry.key });
      return;
    }
    listed++;
    log.info('backup', {
      id: entry.id,
      key: entry.key,
      time: m.startedAt ?? entry.time.toISOString(),
      bytes: m.bytes,
      sha256: m.sha256,
      engine: m.engine,
      database: m.database,
      compression: m.compression,
      format: m.format,
      tool: m.tool,
      server: m.server,
      durationSeconds: m.durationSeconds,
    });
  });
  const incomplete = catalog.leftovers.length;
  log.info('list complete', {
    location: storage.location,
    prefix,
    backups: listed,
    newest: catalog.backups[0]?.id ?? null,
    incomplete,
    unreadable: catalog.backups.length - listed,
  });
  return { backups: listed, incomplete };
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
