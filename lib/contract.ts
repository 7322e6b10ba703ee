/**
 * The contract between the constructs and the companion image's runner: environment variable
 * names, engine names, argv layout and the image's fixed identity. Both sides import this file,
 * so a name changes in exactly one place. Each engine's own variables are in its registry entry
 * (lib/registry.ts). Internal: not exported from the package index.
 */
import { ENGINE_NAMES, ENGINE_REGISTRY, EngineName } from './registry';

export { ENGINE_NAMES };
export type { EngineName };

/** Environment variables the runner reads. Standard names first, our own are prefixed `BACKUP_`. */
export const ENV = {
  /** Which engine to run: a name from the engine registry (lib/registry.ts). */
  ENGINE: 'BACKUP_ENGINE',
  /** `s3://bucket/prefix` or `file:///mounted/path`. */
  DESTINATION: 'BACKUP_DESTINATION',
  /** The series name used in object keys: `<prefix>/<name>/<timestamp>-<random>.<ext>`. */
  NAME: 'BACKUP_NAME',
  /** `zstd` (default), `gzip` or `none`. */
  COMPRESSION: 'BACKUP_COMPRESSION',
  /** `true` to address S3 buckets by path (MinIO, Ceph radosgw) instead of virtual host. */
  S3_FORCE_PATH_STYLE: 'BACKUP_S3_FORCE_PATH_STYLE',
  /** Progress log interval in milliseconds (default 10000); tests shorten it. */
  PROGRESS_INTERVAL_MS: 'BACKUP_PROGRESS_INTERVAL_MS',
  // The AWS SDK's own names, so any credential chain (IRSA, Pod Identity) works unchanged.
  AWS_ACCESS_KEY_ID: 'AWS_ACCESS_KEY_ID',
  AWS_SECRET_ACCESS_KEY: 'AWS_SECRET_ACCESS_KEY',
  AWS_SESSION_TOKEN: 'AWS_SESSION_TOKEN',
  AWS_REGION: 'AWS_REGION',
  AWS_ENDPOINT_URL_S3: 'AWS_ENDPOINT_URL_S3',

  // Retention (restic's forget vocabulary). When any is set, `backup` prunes after a successful
  // run; `prune` applies them on its own. Counts are whole numbers >= 0.
  KEEP_LAST: 'BACKUP_KEEP_LAST',
  KEEP_HOURLY: 'BACKUP_KEEP_HOURLY',
  KEEP_DAILY: 'BACKUP_KEEP_DAILY',
  KEEP_WEEKLY: 'BACKUP_KEEP_WEEKLY',
  KEEP_MONTHLY: 'BACKUP_KEEP_MONTHLY',
  KEEP_YEARLY: 'BACKUP_KEEP_YEARLY',
  /** A duration in seconds: keep every backup this close to the newest one. */
  KEEP_WITHIN_SECONDS: 'BACKUP_KEEP_WITHIN_SECONDS',
  /** Age in seconds after which an incomplete leftover (data without a manifest, an open upload) is removed. Default 172800 (48 h). */
  INCOMPLETE_MIN_AGE_SECONDS: 'BACKUP_INCOMPLETE_MIN_AGE_SECONDS',
  /** `verify`: an SQL query that must return exactly one row whose first column is true. */
  VERIFY_SQL: 'BACKUP_VERIFY_SQL',
  /**
   * `verify`: what the restored copy must satisfy besides holding something, as a JSON array of
   * typed assertions (lib/verify-assertions.ts), e.g. `[{"type":"minRows","table":"orders","min":1}]`.
   * Each engine checks only its own types. Unset or empty: no assertion.
   */
  VERIFY_ASSERTIONS: 'BACKUP_VERIFY_ASSERTIONS',
  /**
   * `verify`: a file the runner creates when it exits, whatever the outcome (success, failure,
   * usage error, SIGTERM), so the throwaway database server in the same pod stops too and the
   * Job can complete. Unset: nothing to signal.
   */
  VERIFY_DONE_FILE: 'BACKUP_VERIFY_DONE_FILE',
  /** `restore`: `true` restores into a target database that already has tables (or collections); otherwise that is refused. */
  RESTORE_FORCE: 'BACKUP_RESTORE_FORCE',
  /**
   * `restore`, `verify` (PostgreSQL): parallel restore jobs, a whole number 1–64. 1 (the default)
   * streams the backup into one transaction; N > 1 spools the archive into RESTORE_SPOOL_DIR while
   * its sha256 is checked, then runs `pg_restore --jobs=N` from the file.
   */
  RESTORE_PARALLELISM: 'BACKUP_RESTORE_PARALLELISM',
  /** `restore`, `verify` with RESTORE_PARALLELISM > 1: the spool volume's size limit in bytes; a larger archive is refused before any byte moves. */
  RESTORE_SPOOL_LIMIT_BYTES: 'BACKUP_RESTORE_SPOOL_LIMIT_BYTES',
  /** Where a parallel restore spools the archive; default IMAGE.RESTORE_SPOOL_DIR, where the constructs mount the spool volume. */
  RESTORE_SPOOL_DIR: 'BACKUP_RESTORE_SPOOL_DIR',
  /**
   * The most the pod's clock may differ from the storage's, in seconds (default 600): a run whose
   * clock disagrees by more refuses to start (exit 2), because backup ids, retention and `latest`
   * must not follow a wrong clock.
   */
  MAX_CLOCK_SKEW_SECONDS: 'BACKUP_MAX_CLOCK_SKEW_SECONDS',
  /**
   * Seconds without a byte of progress after which a transfer is given up (default 120): a stalled
   * storage server fails the run in bounded time, the upload aborted.
   */
  STALL_TIMEOUT_SECONDS: 'BACKUP_STALL_TIMEOUT_SECONDS',

  // Monitoring (`backup`, `verify`, `check`): metrics and notifications at the start and end of a
  // run. None of them ever fails a run; each is bounded by NOTIFY_TIMEOUT_SECONDS.
  /** A Prometheus Pushgateway base URL, e.g. `http://pushgateway.monitoring:9091`. */
  PUSHGATEWAY_URL: 'BACKUP_PUSHGATEWAY_URL',
  /** A healthchecks.io-style ping URL (a secret): `<url>/start`, `<url>`, `<url>/fail`. */
  HEALTHCHECK_URL: 'BACKUP_HEALTHCHECK_URL',
  /** A URL (a secret) that receives one JSON document per run, by POST. */
  WEBHOOK_URL: 'BACKUP_WEBHOOK_URL',
  /** Which outcomes the webhook is sent for: `success`, `failure` or `success,failure` (default). */
  WEBHOOK_ON: 'BACKUP_WEBHOOK_ON',
  /** The most seconds all reporting at one point of a run (start or end) may take together (default 30). */
  NOTIFY_TIMEOUT_SECONDS: 'BACKUP_NOTIFY_TIMEOUT_SECONDS',
  /** The pod's namespace (from the downward API): a label of the pushed metrics. */
  NAMESPACE: 'BACKUP_NAMESPACE',

  // Encryption (age, https://age-encryption.org/v1) and S3 server-side encryption.
  /**
   * `backup`: age recipients (public keys, `age1…` or `ssh-ed25519 …`), one per line: the stored
   * object is an age file only their identities decrypt. Unset: not encrypted.
   */
  AGE_RECIPIENTS: 'BACKUP_AGE_RECIPIENTS',
  /**
   * `restore`, `verify`: the path of a file (mounted from a Secret) holding the age identity
   * (`AGE-SECRET-KEY-1…`) that decrypts encrypted backups. Never set in a backup pod.
   */
  AGE_IDENTITY_FILE: 'BACKUP_AGE_IDENTITY_FILE',
  /** S3 server-side encryption of every upload: `aws:kms` or `AES256` (S3-managed keys). */
  S3_SSE: 'BACKUP_S3_SSE',
  /** With `BACKUP_S3_SSE=aws:kms`: the KMS key id or ARN; unset: the bucket's default KMS key. */
  S3_SSE_KMS_KEY_ID: 'BACKUP_S3_SSE_KMS_KEY_ID',

  // `check`
  /** `check`: fail when the newest complete backup is older than this many seconds. */
  CHECK_MAX_AGE_SECONDS: 'BACKUP_CHECK_MAX_AGE_SECONDS',
  /** `check`: `true` reads every stored object and compares its sha256 with its manifest. */
  CHECK_READ_DATA: 'BACKUP_CHECK_READ_DATA',
} as const;

/** restic's count rules and the variable each is written to, for the constructs and the runner. */
export const RETENTION_COUNT_ENV = [
  ['keepLast', ENV.KEEP_LAST],
  ['keepHourly', ENV.KEEP_HOURLY],
  ['keepDaily', ENV.KEEP_DAILY],
  ['keepWeekly', ENV.KEEP_WEEKLY],
  ['keepMonthly', ENV.KEEP_MONTHLY],
  ['keepYearly', ENV.KEEP_YEARLY],
] as const;

/**
 * Variables whose values are secrets: redacted from every log line, and removed from the
 * environment of every child process except the one tool that needs its own.
 */
export const SECRET_ENV: readonly string[] = [
  ENV.AWS_SECRET_ACCESS_KEY, ENV.AWS_SESSION_TOKEN, ENV.HEALTHCHECK_URL, ENV.WEBHOOK_URL,
  ...ENGINE_NAMES.flatMap(name => ENGINE_REGISTRY[name].secretEnv),
];

/** Compression names as written to `BACKUP_COMPRESSION`. */
export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type CompressionName = typeof COMPRESSIONS[number];

/** The runner's commands (argv[0] of the container). */
export const COMMAND = {
  /** `backup [-- <extra dump-tool args>]` */
  BACKUP: 'backup',
  /** `list`: complete backups (with a manifest) of the series, newest first, one JSON line each. */
  LIST: 'list',
  /** `restore [latest|<backup id>] [-- <extra restore-tool args>]` into the target the engine env names. */
  RESTORE: 'restore',
  /** `prune`: apply the KEEP_* retention policy and remove old incomplete leftovers. */
  PRUNE: 'prune',
  /** `verify [latest|<backup id>]`: restore into a throwaway server and run the checks. */
  VERIFY: 'verify',
  /**
   * `check`: the view from the storage. Fails when the newest complete backup is older than
   * CHECK_MAX_AGE_SECONDS, when a manifest's object is missing or has another size, and with
   * CHECK_READ_DATA when a stored object's sha256 differs from its manifest. Read access only.
   */
  CHECK: 'check',
} as const;

/** The backup id: the object key's file name without extensions, `<UTC timestamp>-<8 hex>`. */
export const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** The id `restore` and `verify` accept for the newest complete backup of the series when they run. */
export const LATEST_BACKUP_ID = 'latest';

/** Separates the runner's own argv from arguments passed through to the dump or restore tool. */
export const TOOL_ARGS_SEPARATOR = '--';

/** The companion image's fixed identity, matched by the pod's securityContext. */
export const IMAGE = {
  REPOSITORY: 'ghcr.io/cdk8s-db-backup/cdk8s-db-backup',
  UID: 10001,
  GID: 10001,
  /** The only writable path in the container (an emptyDir): the root filesystem is read-only. */
  TMP_DIR: '/tmp',
  /** Where a `BackupStorage.volume()` destination is mounted. */
  BACKUP_VOLUME_PATH: '/backup',
  /** Where a CA certificate for the database connection's TLS is mounted (read-only). */
  TLS_CA_DIR: '/etc/cdk8s-db-backup/tls',
  /** The CA certificate's file name inside TLS_CA_DIR. */
  TLS_CA_FILE_NAME: 'ca.crt',
  /** Where an age identity for decryption is mounted (read-only, from a Secret; restore and verify pods only). */
  AGE_IDENTITY_DIR: '/etc/cdk8s-db-backup/age',
  /** The identity's file name inside AGE_IDENTITY_DIR. */
  AGE_IDENTITY_FILE_NAME: 'identity.txt',
  /** Where a parallel restore spools the archive (an emptyDir with a size limit; restore and verify pods with parallelism > 1). */
  RESTORE_SPOOL_DIR: '/var/spool/cdk8s-db-backup',
} as const;

/** The image tag for an engine at a given library version: `<version>-<engine>`. */
export function imageTag(version: string, engine: EngineName): string {
  return `${version}-${engine}`;
}
