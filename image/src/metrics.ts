/**
 * Prometheus Pushgateway metrics (BACKUP_PUSHGATEWAY_URL). SKELETON: to be implemented.
 */
import { Logger } from './log';
import { RunReporter } from './report';

export interface MetricsSettings {
  /** The Pushgateway's base URL, checked (http or https, no query or fragment). */
  readonly url: string;
}

/** BACKUP_PUSHGATEWAY_URL, checked; undefined when unset. Throws a ConfigError naming the variable. */
export function readMetricsSettings(env: NodeJS.ProcessEnv): MetricsSettings | undefined {
  void env;
  return undefined;
}

export function metricsReporter(settings: MetricsSettings, log: Logger): RunReporter {
  void settings; void log;
  throw new Error('not implemented');
}
