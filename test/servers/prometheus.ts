/**
 * A throwaway Prometheus server (Debian's `prometheus`) on a random port of 127.0.0.1, run as the
 * `prometheus` system user, its TSDB in a temp dir, gone after stop(). Its one scrape job reads a
 * Pushgateway every second with `honor_labels: true`, the setting the Pushgateway's documentation
 * requires, so the pushed `job` label survives the scrape. Tests query it with promtool
 * (`promtoolQuery`), as an operator would.
 */
import * as path from 'node:path';
import { freePort, isAddressInUse } from './ports';
import {
  Daemon,
  logTails,
  makeTempDir,
  missingExecutables,
  mkdirOwned,
  run,
  runAsFor,
  startFailure,
  stopOnce,
  tailFile,
  waitUntil,
  writeOwned,
} from './proc';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';

/** The job name of the Pushgateway scrape. `honor_labels` keeps the pushed `job` instead. */
export const PUSHGATEWAY_SCRAPE_JOB = 'pushgateway';

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly logFile: string;
  readonly scrapeIntervalSeconds: number;
  /** Stops Prometheus by PID and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export function missingPrometheusBinaries(): string[] {
  return missingExecutables([PROMETHEUS_BIN, PROMTOOL_BIN]);
}

/** The configuration file: one job scraping the Pushgateway at `target` (host:port). */
export function prometheusConfig(target: string, scrapeIntervalSeconds: number): string {
  return [
    'global:',
    `  scrape_interval: ${scrapeIntervalSeconds}s`,
    `  scrape_timeout: ${scrapeIntervalSeconds}s`,
    `  evaluation_interval: ${scrapeIntervalSeconds}s`,
    'scrape_configs:',
    `  - job_name: ${PUSHGATEWAY_SCRAPE_JOB}`,
    '    honor_labels: true',
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n');
}

/** One sample of an instant query's result. */
export interface QuerySample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/**
 * `promtool query instant -o json <url> <expr>`: the vector's samples (a scalar gives one sample
 * without labels). Throws with promtool's stderr when the query fails.
 */
export async function promtoolQuery(prometheusUrl: string, expr: string): Promise<QuerySample[]> {
  const { stdout } = await run([PROMTOOL_BIN, 'query', 'instant', '-o', 'json', prometheusUrl, expr], { timeoutMs: 30_000 });
  const parsed: unknown = JSON.parse(stdout);
  if (Array.isArray(parsed)) {
    return parsed.map((s: { metric: Record<string, string>; value: [number, string] }) => ({ labels: s.metric, value: Number(s.value[1]) }));
  }
  const scalar = parsed as { value?: [number, string] } | [number, string];
  const pair = Array.isArray(scalar) ? scalar : scalar.value;
  if (!pair) throw new Error(`promtool query '${expr}': unexpected output ${stdout.slice(0, 300)}`);
  return [{ labels: {}, value: Number(pair[1]) }];
}

export async function startPrometheus(options: {
  /** host:port of the Pushgateway to scrape. */
  readonly pushgatewayTarget: string;
  readonly scrapeIntervalSeconds?: number;
  readonly readyTimeoutMs?: number;
}): Promise<PrometheusServer> {
  const missing = missingPrometheusBinaries();
  if (missing.length) throw new Error(`Prometheus is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`);
  const scrapeIntervalSeconds = options.scrapeIntervalSeconds ?? 1;
  const runAs = runAsFor('prometheus');
  const dir = makeTempDir('prometheus', runAs);
  const logFile = path.join(dir, 'prometheus.log');
  const configFile = path.join(dir, 'prometheus.yml');
  const dataDir = path.join(dir, 'data');
  writeOwned(configFile, prometheusConfig(options.pushgatewayTarget, scrapeIntervalSeconds), runAs);
  mkdirOwned(dataDir, runAs);
  let daemon: Daemon | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      daemon = new Daemon('prometheus', [
        PROMETHEUS_BIN,
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ], logFile, { runAs, cwd: dir });
      try {
        const d = daemon;
        await waitUntil(`prometheus on 127.0.0.1:${port}`, async () => {
          const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          return res.status === 200;
        }, { timeoutMs: options.readyTimeoutMs ?? 60_000, intervalMs: 100, daemons: [d] });
        // Ready is not scraped: wait for the first good scrape, so a test's first query can see pushes.
        await waitUntil(`prometheus on 127.0.0.1:${port} scraping the Pushgateway at ${options.pushgatewayTarget}`, async () => {
          const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(`up{job="${PUSHGATEWAY_SCRAPE_JOB}"}`)}`,
            { signal: AbortSignal.timeout(1000) });
          const body = await res.json() as { data?: { result?: Array<{ value: [number, string] }> } };
          return body.data?.result?.[0]?.value[1] === '1';
        }, { timeoutMs: 30_000, intervalMs: 200, daemons: [d] });
      } catch (e) {
        await daemon.stop('SIGKILL');
        if (attempt < 3 && isAddressInUse(tailFile(logFile, 20))) continue;
        throw e;
      }
      const server = daemon;
      return { url, port, pid: server.pid ?? -1, dir, logFile, scrapeIntervalSeconds, stop: stopOnce(() => server.stop(), dir) };
    }
  } catch (e) {
    await daemon?.stop('SIGKILL');
    throw startFailure(`Prometheus failed to start: ${(e as Error).message}\n${logTails([logFile])}`, dir);
  }
}
