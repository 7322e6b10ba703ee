/**
 * Healthcheck pings (BACKUP_HEALTHCHECK_URL) and a webhook (BACKUP_WEBHOOK_URL, BACKUP_WEBHOOK_ON).
 * SKELETON: to be implemented.
 */
import { Logger } from './log';
import { RunReporter } from './report';

export interface HealthcheckSettings {
  readonly url: string;
}

export interface WebhookSettings {
  readonly url: string;
  readonly onSuccess: boolean;
  readonly onFailure: boolean;
}

export function readHealthcheckSettings(env: NodeJS.ProcessEnv): HealthcheckSettings | undefined {
  void env;
  return undefined;
}

export function readWebhookSettings(env: NodeJS.ProcessEnv): WebhookSettings | undefined {
  void env;
  return undefined;
}

export function healthcheckReporter(settings: HealthcheckSettings, log: Logger): RunReporter {
  void settings; void log;
  throw new Error('not implemented');
}

export function webhookReporter(settings: WebhookSettings, log: Logger): RunReporter {
  void settings; void log;
  throw new Error('not implemented');
}
