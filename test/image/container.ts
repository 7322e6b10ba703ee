/**
 * Runs the companion image the way image/run-in-container.sh does (a restricted pod: uid 10001,
 * read-only root FS, only /tmp writable, no capabilities, --network host) and collects the
 * runner's JSON log lines. Tests that need the built image say so to describeIntegration
 * (`'image:<engine>'`, test/servers/env.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { followJsonLog, type JsonLog } from '../helpers/json-log';
import { podmanSync } from '../servers/image';

export const ROOT = path.join(__dirname, '..', '..');
export const RUN_IN_CONTAINER = path.join(ROOT, 'image', 'run-in-container.sh');
export const DOCKERFILE = path.join(ROOT, 'image', 'Dockerfile');
export const BUILD_SCRIPT = path.join(ROOT, 'image', 'build.sh');

/** One engine's line of `image/build.sh --print-plan`: what build.sh would build, without building. */
export interface BuildPlan {
  readonly engine: string;
  readonly tag: string;
  /** Built when build.sh is given no engine. */
  readonly default: boolean;
  /** The `podman build` arguments for this engine (all but the shared BASE and the tag). */
  readonly podmanBuild: string[];
  /** The smoke test's argv, run in the image after the build. */
  readonly smoke: string[];
}

/**
 * Runs `image/build.sh --print-plan [engines…]` with exactly `env` (plus PATH). Needs
 * image/build/registry.js, which the bundle:runner task writes; needs neither root nor podman.
 * Throws with build.sh's stderr when it refuses.
 */
export function buildPlan(engines: readonly string[], env: Record<string, string> = {}): BuildPlan[] {
  const out = execFileSync('bash', [BUILD_SCRIPT, '--print-plan', ...engines], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  return out.trim().split('\n').filter(Boolean).map(line => JSON.parse(line) as BuildPlan);
}

/**
 * A well-formed sha256 in the variable of every vendor download in the registry, so that a plan can
 * cover every engine: build.sh checks only its form before building; the download checks its value.
 */
export function placeholderDownloadSha256s(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const d of Object.values(ENGINE_REGISTRY)) {
    const download = 'download' in d.image ? d.image.download : undefined;
    if (download) env[download.sha256Arg] = 'a'.repeat(64);
  }
  return env;
}

/** The `--build-arg NAME=value` pairs of a plan's podman arguments. */
export function buildArgs(plan: BuildPlan): Record<string, string> {
  const args: Record<string, string> = {};
  plan.podmanBuild.forEach((a, i) => {
    if (plan.podmanBuild[i - 1] !== '--build-arg') return;
    const eq = a.indexOf('=');
    args[a.slice(0, eq)] = a.slice(eq + 1);
  });
  return args;
}

/** The value following `flag` in a plan's podman arguments. */
export function podmanFlag(plan: BuildPlan, flag: string): string | undefined {
  const i = plan.podmanBuild.indexOf(flag);
  return i < 0 ? undefined : plan.podmanBuild[i + 1];
}

/** A Dockerfile stage: `FROM <image> AS <name>`, with its instructions (continuations joined, comments dropped). */
export interface DockerfileStage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: string[];
}

export function dockerfileStages(text: string): DockerfileStage[] {
  const instructions = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'));
  const stages: Array<{ from: string; name?: string; instructions: string[] }> = [];
  for (const line of instructions) {
    const from = /^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (from) {
      stages.push({ from: from[1], name: from[2]?.toLowerCase(), instructions: [] });
    } else if (stages.length) {
      stages[stages.length - 1].instructions.push(line);
    }
  }
  return stages;
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

export type { LogLine } from '../helpers/json-log';

/** A run of run-in-container.sh, which execs podman: signals sent to `child` reach the container. */
export type ContainerRun = JsonLog;

/**
 * A minimal environment for run-in-container.sh: it passes every BACKUP_* and AWS_* variable of
 * its own environment, and those the engine's registry entry lists, into the container by name, so
 * nothing from the test's environment may be in it but what the test chose.
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
