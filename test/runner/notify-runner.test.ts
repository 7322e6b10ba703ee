/**
 * Healthcheck pings and the webhook from the real runner process (bundled image/src), backing up
 * with a STAND-IN pg_dump (stand-ins.ts) to a file:// destination, against real HTTP servers on
 * 127.0.0.1 that answer 200, 500, never, or are down. A receiver's trouble never changes the
 * run's exit code, and no output line ever holds the secret URLs' tokens.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpRecorder, RecordedRequest, closedPortBase, startRecorder } from './http-recorder';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { writeStandIns } from './stand-ins';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';

const PG = ENGINE_REGISTRY.postgres.env;
/** The secret parts of the two URLs: a path token and a query token. */
const HC_TOKEN = '0e6f2a9c-7b14-4d3e-8a51-c2f9d8e7b6a5';
const WH_TOKEN = 'whk_7Qm2Zr9Lp4Xv8Ns1';
let standIns: string;
let dest: string;
let recorder: HttpRecorder;

beforeAll(async () => {
  standIns = writeStandIns();
  await buildRunner();
});

beforeEach(() => {
  dest = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-dest-'));
});

afterEach(async () => {
  await recorder?.close();
  fs.rmSync(dest, { recursive: true, force: true });
});

/** A backup of 64 KiB by the stand-in, with a healthcheck (URL with a query) and a webhook on `base`. */
function env(base: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv({
    [ENV.ENGINE]: 'postgres',
    [ENV.DESTINATION]: `file://${dest}/prod`,
    [ENV.NAME]: 'orders',
    [PG.HOST]: 'db.example',
    [PG.DATABASE]: 'orders',
    [PG.USER]: 'backup',
    [PG.PASSWORD]: 'pw-not-a-notification',
    [ENV.NAMESPACE]: 'shop',
    [ENV.HEALTHCHECK_URL]: `${base}/ping/${HC_TOKEN}?create=1`,
    [ENV.WEBHOOK_URL]: `${base}/hooks/backup?token=${WH_TOKEN}`,
    STANDIN_BYTES: String(64 * 1024),
    ...extra,
  }, standIns);
}

function pingsOf(requests: readonly RecordedRequest[]): RecordedRequest[] {
  return requests.filter(r => r.url.startsWith('/ping/'));
}

function webhooksOf(requests: readonly RecordedRequest[]): RecordedRequest[] {
  return requests.filter(r => r.url.startsWith('/hooks/'));
}

/** The ping kinds in order: 'start', 'success' or 'fail'. */
function pingKinds(requests: readonly RecordedRequest[]): string[] {
  return pingsOf(requests).map(r => {
    const p = r.url.replace(/\?.*/, '');
    return p.endsWith('/start') ? 'start' : p.endsWith('/fail') ? 'fail' : 'success';
  });
}

function expectNoSecret(output: string): void {
  expect(output).not.toContain(HC_TOKEN);
  expect(output).not.toContain(WH_TOKEN);
}

describe('the runner reports to a receiver that answers 200', () => {
  test('a successful backup: start ping, success ping with the final line, one webhook document', async () => {
    recorder = await startRecorder('ok');
    const r = await runRunner(env(recorder.base));
    expect(r.code).toBe(0);
    expectNoSecret(r.output);
    expect(pingKinds(recorder.requests)).toEqual(['start', 'success']);
    const [start, success] = pingsOf(recorder.requests);
    expect(start.method).toBe('POST');
    expect(start.url).toMatch(new RegExp(`^/ping/${HC_TOKEN}/start\\?create=1&rid=[0-9a-f-]{36}$`));
    expect(success.url).toBe(start.url.replace('/start?', '?'));
    // the start ping went out before the backup began, the end after it finished
    const complete = r.lines.find(l => l.msg === 'backup complete')!;
    expect(complete).toBeDefined();
    expect(start.at).toBeLessThanOrEqual(Date.parse(complete.time));
    expect(success.at).toBeGreaterThanOrEqual(Date.parse(complete.time));
    expect(success.body).toBe('backup complete');

    const hooks = webhooksOf(recorder.requests);
    expect(hooks).toHaveLength(1);
    expect(hooks[0].url).toBe(`/hooks/backup?token=${WH_TOKEN}`);
    expect(hooks[0].headers['content-type']).toBe('application/json');
    const doc = JSON.parse(hooks[0].body);
    const key = complete.key as string;
    expect(doc).toMatchObject({
      schemaVersion: 1,
      series: 'orders',
      engine: 'postgres',
      command: 'backup',
      namespace: 'shop',
      status: 'success',
      exitCode: 0,
      backupId: path.basename(key).replace(/\..*/, ''),
      key,
      bytes: complete.bytes,
      rawBytes: complete.rawBytes,
      restoreDurationSeconds: null,
      message: 'backup complete',
    });
    expect(fs.statSync(path.join(dest, 'prod', key)).size).toBe(complete.bytes);
    expect(Date.parse(doc.finishedAt) - Date.parse(doc.startedAt)).toBeCloseTo(doc.durationSeconds * 1000, -2);
    expect(r.lines.filter(l => l.level !== 'info')).toEqual([]);
  });

  test('a failing backup: start ping, fail ping with the final line as its body, a failure document; exit 1', async () => {
    recorder = await startRecorder('ok');
    const r = await runRunner(env(recorder.base, { STANDIN_FAIL_AT: '1000' }));
    expect(r.code).toBe(1);
    expectNoSecret(r.output);
    expect(pingKinds(recorder.requests)).toEqual(['start', 'fail']);
    const fail = pingsOf(recorder.requests)[1];
    expect(r.last.level).toBe('error');
    expect(fail.body).toBe(r.last.msg);
    expect(fail.body).toMatch(/^backup failed: .*pg_dump/);
    expect(fail.headers['content-type']).toBe('text/plain; charset=utf-8');
    const doc = JSON.parse(webhooksOf(recorder.requests)[0].body);
    expect(doc).toMatchObject({ status: 'failure', exitCode: 1, backupId: null, key: null, bytes: null, message: r.last.msg });
  });

  test('BACKUP_WEBHOOK_ON=failure: a successful run sends no document (the pings still go)', async () => {
    recorder = await startRecorder('ok');
    const r = await runRunner(env(recorder.base, { [ENV.WEBHOOK_ON]: 'failure' }));
    expect(r.code).toBe(0);
    expect(pingKinds(recorder.requests)).toEqual(['start', 'success']);
    expect(webhooksOf(recorder.requests)).toEqual([]);
  });

  test('BACKUP_WEBHOOK_ON=failure: a failed run sends its document', async () => {
    recorder = await startRecorder('ok');
    const r = await runRunner(env(recorder.base, { [ENV.WEBHOOK_ON]: 'failure', STANDIN_FAIL_AT: '1000' }));
    expect(r.code).toBe(1);
    expect(webhooksOf(recorder.requests).map(h => JSON.parse(h.body).status)).toEqual(['failure']);
  });

  test('a configuration error (exit 2) is reported as a failure when the reporting variables are fine', async () => {
    recorder = await startRecorder('ok');
    const r = await runRunner(env(recorder.base, { [ENV.DESTINATION]: '' }));
    expect(r.code).toBe(2);
    expectNoSecret(r.output);
    expect(r.last.msg).toMatch(/^configuration error: BACKUP_DESTINATION/);
    expect(pingKinds(recorder.requests)).toEqual(['start', 'fail']);
    expect(pingsOf(recorder.requests)[1].body).toBe(r.last.msg);
    expect(JSON.parse(webhooksOf(recorder.requests)[0].body)).toMatchObject({
      status: 'failure', exitCode: 2, series: 'orders', engine: 'postgres', command: 'backup', namespace: 'shop', message: r.last.msg,
    });
  });

  test.each([
    ['BACKUP_WEBHOOK_ON is wrong', { [ENV.WEBHOOK_ON]: 'always' }, /^configuration error: BACKUP_WEBHOOK_ON: 'always' has 'always'/],
    ['BACKUP_HEALTHCHECK_URL is not http(s)', { [ENV.HEALTHCHECK_URL]: `ftp://hc.example/${HC_TOKEN}` }, /^configuration error: BACKUP_HEALTHCHECK_URL: the scheme must be http or https/],
    ['BACKUP_WEBHOOK_ON without a URL', { [ENV.WEBHOOK_URL]: '', [ENV.WEBHOOK_ON]: 'failure' }, /^configuration error: BACKUP_WEBHOOK_ON: is set \('failure'\) but BACKUP_WEBHOOK_URL is not/],
  ])('%s: exit 2, nothing sent, the URL not echoed', async (_what, extra, message) => {
    recorder = await startRecorder('ok');
    const r = await runRunner(env(recorder.base, extra));
    expect(r.code).toBe(2);
    expect(r.last.msg).toMatch(message);
    expectNoSecret(r.output);
    expect(recorder.requests).toEqual([]);
  });
});

describe('a receiver in trouble never changes the run', () => {
  test('500: every request is retried until the bound; the run exits with its own code', async () => {
    recorder = await startRecorder('error');
    const started = Date.now();
    const r = await runRunner(env(recorder.base, { [ENV.NOTIFY_TIMEOUT_SECONDS]: '2' }));
    const took = Date.now() - started;
    expect(r.code).toBe(0);
    expectNoSecret(r.output);
    // 0, 0.5 s, 1.5 s: three attempts fit in the 2 s bound, at the start and again at the end
    expect(pingKinds(recorder.requests)).toEqual(['start', 'start', 'start', 'success', 'success', 'success']);
    expect(webhooksOf(recorder.requests)).toHaveLength(3);
    expect(new Set(webhooksOf(recorder.requests).map(h => h.body)).size).toBe(1);
    const host = recorder.base;
    const warns = r.lines.filter(l => l.level === 'warn').map(l => l.msg);
    expect(warns).toContain(`healthcheck start ping to ${host}/… failed (attempt 1 of 5), retrying in 0.5s: HTTP 500 Internal Server Error`);
    expect(warns).toContain(`webhook to ${host}/… failed (attempt 2 of 5), retrying in 1s: HTTP 500 Internal Server Error`);
    expect(warns).toContain('reporting the start took longer than 2s and was abandoned (the run is not affected): healthcheck');
    expect(r.lines.some(l => l.msg === 'backup complete')).toBe(true);
    expect(took).toBeLessThan(2 * 2000 + 4000);
  });

  test('500 on a failing run: still exit 1', async () => {
    recorder = await startRecorder('error');
    const r = await runRunner(env(recorder.base, { [ENV.NOTIFY_TIMEOUT_SECONDS]: '1', STANDIN_FAIL_AT: '1000' }));
    expect(r.code).toBe(1);
    expectNoSecret(r.output);
    expect(pingKinds(recorder.requests)).toContain('fail');
  });

  test('never answers: each point of the run waits at most BACKUP_NOTIFY_TIMEOUT_SECONDS, then goes on', async () => {
    recorder = await startRecorder('hang');
    const started = Date.now();
    const r = await runRunner(env(recorder.base, { [ENV.NOTIFY_TIMEOUT_SECONDS]: '1' }));
    const took = Date.now() - started;
    expect(r.code).toBe(0);
    expectNoSecret(r.output);
    expect(r.lines.some(l => l.msg === 'backup complete')).toBe(true);
    const msgs = r.lines.map(l => l.msg);
    expect(msgs).toContain('reporting the start took longer than 1s and was abandoned (the run is not affected): healthcheck');
    expect(msgs).toContain('reporting the finish took longer than 1s and was abandoned (the run is not affected): healthcheck, webhook');
    // one line per abandonment, none from the abandoned requests afterwards
    expect(msgs.filter(m => m.includes('healthcheck') || m.includes('webhook'))).toHaveLength(2);
    expect(pingKinds(recorder.requests)).toEqual(['start', 'success']);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(2000 + 4000);
  });

  test('down (a closed port): logged, the backup is stored, exit 0', async () => {
    const base = await closedPortBase();
    const r = await runRunner(env(base, { [ENV.NOTIFY_TIMEOUT_SECONDS]: '1' }));
    expect(r.code).toBe(0);
    expectNoSecret(r.output);
    expect(r.lines.some(l => l.msg === 'backup complete')).toBe(true);
    const warns = r.lines.filter(l => l.level === 'warn').map(l => l.msg);
    expect(warns).toContainEqual(expect.stringMatching(new RegExp(
      `^healthcheck start ping to ${base.replace(/\./g, '\\.')}/… failed \\(attempt 1 of 5\\), retrying in 0\\.5s: fetch failed: connect ECONNREFUSED`)));
    expect(warns).toContainEqual(expect.stringMatching(/^webhook to http:\/\/127\.0\.0\.1:\d+\/… failed \(attempt 1 of 5\).*ECONNREFUSED/));
  });
});
