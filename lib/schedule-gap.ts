/**
 * How far apart the runs of a cron expression can be, in a time zone: the basis of the stale
 * alert's threshold and of `check`'s default maximum age. SKELETON: to be implemented.
 * Internal: not exported from the package index.
 */

/**
 * The longest time in seconds between two consecutive runs of `expression` (five fields or a
 * descriptor, `H` already resolved, as the CronJob receives it) evaluated in `timeZone` (IANA;
 * undefined: UTC), over enough years to include every pattern (weekends, month ends, leap years,
 * DST changes).
 */
export function longestGapSeconds(expression: string, timeZone?: string): number {
  void expression; void timeZone;
  return 86400; // TODO(alerts helper): placeholder until implemented
}

/** The grace added to a stale threshold: an hour or a quarter of the gap, whichever is smaller. */
export function staleGraceSeconds(gapSeconds: number): number {
  return Math.min(3600, Math.floor(gapSeconds / 4));
}

/**
 * How old the newest successful run may become before the series is late: the longest gap, plus
 * the time one run may take (activeDeadline), plus the grace.
 */
export function staleAfterSeconds(expression: string, timeZone: string | undefined, activeDeadlineSeconds: number): number {
  const gap = longestGapSeconds(expression, timeZone);
  return gap + activeDeadlineSeconds + staleGraceSeconds(gap);
}
