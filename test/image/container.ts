/**
 * Runs the companion image the way image/run-in-container.sh does (a restricted pod: uid 10001,
 * read-only root FS, only /tmp writable, no capabilities, --network host) and collects the
 * runner's JSON log lines. Also the gate for tests that need the built image.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { followJsonLog, type JsonLog } from '../helpers/json-log';
import { describeIntegration, isCI, type ServerKind } from '../servers/env';

export const ROOT = path.join(__dirname, '..', '..');
export const RUN_IN_CONTAINER = path.join(ROOT, 'image', 'run-in-container.sh');
export const DOCKERFILE = path.join(ROOT, 'image', 'Dockerfile');
export const BUILD_SCRIPT = path.join(ROOT, 'image', 'build.sh');

/** package.json's version: the image tag build.sh produces is `<version>-<engine>`. */
export const VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

/** The cache build.sh keeps its podman setup in (same default as build.sh and run-in-container.sh). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CDK8S_DB_BACKUP_CACHE || '/var/tmp/cdk8s-db-backup';
}

/** The local image build.sh makes for `engine`. */
export function localImage(engine: string): string {
  return `localhost/cdk8s-db-backup:${VERSION}-${engine}`;
}

export const BUILD_HINT = 'run `npx projen image:build` first';

/**
 * Runs podman with build.sh's private configuration (its env.sh), synchronously. Arguments travel
 * as argv, never through a shell string.
 */
export function podmanSync(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): string {
  const envFile = path.join(cacheDir(), 'podman', 'env.sh');
  return execFileSync('bash', ['-c', 'source "$0" && exec podman "$@"', envFile, ...args], {
    encoding: 'utf8',
    input: options.input,
    timeout: options.timeoutMs ?? 60_000,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Whether a container of that name exists (running or not). */
export function containerExists(name: string): boolean {
  try {
    podmanSync(['container', 'exists', name]);
    return true;
  } catch (e) {
    if ((e as { status?: number | null }).status === 1) return false;
    throw e;
  }
}

/** Why the image for `engine` cannot be used here, or undefined when it can. */
export function imageMissingReason(engine: string): string | undefined {
  const envFile = path.join(cacheDir(), 'podman', 'env.sh');
  if (!fs.existsSync(envFile)) return `no podman setup in ${cacheDir()} (image/build.sh has not run): ${BUILD_HINT}`;
  try {
    podmanSync(['image', 'exists', localImage(engine)], { timeoutMs: 30_000 });
    return undefined;
  } catch (e) {
    const err = e as { status?: number | null; stderr?: string };
    if (err.status === 1) return `image ${localImage(engine)} not found: ${BUILD_HINT}`;
    return `podman cannot check for ${localImage(engine)} (${(err.stderr ?? String(e)).trim().split('\n').pop()}): ${BUILD_HINT}`;
  }
}

/**
 * `describe` for tests that run the built image (and real servers). A missing image skips locally,
 * with the reason in the suite name, and fails under CI, like describeIntegration does for servers.
 */
export function describeImage(name: string, engine: string, servers: readonly ServerKind[], fn: () => void): void {
  const missing = imageMissingReason(engine);
  if (!missing) {
    describeIntegration(name, servers, fn);
    return;
  }
  if (isCI()) {
    describe(name, () => {
      test('has its image', () => {
        throw new Error(missing);
      });
    });
    return;
  }
  describe.skip(`${name} [skipped: ${missing}]`, fn);
}

export type { LogLine } from '../helpers/json-log';

/** A run of run-in-container.sh, which execs podman: signals sent to `child` reach the container. */
export type ContainerRun = JsonLog;

/**
 * A minimal environment for run-in-container.sh: it passes every BACKUP_*, AWS_*, PG* … variable
 * of its own environment into the container by name, so nothing from the test's environment may
 * be in it but what the test chose.
 */
export function containerEnv(vars: Record<string, string>, podmanRunArgs?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: os.tmpdir(), ...vars };
  if (process.env.CDK8S_DB_BACKUP_CACHE) env.CDK8S_DB_BACKUP_CACHE = process.env.CDK8S_DB_BACKUP_CACHE;
  if (podmanRunArgs) env.PODMAN_RUN_ARGS = podmanRunArgs;
  return env;
}

/** Starts `image/run-in-container.sh <engine> <args…>`. */
export function startContainer(engine: string, args: readonly string[], env: NodeJS.ProcessEnv): ContainerRun {
  return followJsonLog(spawn(RUN_IN_CONTAINER, [engine, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }), 'container');
}

/** Runs `image/run-in-container.sh` to completion. */
export async function runContainer(engine: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  const run = startContainer(engine, args, env);
  const status = await run.exited;
  return { ...status, lines: run.lines, nonJson: run.nonJson, stdout: run.stdout(), stderr: run.stderr(), last: run.lines[run.lines.length - 1] };
}
