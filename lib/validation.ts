/**
 * Rules only the constructs enforce: they are about Kubernetes objects (names, images, time zones,
 * Secret keys), which the runner never sees. Rules the runner enforces too live in rules.ts.
 * Each throws a RuleError whose message starts with the prop's name and says how to fix the value.
 * Internal: not exported from the package index.
 */
import { createHash } from 'crypto';
import { Duration, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct, IConstruct } from 'constructs';
import { RuleError, isSeriesName } from './rules';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** An object name that must be a DNS label of at most `maxLen` characters; `why` explains the limit. */
export function dnsLabel(field: string, name: string, maxLen: number, why: string): string {
  if (name.length > maxLen || !DNS_LABEL.test(name)) {
    throw new RuleError(`${field}: '${name}' must be a DNS label (lowercase letters, digits, '-') of at most ${maxLen} characters, ${why}.`);
  }
  return name;
}

/** An image reference pinned to a tag or digest: `latest` and untagged images are refused. */
export function imageReference(field: string, image: string): string {
  if (typeof image !== 'string') throw new RuleError(`${field}: expected an image reference string, got ${describeValue(image)}; e.g. 'registry/repository:1.2.3'.`);
  if (image.trim() === '' || /\s/.test(image)) {
    throw new RuleError(`${field}: '${image}' is not an image reference. Use 'registry/repository:tag' or '…@sha256:<digest>'.`);
  }
  if (image.includes('@sha256:')) return image;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  if (tag === undefined || tag === 'latest') {
    throw new RuleError(`${field}: '${image}' is ${tag ? "tagged 'latest'" : 'untagged'}, so a run could silently start with a different tool version. Pin a version tag or a digest, e.g. '${image.replace(/:latest$/, '')}:1.2.3'.`);
  }
  return image;
}

/** An IANA time zone name as a CronJob's `spec.timeZone` accepts it. */
export function timeZone(field: string, value: string): string {
  if (value.trim() === '' || /\s/.test(value)) {
    throw new RuleError(`${field}: '${value}' is not an IANA time zone name. Use a name like 'Europe/Berlin' or 'Etc/UTC'.`);
  }
  if (value.toLowerCase() === 'local') {
    throw new RuleError(`${field}: 'Local' is rejected by Kubernetes. Use an explicit IANA name like 'Europe/Berlin' or 'Etc/UTC'.`);
  }
  if (/^[+-]\d/.test(value) || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(value)) {
    throw new RuleError(`${field}: '${value}' is not an IANA time zone name (offsets are not accepted). Use a name like 'Europe/Berlin' or 'Etc/GMT-1'.`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
  } catch {
    throw new RuleError(`${field}: '${value}' is not a known IANA time zone. Use a name from the tz database, like 'Europe/Berlin', 'America/New_York' or 'Etc/UTC'.`);
  }
  // Intl ignores case, but the cluster loads zones by file name, which is case-sensitive.
  const canonical = (Intl as any).supportedValuesOf('timeZone') as string[];
  const exact = canonical.includes(value) || ['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT'].includes(value);
  const caseMatch = canonical.find(z => z.toLowerCase() === value.toLowerCase());
  if (!exact && caseMatch) {
    throw new RuleError(`${field}: '${value}' must match the tz database's spelling exactly; did you mean '${caseMatch}'?`);
  }
  return value;
}

/** A key of a Secret or ConfigMap. */
export function dataKey(field: string, key: string): string {
  if (typeof key !== 'string' || key.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(key)) {
    throw new RuleError(`${field}: '${key}' is not a valid Secret or ConfigMap key. Use letters, digits, '-', '_' or '.'.`);
  }
  return key;
}

const HASH_LENGTH = 8;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * The default series name of a backup construct: its id, lower-cased; when that is not a valid
 * series name, every character other than a-z, 0-9, '.', '_' and '-' replaced by '-', runs of '-'
 * collapsed, leading and trailing non-alphanumerics trimmed, and shortened to 63 characters with
 * a hash of the id when longer.
 * An id with nothing left (e.g. only non-ASCII letters) becomes `series-<hash>`.
 */
export function seriesNameFromId(id: string): string {
  // An id that already is a valid name keeps it exactly: a changed default would start a new series.
  if (isSeriesName(id.toLowerCase())) return id.toLowerCase();
  const mapped = id.toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  if (mapped === '') return `series-${shortHash(id)}`;
  if (mapped.length <= 63) return mapped;
  return `${mapped.slice(0, 63 - HASH_LENGTH - 1).replace(/[^a-z0-9]+$/, '')}-${shortHash(id)}`;
}

/**
 * The default object name of a construct: `Names.toDnsLabel` (path components and a hash of the
 * path), with the characters it lets through but a DNS label forbids ('_', '.') mapped to '-'.
 */
export function dnsLabelFromPath(scope: IConstruct, maxLen: number): string {
  const name = Names.toDnsLabel(scope as Construct, { maxLen });
  if (DNS_LABEL.test(name)) return name;
  return name.replace(/[^a-z0-9-]/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, '');
}

const ERROR_HAS_PATH = Symbol.for('cdk8s-db-backup.error-has-path');

/**
 * Runs `build` (the body of a construct's constructor) and prefixes any error it throws with the
 * construct's path, `backups/orders: port: …`, keeping the rest of the message unchanged.
 */
export function withConstructPath<T>(scope: IConstruct, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof Error && !(error as any)[ERROR_HAS_PATH]) {
      const original = error.message;
      // Read first: V8 formats the stack lazily, with the message current at the first read.
      const stack = error.stack;
      error.message = `${scope.node.path}: ${original}`;
      if (typeof stack === 'string') error.stack = stack.replace(original, error.message);
      (error as any)[ERROR_HAS_PATH] = true;
    }
    throw error;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ('${value}')`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * A number prop as a JavaScript caller may pass it: unset (undefined or null), or a number.
 * A string (`'5432'`) or any other type is refused with what was given; range checks are the caller's.
 */
export function numberProp(field: string, value: unknown, example: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') throw new RuleError(`${field}: '${value}' is a string; give a number, e.g. ${example}.`);
  if (typeof value !== 'number') throw new RuleError(`${field}: expected a number, got ${describeValue(value)}; give a number, e.g. ${example}.`);
  return value;
}

/** A boolean prop: unset, true or false; the string 'false' would otherwise count as true. */
export function booleanProp(field: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new RuleError(`${field}: expected true or false, got ${describeValue(value)}.`);
  return value;
}

/** A `Duration` prop: unset, or a cdk8s Duration (a string like '6h' or a number of seconds is refused). */
export function durationProp(field: string, value: unknown, example: string): Duration | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof (value as Duration).toMilliseconds !== 'function') {
    throw new RuleError(`${field}: expected a Duration, got ${describeValue(value)}; give e.g. ${example}.`);
  }
  return value as Duration;
}

/** A required object prop made by one of this library's factories, e.g. `storage: BackupStorage.s3(…)`. */
export function factoryProp<T>(field: string, value: unknown, type: { readonly prototype: T; readonly name: string }, example: string): T {
  if (value === undefined || value === null) throw new RuleError(`${field}: must be set, e.g. ${field}: ${example}.`);
  if (!(value instanceof (type as unknown as Function))) throw new RuleError(`${field}: expected a ${type.name}, got ${describeValue(value)}; give e.g. ${field}: ${example}.`);
  return value as T;
}

/** A `kplus.SecretValue` prop, `{ secret, key }`: a string (the secret itself, or a Secret's name) is refused. */
export function secretValueProp(field: string, value: unknown): kplus.SecretValue {
  const example = `{ secret: kplus.Secret.fromSecretName(this, 'Db', 'orders-db'), key: '${field}' }`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RuleError(`${field}: expected { secret, key }, got ${typeof value === 'string' ? 'a string' : describeValue(value)}; never put a secret's value in code, give ${example}.`);
  }
  const secret = (value as kplus.SecretValue).secret as unknown;
  if (secret === null || typeof secret !== 'object' || typeof (secret as kplus.ISecret).name !== 'string') {
    throw new RuleError(`${field}: expected { secret, key } whose secret is a Secret (kplus.Secret.fromSecretName(…)), got secret: ${describeValue(secret)}; give ${example}.`);
  }
  return value as kplus.SecretValue;
}
