/**
 * Rules only the constructs enforce: they are about Kubernetes objects (names, images, time zones,
 * Secret keys), which the runner never sees. Rules the runner enforces too live in rules.ts.
 * Each throws a RuleError whose message starts with the prop's name and says how to fix the value.
 * Internal: not exported from the package index.
 */
import { RuleError } from './rules';

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
