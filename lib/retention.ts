import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { ENV, RETENTION_COUNT_ENV } from './contract';
import * as rules from './rules';

/**
 * A retention policy in restic's `forget` vocabulary. Every count is "keep the newest backup of
 * each of the last n periods that have one"; a backup is kept when any rule keeps it.
 */
export interface RetentionPolicyOptions {
  /**
   * Keep the n newest backups.
   * @default - no keep-last rule
   */
  readonly keepLast?: number;
  /**
   * Keep the newest backup of each of the last n hours that have one (UTC).
   * @default - no keep-hourly rule
   */
  readonly keepHourly?: number;
  /**
   * Keep the newest backup of each of the last n days that have one (UTC).
   * @default - no keep-daily rule
   */
  readonly keepDaily?: number;
  /**
   * Keep the newest backup of each of the last n ISO weeks that have one (UTC, weeks start on Monday).
   * @default - no keep-weekly rule
   */
  readonly keepWeekly?: number;
  /**
   * Keep the newest backup of each of the last n months that have one (UTC).
   * @default - no keep-monthly rule
   */
  readonly keepMonthly?: number;
  /**
   * Keep the newest backup of each of the last n years that have one (UTC).
   * @default - no keep-yearly rule
   */
  readonly keepYearly?: number;
  /**
   * Keep every backup taken within this duration before the newest one.
   * @default - no keep-within rule
   */
  readonly keepWithin?: Duration;
}

/**
 * How many backups of a series are kept. After each successful backup the runner removes the
 * complete backups no rule keeps, and incomplete leftovers older than `incompleteMinAge`. The
 * newest complete backup is always kept, and nothing is removed after a failed backup.
 */
export class Retention {
  /** Keep the n newest backups (restic's `--keep-last`). */
  public static keepLast(count: number): Retention {
    return Retention.policy({ keepLast: count });
  }

  /**
   * Any combination of restic's `forget` rules, e.g.
   * `Retention.policy({ keepDaily: 7, keepWeekly: 4, keepMonthly: 12 })`.
   */
  public static policy(options: RetentionPolicyOptions): Retention {
    const env: Record<string, string> = {};
    for (const [prop, name] of RETENTION_COUNT_ENV) {
      const value = options[prop];
      if (value !== undefined) env[name] = String(rules.count(prop, value));
    }
    if (options.keepWithin !== undefined) {
      env[ENV.KEEP_WITHIN_SECONDS] = String(rules.wholeSeconds('keepWithin', options.keepWithin.toMilliseconds(), 'Duration.days(7)'));
    }
    if (Object.keys(env).length === 0) {
      throw new Error('retention: the policy has no rule, so it would keep only the newest backup. Set at least one, e.g. Retention.keepLast(7) or Retention.policy({ keepDaily: 7, keepWeekly: 4 }).');
    }
    return new Retention(env);
  }

  private constructor(private readonly env: Record<string, string>) {}

  /** The runner's KEEP_* variables. @internal */
  public _env(): Record<string, kplus.EnvValue> {
    return Object.fromEntries(Object.entries(this.env).map(([name, value]) => [name, kplus.EnvValue.fromValue(value)]));
  }
}
