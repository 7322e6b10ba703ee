/**
 * Healthcheck pings and the webhook (image/src/notify.ts) in-process, against real HTTP servers on
 * 127.0.0.1 (http-recorder.ts): what is sent, retries, time bounds, and that no URL reaches a log.
 * The same through the real runner process is in notify-runner.test.ts.
 */
import { HttpRecorder, closedPortBase, startRecorder } from './http-recorder';
import { ConfigError } from '../../image/src/errors';
import { Logger } from '../../image/src/log';
import {
  HealthcheckSettings, MAX_MESSAGE_BYTES, WEBHOOK_SCHEMA_VERSION, WebhookSettings, describeTarget, healthcheckPingUrl, healthcheckReporter,
  readHealthcheckSettings, readWebhookSettings, scrub, truncateUtf8, webhookReporter,
} from '../../image/src/notify';
import { RunInfo, RunOutcome, reportAll } from '../../image/src/report';
import { ENV } from '../../lib/contract';

/** The path token that makes a ping URL a credential: it must never reach a log line. */
const TOKEN = '5f0c1b6e-3d2a-4c8e-9b7f-a1d2e3f4c5b6';
const FAST = { attemptTimeoutMs: 400, retryDelaysMs: [20, 40] };

let recorder: HttpRecorder;
afterEach(async () => {
  await recorder?.close();
});

/** A Logger that treats the URL as the runner does (a SECRET_ENV value) and keeps its lines. */
function capture(env: NodeJS.ProcessEnv = {}): { log: Logger; lines: () => any[]; text: () => string } {
  const raw: string[] = [];
  const log = new Logger(env, l => raw.push(l));
  return { log, lines: () => raw.map(l => JSON.parse(l)), text: () => raw.join('') };
}

const run: RunInfo = { command: 'backup', series: 'orders', engine: 'postgres', namespace: 'shop', startedAt: new Date('2024-05-01T03:00:00.000Z') };

function outcome(status: 'success' | 'failure', over: Partial<RunOutcome> = {}): RunOutcome {
  return {
    status,
    exitCode: status === 'success' ? 0 : 1,
    finishedAt: new Date('2024-05-01T03:01:30.500Z'),
    durationSeconds: 90.5,
    finalLine: status === 'success' ? 'backup complete' : 'backup failed: pg_dump exited with code 1: pg_dump: error: query failed',
    facts: status === 'success'
      ? { backupId: '20240501T030000Z', key: 'prod/orders/20240501T030000Z.pgdump.zst', bytes: 1234, rawBytes: 5678 }
      : {},
    ...over,
  };
}

function hcSettings(url: string): HealthcheckSettings {
  return { url, ...FAST };
}

function whSettings(url: string, onSuccess = true, onFailure = true): WebhookSettings {
  return { url, onSuccess, onFailure, ...FAST };
}

const signal = () => new AbortController().signal;

describe('reading the variables', () => {
  test('BACKUP_HEALTHCHECK_URL: unset or empty is no healthcheck; a URL is kept as given', () => {
    expect(readHealthcheckSettings({})).toBeUndefined();
    expect(readHealthcheckSettings({ [ENV.HEALTHCHECK_URL]: '' })).toBeUndefined();
    expect(readHealthcheckSettings({ [ENV.HEALTHCHECK_URL]: `https://hc-ping.com/${TOKEN}` })).toMatchObject({
      url: `https://hc-ping.com/${TOKEN}`, attemptTimeoutMs: 10_000, retryDelaysMs: [500, 1000, 2000, 4000],
    });
  });

  test.each([
    ['not a URL', TOKEN, /BACKUP_HEALTHCHECK_URL: is not a URL/],
    ['another scheme', `ftp://hc-ping.com/${TOKEN}`, /BACKUP_HEALTHCHECK_URL: the scheme must be http or https, not 'ftp'/],
    ['a fragment', `https://hc-ping.com/${TOKEN}#x`, /BACKUP_HEALTHCHECK_URL: must not have a #fragment/],
  ])('BACKUP_HEALTHCHECK_URL with %s is a configuration error that does not echo the value', (_what, value, message) => {
    let error: unknown;
    try {
      readHealthcheckSettings({ [ENV.HEALTHCHECK_URL]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(TOKEN);
  });

  test('BACKUP_WEBHOOK_URL and BACKUP_WEBHOOK_ON (default both)', () => {
    expect(readWebhookSettings({})).toBeUndefined();
    expect(readWebhookSettings({ [ENV.WEBHOOK_URL]: '' })).toBeUndefined();
    expect(readWebhookSettings({ [ENV.WEBHOOK_URL]: `https://hooks.example/${TOKEN}` })).toMatchObject({ onSuccess: true, onFailure: true });
    expect(readWebhookSettings({ [ENV.WEBHOOK_URL]: `https://hooks.example/${TOKEN}`, [ENV.WEBHOOK_ON]: 'failure' }))
      .toMatchObject({ onSuccess: false, onFailure: true });
    expect(readWebhookSettings({ [ENV.WEBHOOK_URL]: `https://hooks.example/${TOKEN}`, [ENV.WEBHOOK_ON]: 'success' }))
      .toMatchObject({ onSuccess: true, onFailure: false });
    expect(readWebhookSettings({ [ENV.WEBHOOK_URL]: `https://hooks.example/${TOKEN}`, [ENV.WEBHOOK_ON]: 'failure,success' }))
      .toMatchObject({ onSuccess: true, onFailure: true });
  });

  test.each([
    [{ [ENV.WEBHOOK_URL]: 'https://hooks.example/x', [ENV.WEBHOOK_ON]: 'failed' }, /BACKUP_WEBHOOK_ON: 'failed' has 'failed'; give success, failure/],
    [{ [ENV.WEBHOOK_URL]: 'https://hooks.example/x', [ENV.WEBHOOK_ON]: 'success, failure' }, /BACKUP_WEBHOOK_ON: .* without spaces/],
    [{ [ENV.WEBHOOK_URL]: 'https://hooks.example/x', [ENV.WEBHOOK_ON]: 'failure,failure' }, /BACKUP_WEBHOOK_ON: 'failure,failure' names 'failure' twice/],
    [{ [ENV.WEBHOOK_ON]: 'failure' }, /BACKUP_WEBHOOK_ON: is set \('failure'\) but BACKUP_WEBHOOK_URL is not; set BACKUP_WEBHOOK_URL .* or remove BACKUP_WEBHOOK_ON/],
    [{ [ENV.WEBHOOK_URL]: 'mailto:ops@example.com' }, /BACKUP_WEBHOOK_URL: the scheme must be http or https, not 'mailto'/],
  ])('%j is a configuration error naming the variable', (env, message) => {
    expect(() => readWebhookSettings(env)).toThrow(message);
  });

  test('BACKUP_WEBHOOK_ON without a URL is a ConfigError (exit 2)', () => {
    expect(() => readWebhookSettings({ [ENV.WEBHOOK_ON]: 'success' })).toThrow(ConfigError);
  });
});

describe('ping URLs', () => {
  test.each([
    [`https://hc-ping.com/${TOKEN}`, 'start', `https://hc-ping.com/${TOKEN}/start?rid=R`],
    [`https://hc-ping.com/${TOKEN}`, 'success', `https://hc-ping.com/${TOKEN}?rid=R`],
    [`https://hc-ping.com/${TOKEN}`, 'fail', `https://hc-ping.com/${TOKEN}/fail?rid=R`],
    [`https://hc-ping.com/${TOKEN}/`, 'start', `https://hc-ping.com/${TOKEN}/start?rid=R`],
    [`https://hc-ping.com/${TOKEN}/`, 'success', `https://hc-ping.com/${TOKEN}?rid=R`],
    [`https://hc.example/ping/${TOKEN}?create=1`, 'start', `https://hc.example/ping/${TOKEN}/start?create=1&rid=R`],
    [`https://hc.example/ping/${TOKEN}?create=1`, 'fail', `https://hc.example/ping/${TOKEN}/fail?create=1&rid=R`],
    [`https://hc.example/ping/${TOKEN}?rid=mine`, 'start', `https://hc.example/ping/${TOKEN}/start?rid=mine`],
    ['https://hc.example/ping/slug?sig=a%2Bb+c', 'fail', 'https://hc.example/ping/slug/fail?sig=a%2Bb+c&rid=R'],
    ['http://127.0.0.1:8000', 'start', 'http://127.0.0.1:8000/start?rid=R'],
  ] as const)('%s, %s -> %s', (url, kind, expected) => {
    expect(healthcheckPingUrl(url, kind, 'R')).toBe(expected);
  });

  test('a target is named by scheme and host only, and scrub removes the URL, its path and its tokens', () => {
    expect(describeTarget(`https://user:pw@hc-ping.com:8443/${TOKEN}?k=v`)).toBe('https://hc-ping.com:8443/…');
    const url = `https://hc.example/ping/${TOKEN}?api_key=abcdef123456`;
    const text = `failed for ${url} and ${healthcheckPingUrl(url, 'start', 'R')} and /ping/${TOKEN} and token ${TOKEN} key abcdef123456`;
    const out = scrub(text, [url]);
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain('abcdef123456');
    expect(out).toContain('failed for');
  });

  test('the final line is cut to 10 kB of UTF-8 without splitting a character', () => {
    expect(truncateUtf8('short')).toBe('short');
    const long = 'ä'.repeat(20_000); // 2 bytes each
    const cut = truncateUtf8(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(Buffer.byteLength(cut)).toBeGreaterThan(MAX_MESSAGE_BYTES - 20);
    expect(cut).toMatch(/^ä+ …\[truncated\]$/);
    expect(cut).not.toContain('\uFFFD');
  });
});

describe('healthcheck pings against a real HTTP server', () => {
  test('a successful run: POST <url>/start, then POST <url> with the final line, both with one rid', async () => {
    recorder = await startRecorder('ok');
    const url = `${recorder.base}/ping/${TOKEN}`;
    const { log, text } = capture({ [ENV.HEALTHCHECK_URL]: url });
    const hc = healthcheckReporter(hcSettings(url), log);
    expect(hc.name).toBe('healthcheck');
    await hc.start(run, signal());
    await hc.finish(run, outcome('success'), signal());
    const [start, end] = recorder.requests;
    expect(recorder.requests).toHaveLength(2);
    expect(start).toMatchObject({ method: 'POST', body: '' });
    expect(start.url).toMatch(new RegExp(`^/ping/${TOKEN}/start\\?rid=[0-9a-f-]{36}$`));
    expect(end).toMatchObject({ method: 'POST', body: 'backup complete' });
    expect(end.url).toBe(`/ping/${TOKEN}?rid=${new URL(start.url, 'http://x').searchParams.get('rid')}`);
    expect(end.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(end.headers['user-agent']).toBe('cdk8s-db-backup-runner');
    expect(text()).toBe(''); // nothing logged when all went well
  });

  test('a failing run: POST <url>/fail with the final line; another run has another rid', async () => {
    recorder = await startRecorder('ok');
    const url = `${recorder.base}/ping/${TOKEN}/`;
    const { log } = capture();
    const first = healthcheckReporter(hcSettings(url), log);
    await first.start(run, signal());
    await first.finish(run, outcome('failure'), signal());
    const second = healthcheckReporter(hcSettings(url), log);
    await second.start(run, signal());
    const [start, fail, again] = recorder.requests;
    expect(fail.url).toBe(start.url.replace('/start?', '/fail?'));
    expect(fail.body).toBe('backup failed: pg_dump exited with code 1: pg_dump: error: query failed');
    expect(again.url).toMatch(new RegExp(`^/ping/${TOKEN}/start\\?rid=`));
    expect(again.url).not.toBe(start.url);
  });

  test('a final line over 10 kB is sent cut', async () => {
    recorder = await startRecorder('ok');
    const url = `${recorder.base}/${TOKEN}`;
    const hc = healthcheckReporter(hcSettings(url), capture().log);
    await hc.finish(run, outcome('failure', { finalLine: 'x'.repeat(50_000) }), signal());
    expect(Buffer.byteLength(recorder.requests[0].body)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(recorder.requests[0].body).toMatch(/^x+ …\[truncated\]$/);
  });

  test('500 is retried with backoff, each retry logged without the URL; success on a later attempt', async () => {
    recorder = await startRecorder(['error', 'error', 'ok']);
    const url = `${recorder.base}/ping/${TOKEN}`;
    const { log, lines, text } = capture({ [ENV.HEALTHCHECK_URL]: url });
    await healthcheckReporter(hcSettings(url), log).start(run, signal());
    expect(recorder.requests.map(r => r.url.replace(/\?.*/, ''))).toEqual(Array(3).fill(`/ping/${TOKEN}/start`));
    // the backoff: 20 ms, then 40 ms
    expect(recorder.requests[1].at - recorder.requests[0].at).toBeGreaterThanOrEqual(15);
    expect(recorder.requests[2].at - recorder.requests[1].at).toBeGreaterThanOrEqual(35);
    expect(lines().map(l => [l.level, l.msg])).toEqual([
      ['warn', `healthcheck start ping to ${recorder.base}/… failed (attempt 1 of 3), retrying in 0.02s: HTTP 500 Internal Server Error`],
      ['warn', `healthcheck start ping to ${recorder.base}/… failed (attempt 2 of 3), retrying in 0.04s: HTTP 500 Internal Server Error`],
    ]);
    expect(text()).not.toContain(TOKEN);
  });

  test('500 every time: gives up after the last attempt with an error naming host and status only', async () => {
    recorder = await startRecorder('error');
    const url = `${recorder.base}/ping/${TOKEN}`;
    const { log, text } = capture();
    const promise = healthcheckReporter(hcSettings(url), log).finish(run, outcome('failure'), signal());
    await expect(promise).rejects.toThrow(`healthcheck fail ping to ${recorder.base}/… failed after 3 attempts: HTTP 500 Internal Server Error`);
    expect(recorder.requests).toHaveLength(3);
    expect(recorder.requests.every(r => r.body === outcome('failure').finalLine)).toBe(true);
    expect(text()).not.toContain(TOKEN);
  });

  test.each([[429, 3], [503, 3], [404, 1], [400, 1], [401, 1]])('HTTP %i: %i attempt(s)', async (status, attempts) => {
    recorder = await startRecorder(status);
    const url = `${recorder.base}/ping/${TOKEN}`;
    const promise = healthcheckReporter(hcSettings(url), capture().log).start(run, signal());
    await expect(promise).rejects.toThrow(attempts === 1 ? /\(not retried\)$/ : /failed after 3 attempts/);
    expect(recorder.requests).toHaveLength(attempts);
  });

  test('a server that never answers: each attempt times out, then it gives up', async () => {
    recorder = await startRecorder('hang');
    const url = `${recorder.base}/ping/${TOKEN}`;
    const { log, text } = capture();
    const started = Date.now();
    await expect(healthcheckReporter(hcSettings(url), log).start(run, signal()))
      .rejects.toThrow(`healthcheck start ping to ${recorder.base}/… failed after 3 attempts: no answer within 0.4s`);
    const took = Date.now() - started;
    expect(recorder.requests).toHaveLength(3);
    expect(took).toBeGreaterThanOrEqual(3 * 400 + 60 - 50);
    expect(took).toBeLessThan(4000);
    expect(text()).toContain('no answer within 0.4s');
  });

  test('a server that is down: connection refused, retried, then an error without the URL', async () => {
    const base = await closedPortBase();
    const url = `${base}/ping/${TOKEN}?k=${TOKEN}`;
    const { log, text } = capture();
    const error = await healthcheckReporter(hcSettings(url), log).start(run, signal()).then(() => new Error('no error'), (e: Error) => e);
    expect(error.message).toMatch(new RegExp(`^healthcheck start ping to ${base.replace(/\./g, '\\.')}/… failed after 3 attempts: .*ECONNREFUSED`));
    expect(error.message).not.toContain(TOKEN);
    expect(text()).toContain('ECONNREFUSED');
    expect(text()).not.toContain(TOKEN);
  });

  test("the caller's signal stops a hanging ping and its retries at once, without a line of its own", async () => {
    recorder = await startRecorder('hang');
    const url = `${recorder.base}/ping/${TOKEN}`;
    const controller = new AbortController();
    const settings = { url, attemptTimeoutMs: 60_000, retryDelaysMs: [60_000] };
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('reporting took longer than 0.3s')), 300);
    const { log, text } = capture();
    // It returns quietly: reportAll, whose signal it is, logs the abandonment.
    await healthcheckReporter(settings, log).start(run, controller.signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(text()).toBe('');
    expect(recorder.requests).toHaveLength(1);
  });

  test('with reportAll, a hanging receiver is abandoned after the total bound and logged without the URL', async () => {
    recorder = await startRecorder('hang');
    const url = `${recorder.base}/ping/${TOKEN}`;
    const { log, lines, text } = capture({ [ENV.HEALTHCHECK_URL]: url });
    const reporters = [healthcheckReporter({ url, attemptTimeoutMs: 10_000, retryDelaysMs: [500] }, log)];
    const started = Date.now();
    await reportAll(reporters, 'start', (r, s) => r.start(run, s), log, 500);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(lines().map(l => l.msg)).toEqual(['reporting the start took longer than 0.5s and was abandoned (the run is not affected): healthcheck']);
    // nothing more once the ping has given up
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(lines()).toHaveLength(1);
    expect(text()).not.toContain(TOKEN);
  });
});

describe('the webhook against a real HTTP server', () => {
  test('one JSON document per run, after it ends; nothing at the start', async () => {
    recorder = await startRecorder('ok');
    const url = `${recorder.base}/hooks/${TOKEN}`;
    const { log, text } = capture();
    const wh = webhookReporter(whSettings(url), log);
    expect(wh.name).toBe('webhook');
    await wh.start(run, signal());
    expect(recorder.requests).toHaveLength(0);
    await wh.finish(run, outcome('success'), signal());
    expect(recorder.requests).toHaveLength(1);
    const req = recorder.requests[0];
    expect(req).toMatchObject({ method: 'POST', url: `/hooks/${TOKEN}` });
    expect(req.headers['content-type']).toBe('application/json');
    const doc = JSON.parse(req.body);
    expect(doc).toEqual({
      schemaVersion: WEBHOOK_SCHEMA_VERSION,
      runId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      series: 'orders',
      engine: 'postgres',
      command: 'backup',
      namespace: 'shop',
      status: 'success',
      exitCode: 0,
      backupId: '20240501T030000Z',
      key: 'prod/orders/20240501T030000Z.pgdump.zst',
      bytes: 1234,
      rawBytes: 5678,
      durationSeconds: 90.5,
      restoreDurationSeconds: null,
      newestBackupTimestampSeconds: null,
      backupCount: null,
      startedAt: '2024-05-01T03:00:00.000Z',
      finishedAt: '2024-05-01T03:01:30.500Z',
      message: 'backup complete',
    });
    expect(doc.schemaVersion).toBe(1);
    expect(text()).toBe('');
  });

  test('a failure: status, exit code and final line; unknown values are null', async () => {
    recorder = await startRecorder('ok');
    const url = `${recorder.base}/hooks/${TOKEN}`;
    const noNamespace: RunInfo = { command: 'verify', series: 'orders', engine: '', startedAt: run.startedAt };
    await webhookReporter(whSettings(url), capture().log).finish(noNamespace, outcome('failure', { exitCode: 143 }), signal());
    expect(JSON.parse(recorder.requests[0].body)).toMatchObject({
      command: 'verify',
      engine: null,
      namespace: null,
      status: 'failure',
      exitCode: 143,
      backupId: null,
      key: null,
      bytes: null,
      rawBytes: null,
      restoreDurationSeconds: null,
      message: 'backup failed: pg_dump exited with code 1: pg_dump: error: query failed',
    });
  });

  test.each([
    ['success', true, false, 'success', 1],
    ['success', false, true, 'success', 0],
    ['failure', false, true, 'failure', 1],
    ['failure', true, false, 'failure', 0],
  ] as const)('on %s only (onSuccess=%s, onFailure=%s): a %s run sends %i document(s)', async (_on, onSuccess, onFailure, status, count) => {
    recorder = await startRecorder('ok');
    const wh = webhookReporter(whSettings(`${recorder.base}/hooks/${TOKEN}`, onSuccess, onFailure), capture().log);
    await wh.start(run, signal());
    await wh.finish(run, outcome(status), signal());
    expect(recorder.requests).toHaveLength(count);
  });

  test('retried on 500 with the same document (same runId), so a receiver can drop duplicates', async () => {
    recorder = await startRecorder(['error', 'ok']);
    const url = `${recorder.base}/hooks/${TOKEN}`;
    const { log, text } = capture();
    await webhookReporter(whSettings(url), log).finish(run, outcome('success'), signal());
    expect(recorder.requests).toHaveLength(2);
    expect(recorder.requests[1].body).toBe(recorder.requests[0].body);
    expect(text()).toContain(`webhook to ${recorder.base}/… failed (attempt 1 of 3), retrying in 0.02s: HTTP 500`);
    expect(text()).not.toContain(TOKEN);
  });

  test('a receiver that is down: an error naming the host, not the URL', async () => {
    const base = await closedPortBase();
    const promise = webhookReporter(whSettings(`${base}/hooks/${TOKEN}`), capture().log).finish(run, outcome('failure'), signal());
    await expect(promise).rejects.toThrow(new RegExp(`^webhook to ${base.replace(/\./g, '\\.')}/… failed after 3 attempts: .*ECONNREFUSED`));
  });
});
