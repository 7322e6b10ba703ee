/**
 * Runs the bundled runner as a real child process, the way the image runs it, and collects its
 * JSON log lines.
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';

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

export interface LogLine {
  readonly time: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface RunnerRun {
  readonly child: ChildProcess;
  /** Parsed log lines so far (stdout). */
  readonly lines: LogLine[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Raw stdout + stderr so far, for "no secret anywhere" checks. */
  output(): string;
  /** Resolves with the first line matching `pred` (rejects if the runner exits first). */
  waitForLine(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

export async function startRunner(env: NodeJS.ProcessEnv, args: readonly string[] = ['backup']): Promise<RunnerRun> {
  const runner = await buildRunner();
  const child = spawn(process.execPath, [runner, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  child.stdout!.on('data', (b: Buffer) => {
    const text = b.toString('utf8');
    stdout += text;
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const raw = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        throw new Error(`runner wrote a line that is not JSON: ${raw}`);
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    lines,
    output: () => stdout + stderr,
    exited,
    waitForLine(pred, timeoutMs = 60_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${stdout}${stderr}`)), timeoutMs);
        waiters.push({ pred, resolve: l => { clearTimeout(timer); resolve(l); } });
        void exited.then(() => {
          setImmediate(() => {
            clearTimeout(timer);
            reject(new Error(`runner exited before a matching log line; got:\n${stdout}${stderr}`));
          });
        });
      });
    },
  };
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
