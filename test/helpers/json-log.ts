/**
 * Follows a process that logs one JSON object per line on stdout (the runner, directly or inside
 * the image): parsed lines, lines that are not JSON, and waiting for a particular line.
 */
import type { ChildProcess } from 'node:child_process';

export interface LogLine {
  readonly time: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface JsonLog {
  readonly child: ChildProcess;
  /** Parsed JSON log lines so far. */
  readonly lines: LogLine[];
  /** stdout lines that are not JSON objects (the runner writes none). */
  readonly nonJson: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line matching `pred`; rejects if the process exits first or on timeout. */
  waitForLine(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** `child` must have been spawned with stdout and stderr piped. `what` names it in errors. */
export function followJsonLog(child: ChildProcess, what: string): JsonLog {
  const lines: LogLine[] = [];
  const nonJson: string[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const take = (raw: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      nonJson.push(raw);
      return;
    }
    const line = parsed as LogLine;
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout!.on('data', (b: Buffer) => {
    const text = b.toString('utf8');
    stdout += text;
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      take(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => {
    child.once('close', (code, signal) => {
      if (pending) take(pending);
      pending = '';
      resolve({ code, signal });
    });
  });
  return {
    child,
    lines,
    nonJson,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLine(pred, timeoutMs = 60_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${stdout}${stderr}`)), timeoutMs);
        waiters.push({ pred, resolve: l => { clearTimeout(timer); resolve(l); } });
        void exited.then(() => setImmediate(() => {
          clearTimeout(timer);
          reject(new Error(`${what} exited before a matching log line; got:\n${stdout}${stderr}`));
        }));
      });
    },
  };
}
