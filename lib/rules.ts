/**
 * The rules both sides enforce, written once: the constructs call them at synth time with the
 * prop's name as `field`, the runner calls them before any byte moves with the variable's name.
 * Each throws a RuleError whose message starts with `field` and says how to fix the value.
 * No cdk8s or cdk8s-plus import: the runner bundles this file. Internal: not exported from the
 * package index.
 */
import { BACKUP_ID_PATTERN, LATEST_BACKUP_ID } from './contract';
import { optionLabel, parseToolArgs } from './getopt';
import { EngineDescriptor, EngineName, ENGINE_REGISTRY } from './registry';
import { TableOption, VERDICT_REASONS } from './tool-options/table';

/** A value breaks a rule. The runner exits 2 on it; the constructs fail the synth. */
export class RuleError extends Error {
  public readonly name: string = 'RuleError';
}

function fail(field: string, message: string): never {
  throw new RuleError(`${field}: ${message}`);
}

/** A required string: set, not blank, no leading or trailing white space. Never echoes the value when `secret`. */
export function nonEmpty(field: string, value: string | undefined, example: string, secret = false): string {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
    fail(field, `must be set, e.g. ${example}.`);
  }
  if (typeof value !== 'string') fail(field, `expected a string, got ${typeof value}.`);
  if (value !== value.trim()) fail(field, `${secret ? 'the value' : `'${value}'`} has leading or trailing white space; remove it.`);
  return value;
}

const SERIES_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

/** Whether `value` is a valid series name (see seriesName). */
export function isSeriesName(value: string): boolean {
  return typeof value === 'string' && SERIES_NAME.test(value);
}

/** A backup series name, used in object keys (`<prefix>/<name>/…`) and labels. */
export function seriesName(field: string, value: string): string {
  if (!isSeriesName(value)) {
    fail(field, `'${value}' is not a valid series name: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit.`);
  }
  return value;
}

/** The rules S3 enforces for new buckets, so a typo fails before the first run instead of at it. */
export function bucketName(field: string, value: string): string {
  const rule = "bucket names are 3-63 characters of lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";
  if (value === undefined || value === '') fail(field, `is empty; ${rule}.`);
  if (value.startsWith('s3://') || value.includes('/')) {
    fail(field, `'${value}' is not a bare bucket name; give only the bucket name and put any path in the prefix.`);
  }
  if (value.length < 3 || value.length > 63 || !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(value)) fail(field, `'${value}' is not a bucket name: ${rule}.`);
  if (value.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(value) || value.startsWith('xn--') || value.endsWith('-s3alias')) {
    fail(field, `'${value}' is not allowed by S3 (no '..', no IP address form, no 'xn--' prefix or '-s3alias' suffix); ${rule}.`);
  }
  return value;
}

const KEY_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

/**
 * A key prefix (S3) or sub-directory (volume): '/'-separated plain segments. Leading and trailing
 * '/' are dropped; returns '' for none.
 */
export function keyPrefix(field: string, value: string | undefined): string {
  if (value === undefined) return '';
  const trimmed = value.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      fail(field, `'${value}' has an empty, '.' or '..' path segment; use plain segments such as 'prod/db'.`);
    }
    if (!KEY_SEGMENT.test(segment)) {
      fail(field, `'${value}': segment '${segment}' has characters that are unsafe in object keys; use letters, digits and - _ . ! * ' ( ).`);
    }
  }
  return segments.join('/');
}

/** An S3 endpoint `http(s)://host[:port]`; returns its origin. */
export function endpointUrl(field: string, value: string): string {
  const url = httpUrl(field, value, {
    notUrl: "use 'http(s)://host[:port]', e.g. 'http://minio.storage:9000'",
    scheme: "e.g. 'https://s3.example.com'",
    credentials: 'contains credentials, which would end up in logs and manifests in clear text; remove them and give the keys as credentials.',
    query: 'must not have a query or fragment.',
  });
  if (url.pathname !== '/' && url.pathname !== '') {
    fail(field, `'${value}': give only scheme, host and port; put the bucket and any path in their own settings.`);
  }
  return url.origin;
}

/**
 * An http(s) URL checked in the order that keeps credentials out of every message: a value with
 * userinfo (`user:password@`) is refused for that first and never echoed, whatever else is wrong.
 */
function httpUrl(field: string, value: string, say: { notUrl: string; scheme: string; credentials: string; query: string }): URL {
  const shown = value.includes('@') ? 'the value (not shown: it may hold credentials)' : `'${value}'`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(field, `${shown} is not a URL; ${say.notUrl}.`);
  }
  if (url.username || url.password) fail(field, say.credentials);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(field, `${shown}: the scheme must be http or https, ${say.scheme}.`);
  if (url.search || url.hash) fail(field, `${shown} ${say.query}`);
  return url;
}

/** An AWS region name. */
export function regionName(field: string, value: string): string {
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(value)) {
    fail(field, `'${value}' is not a region name; use a name like 'us-east-1' (S3-compatible servers usually accept 'us-east-1').`);
  }
  return value;
}

/** A bare host name or IP address: no scheme, path, port or white space. */
export function hostName(field: string, value: string | undefined, example: string): string {
  const host = nonEmpty(field, value, `'${example}'`);
  if (host.includes('://') || host.includes('/') || /\s/.test(host)) {
    fail(field, `'${host}' must be a bare host name or IP address, e.g. '${example}'; the port and database have their own settings.`);
  }
  return host;
}

/** A TCP port; `engine`'s default port when unset. */
export function tcpPort(field: string, value: number | undefined, engine: EngineName): number {
  const fallback = ENGINE_REGISTRY[engine].defaultPort;
  const port = value ?? fallback;
  if (typeof port === 'string') fail(field, `'${port}' is a string; give a number from 1 to 65535.`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    fail(field, `${port} is not a TCP port; use a whole number from 1 to 65535 (${ENGINE_REGISTRY[engine].title}'s default is ${fallback}).`);
  }
  return port;
}

/** A count: a whole number of 0 or more. */
export function count(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 999_999_999) {
    fail(field, `${typeof value === 'string' ? `'${value}' is a string` : value} must be a whole number of 0 or more.`);
  }
  return value;
}

/** Whole, non-negative numbers as the runner reads them from text: digits only. */
export function countFromText(field: string, raw: string): number {
  if (!/^\d{1,9}$/.test(raw)) fail(field, `'${raw}' must be a whole number of 0 or more.`);
  return count(field, Number(raw));
}

/** A TCP port as the runner reads it from text; the engine's default when unset. */
export function tcpPortFromText(field: string, raw: string | undefined, engine: EngineName): number {
  if (raw === undefined || raw === '') return tcpPort(field, undefined, engine);
  if (!/^\d{1,5}$/.test(raw)) fail(field, `'${raw}' is not a TCP port; use a whole number from 1 to 65535.`);
  return tcpPort(field, Number(raw), engine);
}

/** `true` or `false` as text; `fallback` when unset. */
export function booleanFromText(field: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return fail(field, `'${raw}' must be 'true' or 'false'.`);
}

/** A positive duration of whole seconds, in milliseconds as cdk8s' Duration gives it; returns seconds. */
export function wholeSeconds(field: string, millis: number, example: string): number {
  if (!(millis > 0) || millis % 1000 !== 0) fail(field, `must be a positive whole number of seconds, e.g. ${example}; got ${millis} ms.`);
  return millis / 1000;
}

/** A backup reference: `latest` or a backup id as `list` prints it. */
export function backupRef(field: string, value: string): string {
  if (value !== LATEST_BACKUP_ID && !BACKUP_ID_PATTERN.test(value)) {
    fail(field, `'${value}' is not a backup id; use '${LATEST_BACKUP_ID}' or an id as printed by the image's 'list' command, like '20261125T010203Z-1a2b3c4d' (without the file extension).`);
  }
  return value;
}

/** A MongoDB database name. */
export function mongoDatabaseName(field: string, value: string): string {
  if (!/^[^/\\. "$*<>:|?]{1,63}$/.test(value)) {
    fail(field, `'${value}' is not a valid MongoDB database name (1-63 characters, none of / \\ . space " $ * < > : | ?).`);
  }
  return value;
}

/** A MySQL or MariaDB database name. */
export function mysqlDatabaseName(field: string, value: string): string {
  if (value.length > 64 || /[/\\.\n\r]/.test(value)) {
    fail(field, `'${value}' is not a valid MySQL database name (at most 64 characters, none of / \\ . or line breaks).`);
  }
  return value;
}

/** libpq's `sslmode` values, weakest first. */
export const POSTGRES_SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/** A libpq `sslmode`. */
export function postgresSslMode(field: string, value: string): string {
  if (!(POSTGRES_SSL_MODES as readonly string[]).includes(value)) {
    fail(field, `'${value}' is not a libpq sslmode; use one of ${POSTGRES_SSL_MODES.join(', ')}.`);
  }
  return value;
}

/** Which way pass-through arguments go. */
export type ToolDirection = 'dump' | 'restore';

/**
 * Pass-through arguments for `engine`'s dump or restore tool, read as the tool reads them (see
 * lib/getopt.ts: abbreviations, clusters, attached values, MariaDB's prefixes) and resolved
 * against its complete option list (lib/tool-options/). Only options on the tool's allow-list
 * pass; an unknown option, an ambiguous prefix, `--` or a positional argument is refused, and
 * the error names the argument and the option the tool would have seen.
 */
export function passThroughArgs(field: string, engine: EngineName, direction: ToolDirection, args: readonly string[]): string[] {
  if (!Array.isArray(args)) fail(field, `expected a list of strings, got ${typeof args}.`);
  for (const arg of args) {
    if (typeof arg !== 'string') fail(field, `every argument must be a string; got ${typeof arg}.`);
  }
  if (args.length === 0) return [];
  const descriptor: EngineDescriptor = ENGINE_REGISTRY[engine];
  const table = descriptor.passThrough[direction];
  if (table === undefined) fail(field, `${descriptor.title}'s ${direction} runs no tool that takes arguments, so it takes none; remove them.`);
  const see = `the options ${table.tool} takes here are listed in the README under "Pass-through options"`;
  for (const parsed of parseToolArgs(table.syntax, table.options, args, table.tool)) {
    const quoted = `'${parsed.text}'`;
    switch (parsed.kind) {
      case 'positional':
        fail(field, `${quoted} is a positional argument, which ${table.tool} would take as ${table.positional}; only options pass through, so remove it (${see}).`);
      case 'end-of-options':
        fail(field, `${quoted} ends ${table.tool}'s options, so what follows would be positional arguments (${table.positional}); remove it.`);
      case 'invalid':
        fail(field, `${quoted} ${parsed.problem}; remove it or spell the option out (${see}).`);
      case 'option': {
        const option = parsed.option as TableOption;
        const label = optionLabel(option);
        if (option.verdict !== 'allow') {
          const note = option.note === undefined ? '' : ` (${option.note})`;
          const fix = option.verdict === 'connection' ? "remove it and use the construct's props instead" : 'remove it';
          fail(field, `${quoted} is ${table.tool}'s ${label}, ${VERDICT_REASONS[option.verdict]}${note}; ${fix} (${see}).`);
        }
        if (parsed.prefixes.includes('maximum')) {
          fail(field, `${quoted} is ${table.tool}'s ${label} with the 'maximum-' prefix, which sets an upper limit for the server, not for this run; remove it.`);
        }
        if (parsed.prefixes.some(p => p !== 'loose') && (option.value !== 'none' || parsed.value !== undefined)) {
          fail(field, `${quoted} is ${table.tool}'s ${label} with a '${parsed.prefixes.find(p => p !== 'loose')}-' prefix, which only turns an on/off option off or on; give the option itself with its value.`);
        }
        if (option.value === 'none' && parsed.value !== undefined && parsed.prefixes.length === 0) {
          fail(field, `${quoted} is ${table.tool}'s ${label} with a value; give it without one (--skip-${option.long} turns it off).`);
        }
        if (table.syntax === 'go-flags' && parsed.short) {
          fail(field, `${quoted} is ${table.tool}'s ${label}; give it by its long name, as --${option.long}, which is how pass-through options are checked.`);
        }
      }
    }
  }
  return [...args];
}

/** The fewest seconds `BACKUP_STALL_TIMEOUT_SECONDS` may give: a slow but moving transfer must never look stalled. */
export const MIN_STALL_TIMEOUT_SECONDS = 10;

/** A stall timeout in whole seconds (from `wholeSeconds` or `countFromText`): at least MIN_STALL_TIMEOUT_SECONDS. */
export function stallTimeoutSeconds(field: string, seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < MIN_STALL_TIMEOUT_SECONDS) {
    fail(field, `${seconds}s is too short: a slow transfer could be given up while it still moves. Give at least ${MIN_STALL_TIMEOUT_SECONDS} seconds; the default is 120.`);
  }
  return seconds;
}

/** A clock-skew tolerance in whole seconds: at least 1, since no two clocks agree to the millisecond. */
export function maxClockSkewSeconds(field: string, seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1) {
    fail(field, `${seconds}s allows no difference at all between two clocks; give at least 1 second (the default is 600).`);
  }
  return seconds;
}

/**
 * A Prometheus Pushgateway base URL: http or https, host, optional port and path prefix (a
 * Pushgateway behind a reverse proxy), no credentials (the URL is plain text in the CronJob), no
 * query or fragment. Returned without a trailing '/'.
 */
export function pushgatewayUrl(field: string, value: string): string {
  const url = httpUrl(field, value, {
    notUrl: "use 'http(s)://host[:port][/path]', e.g. 'http://pushgateway.monitoring:9091'",
    scheme: "e.g. 'http://pushgateway.monitoring:9091'",
    credentials: 'contains credentials, which would be stored in the CronJob and logged in clear text; remove them (put the Pushgateway behind a proxy that authenticates the pod instead).',
    query: 'must not have a query or fragment; the runner appends the grouping key to the path.',
  });
  if (url.pathname.includes('/metrics/job/')) fail(field, `'${value}' already has a grouping key; give only the Pushgateway's base URL, e.g. 'http://pushgateway.monitoring:9091'.`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/**
 * A notification URL read from a Secret (a healthcheck ping or webhook URL): http or https with a
 * host. Its value is never echoed, since the URL itself is the credential. Returned as given.
 */
export function notificationUrl(field: string, value: string): string {
  nonEmpty(field, value, "'https://hc-ping.com/<uuid>' in the Secret", true);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(field, "is not a URL; the Secret's value must be a whole URL such as 'https://hc-ping.com/<uuid>' (value not shown: it is a secret).");
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(field, `the scheme must be http or https, not '${url.protocol.replace(/:$/, '')}' (value not shown: it is a secret).`);
  if (url.hash) fail(field, 'must not have a #fragment (value not shown: it is a secret).');
  return value;
}

/** When a webhook is sent, as BACKUP_WEBHOOK_ON holds it. */
export const NOTIFY_ON_VALUES = ['success', 'failure'] as const;
export type NotifyOnValue = typeof NOTIFY_ON_VALUES[number];

/** BACKUP_WEBHOOK_ON: a comma-separated, non-empty set of `success` and `failure`, each at most once. */
export function notifyOn(field: string, raw: string | undefined): ReadonlySet<NotifyOnValue> {
  if (raw === undefined || raw === '') return new Set(NOTIFY_ON_VALUES);
  const values = raw.split(',');
  const set = new Set<NotifyOnValue>();
  for (const v of values) {
    if (!(NOTIFY_ON_VALUES as readonly string[]).includes(v)) {
      fail(field, `'${raw}' has '${v}'; give ${NOTIFY_ON_VALUES.join(', ')} or both separated by a comma, without spaces, e.g. 'success,failure'.`);
    }
    if (set.has(v as NotifyOnValue)) fail(field, `'${raw}' names '${v}' twice; give each at most once.`);
    set.add(v as NotifyOnValue);
  }
  return set;
}

/**
 * A KMS key as S3 takes it in x-amz-server-side-encryption-aws-kms-key-id: a key id, a key ARN, an
 * alias (`alias/name`) or an alias ARN. Checked for shape only: whether the key exists and the
 * pod may use it, only KMS can say (the first upload fails otherwise).
 */
export function kmsKeyId(field: string, raw: string): string {
  if (typeof raw !== 'string' || raw.length > 2048 || !/^[A-Za-z0-9][A-Za-z0-9:/_+=.,@-]*$/.test(raw)) {
    const shown = typeof raw === 'string' ? JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw) : `(${typeof raw})`;
    fail(field, `${shown} is not a KMS key id; give a key id (1234abcd-12ab-34cd-56ef-1234567890ab), a key ARN (arn:aws:kms:…:key/…), an alias (alias/backups) or an alias ARN.`);
  }
  return raw;
}

/** The longest age a `check` allows (BACKUP_CHECK_MAX_AGE_SECONDS, a check's `maxAge`): ten years. */
export const MAX_CHECK_AGE_SECONDS = 315_360_000;

/** A check's maximum backup age in whole seconds: 1 to ten years (anything longer is a typo). */
export function checkMaxAgeSeconds(field: string, seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_CHECK_AGE_SECONDS) {
    fail(field, `${seconds}s must be between 1 and ${MAX_CHECK_AGE_SECONDS} seconds (ten years), e.g. 111600 for a daily backup (24 h + its activeDeadline + a grace).`);
  }
  return seconds;
}

/** The most parallel restore jobs: beyond this, the target's connections and CPUs are the limit, not the runner. */
export const MAX_RESTORE_PARALLELISM = 64;

/** Parallel restore jobs (`parallelism`, BACKUP_RESTORE_PARALLELISM): a whole number from 1 to 64. */
export function restoreParallelism(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_RESTORE_PARALLELISM) {
    fail(field, `${typeof value === 'string' ? `'${value}' is a string` : value} must be a whole number from 1 (stream into one transaction) to ${MAX_RESTORE_PARALLELISM}, e.g. 2 or the target's CPU count.`);
  }
  return value;
}

/** `restoreParallelism` as the runner reads it; 1 when unset or empty. */
export function restoreParallelismFromText(field: string, raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  if (!/^\d{1,3}$/.test(raw)) fail(field, `'${raw}' must be a whole number from 1 to ${MAX_RESTORE_PARALLELISM}.`);
  return restoreParallelism(field, Number(raw));
}

/** The smallest spool a parallel restore accepts: below it, parallel restore saves nothing. */
export const MIN_RESTORE_SPOOL_BYTES = 16 * 1024 * 1024;

/**
 * The spool's size limit in bytes, given exactly when parallelism is more than 1 (`limitField`
 * names it for the fix). Whether the archive fits is only known from its manifest: the runner
 * checks that before any byte moves.
 */
export function restoreSpoolLimit(parallelismField: string, parallelism: number, limitField: string, bytes: number | undefined): number | undefined {
  if (parallelism === 1) {
    if (bytes !== undefined) fail(limitField, `only a parallel restore spools the archive; set ${parallelismField} to 2 or more, or remove ${limitField}.`);
    return undefined;
  }
  if (bytes === undefined) {
    fail(limitField, `${parallelismField} ${parallelism} spools the decompressed archive to a volume before pg_restore --jobs=${parallelism} reads it; `
      + 'give its size limit, at least the largest backup\'s size before compression (`list` prints it as rawBytes) with room to spare, e.g. Size.gibibytes(20).');
  }
  if (!Number.isInteger(bytes) || bytes < MIN_RESTORE_SPOOL_BYTES) {
    fail(limitField, `${bytes} bytes is too small to spool an archive; give at least ${MIN_RESTORE_SPOOL_BYTES / 1024 / 1024} MiB, and at least the largest backup's size before compression, e.g. Size.gibibytes(20).`);
  }
  return bytes;
}

/** The spool limit as the runner reads it (BACKUP_RESTORE_SPOOL_LIMIT_BYTES): a whole number of bytes. */
export function restoreSpoolLimitFromText(field: string, raw: string): number {
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    fail(field, `'${raw}' must be a whole number of bytes, e.g. ${20 * 2 ** 30} for 20 GiB.`);
  }
  return Number(raw);
}
