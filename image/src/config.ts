/**
 * The runner's configuration, read from the environment and checked before any byte moves. Each
 * error names the variable and says how to fix it; nothing here ever echoes a secret value.
 */
import { ConfigError } from './errors';
import { RetentionPolicy } from './retention';
import {
  COMPRESSIONS, CompressionName, ENGINES, ENV, EngineName, findReservedDumpArg, RETENTION_COUNT_ENV,
} from '../../lib/contract';

const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;

export interface S3Destination {
  readonly kind: 's3';
  readonly bucket: string;
  /** Key prefix without leading or trailing '/', '' for none. */
  readonly prefix: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
}

export interface FileDestination {
  readonly kind: 'file';
  /** Absolute directory that receives the backups. */
  readonly dir: string;
}

export type Destination = S3Destination | FileDestination;

export interface PostgresSettings {
  /** PGDATABASE: recorded in the manifest and dumped by pg_dump. */
  readonly database: string;
}

export interface MongoSettings {
  readonly uri: string;
  readonly database?: string;
}

export interface Config {
  readonly engine: EngineName;
  readonly destination: Destination;
  readonly name: string;
  readonly compression: CompressionName;
  readonly dumpArgs: readonly string[];
  readonly postgres?: PostgresSettings;
  readonly mongo?: MongoSettings;
  readonly progressIntervalMs: number;
}

// Same rule as the constructs' backupName (lib/backup-cron-job.ts).
const NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KEY_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

/** Where a series lives: enough for `list` and `prune`, which never talk to a database. */
export interface SeriesConfig {
  readonly destination: Destination;
  readonly name: string;
}

export function loadSeriesConfig(env: NodeJS.ProcessEnv): SeriesConfig {
  return { destination: readDestination(env), name: readName(env) };
}

function readName(env: NodeJS.ProcessEnv): string {
  const name = required(env, ENV.NAME, "a series name such as 'orders-db'");
  if (!NAME_PATTERN.test(name)) {
    throw new ConfigError(`${ENV.NAME}: '${name}' is not a valid series name: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit.`);
  }
  return name;
}

/** `restore`: `true` allows restoring into a target that already has tables (or collections). */
export function readRestoreForce(env: NodeJS.ProcessEnv): boolean {
  const raw = env[ENV.RESTORE_FORCE];
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(`${ENV.RESTORE_FORCE}: '${raw}' must be 'true' or 'false'.`);
}


/** The KEEP_* policy, or undefined when none is set. */
export function readRetention(env: NodeJS.ProcessEnv): RetentionPolicy | undefined {
  const policy: { -readonly [K in keyof RetentionPolicy]: number } = {};
  for (const [field, variable] of RETENTION_COUNT_ENV) {
    const n = readCount(env, variable);
    if (n !== undefined) policy[field] = n;
  }
  const within = readCount(env, ENV.KEEP_WITHIN_SECONDS);
  if (within !== undefined) policy.keepWithinMs = within * 1000;
  return Object.keys(policy).length > 0 ? policy : undefined;
}

const DEFAULT_INCOMPLETE_MIN_AGE_SECONDS = 172_800;

/** Milliseconds after which an incomplete leftover may be removed. */
export function readIncompleteMinAgeMs(env: NodeJS.ProcessEnv): number {
  return (readCount(env, ENV.INCOMPLETE_MIN_AGE_SECONDS) ?? DEFAULT_INCOMPLETE_MIN_AGE_SECONDS) * 1000;
}

function readCount(env: NodeJS.ProcessEnv, variable: string): number | undefined {
  const raw = env[variable];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new ConfigError(`${variable}: '${raw}' must be a whole number of 0 or more.`);
  }
  return Number(raw);
}

export function loadConfig(env: NodeJS.ProcessEnv, dumpArgs: readonly string[]): Config {
  const engine = readEngine(env);
  const name = readName(env);
  const compression = (env[ENV.COMPRESSION] || 'zstd') as CompressionName;
  if (!COMPRESSIONS.includes(compression)) {
    throw new ConfigError(`${ENV.COMPRESSION}: '${compression}' is unknown; use one of ${COMPRESSIONS.join(', ')} (default zstd).`);
  }
  const reserved = findReservedDumpArg(engine, dumpArgs);
  if (reserved) {
    throw new ConfigError(`dump arguments: '${reserved}' is set by the runner (output, format, connection or password) and cannot be passed after '--'; remove it.`);
  }
  return {
    engine,
    destination: readDestination(env),
    name,
    compression,
    dumpArgs: [...dumpArgs],
    postgres: engine === 'postgres' ? readPostgres(env) : undefined,
    mongo: engine === 'mongo' ? readMongo(env) : undefined,
    progressIntervalMs: readProgressInterval(env),
  };
}

/** A required variable, trimmed-checked; the error names it and gives `example`. Never echoes the value. */
export function required(env: NodeJS.ProcessEnv, variable: string, example: string): string {
  const value = env[variable];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`${variable} is not set: set it to ${example}.`);
  }
  if (value !== value.trim()) {
    throw new ConfigError(`${variable} has leading or trailing white space; remove it.`);
  }
  return value;
}

export function readEngine(env: NodeJS.ProcessEnv): EngineName {
  const engine = required(env, ENV.ENGINE, `one of ${ENGINES.join(', ')}`);
  if (!(ENGINES as readonly string[]).includes(engine)) {
    throw new ConfigError(`${ENV.ENGINE}: '${engine}' is unknown; use one of ${ENGINES.join(', ')}.`);
  }
  return engine as EngineName;
}

function readDestination(env: NodeJS.ProcessEnv): Destination {
  const raw = required(env, ENV.DESTINATION, "'s3://bucket/prefix' or 'file:///mounted/path'");
  if (raw.startsWith('s3://')) return readS3(env, raw);
  if (raw.startsWith('file://')) return readFile(raw);
  throw new ConfigError(`${ENV.DESTINATION}: '${raw}' must start with 's3://' (e.g. s3://my-bucket/backups) or 'file://' (e.g. file:///backup).`);
}

function readS3(env: NodeJS.ProcessEnv, raw: string): S3Destination {
  const rest = raw.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    throw new ConfigError(`${ENV.DESTINATION}: '${bucket}' in '${raw}' is not a bucket name: use 3-63 lowercase letters, digits, '-' and '.', e.g. s3://my-bucket/backups.`);
  }
  const prefix = slash < 0 ? '' : checkSegments(rest.slice(slash + 1).replace(/^\/+|\/+$/g, ''), raw);
  const region = required(env, ENV.AWS_REGION, "the bucket's region, e.g. 'eu-west-1' (S3-compatible servers usually accept 'us-east-1')");
  const endpointRaw = env[ENV.AWS_ENDPOINT_URL_S3];
  let endpoint: string | undefined;
  if (endpointRaw) {
    let url: URL;
    try {
      url = new URL(endpointRaw);
    } catch {
      throw new ConfigError(`${ENV.AWS_ENDPOINT_URL_S3}: is not a URL; use 'http(s)://host[:port]', e.g. 'http://minio.storage:9000'.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`${ENV.AWS_ENDPOINT_URL_S3}: the scheme must be http or https, e.g. 'https://s3.example.com'.`);
    }
    if (url.username || url.password) {
      throw new ConfigError(`${ENV.AWS_ENDPOINT_URL_S3}: must not contain credentials; use ${ENV.AWS_ACCESS_KEY_ID} and ${ENV.AWS_SECRET_ACCESS_KEY}.`);
    }
    endpoint = url.origin;
  }
  const pathStyle = env[ENV.S3_FORCE_PATH_STYLE];
  if (pathStyle !== undefined && pathStyle !== '' && pathStyle !== 'true' && pathStyle !== 'false') {
    throw new ConfigError(`${ENV.S3_FORCE_PATH_STYLE}: '${pathStyle}' must be 'true' or 'false'.`);
  }
  return { kind: 's3', bucket, prefix, region, endpoint, forcePathStyle: pathStyle === 'true' };
}

function readFile(raw: string): FileDestination {
  // Checked on the raw text: the URL parser would silently resolve '..' away.
  const rawPath = raw.slice('file://'.length);
  if (!rawPath.startsWith('/')) {
    throw new ConfigError(`${ENV.DESTINATION}: '${raw}' must be an absolute path with an empty host, e.g. file:///backup (three slashes).`);
  }
  if (/[?#]/.test(rawPath)) {
    throw new ConfigError(`${ENV.DESTINATION}: '${raw}' must not have a query or fragment.`);
  }
  const dir = decodeURIComponent(rawPath).replace(/\/+$/, '');
  if (dir.split('/').some(s => s === '.' || s === '..')) {
    throw new ConfigError(`${ENV.DESTINATION}: '${raw}' has a '.' or '..' path segment; give the directory plainly, e.g. file:///backup/prod.`);
  }
  return { kind: 'file', dir: dir === '' ? '/' : dir };
}

function checkSegments(prefix: string, raw: string): string {
  if (prefix === '') return '';
  for (const segment of prefix.split('/')) {
    if (segment === '' || segment === '.' || segment === '..' || !KEY_SEGMENT.test(segment)) {
      throw new ConfigError(`${ENV.DESTINATION}: the prefix in '${raw}' has an empty, '.' or '..' segment or unsafe characters; use plain segments of letters, digits and - _ . ! * ' ( ), e.g. s3://my-bucket/prod/db.`);
    }
  }
  return prefix;
}

function readPostgres(env: NodeJS.ProcessEnv): PostgresSettings {
  const database = required(env, ENV.PGDATABASE, 'the database to dump');
  readPort(env, ENV.PGPORT, 'PostgreSQL', 5432);
  return { database };
}

/** An optional TCP port variable; `fallback` when unset. */
export function readPort(env: NodeJS.ProcessEnv, variable: string, server: string, fallback: number): number {
  const port = env[variable];
  if (port === undefined || port === '') return fallback;
  if (!(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    throw new ConfigError(`${variable}: '${port}' is not a TCP port; use a whole number from 1 to 65535 (${server}'s default is ${fallback}).`);
  }
  return Number(port);
}

function readMongo(env: NodeJS.ProcessEnv): MongoSettings {
  const uri = env[ENV.MONGO_URI];
  // Never quote the value: it holds the password.
  if (uri === undefined || uri.trim() === '') {
    throw new ConfigError(`${ENV.MONGO_URI} is not set: set it (from a Secret) to the connection string, mongodb://user:password@host:27017/?authSource=admin.`);
  }
  if (!/^mongodb(\+srv)?:\/\/\S+$/.test(uri)) {
    throw new ConfigError(`${ENV.MONGO_URI}: is not a MongoDB connection string (value not shown); it must start with mongodb:// or mongodb+srv:// and contain no white space.`);
  }
  const database = env[ENV.MONGO_DATABASE] || undefined;
  if (database !== undefined && !/^[^/\\. "$*<>:|?]{1,63}$/.test(database)) {
    throw new ConfigError(`${ENV.MONGO_DATABASE}: '${database}' is not a MongoDB database name (1-63 characters, none of / \\ . " $ * < > : | ? or space).`);
  }
  return { uri, database };
}

export function readProgressInterval(env: NodeJS.ProcessEnv): number {
  const raw = env[ENV.PROGRESS_INTERVAL_MS];
  if (raw === undefined || raw === '') return DEFAULT_PROGRESS_INTERVAL_MS;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new ConfigError(`${ENV.PROGRESS_INTERVAL_MS}: '${raw}' must be a positive whole number of milliseconds.`);
  }
  return Number(raw);
}
