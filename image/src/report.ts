/**
 * Reporting a run to the outside: Pushgateway metrics (metrics.ts), a healthcheck ping and a
 * webhook (notify.ts). Each reporter hears when a `backup`, `verify` or `check` run starts and how
 * it ended. Reporting never changes a run's outcome: a reporter that fails or hangs is logged, and
 * all reporters at one point of a run together take at most `timeoutMs`.
 */
import { ConfigError, describeError } from './errors';
import { Logger } from './log';
import { MetricsSettings, metricsReporter, readMetricsSettings } from './metrics';
import { HealthcheckSettings, WebhookSettings, healthcheckReporter, readHealthcheckSettings, readWebhookSettings, webhookReporter } from './notify';
import { ENV } from '../../lib/contract';
import { countFromText } from '../../lib/rules';

/** The commands that report. */
export type ReportedCommand = 'backup' | 'verify' | 'check';

/** What every reporter knows about a run from its start. */
export interface RunInfo {
  readonly command: ReportedCommand;
  /** The series name (BACKUP_NAME). */
  readonly series: string;
  /** The engine name (BACKUP_ENGINE); '' when the command has none (`check` may not). */
  readonly engine: string;
  /** BACKUP_NAMESPACE, the pod's namespace; undefined outside Kubernetes. */
  readonly namespace?: string;
  readonly startedAt: Date;
}

/** What a run found out, filled in as it goes; every field is optional. */
export interface RunFacts {
  /** The backup made (backup) or checked (verify). */
  backupId?: string;
  key?: string;
  /** Stored bytes of that backup. */
  bytes?: number;
  /** Bytes before compression; null when the dump tool's output was not counted. */
  rawBytes?: number | null;
  /** verify: how long restoring the backup took. */
  restoreDurationSeconds?: number;
  /** check: the newest complete backup's time (storage clock), seconds since the epoch. */
  newestBackupTimestampSeconds?: number;
  /** check: how many complete backups the series has. */
  backupCount?: number;
}

export interface RunOutcome {
  readonly status: 'success' | 'failure';
  readonly exitCode: number;
  readonly finishedAt: Date;
  readonly durationSeconds: number;
  /** The run's final log line's message (already redacted). */
  readonly finalLine: string;
  readonly facts: Readonly<RunFacts>;
}

/** One way of reporting. Both methods may throw or hang: the caller bounds and logs them. */
export interface RunReporter {
  /** For log lines: 'pushgateway', 'healthcheck', 'webhook'. */
  readonly name: string;
  start(run: RunInfo, signal: AbortSignal): Promise<void>;
  finish(run: RunInfo, outcome: RunOutcome, signal: AbortSignal): Promise<void>;
}

/** The reporting variables, read and checked with the rest of the configuration (exit 2 when wrong). */
export interface ReportingConfig {
  readonly namespace?: string;
  readonly metrics?: MetricsSettings;
  readonly healthcheck?: HealthcheckSettings;
  readonly webhook?: WebhookSettings;
  /** The bound on all reporting at one point of a run. */
  readonly timeoutMs: number;
}

export const DEFAULT_NOTIFY_TIMEOUT_SECONDS = 30;

export function readReportingConfig(env: NodeJS.ProcessEnv): ReportingConfig {
  const rawTimeout = env[ENV.NOTIFY_TIMEOUT_SECONDS];
  const timeoutSeconds = rawTimeout === undefined || rawTimeout === ''
    ? DEFAULT_NOTIFY_TIMEOUT_SECONDS : countFromText(ENV.NOTIFY_TIMEOUT_SECONDS, rawTimeout);
  if (timeoutSeconds < 1 || timeoutSeconds > 600) {
    throw new ConfigError(`${ENV.NOTIFY_TIMEOUT_SECONDS}: '${rawTimeout}' must be between 1 and 600 seconds (default ${DEFAULT_NOTIFY_TIMEOUT_SECONDS}).`);
  }
  const namespace = env[ENV.NAMESPACE] || undefined;
  return {
    namespace,
    metrics: readMetricsSettings(env),
    healthcheck: readHealthcheckSettings(env),
    webhook: readWebhookSettings(env),
    timeoutMs: timeoutSeconds * 1000,
  };
}

/** The reporters the configuration asks for, in a fixed order. */
export function createReporters(config: ReportingConfig, log: Logger): RunReporter[] {
  const reporters: RunReporter[] = [];
  if (config.metrics) reporters.push(metricsReporter(config.metrics, log));
  if (config.healthcheck) reporters.push(healthcheckReporter(config.healthcheck, log));
  if (config.webhook) reporters.push(webhookReporter(config.webhook, log));
  return reporters;
}

/**
 * Runs `call` on every reporter at once and waits for all, but never longer than `timeoutMs`:
 * then each unfinished one is aborted and logged. Never throws. Independent of the run's own
 * signal, so an interrupted run (SIGTERM) still reports its failure.
 */
export async function reportAll(
  reporters: readonly RunReporter[],
  what: 'start' | 'finish',
  call: (reporter: RunReporter, signal: AbortSignal) => Promise<void>,
  log: Logger,
  timeoutMs: number,
): Promise<void> {
  if (reporters.length === 0) return;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>(resolve => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const pending = new Set(reporters.map(r => r.name));
  const runs = reporters.map(async reporter => {
    try {
      await call(reporter, controller.signal);
    } catch (err) {
      log.warn(`${reporter.name}: reporting the ${what} failed (the run is not affected): ${describeError(err)}`, { reporter: reporter.name });
    } finally {
      pending.delete(reporter.name);
    }
  });
  const result = await Promise.race([Promise.all(runs).then(() => 'done' as const), timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    controller.abort(new Error(`reporting took longer than ${timeoutMs / 1000}s`));
    log.warn(`reporting the ${what} took longer than ${timeoutMs / 1000}s and was abandoned (the run is not affected): ${[...pending].join(', ')}`,
      { reporters: [...pending] });
  }
}
