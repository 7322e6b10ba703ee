/**
 * How test files find the servers global-setup.ts started, and the one skip mechanism for
 * integration tests. Jest runs test files in worker processes that share nothing with globalSetup
 * but the environment they inherit, so connection info travels as TEST_* variables (each server's
 * file in this folder names its own).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { TEST_SERVERS, type ServerKind } from './catalog';
import { s3FromEnv, type S3Connection } from './ceph';
import { imageMissingReason } from './image';
import { mysqlAdmin, mysqlFromEnv, type MysqlAdmin, type MysqlConnection } from './mariadb';
import { postgresAdmin, postgresFromEnv, type PostgresAdmin, type PostgresConnection } from './postgres';
import { redisFromEnv, type RedisConnection } from './redis';
import type { EngineName } from '../../lib/registry';

export type { ServerKind };

/**
 * What an integration test can need: a server global-setup starts, the companion image built for
 * an engine (`image:postgres`, by image/build.sh), or running as root (to run a server as its
 * system user).
 */
export type Need = ServerKind | `image:${EngineName}` | 'root' | Tool;

/** Executables a test runs directly (no server): installed by .ci/install-servers.sh. */
export const TOOLS = {
  /** Prometheus' rule checker and unit-test runner (Debian's `prometheus` package). */
  promtool: '/usr/bin/promtool',
  /** age and age-keygen (Debian's `age` package): encryption interoperability. */
  age: '/usr/bin/age',
  /** Debian's shellcheck: the `run:` steps of the GitHub workflows (test/release/). */
  shellcheck: '/usr/bin/shellcheck',
} as const;
export type Tool = keyof typeof TOOLS;

/** Under CI a missing server is a failure, never a skip: a green run must have run every test. */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

function testServer(kind: ServerKind) {
  return TEST_SERVERS.find(s => s.kind === kind)!;
}

function missingMessage(kind: ServerKind): string {
  return (
    `${testServer(kind).label} for integration tests is not available: jest's globalSetup (test/servers/global-setup.ts) did not start it. ` +
    'Install the servers with `sudo .ci/install-servers.sh`, and check that jest\'s config has that globalSetup and that SKIP_TEST_SERVERS is not set.'
  );
}

/** Whether global-setup started the server of that kind (its TEST_* variables are set). */
export function available(kind: ServerKind, env: NodeJS.ProcessEnv = process.env): boolean {
  return testServer(kind).fromEnv(env) !== undefined;
}

/** The S3 server; throws with the reason when there is none. */
export function requireS3(): S3Connection {
  const c = s3FromEnv();
  if (!c) throw new Error(missingMessage('s3'));
  return c;
}

/** The PostgreSQL server plus superuser helpers (psql, createDatabase); throws with the reason when there is none. */
export function requirePostgres(): PostgresConnection & PostgresAdmin {
  const c = postgresFromEnv();
  if (!c) throw new Error(missingMessage('postgres'));
  return { ...c, ...postgresAdmin(c) };
}

/** The MariaDB server plus root helpers (sql, createDatabase); throws with the reason when there is none. */
export function requireMysql(): MysqlConnection & MysqlAdmin {
  const c = mysqlFromEnv();
  if (!c) throw new Error(missingMessage('mysql'));
  return { ...c, ...mysqlAdmin(c) };
}

/** The Redis server; throws with the reason when there is none. */
export function requireRedis(): RedisConnection {
  const c = redisFromEnv();
  if (!c) throw new Error(missingMessage('redis'));
  return c;
}

/**
 * Options for `new S3Client(...)` against the test server. Plain data, so
 * this module does not depend on the SDK; the literal types match S3ClientConfig.
 */
export function s3ClientConfig(c: S3Connection = requireS3()) {
  return {
    endpoint: c.endpoint,
    region: c.region,
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    // No wildcard DNS for bucket.127.0.0.1.
    forcePathStyle: true,
    // The SDK's default (CRC32 trailers on every request) is AWS-only behaviour.
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
  };
}

/**
 * A name no other test uses: every test file shares one S3 server and one
 * PostgreSQL server for the whole run, so buckets and databases must not
 * collide. Valid as a bucket name (lower case, digits, '-', 3..63 chars) and
 * as an unquoted SQL identifier once '-' is replaced.
 */
export function uniqueName(prefix = 'test'): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
  return `${clean.slice(0, 40)}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A need that is not met here: a short reason for a skipped suite's name, and the full one for CI. */
export interface UnmetNeed {
  readonly need: Need;
  readonly skip: string;
  readonly error: string;
}

/** The needs in `needs` that are not met in this process. */
export function unmetNeeds(needs: readonly Need[], env: NodeJS.ProcessEnv = process.env): UnmetNeed[] {
  const unmet: UnmetNeed[] = [];
  for (const need of needs) {
    if (need === 'root') {
      if (process.getuid?.() !== 0) {
        unmet.push({ need, skip: 'not root', error: 'this test switches to another user: run it as root (CI does)' });
      }
    } else if (need in TOOLS) {
      const file = TOOLS[need as Tool];
      if (!fs.existsSync(file)) {
        unmet.push({ need, skip: `no ${file}; run .ci/install-servers.sh`, error: `${file} is missing: install it with \`sudo .ci/install-servers.sh\`.` });
      }
    } else if (need.startsWith('image:')) {
      const reason = imageMissingReason(need.slice('image:'.length), env);
      if (reason) unmet.push({ need, skip: reason, error: reason });
    } else if (!available(need as ServerKind, env)) {
      unmet.push({ need, skip: `no ${need} server; run .ci/install-servers.sh`, error: missingMessage(need as ServerKind) });
    }
  }
  return unmet;
}

/**
 * `describe` for every test that needs more than node: real servers, a built image, root. When a
 * need is not met it skips locally, with the reason in the suite's name, but under CI it fails, so
 * CI can never pass by running none of them. The one skip mechanism for integration tests.
 */
export function describeIntegration(name: string, needs: readonly Need[], fn: () => void): void {
  const unmet = unmetNeeds(needs);
  if (unmet.length === 0) {
    describe(name, fn);
    return;
  }
  if (isCI()) {
    describe(name, () => {
      test(`has what it needs (${needs.join(', ')})`, () => {
        throw new Error(unmet.map(u => u.error).join('\n'));
      });
    });
    return;
  }
  describe.skip(`${name} [skipped: ${unmet.map(u => u.skip).join('; ')}]`, fn);
}
