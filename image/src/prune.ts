/**
 * `prune`: applies the KEEP_* policy (retention.ts: restic's forget vocabulary, and the newest
 * backup is always kept) to the series' complete backups, and removes its incomplete leftovers
 * once they are older than the minimum age (younger ones may still be being written). A backup's
 * manifest is deleted before its data, so a half-pruned backup is never listed as complete, only
 * as data without a manifest, which a later prune removes.
 */
import { Leftover, readCatalog } from './catalog';
import { describeError } from './errors';
import { Logger } from './log';
import { RetentionPolicy, applyRetention } from './retention';
import { Storage } from './storage/storage';

export interface PruneOptions {
  readonly storage: Storage;
  readonly prefix: string;
  readonly policy: RetentionPolicy;
  readonly incompleteMinAgeMs: number;
  readonly log: Logger;
  /** Stops the run between (and during) storage calls; what is removed by then stays removed. */
  readonly signal: AbortSignal;
  readonly now?: Date;
}

export interface PruneResult {
  readonly kept: number;
  readonly removed: number;
  readonly leftoversRemoved: number;
  readonly leftoversKept: number;
  readonly failures: number;
}

export async function runPrune(o: PruneOptions): Promise<PruneResult> {
  const { storage, log, signal } = o;
  const now = (o.now ?? new Date()).getTime();
  const catalog = await readCatalog(storage, o.prefix, signal);
  const decision = applyRetention(catalog.backups, o.policy);
  let failures = 0;
  for (const b of decision.keep) log.info('keep', { id: b.id, key: b.key, reasons: decision.reasons.get(b.id) });
  let removed = 0;
  for (const b of decision.remove) {
    try {
      await storage.delete(b.manifestKey, signal);
      await storage.delete(b.key, signal);
      removed++;
      log.info('remove', { id: b.id, key: b.key, reasons: ['not kept by the policy'] });
    } catch (err) {
      // Stopped, not failed: the run ends here with the signal's reason.
      signal.throwIfAborted();
      failures++;
      log.error(`could not remove backup ${b.id}: ${describeError(err)}`, { id: b.id, key: b.key });
    }
  }
  let leftoversRemoved = 0;
  let leftoversKept = 0;
  for (const l of catalog.leftovers) {
    const ageSeconds = Math.round((now - l.since.getTime()) / 1000);
    if (now - l.since.getTime() < o.incompleteMinAgeMs) {
      leftoversKept++;
      log.info('keep incomplete', { id: l.id, key: l.key, kind: l.kind, ageSeconds, reasons: ['younger than the minimum age (may still be written)'] });
      continue;
    }
    try {
      await removeLeftover(storage, l, signal);
      leftoversRemoved++;
      log.info('remove incomplete', { id: l.id, key: l.key, kind: l.kind, ageSeconds });
    } catch (err) {
      signal.throwIfAborted();
      failures++;
      log.error(`could not remove incomplete ${l.key}: ${describeError(err)}`, { id: l.id, key: l.key, kind: l.kind });
    }
  }
  const result = { kept: decision.keep.length, removed, leftoversRemoved, leftoversKept, failures };
  log.info('prune complete', { ...result, policy: o.policy, newest: decision.keep[0]?.id ?? null });
  if (failures > 0) throw new Error(`${failures} removal(s) failed; see the lines above`);
  return result;
}

async function removeLeftover(storage: Storage, l: Leftover, signal: AbortSignal): Promise<void> {
  if (l.unfinished) await storage.removeUnfinished(l.unfinished, signal);
  else await storage.delete(l.key, signal);
}
