/**
 * The pod's clock decides nothing that deletes or chooses (DESIGN.md, invariant 7). Every command
 * reads the storage's clock before it writes, deletes or chooses, and refuses to start when the
 * pod's clock disagrees by more than the tolerance: backup ids come from the pod's clock, and a
 * backup dated a year ahead or behind misleads every person and tool that reads its name.
 */
import { ConfigError } from './errors';
import { Storage } from './storage/storage';
import { ENV } from '../../lib/contract';

/** The pod's clock is too far from the storage's. Exit 2: nothing was started. */
export class ClockSkewError extends ConfigError {
  public readonly name: string = 'ClockSkewError';
}

/**
 * Reads the storage's clock (its preflight) and returns the storage's time now, or throws a
 * ClockSkewError when the pod's clock differs from it by more than `storage.maxClockSkewMs`.
 */
export async function storageNow(storage: Storage, signal: AbortSignal): Promise<Date> {
  const reading = await storage.preflight(signal);
  const skewMs = reading.local.getTime() - reading.storage.getTime();
  if (Math.abs(skewMs) > storage.maxClockSkewMs) {
    throw new ClockSkewError(
      `the pod's clock is ${formatDuration(Math.abs(skewMs))} ${skewMs > 0 ? 'ahead of' : 'behind'} the storage's `
      + `(${reading.storage.toISOString()}) at ${storage.location}; fix the node's time synchronization (NTP), or, if the `
      + `storage's clock is the wrong one, raise ${ENV.MAX_CLOCK_SKEW_SECONDS} (now ${storage.maxClockSkewMs / 1000}).`,
    );
  }
  return new Date(Date.now() - skewMs);
}

/** 31536000000 → '365 days', 90000 → '1.5 minutes', 1000 → '1 second'. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]];
  for (const [unit, size] of units) {
    if (ms >= size || unit === 'second') {
      const n = Number((ms / size).toFixed(ms >= 10 * size ? 0 : 1));
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${ms} ms`;
}
