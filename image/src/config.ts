/**
 * The runner's configuration: argv and every variable the command will use, read and checked
 * before anything starts, with the rules the constructs enforce too (lib/rules.ts). Each error
 * names the variable and says how to fix it (exit 2); nothing here echoes a secret value,
 * starts a process or touches the network or the disk.
 */
import { Args, parseArgs } from './args';
import { CheckSettings, readCheckSettings } from './check';
import { ageIdentityFileFromEnv } from './decrypt';
import { createEngine } from './engines';
import { Engine } from './engines/engine';
import { ConfigError, capabilityError } from './errors';
import { ReportingConfig, readReportingConfig } from './report';
import { RetentionPolicy } from './retention';
import { DEFAULT_STALL_TIMEOUT_MS } from './storage/stall';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from './storage/storage';
import { readVerifyAssertions } from './verify';
import { ageRecipientsFromText } from '../../lib/age';
import { COMMAND, COMPRESSIONS, CompressionName, ENV, RETENTION_COUNT_ENV } from '../../lib/contract';
import { ENGINE_NAMES, ENGINE_REGISTRY, EngineName, engineDescriptor } from '../../lib/registry';
import {
  booleanFromText, bucketName, countFromText, endpointUrl, keyPrefix, maxClockSkewSeconds, nonEmpty, passThroughArgs, regionName,
  kmsKeyId, seriesName, stallTimeoutSeconds,
} from '../../lib/rules';
import { AssertionSpec } from '../../lib/verify-assertions';

const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;
const DEFAULT_INCOMPLETE_MIN_AGE_SECONDS = 172_800;

/** What every destination has. */
interface DestinationBase {
  /**
   * The most the pod's clock may differ from the storage's (BACKUP_MAX_CLOCK_SKEW_SECONDS); the
   * storage's default when not given.
   */
  readonly maxClockSkewMs?: number;
  /** Milliseconds without progress after which a transfer fails (BACKUP_STALL_TIMEOUT_SECONDS); the storage's default when not given. */
  readonly stallTimeoutMs?: number;
}

export interface S3Destination extends DestinationBase {
  readonly kind: 's3';
  readonly bucket: string;
  /** Key prefix without leading or trailing '/', '' for none. */
  readonly prefix: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** Server-side encryption asked for on every upload (BACKUP_S3_SSE); undefined: the bucket's default. */
  readonly serverSideEncryption?: S3ServerSideEncryption;
}

/** S3 server-side encryption: S3-managed keys (SSE-S3), or KMS (SSE-KMS) with a key or the bucket's default KMS key. */
export type S3ServerSideEncryption = { readonly type: 'AES256' } | { readonly type: 'aws:kms'; readonly kmsKeyId?: string };

/** The values of BACKUP_S3_SSE. */
export const S3_SSE_TYPES = ['aws:kms', 'AES256'] as const;

export interface FileDestination extends DestinationBase {
  readonly kind: 'file';
  /** Absolute directory that receives the backups. */
  readonly dir: string;
}

export type Destination = S3Destination | FileDestination;

/** What every command has: the parsed argv and the series it works on. */
interface SeriesConfig {
  readonly args: Args;
  readonly destination: Destination;
  /** The series name (BACKUP_NAME). */
  readonly name: string;
}

export interface BackupConfig extends SeriesConfig {
  readonly command: typeof COMMAND.BACKUP;
  readonly engine: Engine;
  readonly compression: CompressionName;
  /** Checked pass-through arguments for the dump tool. */
  readonly toolArgs: readonly string[];
  /**
   * BACKUP_AGE_RECIPIENTS: the age recipients (public keys) the stored object is encrypted to;
   * undefined when the variable is unset (not encrypted).
   */
  readonly ageRecipients?: readonly string[];
  /** Applied after a successful backup; undefined when no KEEP_* variable is set. */
  readonly retention?: RetentionPolicy;
  readonly incompleteMinAgeMs: number;
  readonly progressIntervalMs: number;
  /** Metrics and notifications (report.ts). */
  readonly reporting: ReportingConfig;
}

export interface ListConfig extends SeriesConfig {
  readonly command: typeof COMMAND.LIST;
}

export interface PruneConfig extends SeriesConfig {
  readonly command: typeof COMMAND.PRUNE;
  readonly retention: RetentionPolicy;
  readonly incompleteMinAgeMs: number;
}

export interface RestoreConfig extends SeriesConfig {
  readonly command: typeof COMMAND.RESTORE;
  /** An engine whose registry entry says it can restore. */
  readonly engine: Engine;
  /** `latest` or a backup id. */
  readonly ref: string;
  /** Checked pass-through arguments for the restore tool. */
  readonly toolArgs: readonly string[];
  /** Restore into a target that already has tables (or collections). */
  readonly force: boolean;
  readonly progressIntervalMs: number;
  /** BACKUP_AGE_IDENTITY_FILE: the age identity that decrypts encrypted backups (read when the restore starts). */
  readonly ageIdentityFile?: string;
}

export interface VerifyConfig extends SeriesConfig {
  readonly command: typeof COMMAND.VERIFY;
  /**
   * An engine whose registry entry says it can be verified (it has `verify`), aimed with its usual
   * variables at the throwaway server in the pod.
   */
  readonly engine: Engine;
  /** BACKUP_VERIFY_SQL (as an `sql` assertion) then BACKUP_VERIFY_ASSERTIONS, checked for the engine. */
  readonly assertions: readonly AssertionSpec[];
  /** `latest` or a backup id. */
  readonly ref: string;
  readonly progressIntervalMs: number;
  /** Metrics and notifications (report.ts). */
  readonly reporting: ReportingConfig;
  /** BACKUP_AGE_IDENTITY_FILE: the age identity that decrypts encrypted backups (read when the restore starts). */
  readonly ageIdentityFile?: string;
}

export interface CheckConfig extends SeriesConfig {
  readonly command: typeof COMMAND.CHECK;
  /**
   * BACKUP_ENGINE when set (a label of the pushed metrics); the check itself reads any engine's
   * series and connects to no database.
   */
  readonly engineName?: EngineName;
  readonly check: CheckSettings;
  /** Incomplete leftovers younger than this are counted as writes in progress. */
  readonly incompleteMinAgeMs: number;
  readonly progressIntervalMs: number;
  /** Metrics and notifications (report.ts). */
  readonly reporting: ReportingConfig;
}

export type RunConfig = BackupConfig | ListConfig | PruneConfig | RestoreConfig | VerifyConfig | CheckConfig;

/**
 * Parses argv and reads every variable the command will use. Throws a RuleError (ConfigError)
 * naming the argument or variable; starts nothing.
 */
export function loadRunConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RunConfig {
  const args = parseArgs(argv);
  const destination = { ...readDestination(env), maxClockSkewMs: readMaxClockSkewMs(env), stallTimeoutMs: readStallTimeoutMs(env) };
  const series = { args, destination, name: readName(env) };
  switch (args.command) {
    case COMMAND.BACKUP: {
      const engine = createEngine(readEngineName(env), env);
      return {
        ...series,
        command: args.command,
        engine,
        compression: readCompression(env),
        toolArgs: passThroughArgs('dump-tool arguments', engine.name, 'dump', args.toolArgs),
        ageRecipients: readAgeRecipients(env),
        retention: readRetention(env),
        incompleteMinAgeMs: readIncompleteMinAgeMs(env),
        progressIntervalMs: readProgressInterval(env),
        reporting: readReportingConfig(env),
      };
    }
    case COMMAND.LIST:
      return { ...series, command: args.command };
    case COMMAND.PRUNE: {
      const retention = readRetention(env);
      if (!retention) {
        const names = [...RETENTION_COUNT_ENV.map(([, variable]) => variable), ENV.KEEP_WITHIN_SECONDS];
        throw new ConfigError(`${args.command} needs a retention policy: set at least one of ${names.join(', ')}.`);
      }
      return { ...series, command: args.command, retention, incompleteMinAgeMs: readIncompleteMinAgeMs(env) };
    }
    case COMMAND.RESTORE: {
      const name = readEngineName(env);
      if (!ENGINE_REGISTRY[name].capabilities.restore) throw capabilityError(ENGINE_REGISTRY[name], 'restore');
      const engine = createEngine(name, env);
      return {
        ...series,
        command: args.command,
        engine,
        ref: args.ref,
        toolArgs: passThroughArgs('restore-tool arguments', name, 'restore', args.toolArgs),
        force: booleanFromText(ENV.RESTORE_FORCE, env[ENV.RESTORE_FORCE], false),
        progressIntervalMs: readProgressInterval(env),
        ageIdentityFile: ageIdentityFileFromEnv(env),
      };
    }
    case COMMAND.VERIFY: {
      const name = readEngineName(env);
      if (!ENGINE_REGISTRY[name].capabilities.verify) throw capabilityError(ENGINE_REGISTRY[name], 'verify');
      const engine = createEngine(name, env);
      if (!engine.verify) throw capabilityError(ENGINE_REGISTRY[name], 'verify');
      return {
        ...series,
        command: args.command,
        engine,
        assertions: readVerifyAssertions(env, name),
        ref: args.ref,
        progressIntervalMs: readProgressInterval(env),
        reporting: readReportingConfig(env),
        ageIdentityFile: ageIdentityFileFromEnv(env),
      };
    }
    case COMMAND.CHECK:
      return {
        ...series,
        command: args.command,
        engineName: env[ENV.ENGINE] === undefined || env[ENV.ENGINE] === '' ? undefined : readEngineName(env),
        check: readCheckSettings(env),
        incompleteMinAgeMs: readIncompleteMinAgeMs(env),
        progressIntervalMs: readProgressInterval(env),
        reporting: readReportingConfig(env),
      };
  }
}

function readEngineName(env: NodeJS.ProcessEnv): EngineName {
  const name = nonEmpty(ENV.ENGINE, env[ENV.ENGINE], `one of ${ENGINE_NAMES.join(', ')}`);
  if (!engineDescriptor(name)) throw new ConfigError(`${ENV.ENGINE}: '${name}' is unknown; use one of ${ENGINE_NAMES.join(', ')}.`);
  return name as EngineName;
}

function readName(env: NodeJS.ProcessEnv): string {
  return seriesName(ENV.NAME, nonEmpty(ENV.NAME, env[ENV.NAME], "a series name such as 'orders-db'"));
}

function readCompression(env: NodeJS.ProcessEnv): CompressionName {
  const compression = env[ENV.COMPRESSION] || 'zstd';
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new ConfigError(`${ENV.COMPRESSION}: '${compression}' is unknown; use one of ${COMPRESSIONS.join(', ')} (default zstd).`);
  }
  return compression as CompressionName;
}

/**
 * BACKUP_AGE_RECIPIENTS, one public key per line; undefined when unset. Set but blank is an error,
 * not "unencrypted": an empty ConfigMap key or a templating slip must not silently store plaintext.
 */
function readAgeRecipients(env: NodeJS.ProcessEnv): readonly string[] | undefined {
  const raw = env[ENV.AGE_RECIPIENTS];
  return raw === undefined ? undefined : ageRecipientsFromText(ENV.AGE_RECIPIENTS, raw);
}

/** A count variable; undefined when unset or empty. */
function readCount(env: NodeJS.ProcessEnv, variable: string): number | undefined {
  const raw = env[variable];
  return raw === undefined || raw === '' ? undefined : countFromText(variable, raw);
}

/** The KEEP_* policy, or undefined when none is set. */
function readRetention(env: NodeJS.ProcessEnv): RetentionPolicy | undefined {
  const policy: { -readonly [K in keyof RetentionPolicy]: number } = {};
  for (const [field, variable] of RETENTION_COUNT_ENV) {
    const n = readCount(env, variable);
    if (n !== undefined) policy[field] = n;
  }
  const within = readCount(env, ENV.KEEP_WITHIN_SECONDS);
  if (within !== undefined) policy.keepWithinMs = within * 1000;
  return Object.keys(policy).length > 0 ? policy : undefined;
}

/** Milliseconds after which an incomplete leftover may be removed. */
function readIncompleteMinAgeMs(env: NodeJS.ProcessEnv): number {
  return (readCount(env, ENV.INCOMPLETE_MIN_AGE_SECONDS) ?? DEFAULT_INCOMPLETE_MIN_AGE_SECONDS) * 1000;
}

/** BACKUP_MAX_CLOCK_SKEW_SECONDS in milliseconds: every command reads or deletes by the storage's clock. */
function readMaxClockSkewMs(env: NodeJS.ProcessEnv): number {
  const seconds = readCount(env, ENV.MAX_CLOCK_SKEW_SECONDS);
  return seconds === undefined ? DEFAULT_MAX_CLOCK_SKEW_MS : maxClockSkewSeconds(ENV.MAX_CLOCK_SKEW_SECONDS, seconds) * 1000;
}

/** BACKUP_STALL_TIMEOUT_SECONDS in milliseconds: every command reads or writes the storage. */
function readStallTimeoutMs(env: NodeJS.ProcessEnv): number {
  const seconds = readCount(env, ENV.STALL_TIMEOUT_SECONDS);
  return seconds === undefined ? DEFAULT_STALL_TIMEOUT_MS : stallTimeoutSeconds(ENV.STALL_TIMEOUT_SECONDS, seconds) * 1000;
}

function readProgressInterval(env: NodeJS.ProcessEnv): number {
  const ms = readCount(env, ENV.PROGRESS_INTERVAL_MS);
  if (ms === undefined) return DEFAULT_PROGRESS_INTERVAL_MS;
  if (ms < 1) throw new ConfigError(`${ENV.PROGRESS_INTERVAL_MS}: '${env[ENV.PROGRESS_INTERVAL_MS]}' must be a positive whole number of milliseconds.`);
  return ms;
}

function readDestination(env: NodeJS.ProcessEnv): Destination {
  const raw = nonEmpty(ENV.DESTINATION, env[ENV.DESTINATION], "'s3://bucket/prefix' or 'file:///mounted/path'");
  if (raw.startsWith('s3://')) return readS3(env, raw);
  if (raw.startsWith('file://')) {
    for (const variable of [ENV.S3_SSE, ENV.S3_SSE_KMS_KEY_ID]) {
      if (env[variable]) throw new ConfigError(`${variable}: S3 server-side encryption applies to s3:// destinations only, and ${ENV.DESTINATION} is '${raw}'; remove ${variable}.`);
    }
    return readFile(raw);
  }
  throw new ConfigError(`${ENV.DESTINATION}: '${raw}' must start with 's3://' (e.g. s3://my-bucket/backups) or 'file://' (e.g. file:///backup).`);
}

function readS3(env: NodeJS.ProcessEnv, raw: string): S3Destination {
  const rest = raw.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = bucketName(ENV.DESTINATION, slash < 0 ? rest : rest.slice(0, slash));
  const prefix = keyPrefix(ENV.DESTINATION, slash < 0 ? undefined : rest.slice(slash + 1));
  const region = regionName(ENV.AWS_REGION, nonEmpty(ENV.AWS_REGION, env[ENV.AWS_REGION], "the bucket's region, e.g. 'eu-west-1' (S3-compatible servers usually accept 'us-east-1')"));
  const endpointRaw = env[ENV.AWS_ENDPOINT_URL_S3];
  const endpoint = endpointRaw ? endpointUrl(ENV.AWS_ENDPOINT_URL_S3, endpointRaw) : undefined;
  const forcePathStyle = booleanFromText(ENV.S3_FORCE_PATH_STYLE, env[ENV.S3_FORCE_PATH_STYLE], false);
  return { kind: 's3', bucket, prefix, region, endpoint, forcePathStyle, serverSideEncryption: readServerSideEncryption(env) };
}

/** BACKUP_S3_SSE and BACKUP_S3_SSE_KMS_KEY_ID; undefined when neither is set. */
function readServerSideEncryption(env: NodeJS.ProcessEnv): S3ServerSideEncryption | undefined {
  const type = env[ENV.S3_SSE];
  const keyId = env[ENV.S3_SSE_KMS_KEY_ID];
  if (!type) {
    if (keyId) throw new ConfigError(`${ENV.S3_SSE_KMS_KEY_ID}: set only with ${ENV.S3_SSE}=aws:kms; set ${ENV.S3_SSE}=aws:kms too, or remove it.`);
    return undefined;
  }
  if (!(S3_SSE_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(`${ENV.S3_SSE}: '${type}' is unknown; use 'aws:kms' (SSE-KMS, with ${ENV.S3_SSE_KMS_KEY_ID} or the bucket's default KMS key) or 'AES256' (SSE-S3, S3-managed keys).`);
  }
  if (type === 'AES256') {
    if (keyId) throw new ConfigError(`${ENV.S3_SSE_KMS_KEY_ID}: a KMS key goes with ${ENV.S3_SSE}=aws:kms, not '${type}'; remove it, or set ${ENV.S3_SSE}=aws:kms.`);
    return { type };
  }
  return keyId ? { type: 'aws:kms', kmsKeyId: kmsKeyId(ENV.S3_SSE_KMS_KEY_ID, keyId) } : { type: 'aws:kms' };
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
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new ConfigError(`${ENV.DESTINATION}: '${raw}' has a '%' that starts no valid escape; write a literal '%' as '%25', e.g. file:///backup/100%25.`);
  }
  const dir = decoded.replace(/\/+$/, '');
  if (dir.split('/').some(s => s === '.' || s === '..')) {
    throw new ConfigError(`${ENV.DESTINATION}: '${raw}' has a '.' or '..' path segment; give the directory plainly, e.g. file:///backup/prod.`);
  }
  if (dir.includes('\0')) throw new ConfigError(`${ENV.DESTINATION}: '${raw}' decodes to a path with a NUL character; remove '%00'.`);
  return { kind: 'file', dir: dir === '' ? '/' : dir };
}
