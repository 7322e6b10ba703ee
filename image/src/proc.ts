/**
 * Child processes: the dump tool, the compressor and short probes (`--version`, `psql`).
 */
import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import { ENV, SECRET_ENV } from '../../lib/contract';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Variables no child needs: the dump tool gets its own secret only, the compressor none. */
const CHILD_SECRET_ENV = [...SECRET_ENV, ENV.AWS_ACCESS_KEY_ID];

/** The locale children get when the environment names no UTF-8 one: Debian's libc-bin ships it, no locales package needed. */
export const UTF8_LOCALE = 'C.UTF-8';

/**
 * Whether `env` gives programs a UTF-8 character set: the first of LC_ALL, LC_CTYPE and LANG that
 * is set decides, as in setlocale(LC_CTYPE, "").
 */
export function hasUtf8Locale(env: NodeJS.ProcessEnv): boolean {
  const ctype = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /\.utf-?8(@|$)/i.test(ctype);
}

/**
 * `env` without the secrets a child does not need (`keep` names the ones it does), with a UTF-8
 * locale. Names travel as UTF-8 bytes (Node's argv and env); a client in the C locale would take
 * them for another character set: MariaDB's client then asks the server for a database named in
 * latin1 and gets `Unknown database`. LC_ALL overrides an LC_CTYPE that names another character set.
 */
export function childEnv(env: NodeJS.ProcessEnv, keep: readonly string[] = [], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of CHILD_SECRET_ENV) if (!keep.includes(name)) delete out[name];
  if (!hasUtf8Locale(out)) {
    out.LANG = UTF8_LOCALE;
    out.LC_ALL = UTF8_LOCALE;
  }
  return { ...out, ...extra };
}

/** "pg_dump exited with code 1" / "pg_dump was killed by SIGKILL". */
export function describeExit(name: string, status: ExitStatus): string {
  return status.signal ? `${name} was killed by ${status.signal}` : `${name} exited with code ${status.code}`;
}

/** A spawned child and a promise of its exit status (after its stdio closed); never rejects. */
export interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  spawnError?: Error;
  /** SIGTERM, then SIGKILL after `graceMs` if it is still running. Resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnChild(command: string, args: readonly string[], options: SpawnOptions): Spawned {
  const child = spawn(command, args, options);
  let done = false;
  const result: Spawned = {
    child,
    exited: new Promise<ExitStatus>(resolve => {
      child.once('error', err => {
        // Only a failed spawn reaches here without a later 'close'.
        if (child.pid === undefined) {
          result.spawnError = notFound(command, err);
          done = true;
          resolve({ code: null, signal: null });
        }
      });
      child.once('close', (code, signal) => {
        done = true;
        resolve({ code, signal });
      });
    }),
    async stop(graceMs = 3_000) {
      if (done || child.pid === undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await result.exited;
      clearTimeout(timer);
    },
  };
  return result;
}

function notFound(command: string, err: Error): Error {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new Error(`${command} not found on PATH; is it installed in the image?`, { cause: err });
  }
  return new Error(`cannot start ${command}: ${err.message}`, { cause: err });
}

export interface Captured extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a short command to completion, capturing its output; rejects only if it cannot start, times
 * out, or `signal` aborts (then the command is stopped first).
 */
export async function capture(
  command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000, signal?: AbortSignal,
): Promise<Captured> {
  signal?.throwIfAborted();
  const p = spawnChild(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  p.child.stdout?.on('data', (b: Buffer) => out.push(b));
  p.child.stderr?.on('data', (b: Buffer) => err.push(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void p.stop(1_000);
  }, timeoutMs);
  const abort = () => void p.stop(1_000);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const status = await p.exited;
    if (p.spawnError) throw p.spawnError;
    signal?.throwIfAborted();
    if (timedOut) throw new Error(`${command} did not finish within ${Math.round(timeoutMs / 1000)} s`);
    return { ...status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
}

/** The first non-empty line of a tool's stderr, without the tool's own "name: error:" prefix. */
export function firstLine(text: string): string {
  const line = text.split('\n').map(l => l.trim()).find(l => l !== '') ?? '';
  return line.replace(/^[\w.-]+: (error: )?/, '');
}
