/**
 * What every engine does with its tools, written once: find which tool is installed and its
 * version, and run a tool whose stderr becomes log lines, keeping the line that says why it failed.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { ToolCommand, ToolInfo } from './engines/engine';
import { ConfigError } from './errors';
import { Logger } from './log';
import { ExitStatus, Spawned, capture, describeExit, firstLine, spawnChild } from './proc';
import { IMAGE } from '../../lib/contract';
import { nonEmpty } from '../../lib/rules';

/** Longer stderr lines are cut: a tool may print a whole SQL statement or a binary blob. */
const MAX_LINE = 2000;

/**
 * Runs `<tool> --version` and reads the version: the first group of the first of `patterns`
 * that matches its stdout.
 */
export async function probeVersion(tool: string, patterns: RegExp | readonly RegExp[], env: NodeJS.ProcessEnv): Promise<ToolInfo> {
  const out = await capture(tool, ['--version'], env);
  const version = (Array.isArray(patterns) ? patterns : [patterns]).map(p => p.exec(out.stdout)?.[1]).find(v => v !== undefined);
  if (out.code !== 0 || !version) {
    throw new Error(`${tool} --version failed: ${firstLine(out.stderr || out.stdout) || `exit code ${out.code}`}`);
  }
  return { name: tool, version };
}

/**
 * The first of `alternatives` (a registry entry's tool list, in order of preference) that is
 * installed and reports its version.
 */
export async function probeFirst(alternatives: readonly string[], patterns: RegExp | readonly RegExp[], env: NodeJS.ProcessEnv): Promise<ToolInfo> {
  const failures: Error[] = [];
  for (const tool of alternatives) {
    try {
      return await probeVersion(tool, patterns, env);
    } catch (err) {
      failures.push(err as Error);
    }
  }
  if (failures.length === 1) throw failures[0];
  throw new Error(`none of ${alternatives.join(', ')} works: ${failures.map(f => f.message).join('; ')}`);
}

/**
 * A file a tool reads by path, such as a CA certificate, from the variable `field`: an absolute
 * path on one line (it goes into argv or an option file). Not opened here: reading the
 * configuration touches no disk; the tool reports a missing file.
 */
export function toolFilePath(field: string, raw: string | undefined): string {
  const file = nonEmpty(field, raw, `'${IMAGE.TLS_CA_DIR}/${IMAGE.TLS_CA_FILE_NAME}'`);
  if (!file.startsWith('/') || /[\r\n]/.test(file)) {
    throw new ConfigError(`${field}: '${file}' must be an absolute file path on one line, e.g. '${IMAGE.TLS_CA_DIR}/${IMAGE.TLS_CA_FILE_NAME}'.`);
  }
  return file;
}

/**
 * A stderr line that reports an error, in the forms the tools print: `pg_restore: error: …`,
 * `psql:<stdin>:3: ERROR:  …`, `ERROR 1142 (42000) at line 7: …` (mariadb), `… Failed: …`
 * (mongo tools), `Got error: 1045: …` (mariadb-dump), `FATAL:  …`, `[ERROR] …`. Not `errors
 * ignored on restore` (a summary), nor the SQL a tool echoes after its error line.
 */
const ERROR_LINE = /\b(error|fatal|failed|panic)\b\]?(:|\s+\d)/i;

/** Whether a line of a tool's stderr reports an error (see ERROR_LINE). */
export function reportsError(line: string): boolean {
  return ERROR_LINE.test(line);
}

/** A tool exited non-zero or was killed; `status` tells which. */
export class ToolExitError extends Error {
  public readonly name = 'ToolExitError';
  constructor(
    message: string,
    public readonly status: ExitStatus,
    /** The stderr line that reports the error, when the tool printed one. */
    public readonly errorLine?: string,
  ) {
    super(message);
  }
}

export interface RunningTool {
  readonly proc: Spawned;
  /**
   * Resolves once the tool exited 0 and its stderr is drained; rejects otherwise, with a
   * ToolExitError "<tool> exited with code N (error: …)" naming the line that reports its error
   * (or "(last message: …)" when that is its last line or none reports one). Never unhandled.
   */
  readonly done: Promise<void>;
}

/**
 * Starts `cmd` with its stderr logged line by line as warnings (`source`: the tool). `stdin`
 * and `stdout` are piped or ignored as the caller needs; a stdin that is another child's stdout
 * is handed to the tool as it is (the bytes never pass through Node), and our copy is closed.
 */
export function startTool(cmd: ToolCommand, stdio: { stdin: 'pipe' | 'ignore' | Readable; stdout: 'pipe' | 'ignore' }, log: Logger): RunningTool {
  const proc = spawnChild(cmd.command, cmd.args, { env: cmd.env, stdio: [stdio.stdin, stdio.stdout, 'pipe'] });
  // Ours must close: the tool alone holds the pipe, so it ends when the writer exits.
  if (stdio.stdin instanceof Readable) stdio.stdin.destroy();
  // The first line that reports an error names the cause (a tool prints it first, then context
  // such as `LINE 1:` and `Command was:` with the statement); the last line when none does.
  let errorLine: string | undefined;
  let lastStderr = '';
  const stderrDone = new Promise<void>(resolve => {
    const lines = createInterface({ input: proc.child.stderr!, crlfDelay: Infinity });
    lines.on('line', line => {
      const text = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
      if (text.trim() === '') return;
      lastStderr = text.trim();
      if (errorLine === undefined && reportsError(lastStderr)) errorLine = lastStderr;
      log.warn(text, { source: cmd.command });
      cmd.onStderrLine?.(text);
    });
    lines.on('close', resolve);
  });
  const done = proc.exited.then(async status => {
    if (proc.spawnError) throw proc.spawnError;
    await stderrDone;
    if (status.code !== 0) {
      const line = errorLine ?? lastStderr;
      const detail = !line ? '' : line === lastStderr ? ` (last message: ${line})` : ` (error: ${line})`;
      throw new ToolExitError(`${describeExit(cmd.command, status)}${detail}`, status, errorLine);
    }
  });
  done.catch(() => undefined);
  return { proc, done };
}
