/**
 * The engine registry: one descriptor per database engine, read by the contract, the constructs,
 * the runner (image/src/engines/index.ts), the image build (image/build.sh, through
 * image/build/registry.js) and the tests. A new engine is one entry here, its construct file in
 * lib/, its runner file in image/src/engines/, its tests and its test server; see the README's
 * "How the pieces fit". No cdk8s-plus import: the runner bundles this file.
 * Internal: not exported from the package index.
 */
import { MONGODUMP_OPTIONS, MONGORESTORE_OPTIONS } from './tool-options/mongo';
import { MARIADB_DUMP_OPTIONS, MARIADB_OPTIONS } from './tool-options/mysql';
import { PG_DUMP_OPTIONS, PG_RESTORE_OPTIONS } from './tool-options/postgres';
import { REDIS_CLI_OPTIONS } from './tool-options/redis';
import { ToolOptionTable } from './tool-options/table';

/** What the companion image needs for an engine. */
export interface EngineImage {
  /** Debian trixie packages the engine's target installs (besides the shared base). */
  readonly packages: readonly string[];
  /**
   * A .deb that is not in Debian, fetched at build time and checked against a sha256 that
   * image/build.sh reads from the variable `sha256Arg` and passes to the Dockerfile as
   * DOWNLOAD_SHA256 (never a default: an unverified download is refused).
   */
  readonly download?: {
    readonly url: string;
    readonly sha256Arg: string;
    /** The only architectures the vendor ships it for (Docker's TARGETARCH names). */
    readonly architectures: readonly string[];
  };
}

/** The engine's tools, each a list of alternatives in order of preference. */
export interface EngineTools {
  /** Writes the whole dump to stdout. */
  readonly dump: readonly string[];
  /** Reads a dump on stdin. Absent: the runner cannot restore this engine. */
  readonly restore?: readonly string[];
}

/**
 * The option tables (lib/tool-options/<engine>.ts) of the tools that take pass-through arguments, per
 * direction: the tool's complete option list and the options a user may pass. Absent: the
 * engine has no such tool, and arguments for it are refused.
 */
export interface PassThroughTables {
  readonly dump: ToolOptionTable;
  readonly restore?: ToolOptionTable;
}

export interface EngineDescriptor {
  /** The name written to `BACKUP_ENGINE` and used in image tags and labels. */
  readonly name: string;
  /** How people call the server, for messages: 'PostgreSQL'. */
  readonly title: string;
  readonly image: EngineImage;
  /** Every environment variable the engine's runner reads, by concept. */
  readonly env: Readonly<Record<string, string>>;
  /** Which of `env` hold secrets: redacted from logs, kept from every other child process. */
  readonly secretEnv: readonly string[];
  readonly tools: EngineTools;
  /** What pass-through arguments (`dumpArgs`, `restoreArgs`, `backup -- …`) may carry. */
  readonly passThrough: PassThroughTables;
  /** The stored format, recorded in the manifest; tells a restore which tool reads it. */
  readonly format: string;
  /** File extension before any compression suffix. */
  readonly extension: string;
  /** The server's default TCP port, when it has one. */
  readonly defaultPort?: number;
  readonly capabilities: {
    readonly backup: boolean;
    readonly restore: boolean;
    readonly verify: boolean;
  };
  /** The kinds of assertion its verification can check (lib/verify-assertions.ts); empty without verify. */
  readonly assertions: readonly AssertionType[];
}

/** The kinds of assertion a verification checks on the restored copy (lib/verify-assertions.ts). */
export type AssertionType = 'sql' | 'minRows' | 'tablesExist' | 'minKeys' | 'keysExist' | 'minDocuments';

const POSTGRES = {
  name: 'postgres',
  title: 'PostgreSQL',
  image: { packages: ['postgresql-client', 'zstd'] },
  // libpq's own names: pg_dump reads them, and a password never reaches argv.
  env: {
    HOST: 'PGHOST',
    PORT: 'PGPORT',
    USER: 'PGUSER',
    PASSWORD: 'PGPASSWORD',
    DATABASE: 'PGDATABASE',
    SSL_MODE: 'PGSSLMODE',
    SSL_ROOT_CERT: 'PGSSLROOTCERT',
  },
  secretEnv: ['PGPASSWORD'],
  tools: { dump: ['pg_dump'], restore: ['pg_restore'] },
  passThrough: { dump: PG_DUMP_OPTIONS, restore: PG_RESTORE_OPTIONS },
  format: 'pg_dump-custom',
  extension: 'pgdump',
  defaultPort: 5432,
  capabilities: { backup: true, restore: true, verify: true },
  assertions: ['sql', 'minRows', 'tablesExist'],
} as const satisfies EngineDescriptor;

const MONGO = {
  name: 'mongo',
  title: 'MongoDB',
  image: {
    packages: ['zstd'],
    // MongoDB Database Tools are not in Debian; MongoDB ships debian12 builds (they run on trixie).
    download: {
      url: 'https://fastdl.mongodb.org/tools/db/mongodb-database-tools-debian12-x86_64-100.10.0.deb',
      sha256Arg: 'MONGO_TOOLS_SHA256',
      architectures: ['amd64'],
    },
  },
  env: {
    /** The connection string, always from a Secret: it holds the password. */
    URI: 'BACKUP_MONGO_URI',
    /** The database to dump or restore into; unset: every database. */
    DATABASE: 'BACKUP_MONGO_DATABASE',
  },
  secretEnv: ['BACKUP_MONGO_URI'],
  tools: { dump: ['mongodump'], restore: ['mongorestore'] },
  passThrough: { dump: MONGODUMP_OPTIONS, restore: MONGORESTORE_OPTIONS },
  format: 'mongodump-archive',
  extension: 'archive',
  defaultPort: 27017,
  capabilities: { backup: true, restore: true, verify: true },
  assertions: ['minDocuments'],
} as const satisfies EngineDescriptor;

const MYSQL = {
  name: 'mysql',
  title: 'MySQL',
  image: { packages: ['mariadb-client', 'zstd'] },
  // Our own names, not the clients' MYSQL_HOST/MYSQL_PWD: the runner hands all of them to the
  // client tools in a private option file; MYSQL_PWD would put the password into the dump tool's
  // environment (readable in /proc by the same user) and is deprecated by both projects.
  env: {
    HOST: 'BACKUP_MYSQL_HOST',
    PORT: 'BACKUP_MYSQL_PORT',
    USER: 'BACKUP_MYSQL_USER',
    PASSWORD: 'BACKUP_MYSQL_PASSWORD',
    DATABASE: 'BACKUP_MYSQL_DATABASE',
    /** `false` connects without TLS (`skip-ssl`); otherwise the client's default applies. */
    TLS: 'BACKUP_MYSQL_TLS',
    /** A CA certificate file that verifies the server's certificate. */
    TLS_CA_FILE: 'BACKUP_MYSQL_TLS_CA_FILE',
  },
  secretEnv: ['BACKUP_MYSQL_PASSWORD'],
  tools: { dump: ['mariadb-dump', 'mysqldump'], restore: ['mariadb', 'mysql'] },
  // The tables are MariaDB's (the image's clients); the mysqldump/mysql fallbacks read the same options.
  passThrough: { dump: MARIADB_DUMP_OPTIONS, restore: MARIADB_OPTIONS },
  format: 'mysqldump-sql',
  extension: 'sql',
  defaultPort: 3306,
  capabilities: { backup: true, restore: true, verify: true },
  assertions: ['sql', 'minRows', 'tablesExist'],
} as const satisfies EngineDescriptor;

const REDIS = {
  name: 'redis',
  title: 'Redis',
  image: { packages: ['redis-tools', 'zstd'] },
  env: {
    HOST: 'BACKUP_REDIS_HOST',
    PORT: 'BACKUP_REDIS_PORT',
    /** An ACL user name (Redis 6+); without it redis-cli authenticates as `default`. */
    USER: 'BACKUP_REDIS_USER',
    /** redis-cli's own variable for the password, so it never reaches argv. */
    PASSWORD: 'REDISCLI_AUTH',
    /** `true` connects with TLS (`redis-cli --tls`). */
    TLS: 'BACKUP_REDIS_TLS',
    /** A CA certificate file that verifies the server's certificate (with TLS). */
    TLS_CA_FILE: 'BACKUP_REDIS_TLS_CA_FILE',
    /**
     * `restore` and `verify`: the RDB file (absolute path) a restore writes, for a redis-server
     * that loads it when it starts, e.g. `/data/dump.rdb` on the stopped Redis's volume.
     */
    RESTORE_FILE: 'BACKUP_REDIS_RESTORE_FILE',
  },
  secretEnv: ['REDISCLI_AUTH'],
  // An RDB is loaded by redis-server only at start: a restore writes the file, checked by
  // redis-check-rdb, for a stopped Redis (or verify's throwaway one) to start from.
  tools: { dump: ['redis-cli'], restore: ['redis-check-rdb'] },
  passThrough: { dump: REDIS_CLI_OPTIONS },
  format: 'redis-rdb',
  extension: 'rdb',
  defaultPort: 6379,
  capabilities: { backup: true, restore: true, verify: true },
  assertions: ['minKeys', 'keysExist'],
} as const satisfies EngineDescriptor;

/** Every engine, by name. */
export const ENGINE_REGISTRY = {
  postgres: POSTGRES,
  mongo: MONGO,
  mysql: MYSQL,
  redis: REDIS,
} as const;

export type EngineName = keyof typeof ENGINE_REGISTRY;

/** Engine names in registry order. */
export const ENGINE_NAMES = Object.keys(ENGINE_REGISTRY) as EngineName[];

/** The descriptor of `name`; undefined for a name the registry does not know. */
export function engineDescriptor(name: string): EngineDescriptor | undefined {
  return Object.prototype.hasOwnProperty.call(ENGINE_REGISTRY, name) ? ENGINE_REGISTRY[name as EngineName] : undefined;
}
