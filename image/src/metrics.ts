/**
 * Prometheus Pushgateway metrics (BACKUP_PUSHGATEWAY_URL): one push when a `backup`, `verify` or
 * `check` run starts and one when it ends, into the group
 * `{job="cdk8s-db-backup", series, engine, namespace}`.
 *
 * Every push is a POST, never a PUT: the Pushgateway replaces, within the group, only the metrics
 * whose names the POST carries, while a PUT replaces the whole group. So a failed run, which
 * pushes no success timestamp, leaves the last success timestamp of an earlier run in place (the
 * value the stale alert needs), and the backup's, the verify's and the check's metrics of one
 * series live side by side in one group without erasing each other.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from './errors';
import { Logger } from './log';
import { RunInfo, RunOutcome, RunReporter } from './report';
import { ENV } from '../../lib/contract';
import * as rules from '../../lib/rules';

/** What BACKUP_PUSHGATEWAY_URL configures. */
export interface MetricsSettings {
  /** The Pushgateway's base URL, checked (http or https, no query or fragment). */
  readonly url: string;
  /**
   * Pauses before the second, third, … try of a push that failed on the network or with a 5xx
   * or 429 answer; its length + 1 is the number of tries. All of them stay inside the bound that
   * reportAll() puts on reporting.
   */
  readonly retryDelaysMs: readonly number[];
}

/** The `job` label of every group this runner pushes. */
export const METRICS_JOB = 'cdk8s-db-backup';

/** Three tries: a Pushgateway that restarts or a Service without ready endpoints gets a second chance. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [250, 1000];

/** BACKUP_PUSHGATEWAY_URL, checked; undefined when unset or empty. Throws a RuleError naming the variable. */
export function readMetricsSettings(env: NodeJS.ProcessEnv): MetricsSettings | undefined {
  const raw = env[ENV.PUSHGATEWAY_URL];
  if (raw === undefined || raw === '') return undefined;
  const example = "'http://pushgateway.monitoring:9091'";
  const url = rules.pushgatewayUrl(ENV.PUSHGATEWAY_URL, rules.nonEmpty(ENV.PUSHGATEWAY_URL, raw, example));
  return { url, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS };
}

/**
 * Every metric the runner pushes and its help text (all gauges, base units). Exported so the
 * documentation and the alert rules can be checked against the one list.
 */
export const METRIC_HELP = {
  backup_last_start_timestamp_seconds: 'When the last backup run started, in seconds since the epoch.',
  backup_last_success_timestamp_seconds: 'When the last successful backup run finished, in seconds since the epoch.',
  backup_last_failure_timestamp_seconds: 'When the last failed backup run finished, in seconds since the epoch.',
  backup_last_status: 'Whether the last backup run succeeded (1) or failed (0).',
  backup_duration_seconds: 'How long the last backup run took, in seconds.',
  backup_size_bytes: 'Stored (compressed) size of the last successful backup, in bytes.',
  backup_raw_size_bytes: 'Size of the last successful backup before compression, in bytes, when the dump was counted.',
  backup_verify_last_start_timestamp_seconds: 'When the last verify run started, in seconds since the epoch.',
  backup_verify_last_success_timestamp_seconds: 'When the last successful verify run finished, in seconds since the epoch.',
  backup_verify_last_failure_timestamp_seconds: 'When the last failed verify run finished, in seconds since the epoch.',
  backup_verify_last_status: 'Whether the last verify run succeeded (1) or failed (0).',
  backup_verify_duration_seconds: 'How long the last verify run took, in seconds.',
  backup_verify_restore_duration_seconds: 'How long restoring the backup took in the last verify run that restored it, in seconds.',
  backup_check_last_start_timestamp_seconds: 'When the last check run started, in seconds since the epoch.',
  backup_check_last_success_timestamp_seconds: 'When the last successful check run finished, in seconds since the epoch.',
  backup_check_last_failure_timestamp_seconds: 'When the last failed check run finished, in seconds since the epoch.',
  backup_check_last_status: 'Whether the last check run succeeded (1) or failed (0).',
  backup_newest_timestamp_seconds: 'When the newest complete backup of the series was made (storage clock), as the last check saw it, in seconds since the epoch.',
  backup_count: 'How many complete backups the series has, as the last check counted them.',
} as const;

/** A metric's name. */
export type MetricName = keyof typeof METRIC_HELP;

/** One gauge sample, without labels: the grouping key supplies them. */
export interface Gauge {
  readonly name: MetricName;
  readonly value: number;
}

/** The metric name prefix of each command's own metrics. */
const PREFIX = { backup: 'backup_', verify: 'backup_verify_', check: 'backup_check_' } as const;

const seconds = (d: Date): number => d.getTime() / 1000;

/** What a run pushes when it starts: only its start time. */
export function startGauges(run: RunInfo): Gauge[] {
  return [{ name: `${PREFIX[run.command]}last_start_timestamp_seconds`, value: seconds(run.startedAt) }];
}

/**
 * What a run pushes when it ends. A failure pushes no success timestamp and no size, so the
 * ones of the last success stay (see the file comment on POST). A fact the run did not learn is
 * left out, and so keeps the value of the last run that learned it.
 */
export function finishGauges(run: RunInfo, outcome: RunOutcome): Gauge[] {
  const p = PREFIX[run.command];
  const ok = outcome.status === 'success';
  const facts = outcome.facts;
  const gauges: Gauge[] = [
    { name: ok ? `${p}last_success_timestamp_seconds` : `${p}last_failure_timestamp_seconds`, value: seconds(outcome.finishedAt) },
    { name: `${p}last_status`, value: ok ? 1 : 0 },
  ];
  const known = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
  switch (run.command) {
    case 'backup':
      gauges.push({ name: 'backup_duration_seconds', value: outcome.durationSeconds });
      if (ok && known(facts.bytes)) gauges.push({ name: 'backup_size_bytes', value: facts.bytes });
      if (ok && known(facts.rawBytes)) gauges.push({ name: 'backup_raw_size_bytes', value: facts.rawBytes });
      break;
    case 'verify':
      gauges.push({ name: 'backup_verify_duration_seconds', value: outcome.durationSeconds });
      if (known(facts.restoreDurationSeconds)) gauges.push({ name: 'backup_verify_restore_duration_seconds', value: facts.restoreDurationSeconds });
      break;
    case 'check':
      if (known(facts.newestBackupTimestampSeconds)) gauges.push({ name: 'backup_newest_timestamp_seconds', value: facts.newestBackupTimestampSeconds });
      if (known(facts.backupCount)) gauges.push({ name: 'backup_count', value: facts.backupCount });
      break;
  }
  return gauges;
}

/** A sample value as the text format writes it (Go's ParseFloat reads all of these). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** HELP text escaping of the text format: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * The gauges in the Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE gauge` and one
 * sample line each, every line ending in '\n' (the Pushgateway rejects anything else), no
 * timestamps (the Pushgateway rejects those too).
 */
export function exposition(gauges: readonly Gauge[]): string {
  const seen = new Set<string>();
  let text = '';
  for (const g of gauges) {
    if (!METRIC_NAME.test(g.name)) throw new Error(`metric name '${g.name}' is not a valid Prometheus name`);
    // A name twice would be a duplicate sample, which the Pushgateway rejects with 400.
    if (seen.has(g.name)) throw new Error(`metric '${g.name}' given twice`);
    seen.add(g.name);
    text += `# HELP ${g.name} ${escapeHelp(METRIC_HELP[g.name] ?? g.name)}\n# TYPE ${g.name} gauge\n${g.name} ${formatValue(g.value)}\n`;
  }
  return text;
}

/**
 * The grouping key of a run's metrics: job, series, engine, then namespace. The namespace is
 * left out when the runner does not know it (outside Kubernetes): Prometheus treats a missing
 * label and an empty one alike, and leaving it out keeps the URL plain. The engine is always
 * there; '' (a `check` that has none) is written in base64 as the Pushgateway requires.
 */
export function groupingKey(run: RunInfo): Array<readonly [string, string]> {
  const key: Array<readonly [string, string]> = [['job', METRICS_JOB], ['series', run.series], ['engine', run.engine]];
  if (run.namespace !== undefined) key.push(['namespace', run.namespace]);
  return key;
}

/**
 * One `/<name>/<value>` step of a grouping key path. A value that is empty, holds a '/', or is
 * '.' or '..' (which the Pushgateway's router would clean away) goes in the `<name>@base64/`
 * form with the URL-safe alphabet, '=' for the empty value; any other value is
 * percent-encoded, which the Pushgateway decodes.
 */
export function groupingKeySegment(name: string, value: string): string {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`grouping key label name '${name}' is not a valid Prometheus label name`);
  if (value === '') return `/${name}@base64/=`;
  if (value.includes('/') || value === '.' || value === '..') {
    return `/${name}@base64/${Buffer.from(value, 'utf8').toString('base64url')}`;
  }
  return `/${name}/${encodeURIComponent(value)}`;
}

/** The push URL of a group: `<base>/metrics/job/<job>{/<label>/<value>}`; `job` must come first and not be empty. */
export function groupUrl(baseUrl: string, key: ReadonlyArray<readonly [string, string]>): string {
  if (key.length === 0 || key[0][0] !== 'job' || key[0][1] === '') {
    throw new Error("a grouping key starts with a non-empty 'job' label");
  }
  return `${baseUrl.replace(/\/+$/, '')}/metrics${key.map(([n, v]) => groupingKeySegment(n, v)).join('')}`;
}

/** The URL without userinfo, for messages (the rules refuse credentials; this is a second guard). */
function shown(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

class PushError extends Error {
  constructor(message: string, public readonly retry: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

async function pushOnce(url: string, body: string, signal: AbortSignal): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      body,
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new PushError(describeError(err), true, { cause: err });
  }
  // Read the body either way, so the connection is released.
  const text = await res.text();
  if (res.ok) return;
  const firstLine = text.split('\n').find(l => l.trim() !== '')?.trim().slice(0, 300) ?? '';
  // 4xx (an inconsistent or malformed push) will not change by sending it again.
  const retry = res.status >= 500 || res.status === 429;
  throw new PushError(`answered ${res.status} ${res.statusText}${firstLine ? `: ${firstLine}` : ''}`, retry);
}

/**
 * POSTs `gauges` to the group `key` on the Pushgateway at `baseUrl`, with up to
 * `retryDelaysMs.length` retries (each announced through `onRetry`). Rejects with a message naming the URL, the tries and the last
 * answer or network error; rejects with the signal's reason once `signal` is aborted.
 */
export async function pushGauges(
  baseUrl: string,
  key: ReadonlyArray<readonly [string, string]>,
  gauges: readonly Gauge[],
  signal: AbortSignal,
  retryDelaysMs: readonly number[] = DEFAULT_RETRY_DELAYS_MS,
  onRetry?: (message: string) => void,
): Promise<void> {
  const url = groupUrl(baseUrl, key);
  const body = exposition(gauges);
  for (let attempt = 0; ; attempt++) {
    try {
      await pushOnce(url, body, signal);
      return;
    } catch (err) {
      if (signal.aborted || !(err instanceof PushError)) throw err;
      const tries = attempt + 1;
      if (!err.retry || attempt >= retryDelaysMs.length) {
        throw new Error(`POST ${shown(url)} ${err.retry ? `failed after ${tries} ${tries === 1 ? 'try' : 'tries'}` : 'failed'}: ${err.message}`);
      }
      onRetry?.(`POST ${shown(url)} try ${tries} of ${retryDelaysMs.length + 1} failed, trying again in ${retryDelaysMs[attempt]} ms: ${err.message}`);
      await sleep(retryDelaysMs[attempt], undefined, { signal });
    }
  }
}

/**
 * The Pushgateway reporter. A push that fails throws a clear error, which reportAll() logs as a
 * warning; one cut short by reportAll()'s time bound ends quietly, since reportAll() has
 * logged that already. Neither changes the run's outcome.
 */
export function metricsReporter(settings: MetricsSettings, log: Logger): RunReporter {
  const push = async (run: RunInfo, gauges: Gauge[], signal: AbortSignal) => {
    try {
      await pushGauges(settings.url, groupingKey(run), gauges, signal, settings.retryDelaysMs,
        message => log.info(`pushgateway: ${message}`, { reporter: 'pushgateway' }));
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  };
  return {
    name: 'pushgateway',
    start: (run, signal) => push(run, startGauges(run), signal),
    finish: (run, outcome, signal) => push(run, finishGauges(run, outcome), signal),
  };
}
