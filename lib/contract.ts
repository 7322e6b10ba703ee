/**
 * The contract between the constructs and the companion image's runner: environment variable
 * names, engine names, argv layout and the image's fixed identity. Both sides import this file,
 * so a name changes in exactly one place. Internal: not exported from the package index.
 */

/** Environment variables the runner reads. Standard names first, our own are prefixed `BACKUP_`. */
export const ENV = {
  /** Which engine to run (`postgres`, `mongo`, `mysql`, `redis`). */
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
  /** The MongoDB connection string (always from a Secret). */
  MONGO_URI: 'BACKUP_MONGO_URI',
  /** The MongoDB database to dump (optional: all databases). */
  MONGO_DATABASE: 'BACKUP_MONGO_DATABASE',
  // MySQL/MariaDB: our own names, not the clients' MYSQL_HOST/MYSQL_PWD. The runner hands all of them
  // to the client tools in a private option file; MYSQL_PWD would put the password into the dump
  // tool's environment (readable in /proc by the same user) and is deprecated by both projects.
  MYSQL_HOST: 'BACKUP_MYSQL_HOST',
  MYSQL_PORT: 'BACKUP_MYSQL_PORT',
  MYSQL_USER: 'BACKUP_MYSQL_USER',
  /** The MySQL/MariaDB user's password (always from a Secret). */
  MYSQL_PASSWORD: 'BACKUP_MYSQL_PASSWORD',
  MYSQL_DATABASE: 'BACKUP_MYSQL_DATABASE',
  /** `false` connects without TLS (`skip-ssl`); otherwise the client's default applies. */
  MYSQL_TLS: 'BACKUP_MYSQL_TLS',
  REDIS_HOST: 'BACKUP_REDIS_HOST',
  REDIS_PORT: 'BACKUP_REDIS_PORT',
  /** An ACL user name (Redis 6+); without it redis-cli authenticates as `default`. */
  REDIS_USER: 'BACKUP_REDIS_USER',
  /** redis-cli's own variable for the password (always from a Secret), so it never reaches argv. */
  REDISCLI_AUTH: 'REDISCLI_AUTH',

  // The AWS SDK's own names, so any credential chain (IRSA, Pod Identity) works unchanged.
  AWS_ACCESS_KEY_ID: 'AWS_ACCESS_KEY_ID',
  AWS_SECRET_ACCESS_KEY: 'AWS_SECRET_ACCESS_KEY',
  AWS_SESSION_TOKEN: 'AWS_SESSION_TOKEN',
  AWS_REGION: 'AWS_REGION',
  AWS_ENDPOINT_URL_S3: 'AWS_ENDPOINT_URL_S3',

  // libpq's own names: pg_dump reads them, and a password never reaches argv.
  PGHOST: 'PGHOST',
  PGPORT: 'PGPORT',
  PGUSER: 'PGUSER',
  PGPASSWORD: 'PGPASSWORD',
  PGDATABASE: 'PGDATABASE',

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
   * `verify`: a file the runner creates when it exits, whatever the outcome (success, failure,
   * usage error, SIGTERM), so the throwaway database server in the same pod stops too and the
   * Job can complete. Unset: nothing to signal.
   */
  VERIFY_DONE_FILE: 'BACKUP_VERIFY_DONE_FILE',
  /** `restore`: `true` restores into a target database that already has tables (or collections); otherwise that is refused. */
  RESTORE_FORCE: 'BACKUP_RESTORE_FORCE',
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

/** Engine names as written to `BACKUP_ENGINE`. */
export const ENGINES = ['postgres', 'mongo', 'mysql', 'redis'] as const;
export type EngineName = typeof ENGINES[number];

/**
 * Variables whose values are secrets: redacted from every log line, and removed from the
 * environment of every child process except the one tool that needs its own.
 */
export const SECRET_ENV: readonly string[] = [
  ENV.AWS_SECRET_ACCESS_KEY, ENV.AWS_SESSION_TOKEN, ENV.PGPASSWORD, ENV.MONGO_URI, ENV.MYSQL_PASSWORD, ENV.REDISCLI_AUTH,
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
} as const;

/** The backup id: the object key's file name without extensions, `<UTC timestamp>-<8 hex>`. */
export const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** The id `restore` and `verify` accept for the newest complete backup of the series when they run. */
export const LATEST_BACKUP_ID = 'latest';

/** Separates the runner's own argv from extra arguments passed through to the dump tool. */
export const DUMP_ARGS_SEPARATOR = '--';

/**
 * Dump-tool flags the runner owns. Passing them through would break streaming (output files,
 * directory format), bypass the connection settings, or put a secret into argv.
 */
export const RESERVED_DUMP_ARGS: Record<EngineName, readonly string[]> = {
  postgres: [
    '-f', '--file', '-F', '--format', '-h', '--host', '-p', '--port', '-U', '--username',
    '-d', '--dbname', '-W', '--password', '-j', '--jobs', '-Z', '--compress',
  ],
  mongo: [
    '--uri', '-h', '--host', '--port', '-u', '--username', '-p', '--password', '--out', '-o',
    '--archive', '--gzip', '--config', '-d', '--db',
  ],
  mysql: [
    '--defaults-file', '--defaults-extra-file', '--defaults-group-suffix', '--no-defaults', '--print-defaults',
    '-h', '--host', '-P', '--port', '-S', '--socket', '--protocol', '-u', '--user', '-p', '--password',
    '-r', '--result-file', '-T', '--tab', '--dir', '-X', '--xml',
    '-A', '--all-databases', '-B', '--databases',
  ],
  redis: [
    '-h', '-p', '-s', '-u', '-a', '--pass', '--user', '--askpass', '--rdb', '--functions-rdb',
  ],
};

/**
 * Returns the first reserved flag found in `args` (as `--flag` or `--flag=value`, or a short flag
 * with its value attached), or undefined.
 */
export function findReservedDumpArg(engine: EngineName, args: readonly string[]): string | undefined {
  return findReservedArg(RESERVED_DUMP_ARGS[engine], args);
}

/**
 * Restore-tool flags the runner owns (`pg_restore`, `mariadb`, `mongorestore`): input and format
 * (the runner streams the archive on stdin), connection and password, and flags that would make
 * the tool do something other than restore.
 */
export const RESERVED_RESTORE_ARGS: Record<EngineName, readonly string[]> = {
  postgres: [
    '-f', '--file', '-F', '--format', '-h', '--host', '-p', '--port', '-U', '--username',
    '-d', '--dbname', '-W', '--password', '-j', '--jobs', '-l', '--list', '-L', '--use-list',
    '-1', '--single-transaction',
  ],
  mysql: [
    '--defaults-file', '--defaults-extra-file', '--defaults-group-suffix', '--no-defaults', '--print-defaults',
    '-h', '--host', '-P', '--port', '-S', '--socket', '--protocol', '-u', '--user', '-p', '--password',
    '-D', '--database', '-e', '--execute',
  ],
  mongo: [
    '--uri', '-h', '--host', '--port', '-u', '--username', '-p', '--password', '--archive', '--gzip',
    '--config', '--dir', '-d', '--db', '--nsFrom', '--nsTo',
  ],
  // A Redis backup is restored by starting redis-server on the file; the runner has no Redis restore.
  redis: [],
};

/** Like `findReservedDumpArg`, for the arguments passed through to the restore tool. */
export function findReservedRestoreArg(engine: keyof typeof RESERVED_RESTORE_ARGS, args: readonly string[]): string | undefined {
  return findReservedArg(RESERVED_RESTORE_ARGS[engine], args);
}

/** The first of `reserved` in `args` (as `--flag`, `--flag=value`, or a short flag with its value attached). */
export function findReservedArg(reserved: readonly string[], args: readonly string[]): string | undefined {
  for (const arg of args) {
    for (const flag of reserved) {
      if (arg === flag) return flag;
      if (flag.startsWith('--') && arg.startsWith(flag + '=')) return flag;
      if (!flag.startsWith('--') && arg.startsWith(flag) && !arg.startsWith('--')) return flag;
    }
  }
  return undefined;
}

/** The companion image's fixed identity, matched by the pod's securityContext. */
export const IMAGE = {
  REPOSITORY: 'ghcr.io/cdk8s-db-backup/cdk8s-db-backup',
  UID: 10001,
  GID: 10001,
  /** The only writable path in the container (an emptyDir): the root filesystem is read-only. */
  TMP_DIR: '/tmp',
  /** Where a `BackupStorage.volume()` destination is mounted. */
  BACKUP_VOLUME_PATH: '/backup',
} as const;

/** The image tag for an engine at a given library version: `<version>-<engine>`. */
export function imageTag(version: string, engine: EngineName): string {
  return `${version}-${engine}`;
}
