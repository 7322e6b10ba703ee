import { ENGINE_NAMES, EngineName } from './registry';
import { RuleError } from './rules';
import { AssertionSpec, assertionSpec, ASSERTION_TYPES } from './verify-assertions';

/**
 * A check a verification runs on the restored copy, after the runner's own (checksum, a restore
 * without errors, and something restored at all). A failed assertion names itself and what it
 * found in the verification's final line and result.
 */
export class VerifyAssertion {
  /**
   * An SQL query that must return exactly one row whose first column is true (PostgreSQL, MySQL),
   * e.g. `SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '2 days'`. It is
   * stored in the CronJob in plain text: keep secrets out of it.
   */
  public static sql(query: string): VerifyAssertion {
    return VerifyAssertion.of('sql', { type: 'sql', query });
  }

  /** The table holds at least `min` rows (PostgreSQL, MySQL; `schema.table` or a plain table name). */
  public static minRows(table: string, min: number): VerifyAssertion {
    return VerifyAssertion.of('minRows', { type: 'minRows', table, min });
  }

  /** Every table named exists (PostgreSQL, MySQL). */
  public static tablesExist(tables: string[]): VerifyAssertion {
    return VerifyAssertion.of('tablesExist', { type: 'tablesExist', tables });
  }

  /** The restored RDB holds at least `min` keys, counted over every Redis database. */
  public static minKeys(min: number): VerifyAssertion {
    return VerifyAssertion.of('minKeys', { type: 'minKeys', min });
  }

  /** Every key named exists in Redis database 0. */
  public static keysExist(keys: string[]): VerifyAssertion {
    return VerifyAssertion.of('keysExist', { type: 'keysExist', keys });
  }

  /** The collection holds at least `min` documents (MongoDB). */
  public static minDocuments(collection: string, min: number): VerifyAssertion {
    return VerifyAssertion.of('minDocuments', { type: 'minDocuments', collection, min });
  }

  /** Checked for the first engine that can check it, so a malformed assertion fails where it is made. */
  private static of(factory: string, spec: AssertionSpec): VerifyAssertion {
    const engine = ENGINE_NAMES.find(e => ASSERTION_TYPES[e].includes(spec.type)) as EngineName;
    try {
      return new VerifyAssertion(assertionSpec(`VerifyAssertion.${factory}`, spec, engine));
    } catch (err) {
      // The field name inside the spec ('VerifyAssertion.minRows: the table must …') is the factory's.
      throw err instanceof RuleError ? err : new RuleError(`VerifyAssertion.${factory}: ${(err as Error).message}`);
    }
  }

  private constructor(private readonly spec: AssertionSpec) {}

  /** The assertion as the runner reads it; checked against `engine` by the verify construct. @internal */
  public _spec(): AssertionSpec {
    return this.spec;
  }
}
