/**
 * Process plumbing shared by the throwaway servers: temp dirs, running
 * commands as a system user, daemons tied to our lifetime, readiness polling
 * and error messages that carry the daemon's own log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Every throwaway server directory starts with this, so stale ones can be found. */
const TEMP_PREFIX = 'cdk8s-db-backup-';
const OWNER_FILE = 'owner.pid';

/** A system account (postgres, ceph) to run a daemon as. */
export interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

/**
 * The account to run `user`'s daemons as: that system user when we are root
 * (postgres refuses to run as root, and the design wants non-root servers),
 * or ourselves when we are not root (a developer running jest as themselves).
 */
export function runAsFor(user: string): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) {
    throw new Error(`system user '${user}' does not exist (is its Debian package installed? see .ci/install-servers.sh)`);
  }
  const fields = line.split(':');
  return { user, uid: Number(fields[2]), gid: Number(fields[3]) };
}

/**
 * Wraps argv so that the command runs as `runAs` and, with `dieWithParent`,
 * gets SIGKILL when this Node process dies. The latter is what keeps a
 * crashed or Ctrl-C'd jest from leaving daemons behind. setpriv sets the
 * parent-death signal after switching user (a uid change would clear it) and
 * then execs, so the PID we hold is the daemon's own.
 */
function wrap(argv: readonly string[], runAs: RunAs | undefined, dieWithParent: boolean): string[] {
  const opts: string[] = [];
  if (runAs) opts.push('--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups');
  if (dieWithParent) opts.push('--pdeathsig', 'KILL');
  return opts.length ? ['setpriv', ...opts, '--', ...argv] : [...argv];
}

/** The environment for server tools: ours minus anything that would redirect them. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // libpq, ceph and MySQL clients all read these and would talk to the wrong server.
    if (/^(PG|CEPH_|MYSQL|MARIADB)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, LC_ALL: 'C.UTF-8', ...extra };
}

export interface RunOptions {
  readonly runAs?: RunAs;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Kill the command after this long: a server that is not up makes ceph/psql clients wait forever. */
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; rejects with its stderr when it fails or times out. */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const full = wrap(argv, options.runAs, true);
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), {
      cwd: options.cwd ?? '/',
      env: options.env ?? cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${argv[0]}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : signal ? `killed by ${signal}` : `exited ${code}`;
      reject(new Error(`${argv.join(' ')} ${why}\n${tail(stderr || stdout, 20)}`));
    });
    child.stdin.on('error', () => undefined); // EPIPE when the command exits without reading
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running server process that this Node process started and owns. */
export class Daemon {
  /** Resolves when the process has exited (it never rejects). */
  public readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly child: ChildProcess;

  /**
   * @param name    label for messages ("postgres", "ceph-osd.0")
   * @param logFile where the process's stdout+stderr go; read back for errors
   */
  constructor(
    public readonly name: string,
    argv: readonly string[],
    public readonly logFile: string,
    options: { runAs?: RunAs; env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ) {
    const full = wrap(argv, options.runAs, true);
    const fd = fs.openSync(logFile, 'a');
    try {
      this.child = spawn(full[0], full.slice(1), {
        cwd: options.cwd ?? '/',
        env: options.env ?? cleanEnv(),
        // Straight to a file: a pipe nobody drains would block the daemon once full.
        stdio: ['ignore', fd, fd],
      });
    } finally {
      fs.closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
      this.child.once('error', (e) => {
        fs.appendFileSync(logFile, `\n[spawn error] ${e.message}\n`);
        this.exitStatus = { code: null, signal: null };
        resolve(this.exitStatus);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Why it is not running, for error messages. */
  describeExit(): string {
    const s = this.exitStatus;
    if (!s) return `${this.name} is running`;
    return s.signal ? `${this.name} was killed by ${s.signal}` : `${this.name} exited with code ${s.code}`;
  }

  /**
   * Stops the process by its PID: `signal` first, SIGKILL if it has not
   * exited after `graceMs`. Resolves once it is gone.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    this.child.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    } else {
      await this.exited;
    }
  }
}

/**
 * A fresh directory for one server, owned by `runAs`. An `owner.pid` file
 * records which Node process made it, so a later run can remove directories
 * left by a run that was SIGKILLed before its teardown (its daemons died with
 * it via the parent-death signal; only the directory remains).
 */
export function makeTempDir(kind: string, runAs: RunAs | undefined): string {
  removeStaleTempDirs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${TEMP_PREFIX}${kind}-`));
  fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  // Readable by all: tests running as root and the daemon's user both use the sockets inside.
  fs.chmodSync(dir, 0o755);
  if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
  return dir;
}

/** Creates `dir`, and any missing parents, owned by `runAs`. */
export function mkdirOwned(dir: string, runAs: RunAs | undefined, mode = 0o755): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode });
  if (!runAs || first === undefined) return;
  // Every directory that was created, not just the leaf: the daemon must be able to write in each.
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    fs.chownSync(d, runAs.uid, runAs.gid);
    if (d === path.resolve(first) || d === path.dirname(d)) break;
  }
}

/** Writes a file owned by `runAs`. */
export function writeOwned(file: string, content: string, runAs: RunAs | undefined, mode = 0o644): void {
  fs.writeFileSync(file, content, { mode });
  if (runAs) fs.chownSync(file, runAs.uid, runAs.gid);
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** A server's stop(): runs `stopDaemons` then removes `dir`, once; later calls share the first. */
export function stopOnce(stopDaemons: () => Promise<unknown>, dir: string): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= stopDaemons().then(() => removeDir(dir));
    return stopped;
  };
}

/**
 * The error for a server that did not start (`message` should carry its log tails). Its directory
 * is removed, unless KEEP_TEST_SERVERS is set to keep it for a look.
 */
export function startFailure(message: string, dir: string): Error {
  if (process.env.KEEP_TEST_SERVERS) return new Error(`${message}\n(kept ${dir} because KEEP_TEST_SERVERS is set)`);
  removeDir(dir);
  return new Error(message);
}

function removeStaleTempDirs(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue; // not ours, or being created right now
    }
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    removeDir(dir);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** The last `lines` lines of a file, or a note that it is missing. */
export function tailFile(file: string, lines = 30): string {
  try {
    // Ceph logs grow to megabytes; only the end matters.
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return tail(buf.toString('utf8'), lines);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

/** Formats log tails for an error message. */
export function logTails(files: readonly string[], lines = 30): string {
  return files.map((f) => `--- last ${lines} lines of ${f} ---\n${tailFile(f, lines)}`).join('\n');
}

/**
 * Polls `check` until it returns true. Fails early when one of `daemons` has
 * exited (waiting on a dead server is pointless) or after `timeoutMs`.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; daemons?: readonly Daemon[] },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const dead = options.daemons?.find((d) => !d.running);
    if (dead) throw new Error(`${what}: ${dead.describeExit()}`);
    try {
      if (await check()) return;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`${what}: not ready after ${options.timeoutMs} ms${detail}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The paths among `paths` that are not executable files (empty when all are there). */
export function missingExecutables(paths: readonly string[]): string[] {
  return paths.filter((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}
