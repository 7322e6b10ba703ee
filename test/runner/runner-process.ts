/**
 * Runs the bundled runner as a real child process, the way the image runs it, and collects its
 * JSON log lines.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { followJsonLog, type JsonLog } from '../helpers/json-log';

const ROOT = path.join(__dirname, '..', '..');

let built: Promise<string> | undefined;

/**
 * Bundles image/src into a private temp file (not image/build/, which the image build reads),
 * once per jest worker.
 */
export function buildRunner(): Promise<string> {
  built ??= (async () => {
    const outfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'runner-bundle-')), 'runner.js');
    await build({
      entryPoints: [path.join(ROOT, 'image', 'src', 'main.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile,
      logLevel: 'error',
    });
    return outfile;
  })();
  return built;
}

export type { LogLine } from '../helpers/json-log';

export interface RunnerRun extends JsonLog {
  /** Raw stdout + stderr so far, for "no secret anywhere" checks. */
  output(): string;
}

export async function startRunner(env: NodeJS.ProcessEnv, args: readonly string[] = ['backup']): Promise<RunnerRun> {
  const runner = await buildRunner();
  const child = spawn(process.execPath, [runner, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = followJsonLog(child, 'runner');
  // Every stdout line of the runner is a JSON object: a run that printed anything else fails.
  const exited = log.exited.then(status => {
    if (log.nonJson.length > 0) throw new Error(`runner wrote lines that are not JSON: ${log.nonJson.join('\n')}`);
    return status;
  });
  return { ...log, exited, output: () => log.stdout() + log.stderr() };
}

/** Runs the runner to completion. */
export async function runRunner(env: NodeJS.ProcessEnv, args: readonly string[] = ['backup']) {
  const run = await startRunner(env, args);
  const status = await run.exited;
  return { ...status, lines: run.lines, output: run.output(), last: run.lines[run.lines.length - 1] };
}

/** PIDs of the direct children of `pid` whose command name is `comm` (from /proc). */
export function childPids(pid: number, comm?: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    if (ppid === pid && (comm === undefined || name === comm)) out.push(Number(entry));
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A minimal environment: PATH and HOME only, so nothing from the test's own env leaks in. */
export function baseEnv(extra: NodeJS.ProcessEnv = {}, pathPrefix?: string): NodeJS.ProcessEnv {
  return {
    PATH: pathPrefix ? `${pathPrefix}:${process.env.PATH}` : process.env.PATH,
    HOME: os.tmpdir(),
    ...extra,
  };
}
