/**
 * The runner's metrics against a real Pushgateway and a real Prometheus scraping it every second
 * with `honor_labels: true` (both started by test/servers/global-setup.ts), read back with
 * `promtool query instant` as an alert rule would see them. The runner runs as a child process
 * against the real PostgreSQL, exactly as in the image; it stores on a file:// destination, since
 * where the backup goes changes nothing about the metrics.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogLine, baseEnv, buildRunner, runRunner } from './runner-process';
import { METRICS_JOB, groupingKey, pushGauges } from '../../image/src/metrics';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';
import { freePort } from '../servers/ports';
import { postgresRunnerEnv, quoteIdent } from '../servers/postgres';
import { PUSHGATEWAY_SCRAPE_JOB, QuerySample, promtoolQuery } from '../servers/prometheus';
import { monitoringFromEnv } from '../servers/pushgateway';

jest.setTimeout(240_000);

const PGV = ENGINE_REGISTRY.postgres.env;
const NOTIFY_TIMEOUT_SECONDS = 2;

describeIntegration('runner metrics: real Pushgateway, scraped by a real Prometheus', ['pushgateway', 'postgres'], () => {
  const monitoring = monitoringFromEnv()!;
  let pg: ReturnType<typeof requirePostgres>;
  let dest: string;
  let source: string;
  let role: string;
  let rolePassword: string;
  // A series of its own: the Pushgateway and Prometheus are shared by every test file.
  const series = uniqueName('metrics');
  const namespace = 'backups-test';
  const selector = `{job="${METRICS_JOB}", series="${series}", engine="postgres", namespace="${namespace}"}`;

  beforeAll(async () => {
    pg = requirePostgres();
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-metrics-'));
    source = uniqueName('msrc').replace(/-/g, '_');
    role = uniqueName('mverify').replace(/-/g, '_');
    rolePassword = randomBytes(12).toString('hex');
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB PASSWORD '${rolePassword}';`);
    await pg.createDatabase(source);
    await pg.psql(`
      CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
    `, source);
    await buildRunner();
  });
  // 20000 rows: a compressed dump of at least 100000 B. zstd pads smaller sizes in the summary
  // line the runner reads the raw size from, and the runner then reports it as unknown.

  afterAll(() => {
    if (dest) fs.rmSync(dest, { recursive: true, force: true });
  });

  function runnerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres',
      [ENV.DESTINATION]: `file://${dest}/prod`,
      [ENV.NAME]: series,
      ...postgresRunnerEnv(pg, source),
      [ENV.PUSHGATEWAY_URL]: monitoring.pushgatewayUrl,
      [ENV.NAMESPACE]: namespace,
      [ENV.NOTIFY_TIMEOUT_SECONDS]: String(NOTIFY_TIMEOUT_SECONDS),
      ...extra,
    });
  }

  /** The value of `metric` for this series, as Prometheus has it now; undefined when it has none. */
  async function value(metric: string): Promise<number | undefined> {
    const samples = await promtoolQuery(monitoring.prometheusUrl, `${metric}${selector}`);
    if (samples.length > 1) throw new Error(`${metric}: ${samples.length} series, expected one: ${JSON.stringify(samples)}`);
    return samples[0]?.value;
  }

  /** Polls Prometheus until `ok` holds for `metric` (a push shows up after the next scrape). */
  async function eventually(metric: string, ok: (v: number | undefined) => boolean, timeoutMs = 20_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await value(metric);
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${metric}${selector} is ${v} after ${timeoutMs} ms`);
      await new Promise(r => setTimeout(r, 500));
    }
  }

  const warnings = (lines: LogLine[]) => lines.filter(l => l.level === 'warn').map(l => l.msg);

  test('the grouping key reaches Prometheus exactly: base64 and percent-encoded values, empty engine, pushed job kept', async () => {
    // '/' forces base64; a space, '%', '?' and non-ASCII are percent-encoded; '' is base64 '='.
    const odd = { command: 'check' as const, series: `a/b ${series}`, engine: '', namespace: `Π %?x ${series}`, startedAt: new Date() };
    await pushGauges(monitoring.pushgatewayUrl, groupingKey(odd), [{ name: 'backup_count', value: 42 }], AbortSignal.timeout(10_000));
    const deadline = Date.now() + 20_000;
    let samples: QuerySample[] = [];
    while (samples.length === 0 && Date.now() < deadline) {
      samples = await promtoolQuery(monitoring.prometheusUrl, `backup_count{series="${odd.series}"}`);
      if (samples.length === 0) await new Promise(r => setTimeout(r, 500));
    }
    expect(samples).toHaveLength(1);
    // honor_labels: the pushed job, not the scrape job's name; the empty engine is as good as absent.
    expect(samples[0].labels).toMatchObject({ __name__: 'backup_count', job: METRICS_JOB, series: odd.series, namespace: odd.namespace });
    expect(samples[0].labels.job).not.toBe(PUSHGATEWAY_SCRAPE_JOB);
    expect(samples[0].labels.engine ?? '').toBe('');
    expect(samples[0].value).toBe(42);
  });

  let firstSuccess: number;
  let firstSize: number;

  test('a successful backup: start and success time, status 1, duration, stored and raw size', async () => {
    const t0 = Date.now() / 1000;
    const run = await runRunner(runnerEnv());
    const t1 = Date.now() / 1000;
    expect(run.code).toBe(0);
    expect(warnings(run.lines)).toEqual([]);
    const done = run.lines.find(l => l.msg === 'backup complete')!;
    expect(done).toBeDefined();

    firstSuccess = (await eventually('backup_last_success_timestamp_seconds', v => v !== undefined))!;
    expect(firstSuccess).toBeGreaterThanOrEqual(t0);
    expect(firstSuccess).toBeLessThanOrEqual(t1);
    const started = (await value('backup_last_start_timestamp_seconds'))!;
    expect(started).toBeGreaterThanOrEqual(t0);
    expect(started).toBeLessThanOrEqual(firstSuccess);
    expect(await value('backup_last_status')).toBe(1);
    expect(await value('backup_last_failure_timestamp_seconds')).toBeUndefined();
    const duration = (await value('backup_duration_seconds'))!;
    expect(duration).toBeCloseTo(firstSuccess - started, 2);
    expect(duration).toBeGreaterThanOrEqual(done.durationSeconds as number);
    firstSize = (await value('backup_size_bytes'))!;
    expect(firstSize).toBe(done.bytes);
    expect(done.rawBytes).toBeGreaterThan(firstSize);
    expect(await value('backup_raw_size_bytes')).toBe(done.rawBytes);
  });

  test('a failing backup (wrong password): status 0, failure time set, the earlier success time and size kept (POST, not PUT)', async () => {
    expect(firstSuccess).toBeDefined();
    const t0 = Date.now() / 1000;
    const run = await runRunner(runnerEnv({ [PGV.PASSWORD]: 'wrong-password' }));
    const t1 = Date.now() / 1000;
    expect(run.code).toBe(1);
    expect(run.last.level).toBe('error');

    await eventually('backup_last_status', v => v === 0);
    const failed = (await value('backup_last_failure_timestamp_seconds'))!;
    expect(failed).toBeGreaterThanOrEqual(t0);
    expect(failed).toBeLessThanOrEqual(t1);
    expect(await value('backup_last_start_timestamp_seconds')).toBeGreaterThanOrEqual(t0);
    expect(await value('backup_last_success_timestamp_seconds')).toBe(firstSuccess);
    expect(await value('backup_size_bytes')).toBe(firstSize);
    expect(run.output).not.toContain('wrong-password');
  });

  test('verify: its metrics join the backup\'s in the same group without erasing them', async () => {
    const t0 = Date.now() / 1000;
    const run = await runRunner(runnerEnv({ [PGV.USER]: role, [PGV.PASSWORD]: rolePassword, [PGV.DATABASE]: 'postgres' }), ['verify']);
    expect(run.code).toBe(0);
    expect(run.last).toMatchObject({ msg: 'verify passed' });

    const success = (await eventually('backup_verify_last_success_timestamp_seconds', v => v !== undefined && v >= t0))!;
    expect(await value('backup_verify_last_status')).toBe(1);
    expect(await value('backup_verify_last_start_timestamp_seconds')).toBeGreaterThanOrEqual(t0);
    const restore = (await value('backup_verify_restore_duration_seconds'))!;
    expect(restore).toBeGreaterThan(0);
    expect(restore).toBeLessThanOrEqual((await value('backup_verify_duration_seconds'))!);
    expect(success).toBeGreaterThan(t0);
    // The backup's metrics are still there, from the runs before.
    expect(await value('backup_last_success_timestamp_seconds')).toBe(firstSuccess);
    expect(await value('backup_last_status')).toBe(0);
  });

  /** A backup run with `extra` in its environment, and when it started and ended (epoch ms). */
  async function timedBackup(extra: NodeJS.ProcessEnv) {
    const spawned = Date.now();
    const run = await runRunner(runnerEnv(extra));
    return { run, spawned, exited: Date.now(), seconds: (Date.now() - spawned) / 1000 };
  }

  const at = (l: LogLine | undefined) => Date.parse(l!.time);

  test('a Pushgateway that is down: the backup succeeds, a warning says why, the retries stay inside the bound', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const { run, seconds } = await timedBackup({ [ENV.PUSHGATEWAY_URL]: closed });
    expect(run.code).toBe(0);
    expect(run.lines.some(l => l.msg === 'backup complete')).toBe(true);
    const warned = warnings(run.lines);
    expect(warned).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^pushgateway: reporting the start failed \\(the run is not affected\\): POST ${closed}/metrics/job/cdk8s-db-backup/series/${series}/engine/postgres/namespace/${namespace} failed after 3 tries: fetch failed: connect ECONNREFUSED`)),
      expect.stringMatching(/^pushgateway: reporting the finish failed \(the run is not affected\): .*ECONNREFUSED/),
    ]));
    // Two reporting points, each at most the bound.
    expect(seconds).toBeLessThan(2 * NOTIFY_TIMEOUT_SECONDS + 20);
  });

  test('a Pushgateway that never answers: the backup succeeds, each reporting point is abandoned after BACKUP_NOTIFY_TIMEOUT_SECONDS', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer(s => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const { run, spawned, exited } = await timedBackup({ [ENV.PUSHGATEWAY_URL]: url });
      expect(run.code).toBe(0);
      const done = run.lines.find(l => l.msg === 'backup complete');
      expect(done).toBeDefined();
      const startAbandoned = run.lines.find(l => l.msg === `reporting the start took longer than ${NOTIFY_TIMEOUT_SECONDS}s and was abandoned (the run is not affected): pushgateway`);
      const finishAbandoned = run.lines.find(l => l.msg === `reporting the finish took longer than ${NOTIFY_TIMEOUT_SECONDS}s and was abandoned (the run is not affected): pushgateway`);
      expect(startAbandoned).toMatchObject({ level: 'warn' });
      expect(finishAbandoned).toMatchObject({ level: 'warn' });
      // The start hangs for the bound (after Node's own start-up), then the backup runs...
      const bound = NOTIFY_TIMEOUT_SECONDS * 1000;
      expect(at(startAbandoned) - spawned).toBeGreaterThanOrEqual(bound - 50);
      expect(at(startAbandoned) - spawned).toBeLessThan(bound + 3000);
      expect(at(startAbandoned)).toBeLessThanOrEqual(at(done));
      // ...and the finish hangs for the bound after its last line, then the process exits at once.
      expect(at(finishAbandoned) - at(done)).toBeGreaterThanOrEqual(bound - 50);
      expect(at(finishAbandoned) - at(done)).toBeLessThan(bound + 1000);
      expect(exited - at(finishAbandoned)).toBeLessThan(1000);
      process.stderr.write(`[metrics] silent Pushgateway: start abandoned ${at(startAbandoned) - spawned} ms after spawn, `
        + `finish abandoned ${at(finishAbandoned) - at(done)} ms after 'backup complete', exit ${exited - at(finishAbandoned)} ms later\n`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>(resolve => silent.close(() => resolve()));
    }
  });
});
