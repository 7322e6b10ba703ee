/**
 * Error kinds the runner maps to exit codes. Everything else is a failed backup (exit 1).
 */

/** Bad configuration or usage: nothing was started. Exit 2, like a shell's usage error. */
export class ConfigError extends Error {
  public readonly name = 'ConfigError';
}

/** The run was stopped by a signal (Job deadline, eviction, Ctrl-C). Exit 128 + signal number. */
export class InterruptedError extends Error {
  public readonly name = 'InterruptedError';
  constructor(public readonly signal: 'SIGTERM' | 'SIGINT') {
    super(`interrupted by ${signal}`);
  }

  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
}

/** The message of an error and of each of its causes, as one line: "a: b: c". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    // A wrapper often repeats its cause's message; say each thing once.
    if (message && !parts.some(p => p.includes(message))) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ').replace(/\s*\n\s*/g, ' ');
}
