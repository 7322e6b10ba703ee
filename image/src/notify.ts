/**
 * Healthcheck pings (BACKUP_HEALTHCHECK_URL) and a webhook (BACKUP_WEBHOOK_URL, BACKUP_WEBHOOK_ON).
 *
 * Both URLs are credentials (whoever holds one can report runs), so no log line and no error
 * message ever contains one, nor any part of its path or query: a target is named by its scheme
 * and host only ("https://hc-ping.com/…"). The Logger's redaction cannot be relied on here, since
 * a derived URL (`<url>/start?rid=…` when the URL has a query) does not contain the secret as a
 * substring.
 *
 * Every request is retried with exponential backoff on network errors, timeouts, 5xx and 429,
 * not on other answers; each attempt has its own timeout, and everything stops when the caller's
 * signal aborts (report.ts bounds all reporting at one point of a run).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, describeError } from './errors';
import { Logger } from './log';
import { RunInfo, RunOutcome, RunReporter } from './report';
import { ENV } from '../../lib/contract';
import { notificationUrl, notifyOn } from '../../lib/rules';

/** How one notification request is retried. */
export interface RetrySettings {
  /** Each attempt's own timeout. */
  readonly attemptTimeoutMs: number;
  /** The waits before the 2nd, 3rd, … attempt; its length + 1 is the number of attempts. */
  readonly retryDelaysMs: readonly number[];
}

/** 10 s per attempt; 5 attempts, 0.5 s, 1 s, 2 s and 4 s apart (all within the default 30 s bound). */
export const DEFAULT_RETRY: RetrySettings = { attemptTimeoutMs: 10_000, retryDelaysMs: [500, 1000, 2000, 4000] };

/** The most of the final log line sent as a body: healthchecks.io keeps up to 100 kB of a ping's body. */
export const MAX_MESSAGE_BYTES = 10_000;

/** The webhook document's version: raised when a field changes meaning or goes away. */
export const WEBHOOK_SCHEMA_VERSION = 1;

/** BACKUP_HEALTHCHECK_URL, checked. */
export interface HealthcheckSettings extends RetrySettings {
  /** The ping URL as given (a secret). */
  readonly url: string;
}

/** BACKUP_WEBHOOK_URL and BACKUP_WEBHOOK_ON, checked. */
export interface WebhookSettings extends RetrySettings {
  /** The URL that receives the document (a secret). */
  readonly url: string;
  readonly onSuccess: boolean;
  readonly onFailure: boolean;
}

/** BACKUP_HEALTHCHECK_URL, checked; undefined when unset or empty. Throws a RuleError naming the variable. */
export function readHealthcheckSettings(env: NodeJS.ProcessEnv): HealthcheckSettings | undefined {
  const raw = env[ENV.HEALTHCHECK_URL];
  if (raw === undefined || raw === '') return undefined;
  return { url: notificationUrl(ENV.HEALTHCHECK_URL, raw), ...DEFAULT_RETRY };
}

/**
 * BACKUP_WEBHOOK_URL and BACKUP_WEBHOOK_ON (default both), checked; undefined when the URL is
 * unset or empty. BACKUP_WEBHOOK_ON without a URL is an error: it says a webhook was meant.
 */
export function readWebhookSettings(env: NodeJS.ProcessEnv): WebhookSettings | undefined {
  const raw = env[ENV.WEBHOOK_URL];
  const rawOn = env[ENV.WEBHOOK_ON];
  if (raw === undefined || raw === '') {
    if (rawOn !== undefined && rawOn !== '') {
      throw new ConfigError(`${ENV.WEBHOOK_ON}: is set ('${rawOn}') but ${ENV.WEBHOOK_URL} is not; set ${ENV.WEBHOOK_URL} to the webhook's URL (from a Secret) or remove ${ENV.WEBHOOK_ON}.`);
    }
    return undefined;
  }
  const url = notificationUrl(ENV.WEBHOOK_URL, raw);
  const on = notifyOn(ENV.WEBHOOK_ON, rawOn);
  return { url, onSuccess: on.has('success'), onFailure: on.has('failure'), ...DEFAULT_RETRY };
}

/** What a healthcheck ping reports. */
export type PingKind = 'start' | 'success' | 'fail';

/**
 * The URL of one ping, healthchecks.io style: `<url>/start`, `<url>`, `<url>/fail`. The suffix goes
 * at the end of the path, before any query; a trailing '/' is not doubled. `rid` (a run id)
 * lets healthchecks.io pair a start with its end; a URL that already has one keeps it.
 */
export function healthcheckPingUrl(url: string, kind: PingKind, rid?: string): string {
  const u = new URL(url);
  const suffix = kind === 'success' ? '' : `/${kind}`;
  u.pathname = u.pathname.replace(/\/+$/, '') + suffix;
  // Appended as text: re-serializing searchParams would re-encode the rest of a (possibly signed) query.
  if (rid !== undefined && !u.searchParams.has('rid')) u.search = `${u.search ? `${u.search}&` : '?'}rid=${encodeURIComponent(rid)}`;
  return u.href;
}

/** `text` cut to at most `maxBytes` of UTF-8 without splitting a character; a cut is marked. */
export function truncateUtf8(text: string, maxBytes = MAX_MESSAGE_BYTES): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  const marker = ' …[truncated]';
  let end = maxBytes - Buffer.byteLength(marker);
  // Back up to the first byte of a character (continuation bytes are 10xxxxxx).
  while (end > 0 && buf[end] >= 0x80 && buf[end] < 0xc0) end--;
  return buf.subarray(0, end).toString('utf8') + marker;
}

/** One HTTP request to a secret URL, as `send` makes it. */
interface Request {
  /** For messages: "healthcheck start ping", "webhook". */
  readonly what: string;
  readonly url: string;
  readonly contentType: string;
  readonly body: string;
}

const USER_AGENT = 'cdk8s-db-backup-runner';

/**
 * POSTs `req`, retrying as `retry` says until an answer that is not retried or `signal` aborts.
 * Logs each failed attempt that will be retried; throws (with a message free of the URL's
 * path and query) when it gives up. Returns quietly once `signal` aborts: the caller (reportAll)
 * has then logged the abandonment, and a second line after the run went on would only repeat it.
 */
async function send(req: Request, retry: RetrySettings, log: Logger, signal: AbortSignal, secretUrl: string): Promise<void> {
  const target = describeTarget(req.url);
  const attempts = retry.retryDelaysMs.length + 1;
  for (let attempt = 1; !signal.aborted; attempt++) {
    const result = await attemptOnce(req, retry.attemptTimeoutMs, signal);
    if (result.ok || signal.aborted) return;
    const reason = scrub(result.reason, [secretUrl, req.url]);
    if (!result.retry) throw new Error(`${req.what} to ${target} failed: ${reason} (not retried)`);
    if (attempt >= attempts) throw new Error(`${req.what} to ${target} failed after ${attempts} attempts: ${reason}`);
    const delay = retry.retryDelaysMs[attempt - 1];
    log.warn(`${req.what} to ${target} failed (attempt ${attempt} of ${attempts}), retrying in ${delay / 1000}s: ${reason}`);
    // Resolves early when the bound aborts: the loop then stops on the signal.
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }
}

type AttemptResult = { ok: true } | { ok: false; retry: boolean; reason: string };

async function attemptOnce(req: Request, timeoutMs: number, signal: AbortSignal): Promise<AttemptResult> {
  // One controller for this attempt: aborted by its own timeout or by the caller's signal.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await fetch(req.url, {
      method: 'POST',
      headers: { 'content-type': req.contentType, 'user-agent': USER_AGENT },
      body: req.body,
      signal: controller.signal,
    });
    // The answer's body is not used (it could echo the URL): drop it so the socket is freed.
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return { ok: true };
    const reason = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    return { ok: false, retry: res.status >= 500 || res.status === 429, reason };
  } catch (err) {
    if (timedOut) return { ok: false, retry: true, reason: `no answer within ${timeoutMs / 1000}s` };
    return { ok: false, retry: true, reason: describeError(err) };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** `scheme://host[:port]/…`: a target named without its path, query or credentials. */
export function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return 'the configured URL';
  }
}

/**
 * `text` without any part of `urls` that could be secret: the whole URL, its path, its query and
 * every path segment or query value of 6 characters or more (a token).
 */
export function scrub(text: string, urls: readonly string[]): string {
  const parts = new Set<string>();
  for (const url of urls) {
    parts.add(url);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      continue;
    }
    parts.add(u.href);
    if (u.pathname.length > 1) parts.add(u.pathname);
    if (u.search) parts.add(u.search);
    if (u.username) parts.add(u.username);
    if (u.password) parts.add(u.password);
    for (const seg of u.pathname.split('/')) {
      parts.add(seg);
      parts.add(safeDecode(seg));
    }
    for (const [k, v] of u.searchParams) parts.add(k).add(v);
  }
  let out = text;
  for (const part of [...parts].filter(p => p.length >= 6).sort((a, b) => b.length - a.length)) out = out.split(part).join('[REDACTED]');
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Pings `<url>/start` when a run starts, `<url>` when it succeeds and `<url>/fail` when it fails,
 * each by POST with a `rid` query parameter (one UUID per run). The success and fail pings carry
 * the run's final log line (text/plain, at most MAX_MESSAGE_BYTES), which healthchecks.io shows.
 */
export function healthcheckReporter(settings: HealthcheckSettings, log: Logger): RunReporter {
  const rid = randomUUID();
  const ping = (kind: PingKind, body: string, signal: AbortSignal) => send({
    what: `healthcheck ${kind} ping`,
    url: healthcheckPingUrl(settings.url, kind, rid),
    contentType: 'text/plain; charset=utf-8',
    body,
  }, settings, log, signal, settings.url);
  return {
    name: 'healthcheck',
    start: (_run, signal) => ping('start', '', signal),
    finish: (_run, outcome, signal) => ping(outcome.status === 'success' ? 'success' : 'fail', truncateUtf8(outcome.finalLine), signal),
  };
}

/** The JSON document the webhook receives: one per run, after it ends. */
export interface WebhookDocument {
  readonly schemaVersion: number;
  /** One UUID per run: a receiver can drop a retried delivery it already has. */
  readonly runId: string;
  readonly series: string;
  readonly engine: string | null;
  readonly command: string;
  readonly namespace: string | null;
  readonly status: 'success' | 'failure';
  readonly exitCode: number;
  readonly backupId: string | null;
  readonly key: string | null;
  readonly bytes: number | null;
  readonly rawBytes: number | null;
  readonly durationSeconds: number;
  readonly restoreDurationSeconds: number | null;
  readonly newestBackupTimestampSeconds: number | null;
  readonly backupCount: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly message: string;
}

/** The webhook's document for a run (every unknown value is null). */
export function webhookDocument(runId: string, run: RunInfo, outcome: RunOutcome): WebhookDocument {
  const f = outcome.facts;
  return {
    schemaVersion: WEBHOOK_SCHEMA_VERSION,
    runId,
    series: run.series,
    engine: run.engine || null,
    command: run.command,
    namespace: run.namespace ?? null,
    status: outcome.status,
    exitCode: outcome.exitCode,
    backupId: f.backupId ?? null,
    key: f.key ?? null,
    bytes: f.bytes ?? null,
    rawBytes: f.rawBytes ?? null,
    durationSeconds: outcome.durationSeconds,
    restoreDurationSeconds: f.restoreDurationSeconds ?? null,
    newestBackupTimestampSeconds: f.newestBackupTimestampSeconds ?? null,
    backupCount: f.backupCount ?? null,
    startedAt: run.startedAt.toISOString(),
    finishedAt: outcome.finishedAt.toISOString(),
    message: truncateUtf8(outcome.finalLine),
  };
}

/** POSTs one `application/json` document (WebhookDocument) after each run whose outcome `settings` selects. */
export function webhookReporter(settings: WebhookSettings, log: Logger): RunReporter {
  const runId = randomUUID();
  return {
    name: 'webhook',
    start: async () => undefined,
    finish: async (run, outcome, signal) => {
      if (!(outcome.status === 'success' ? settings.onSuccess : settings.onFailure)) return;
      await send({
        what: 'webhook',
        url: settings.url,
        contentType: 'application/json',
        body: JSON.stringify(webhookDocument(runId, run, outcome)),
      }, settings, log, signal, settings.url);
    },
  };
}
