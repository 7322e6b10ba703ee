/**
 * Which backups a retention policy keeps, with restic's `forget` vocabulary and semantics:
 * walking backups newest first, keep-last keeps the n newest; keep-hourly/daily/weekly/monthly/
 * yearly keep the newest backup of each of the n most recent hours/days/ISO weeks/months/years
 * that have one; keep-within keeps everything within a duration of the newest backup. A backup is
 * kept if any rule keeps it. Unlike restic, the newest backup is kept even by an empty policy.
 * Periods are UTC.
 */
import { count, RuleError } from '../../lib/rules';

export interface RetentionPolicy {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  /** Milliseconds before the newest backup within which everything is kept. */
  readonly keepWithinMs?: number;
}

export interface Dated {
  readonly id: string;
  readonly time: Date;
}

export interface Decision<T extends Dated> {
  readonly keep: T[];
  readonly remove: T[];
  /** Why each kept backup is kept, by id (e.g. ['last', 'daily']). */
  readonly reasons: Map<string, string[]>;
}

type Bucket = (t: Date) => string;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO 8601 week-numbering year and week (weeks start on Monday; week 1 holds the first Thursday). */
export function isoWeek(t: Date): string {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: ReadonlyArray<[Exclude<keyof RetentionPolicy, 'keepLast' | 'keepWithinMs'>, string, Bucket]> = [
  ['keepHourly', 'hourly', t => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}T${pad(t.getUTCHours())}`],
  ['keepDaily', 'daily', t => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`],
  ['keepWeekly', 'weekly', isoWeek],
  ['keepMonthly', 'monthly', t => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}`],
  ['keepYearly', 'yearly', t => String(t.getUTCFullYear())],
];

/** Throws naming the field when a count is not a whole number of 0 or more, or keep-within is negative. */
function validatePolicy(policy: RetentionPolicy): void {
  for (const field of ['keepLast', ...BUCKETS.map(([f]) => f)] as const) {
    const value = policy[field];
    if (value !== undefined) count(field, value);
  }
  const within = policy.keepWithinMs;
  if (within !== undefined && !(Number.isInteger(within) && within >= 0)) {
    throw new RuleError(`keepWithinMs: ${within} must be a whole number of milliseconds, 0 or more`);
  }
}

export function applyRetention<T extends Dated>(backups: readonly T[], policy: RetentionPolicy): Decision<T> {
  validatePolicy(policy);
  // Newest first; ties broken by id so the result never depends on listing order.
  const sorted = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const reasons = new Map<string, string[]>();
  const keepFor = (b: T, why: string) => reasons.set(b.id, [...(reasons.get(b.id) ?? []), why]);
  if (sorted.length === 0) return { keep: [], remove: [], reasons };

  keepFor(sorted[0], 'newest');
  sorted.slice(0, policy.keepLast ?? 0).forEach(b => keepFor(b, 'last'));

  for (const [field, why, bucketOf] of BUCKETS) {
    let left = (policy[field] as number | undefined) ?? 0;
    let lastBucket: string | undefined;
    for (const b of sorted) {
      if (left <= 0) break;
      const bucket = bucketOf(b.time);
      if (bucket !== lastBucket) {
        keepFor(b, why);
        lastBucket = bucket;
        left--;
      }
    }
  }

  if (policy.keepWithinMs !== undefined) {
    const newest = sorted[0].time.getTime();
    for (const b of sorted) {
      if (newest - b.time.getTime() <= policy.keepWithinMs) keepFor(b, 'within');
    }
  }

  return {
    keep: sorted.filter(b => reasons.has(b.id)),
    remove: sorted.filter(b => !reasons.has(b.id)),
    reasons,
  };
}
