/**
 * `prune`: applies the KEEP_* policy (retention.ts: restic's forget vocabulary, and the newest
 * backup is always kept) to the series' complete backups, and removes its incomplete leftovers
 * once they are older than the minimum age (younger ones may still be being written). Order,
 * periods and ages are on the storage's clock (catalog.ts); the run refuses to start when the
 * pod's clock disagrees with it. Only the series' own keys are touched. A backup's
 * manifest is deleted before its data, and its verification result after both, so a half-pruned
 * backup is never listed as complete, only as data without a manifest (and a result without its
 * backup), which a later prune removes. A verification result whose backup is gone is removed
 * whatever its age: nothing is still being written to it.
 */
import { Leftover, newestFirst, readCatalog } from './catalog';
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
  /** The data key of a backup this run just completed: kept whatever the policy and the times say. */
  readonly justCompleted?: string;
}

export interface PruneResult {
  readonly kept: number;
  readonly removed: number;
  readonly leftoversRemoved: number;
  readonly leftoversKept: number;
  /** Verification results removed because their backup was gone. */
  readonly orphanedVerifyResultsRemoved: number;
  readonly failures: number;
}

export async function runPrune(o: PruneOptions): Promise<PruneResult> {
  const { storage, log, signal } = o;
  const catalog = await readCatalog(storage, o.prefix, signal);
  const now = catalog.now.getTime();
  const decision = applyRetention(catalog.backups, o.policy);
  const justCompleted = decision.remove.find(b => b.key === o.justCompleted);
  if (justCompleted) {
    decision.remove.splice(decision.remove.indexOf(justCompleted), 1);
    decision.keep.push(justCompleted);
    decision.keep.sort(newestFirst);
    decision.reasons.set(justCompleted.id, ['just completed']);
  }
  let failures = 0;
  for (const b of catalog.backups.filter(x => x.skewed)) {
    log.warn(`backup ${b.id} is named by a clock that ran ahead: its id says ${b.idTime.toISOString()}, the storage recorded it at ${b.time.toISOString()}; ordered by the storage's time`, { id: b.id, key: b.key, skewed: true });
  }
  for (const b of decision.keep) log.info('keep', { id: b.id, key: b.key, storedAt: b.time.toISOString(), reasons: decision.reasons.get(b.id) });
  let removed = 0;
  for (const b of decision.remove) {
    try {
      await storage.delete(b.manifestKey, signal);
      await storage.delete(b.key, signal);
      if (b.verifyResultKey) await storage.delete(b.verifyResultKey, signal);
      removed++;
      log.info('remove', { id: b.id, key: b.key, storedAt: b.time.toISOString(), reasons: ['not kept by the policy'] });
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
  let orphanedVerifyResultsRemoved = 0;
  for (const orphan of catalog.orphanedVerifyResults) {
    try {
      await storage.delete(orphan.key, signal);
      orphanedVerifyResultsRemoved++;
      log.info('remove verification result', { key: orphan.key, reasons: ['its backup is gone'] });
    } catch (err) {
      signal.throwIfAborted();
      failures++;
      log.error(`could not remove the verification result ${orphan.key}: ${describeError(err)}`, { key: orphan.key });
    }
  }
  const result = { kept: decision.keep.length, removed, leftoversRemoved, leftoversKept, orphanedVerifyResultsRemoved, failures };
  log.info('prune complete', { ...result, policy: o.policy, newest: decision.keep[0]?.id ?? null });
  if (failures > 0) throw new Error(`${failures} removal(s) failed; see the lines above`);
  return result;
}

async function removeLeftover(storage: Storage, l: Leftover, signal: AbortSignal): Promise<void> {
  if (l.unfinished) await storage.removeUnfinished(l.unfinished, signal);
  else await storage.delete(l.key, signal);
}
