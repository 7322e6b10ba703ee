/**
 * What a verification asserts about the restored copy, as the constructs write it and the runner
 * reads it (`BACKUP_VERIFY_ASSERTIONS`, a JSON array). Shared by both sides like lib/rules.ts: no
 * cdk8s import. Internal: not exported from the package index (the constructs' `VerifyAssertion`
 * class builds these).
 */
import { AssertionType, EngineName, ENGINE_NAMES, ENGINE_REGISTRY } from './registry';
import { RuleError } from './rules';

/** One assertion, as JSON. */
export type AssertionSpec =
  /** An SQL query that returns exactly one row whose first column is true (PostgreSQL, MySQL). */
  | { readonly type: 'sql'; readonly query: string }
  /** The table holds at least `min` rows (PostgreSQL, MySQL). */
  | { readonly type: 'minRows'; readonly table: string; readonly min: number }
  /** Every table named exists (PostgreSQL, MySQL). */
  | { readonly type: 'tablesExist'; readonly tables: readonly string[] }
  /** The restored RDB holds at least `min` keys, over every database (Redis). */
  | { readonly type: 'minKeys'; readonly min: number }
  /** Every key named exists (Redis, database 0). */
  | { readonly type: 'keysExist'; readonly keys: readonly string[] }
  /** The collection holds at least `min` documents (MongoDB). */
  | { readonly type: 'minDocuments'; readonly collection: string; readonly min: number };

export type { AssertionType };

/** The assertion types each engine can check: its registry entry's `assertions`. */
export const ASSERTION_TYPES: { readonly [E in EngineName]: readonly AssertionType[] } = Object.fromEntries(
  ENGINE_NAMES.map(engine => [engine, ENGINE_REGISTRY[engine].assertions as readonly AssertionType[]]),
) as Record<EngineName, readonly AssertionType[]>;

/** A short name of an assertion for check results and log lines: `minRows(orders, 1)`. */
export function assertionLabel(a: AssertionSpec): string {
  switch (a.type) {
    case 'sql': return 'sql';
    case 'minRows': return `minRows(${a.table}, ${a.min})`;
    case 'tablesExist': return `tablesExist(${a.tables.join(', ')})`;
    case 'minKeys': return `minKeys(${a.min})`;
    case 'keysExist': return `keysExist(${a.keys.join(', ')})`;
    case 'minDocuments': return `minDocuments(${a.collection}, ${a.min})`;
  }
}

function fail(field: string, message: string): never {
  throw new RuleError(`${field}: ${message}`);
}

const MAX_NAME_LENGTH = 512;

function name(field: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(field, `${what} must be a non-empty string.`);
  if (value.length > MAX_NAME_LENGTH) fail(field, `${what} is longer than ${MAX_NAME_LENGTH} characters.`);
  if (/[\0]/.test(value)) fail(field, `${what} must not contain a NUL character.`);
  return value;
}

function minimum(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    fail(field, `min must be a whole number of at least 1 (an empty restore already fails every verification), got ${JSON.stringify(value)}.`);
  }
  return value;
}

function names(field: string, value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length === 0) fail(field, `give at least one ${what}.`);
  const out = value.map((v, i) => name(`${field}[${i}]`, v, what));
  const dup = out.find((v, i) => out.indexOf(v) !== i);
  if (dup !== undefined) fail(field, `'${dup}' is named twice.`);
  return out;
}

/** One assertion, checked for `engine`; `field` names it in errors (`assertions[2]`). */
export function assertionSpec(field: string, raw: unknown, engine: EngineName): AssertionSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(field, 'expected an object with a "type".');
  const r = raw as Record<string, unknown>;
  const allowed = ASSERTION_TYPES[engine];
  const type = r.type as AssertionType;
  if (!allowed.includes(type)) {
    fail(field, `'${String(r.type)}' is not an assertion ${ENGINE_REGISTRY[engine].title} can check; use ${allowed.map(t => `'${t}'`).join(', ')}.`);
  }
  const known: Record<AssertionType, string[]> = {
    sql: ['query'], minRows: ['table', 'min'], tablesExist: ['tables'], minKeys: ['min'], keysExist: ['keys'], minDocuments: ['collection', 'min'],
  };
  const extra = Object.keys(r).filter(k => k !== 'type' && !known[type].includes(k));
  if (extra.length > 0) fail(field, `${type} has no ${extra.map(k => `'${k}'`).join(', ')}; it takes ${known[type].map(k => `'${k}'`).join(', ')}.`);
  switch (type) {
    case 'sql': {
      const query = name(field, r.query, 'the query');
      return { type, query };
    }
    case 'minRows': return { type, table: name(field, r.table, 'the table'), min: minimum(field, r.min) };
    case 'tablesExist': return { type, tables: names(field, r.tables, 'table') };
    case 'minKeys': return { type, min: minimum(field, r.min) };
    case 'keysExist': return { type, keys: names(field, r.keys, 'key') };
    case 'minDocuments': return { type, collection: name(field, r.collection, 'the collection'), min: minimum(field, r.min) };
  }
}

/** `BACKUP_VERIFY_ASSERTIONS`: a JSON array of assertions for `engine`; [] when unset or empty. */
export function assertionsFromText(field: string, text: string | undefined, engine: EngineName): AssertionSpec[] {
  if (text === undefined || text.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(field, `is not valid JSON (${(err as Error).message}); give an array such as [{"type":"minRows","table":"orders","min":1}].`);
  }
  if (!Array.isArray(parsed)) fail(field, 'must be a JSON array of assertions, e.g. [{"type":"minRows","table":"orders","min":1}].');
  return parsed.map((a, i) => assertionSpec(`${field}[${i}]`, a, engine));
}
