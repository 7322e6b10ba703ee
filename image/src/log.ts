/**
 * Structured logs: one JSON object per line on stdout. Every string that reaches a line is
 * redacted first, so a secret cannot leak through an error message or a dump tool's stderr.
 */
import { describeError } from './errors';
import { SECRET_ENV } from '../../lib/contract';

export type Level = 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export const REDACTED = '[REDACTED]';

// `scheme://user:password@` or `scheme://token@`: a connection string's userinfo is always secret.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"']+@/gi;

/**
 * The secret values in `env` (SECRET_ENV: every engine's and the storage's). A secret that is a
 * URL (a connection string) adds its userinfo and password, also percent-decoded, since a tool
 * may print them on their own.
 */
export function secretsFromEnv(env: NodeJS.ProcessEnv): string[] {
  const secrets: string[] = [];
  for (const name of SECRET_ENV) {
    const value = env[name];
    if (!value) continue;
    secrets.push(value);
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/@]+)@/i.exec(value)?.[1];
    if (userinfo) {
      const password = userinfo.includes(':') ? userinfo.slice(userinfo.indexOf(':') + 1) : userinfo;
      secrets.push(userinfo, password, safeDecode(password));
    }
    secrets.push(...urlTokens(value));
  }
  // Longest first, so a secret that contains another is replaced whole.
  return [...new Set(secrets.filter(s => s.length > 0))].sort((a, b) => b.length - a.length);
}

/**
 * For a secret that is an http(s) URL (a healthcheck or webhook URL, whose path or query is the
 * credential): its path and its query, and each long path segment and query value, since a URL
 * derived from it (`<url>/start?rid=…`) no longer contains the value as a whole.
 */
function urlTokens(value: string): string[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return [];
  // Short pieces ('api', 'v1') are not secrets and would blank out ordinary words.
  const long = (s: string) => s.length >= 8;
  const tokens = [url.pathname.replace(/^\/+|\/+$/g, ''), url.search.replace(/^\?/, '')];
  tokens.push(...url.pathname.split('/'));
  for (const [, v] of url.searchParams) tokens.push(v);
  return tokens.filter(long).flatMap(t => [t, safeDecode(t)]);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `text` with every secret value and every URL userinfo replaced. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out.replace(URL_USERINFO, `$1${REDACTED}@`);
}

/** A deep copy of `value` with every string redacted; errors become their message chain. */
export function redactValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (value instanceof Error) return redactText(describeError(value), secrets);
  if (value === null || typeof value !== 'object') return value;
  // Nothing logged nests this deep; an object that does is dropped rather than written unredacted.
  if (depth > 5) return '[nested too deep]';
  if (Array.isArray(value)) return value.map(v => redactValue(v, secrets, depth + 1));
  const out: Fields = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, secrets, depth + 1);
  return out;
}

export class Logger {
  private readonly secrets: string[];
  /** The message of the last line written (redacted): a run's final line, for reporting. */
  public lastMessage = '';

  /**
   * @param env   where the secret values are read from
   * @param write where each line goes (stdout: synchronous for files and pipes on Linux, so a
   *              line logged just before process.exit() is not lost)
   */
  constructor(env: NodeJS.ProcessEnv, private readonly write: (line: string) => void = l => process.stdout.write(l)) {
    this.secrets = secretsFromEnv(env);
  }

  info(msg: string, fields: Fields = {}): void {
    this.log('info', msg, fields);
  }

  warn(msg: string, fields: Fields = {}): void {
    this.log('warn', msg, fields);
  }

  error(msg: string, fields: Fields = {}): void {
    this.log('error', msg, fields);
  }

  log(level: Level, msg: string, fields: Fields = {}): void {
    const { time: _t, level: _l, msg: _m, ...rest } = fields;
    const safe = redactValue(rest, this.secrets) as Fields;
    const line = { time: new Date().toISOString(), level, msg: redactText(msg, this.secrets), ...safe };
    this.lastMessage = line.msg;
    this.write(JSON.stringify(line) + '\n');
  }
}
