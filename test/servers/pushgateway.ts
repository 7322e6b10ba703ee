/**
 * A throwaway Prometheus Pushgateway (Debian's `prometheus-pushgateway`) on a random port of
 * 127.0.0.1, run as the `prometheus` system user, nothing persisted, gone after stop(). The
 * catalog entry starts a Prometheus (prometheus.ts) that scrapes it, so tests can read pushed
 * values back the way an alert rule sees them.
 */
import * as path from 'node:path';
import { freePort, isAddressInUse } from './ports';
import {
  Daemon,
  logTails,
  makeTempDir,
  missingExecutables,
  runAsFor,
  startFailure,
  stopOnce,
  tailFile,
  waitUntil,
} from './proc';
import { missingPrometheusBinaries, startPrometheus, type PrometheusServer } from './prometheus';

export const PUSHGATEWAY_BIN = '/usr/bin/prometheus-pushgateway';

export interface PushgatewayServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly logFile: string;
  /** Stops the Pushgateway by PID and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export function missingPushgatewayBinaries(): string[] {
  return missingExecutables([PUSHGATEWAY_BIN]);
}

/** Whether an HTTP GET of `url` answers 200 within a second. */
export async function answers200(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.status === 200;
}

export async function startPushgateway(options: { readyTimeoutMs?: number } = {}): Promise<PushgatewayServer> {
  const missing = missingPushgatewayBinaries();
  if (missing.length) throw new Error(`the Pushgateway is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`);
  const runAs = runAsFor('prometheus');
  const dir = makeTempDir('pushgateway', runAs);
  const logFile = path.join(dir, 'pushgateway.log');
  let daemon: Daemon | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      daemon = new Daemon('prometheus-pushgateway', [
        PUSHGATEWAY_BIN,
        `--web.listen-address=127.0.0.1:${port}`,
        // Debian's build defaults to /var/lib/prometheus/pushgateway.data: an empty value keeps
        // every push in memory only, so no run sees another run's groups.
        '--persistence.file=',
      ], logFile, { runAs, cwd: dir });
      try {
        const d = daemon;
        await waitUntil(`prometheus-pushgateway on 127.0.0.1:${port}`, () => answers200(`${url}/-/ready`),
          { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 50, daemons: [d] });
      } catch (e) {
        await daemon.stop('SIGKILL');
        if (attempt < 3 && isAddressInUse(tailFile(logFile, 20))) continue;
        throw e;
      }
      const server = daemon;
      return { url, port, pid: server.pid ?? -1, dir, logFile, stop: stopOnce(() => server.stop(), dir) };
    }
  } catch (e) {
    await daemon?.stop('SIGKILL');
    throw startFailure(`the Pushgateway failed to start: ${(e as Error).message}\n${logTails([logFile])}`, dir);
  }
}

/** A Pushgateway and a Prometheus that scrapes it every second, as global-setup starts them. */
export interface MonitoringServers {
  readonly pushgateway: PushgatewayServer;
  readonly prometheus: PrometheusServer;
  /** Stops both. Safe to call twice. */
  stop(): Promise<void>;
}

/** How test files reach them. */
export interface MonitoringConnection {
  /** The Pushgateway's base URL, what BACKUP_PUSHGATEWAY_URL is set to. */
  readonly pushgatewayUrl: string;
  /** The Prometheus server's base URL, for `promtool query instant`. */
  readonly prometheusUrl: string;
  /** The Prometheus scrape interval in seconds: a pushed value shows up in queries within about this long. */
  readonly scrapeIntervalSeconds: number;
}

const TEST_ENV = {
  pushgatewayUrl: 'TEST_PUSHGATEWAY_URL',
  prometheusUrl: 'TEST_PROMETHEUS_URL',
  scrapeIntervalSeconds: 'TEST_PROMETHEUS_SCRAPE_INTERVAL_SECONDS',
} as const;

export function missingMonitoringBinaries(): string[] {
  return [...missingPushgatewayBinaries(), ...missingPrometheusBinaries()];
}

/** The Pushgateway first, then a Prometheus whose only scrape target is it. */
export async function startMonitoring(): Promise<MonitoringServers> {
  const pushgateway = await startPushgateway();
  let prometheus: PrometheusServer;
  try {
    prometheus = await startPrometheus({ pushgatewayTarget: `127.0.0.1:${pushgateway.port}` });
  } catch (e) {
    await pushgateway.stop();
    throw e;
  }
  let stopped: Promise<void> | undefined;
  return {
    pushgateway,
    prometheus,
    stop: () => {
      stopped ??= Promise.allSettled([prometheus.stop(), pushgateway.stop()]).then(results => {
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed.length) throw new Error(failed.map(f => String(f.reason)).join('; '));
      });
      return stopped;
    },
  };
}

export function monitoringToEnv(s: MonitoringServers): Record<string, string> {
  return {
    [TEST_ENV.pushgatewayUrl]: s.pushgateway.url,
    [TEST_ENV.prometheusUrl]: s.prometheus.url,
    [TEST_ENV.scrapeIntervalSeconds]: String(s.prometheus.scrapeIntervalSeconds),
  };
}

/** The servers global-setup started, or undefined when it started none. */
export function monitoringFromEnv(env: NodeJS.ProcessEnv = process.env): MonitoringConnection | undefined {
  const pushgatewayUrl = env[TEST_ENV.pushgatewayUrl];
  const prometheusUrl = env[TEST_ENV.prometheusUrl];
  const scrapeIntervalSeconds = Number(env[TEST_ENV.scrapeIntervalSeconds]);
  if (!pushgatewayUrl || !prometheusUrl || !(scrapeIntervalSeconds > 0)) return undefined;
  return { pushgatewayUrl, prometheusUrl, scrapeIntervalSeconds };
}
