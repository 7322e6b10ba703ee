import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { ENV, RETENTION_COUNT_ENV } from './contract';
import * as rules from './rules';
import { RuleError } from './rules';
import { durationProp, numberProp } from './validation';

/**
 * A retention policy in restic's `forget` vocabulary. Every count is "keep the newest backup of
 * each of the last n periods that have one"; a backup is kept when any rule keeps it.
 */
export interface RetentionPolicyOptions {
  /**
   * Keep the n newest backups. 0 is the same as no keep-last rule; a policy whose rules are all 0
   * is refused, because it would keep only the newest backup.
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
  /**
   * Keep the n newest backups (restic's `--keep-last`), n of 1 or more. `keepLast(0)` is refused:
   * with the newest backup always kept it would keep only the newest one and delete every other;
   * say `keepLast(1)` if that is what you want.
   */
  public static keepLast(count: number): Retention {
    return Retention.policy({ keepLast: count });
  }

  /**
   * Any combination of restic's `forget` rules, e.g.
   * `Retention.policy({ keepDaily: 7, keepWeekly: 4, keepMonthly: 12 })`.
   */
  public static policy(options: RetentionPolicyOptions): Retention {
    const env: Record<string, string> = {};
    const counts: Array<[string, number]> = [];
    for (const [prop, name] of RETENTION_COUNT_ENV) {
      const value = numberProp(prop, options?.[prop], '7');
      if (value !== undefined) {
        env[name] = String(rules.count(prop, value));
        counts.push([prop, value]);
      }
    }
    const keepWithin = durationProp('keepWithin', options?.keepWithin, 'Duration.days(7)');
    if (keepWithin !== undefined) {
      env[ENV.KEEP_WITHIN_SECONDS] = String(rules.wholeSeconds('keepWithin', keepWithin.toMilliseconds(), 'Duration.days(7)'));
    }
    if (Object.keys(env).length === 0) {
      throw new RuleError('retention: the policy has no rule, so it would keep only the newest backup. Set at least one, e.g. Retention.keepLast(7) or Retention.policy({ keepDaily: 7, keepWeekly: 4 }).');
    }
    if (keepWithin === undefined && counts.every(([, value]) => value === 0)) {
      const [field, what] = counts.length === 1
        ? [counts[0][0], '0 keeps no backup, and the policy has no other rule']
        : ['retention', `${counts.map(([prop]) => `${prop}: 0`).join(', ')} keep no backup`];
      throw new RuleError(`${field}: ${what}, so only the newest backup (always kept) would survive and every other one would be deleted. Give a count of 1 or more, e.g. Retention.keepLast(7); to keep only the newest backup on purpose, say Retention.keepLast(1).`);
    }
    return new Retention(env);
  }

  private constructor(private readonly env: Record<string, string>) {}

  /** The runner's KEEP_* variables. @internal */
  public _env(): Record<string, kplus.EnvValue> {
    return Object.fromEntries(Object.entries(this.env).map(([name, value]) => [name, kplus.EnvValue.fromValue(value)]));
  }
}
