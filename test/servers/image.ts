/**
 * The companion images image/build.sh builds, as a resource integration tests can need (like the
 * servers global-setup starts): where build.sh keeps its podman setup, the tag it gives each
 * engine's image, and whether that image is there.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** package.json's version: the image tag build.sh produces is `<version>-<engine>`. */
export const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;

export const BUILD_HINT = 'run `npx projen image:build` first';

/** The cache build.sh keeps its podman setup in (same default as build.sh and run-in-container.sh). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CDK8S_DB_BACKUP_CACHE || '/var/tmp/cdk8s-db-backup';
}

/** The local image build.sh makes for `engine`. */
export function localImage(engine: string): string {
  return `localhost/cdk8s-db-backup:${VERSION}-${engine}`;
}

/**
 * Runs podman with build.sh's private configuration (its env.sh), synchronously. Arguments travel
 * as argv, never through a shell string.
 */
/**
 * nodejs in Debian trixie (13), the image's Node: test/runner-bundle.test.ts holds the runner bundle
 * to it, test/image/image.test.ts checks the built image runs it.
 */
export const TRIXIE_NODE = '20.19.2';

export function podmanSync(args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): string {
  const envFile = path.join(cacheDir(options.env), 'podman', 'env.sh');
  return execFileSync('bash', ['-c', 'source "$0" && exec podman "$@"', envFile, ...args], {
    encoding: 'utf8',
    input: options.input,
    env: options.env,
    timeout: options.timeoutMs ?? 60_000,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Why the image for `engine` cannot be used here, or undefined when it can. */
export function imageMissingReason(engine: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const envFile = path.join(cacheDir(env), 'podman', 'env.sh');
  if (!fs.existsSync(envFile)) return `no podman setup in ${cacheDir(env)} (image/build.sh has not run): ${BUILD_HINT}`;
  try {
    podmanSync(['image', 'exists', localImage(engine)], { timeoutMs: 30_000, env });
    return undefined;
  } catch (e) {
    const err = e as { status?: number | null; stderr?: string };
    if (err.status === 1) return `image ${localImage(engine)} not found: ${BUILD_HINT}`;
    return `podman cannot check for ${localImage(engine)} (${(err.stderr ?? String(e)).trim().split('\n').pop()}): ${BUILD_HINT}`;
  }
}
