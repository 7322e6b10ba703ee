/**
 * Error kinds the runner maps to exit codes. Everything else is a failed run (exit 1).
 */
import { ENV } from '../../lib/contract';
import { ENGINE_NAMES, ENGINE_REGISTRY, EngineDescriptor } from '../../lib/registry';
import { RuleError } from '../../lib/rules';

/**
 * Bad configuration or usage: nothing was started. Exit 2, like a shell's usage error. A
 * RuleError (a value breaks a rule the constructs enforce too) is one as well.
 */
export class ConfigError extends RuleError {
  public readonly name: string = 'ConfigError';
}

/** A command the engine's registry entry says it cannot do (Redis has no restore, only PostgreSQL has verify). */
export function capabilityError(descriptor: EngineDescriptor, capability: 'restore' | 'verify'): ConfigError {
  const able = ENGINE_NAMES.filter(n => ENGINE_REGISTRY[n].capabilities[capability]);
  return new ConfigError(`${ENV.ENGINE}: the runner cannot ${capability} ${descriptor.title} backups ('${descriptor.name}'); '${capability}' works for ${able.join(', ')}.`);
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
  let current: any = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    // Duck-typed, not `instanceof Error`: errors from Node's internals (fetch) may come from
    // another realm, and fetch's own "fetch failed" says nothing without its cause.
    const message = typeof current === 'object' && typeof current.message === 'string' ? current.message : String(current);
    // An AggregateError (a connection tried on several addresses) holds the reasons in `errors`.
    const inner = typeof current === 'object' && Array.isArray(current.errors)
      ? current.errors.map((e: any) => (typeof e?.message === 'string' ? e.message : String(e))).join('; ') : '';
    // A wrapper often repeats its cause's message; say each thing once.
    for (const m of [message, inner]) if (m && !parts.some(p => p.includes(m))) parts.push(m);
    current = typeof current === 'object' ? current.cause : undefined;
  }
  return parts.join(': ').replace(/\s*\n\s*/g, ' ');
}

/**
 * Like Promise.all, but rejects (with the first failure in order) only once every promise has
 * settled: a check that writes a private file removes it before the run exits, even when another
 * check failed first.
 */
export async function allSettledOrFirstError<T extends readonly unknown[] | []>(promises: T): Promise<{ -readonly [P in keyof T]: Awaited<T[P]> }> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.map(r => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [P in keyof T]: Awaited<T[P]> };
}
