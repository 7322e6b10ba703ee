/**
 * The Pushgateway reporter without a Pushgateway: BACKUP_PUSHGATEWAY_URL's checks, the text
 * exposition format, the grouping key's URL encoding (the Pushgateway README's own examples),
 * which metrics each run pushes, and the HTTP side (POST, retries, errors, the abort) against a
 * local HTTP server that records what it gets. The real Pushgateway and Prometheus are in
 * metrics-pushgateway.test.ts.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '../../image/src/log';
import {
  METRIC_HELP, METRICS_JOB, MetricName, exposition, finishGauges, formatValue, groupUrl, groupingKey, groupingKeySegment,
  metricsReporter, pushGauges, readMetricsSettings, startGauges,
} from '../../image/src/metrics';
import { RunFacts, RunInfo, RunOutcome, readReportingConfig } from '../../image/src/report';
import { ENV } from '../../lib/contract';
import { RuleError } from '../../lib/rules';
import { freePort } from '../servers/ports';

function settingsError(url: string): string {
  try {
    readMetricsSettings({ [ENV.PUSHGATEWAY_URL]: url });
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    return (e as Error).message;
  }
  throw new Error(`'${url}' was accepted`);
}

describe('readMetricsSettings (BACKUP_PUSHGATEWAY_URL)', () => {
  test('unset or empty: no metrics', () => {
    expect(readMetricsSettings({})).toBeUndefined();
    expect(readMetricsSettings({ [ENV.PUSHGATEWAY_URL]: '' })).toBeUndefined();
  });

  test('a base URL, with or without a path prefix, without its trailing slash', () => {
    expect(readMetricsSettings({ [ENV.PUSHGATEWAY_URL]: 'http://pushgateway.monitoring:9091' })?.url).toBe('http://pushgateway.monitoring:9091');
    expect(readMetricsSettings({ [ENV.PUSHGATEWAY_URL]: 'https://gw.example/prefix/' })?.url).toBe('https://gw.example/prefix');
  });

  test.each([
    ['not a URL', 'pushgateway 9091', /^BACKUP_PUSHGATEWAY_URL: 'pushgateway 9091' is not a URL; use 'http\(s\):\/\/host\[:port\]\[\/path\]'/],
    ['no scheme', 'pushgateway:9091', /^BACKUP_PUSHGATEWAY_URL: 'pushgateway:9091': the scheme must be http or https, e\.g\. 'http:\/\/pushgateway\.monitoring:9091'/],
    ['another scheme', 'ftp://gw:9091', /^BACKUP_PUSHGATEWAY_URL: 'ftp:\/\/gw:9091': the scheme must be http or https/],
    ['credentials', 'http://user:pw@gw:9091', /^BACKUP_PUSHGATEWAY_URL: contains credentials.*remove them/],
    ['a query', 'http://gw:9091/?x=1', /^BACKUP_PUSHGATEWAY_URL: .* must not have a query or fragment/],
    ['a grouping key', 'http://gw:9091/metrics/job/x', /^BACKUP_PUSHGATEWAY_URL: .* already has a grouping key; give only the Pushgateway's base URL/],
    ['white space', ' http://gw:9091', /^BACKUP_PUSHGATEWAY_URL: .*leading or trailing white space; remove it/],
  ])('%s is refused, naming the variable and the fix', (_what, url, message) => {
    expect(settingsError(url)).toMatch(message);
  });

  test('the credentials themselves are never echoed', () => {
    expect(settingsError('http://user:s3cr3t@gw:9091')).not.toContain('s3cr3t');
  });

  test('the runner reads it with the rest of its reporting configuration', () => {
    expect(readReportingConfig({ [ENV.PUSHGATEWAY_URL]: 'http://gw:9091' }).metrics?.url).toBe('http://gw:9091');
    expect(() => readReportingConfig({ [ENV.PUSHGATEWAY_URL]: 'gw' })).toThrow(/^BACKUP_PUSHGATEWAY_URL: /);
  });
});

describe('metric names and the text format', () => {
  test('every name follows the Prometheus conventions: backup_ prefix, base unit suffix', () => {
    for (const name of Object.keys(METRIC_HELP)) {
      expect(name).toMatch(/^backup_[a-z_]+$/);
      expect(name).toMatch(/(_timestamp_seconds|_duration_seconds|_bytes|_status|_count)$/);
      // A timestamp is in seconds since the epoch, never milliseconds.
      expect(name).not.toMatch(/_ms$|_milliseconds$/);
    }
  });

  test('exposition: HELP, TYPE gauge and the sample, every line ending in \\n, no timestamp', () => {
    const text = exposition([{ name: 'backup_last_status', value: 1 }, { name: 'backup_duration_seconds', value: 12.5 }]);
    expect(text).toBe([
      '# HELP backup_last_status Whether the last backup run succeeded (1) or failed (0).',
      '# TYPE backup_last_status gauge',
      'backup_last_status 1',
      '# HELP backup_duration_seconds How long the last backup run took, in seconds.',
      '# TYPE backup_duration_seconds gauge',
      'backup_duration_seconds 12.5',
      '',
    ].join('\n'));
  });

  test('a name twice or an unknown, invalid name is refused before anything is sent', () => {
    expect(() => exposition([{ name: 'backup_count', value: 1 }, { name: 'backup_count', value: 2 }])).toThrow("metric 'backup_count' given twice");
    expect(() => exposition([{ name: 'backup-count' as MetricName, value: 1 }])).toThrow("metric name 'backup-count' is not a valid Prometheus name");
  });

  test('values: integers and fractions as written, large ones in exponent form, special values as Go spells them', () => {
    expect(formatValue(0)).toBe('0');
    expect(formatValue(1717171717.123)).toBe('1717171717.123');
    expect(formatValue(1e21)).toBe('1e+21');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
  });
});

describe('grouping key', () => {
  test('the Pushgateway README\'s examples: base64 for a "/", "=" for the empty value, percent-encoding otherwise', () => {
    expect(groupingKeySegment('path', '/var/tmp')).toBe('/path@base64/L3Zhci90bXA');
    expect(groupingKeySegment('first_label', '')).toBe('/first_label@base64/=');
    expect(groupingKeySegment('name', 'Προμηθεύς')).toBe('/name/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82');
  });

  test('values a router would clean away or misread are safe', () => {
    expect(groupingKeySegment('x', '..')).toBe('/x@base64/Li4');
    expect(groupingKeySegment('x', '.')).toBe('/x@base64/Lg');
    expect(groupingKeySegment('x', 'a b%?#')).toBe('/x/a%20b%25%3F%23');
    // URL-safe alphabet: '-' and '_' instead of '+' and '/'.
    expect(groupingKeySegment('x', '/??>')).toBe('/x@base64/Lz8_Pg');
  });

  test('a label name that Prometheus would refuse is refused here', () => {
    expect(() => groupingKeySegment('bad-name', 'v')).toThrow("grouping key label name 'bad-name' is not a valid Prometheus label name");
  });

  const run: RunInfo = { command: 'backup', series: 'orders', engine: 'postgres', namespace: 'prod', startedAt: new Date(1_700_000_000_000) };

  test('job, series, engine, namespace in that order, job first', () => {
    expect(groupUrl('http://gw:9091/', groupingKey(run))).toBe('http://gw:9091/metrics/job/cdk8s-db-backup/series/orders/engine/postgres/namespace/prod');
    expect(METRICS_JOB).toBe('cdk8s-db-backup');
  });

  test('outside Kubernetes (no namespace) the label is left out; an empty engine is kept as the empty value', () => {
    expect(groupUrl('http://gw:9091', groupingKey({ ...run, namespace: undefined, engine: '', command: 'check' })))
      .toBe('http://gw:9091/metrics/job/cdk8s-db-backup/series/orders/engine@base64/=');
  });

  test('a key that does not start with a non-empty job is refused', () => {
    expect(() => groupUrl('http://gw', [['series', 'x']])).toThrow("a grouping key starts with a non-empty 'job' label");
    expect(() => groupUrl('http://gw', [['job', '']])).toThrow("a grouping key starts with a non-empty 'job' label");
  });
});

describe('what each run pushes', () => {
  const startedAt = new Date(1_700_000_000_000);
  const finishedAt = new Date(1_700_000_090_500);
  const info = (command: RunInfo['command']): RunInfo => ({ command, series: 's', engine: 'postgres', namespace: 'n', startedAt });
  const outcome = (status: 'success' | 'failure', facts: RunFacts): RunOutcome => ({
    status, exitCode: status === 'success' ? 0 : 1, finishedAt, durationSeconds: 90.5, finalLine: 'x', facts,
  });
  const asRecord = (gauges: ReturnType<typeof finishGauges>) => Object.fromEntries(gauges.map(g => [g.name, g.value]));

  test('at the start: only the command\'s own start time', () => {
    expect(startGauges(info('backup'))).toEqual([{ name: 'backup_last_start_timestamp_seconds', value: 1_700_000_000 }]);
    expect(startGauges(info('verify'))).toEqual([{ name: 'backup_verify_last_start_timestamp_seconds', value: 1_700_000_000 }]);
    expect(startGauges(info('check'))).toEqual([{ name: 'backup_check_last_start_timestamp_seconds', value: 1_700_000_000 }]);
  });

  test('backup success: success time, status 1, duration, stored and raw size', () => {
    expect(asRecord(finishGauges(info('backup'), outcome('success', { bytes: 1000, rawBytes: 5000 })))).toEqual({
      backup_last_success_timestamp_seconds: 1_700_000_090.5,
      backup_last_status: 1,
      backup_duration_seconds: 90.5,
      backup_size_bytes: 1000,
      backup_raw_size_bytes: 5000,
    });
  });

  test('backup success without a counted raw size: no raw size', () => {
    expect(asRecord(finishGauges(info('backup'), outcome('success', { bytes: 1000, rawBytes: null })))).not.toHaveProperty('backup_raw_size_bytes');
  });

  test('backup failure: failure time and status 0, never a success time or a size (those of the last success stay)', () => {
    expect(asRecord(finishGauges(info('backup'), outcome('failure', { bytes: 10, rawBytes: 20 })))).toEqual({
      backup_last_failure_timestamp_seconds: 1_700_000_090.5,
      backup_last_status: 0,
      backup_duration_seconds: 90.5,
    });
  });

  test('verify: its own names, and the restore time whenever it was measured', () => {
    expect(asRecord(finishGauges(info('verify'), outcome('success', { restoreDurationSeconds: 7.25 })))).toEqual({
      backup_verify_last_success_timestamp_seconds: 1_700_000_090.5,
      backup_verify_last_status: 1,
      backup_verify_duration_seconds: 90.5,
      backup_verify_restore_duration_seconds: 7.25,
    });
    expect(asRecord(finishGauges(info('verify'), outcome('failure', {})))).toEqual({
      backup_verify_last_failure_timestamp_seconds: 1_700_000_090.5,
      backup_verify_last_status: 0,
      backup_verify_duration_seconds: 90.5,
    });
  });

  test('check: newest backup time and count when known', () => {
    expect(asRecord(finishGauges(info('check'), outcome('success', { newestBackupTimestampSeconds: 1_699_999_000, backupCount: 0 })))).toEqual({
      backup_check_last_success_timestamp_seconds: 1_700_000_090.5,
      backup_check_last_status: 1,
      backup_newest_timestamp_seconds: 1_699_999_000,
      backup_count: 0,
    });
    expect(asRecord(finishGauges(info('check'), outcome('failure', {})))).toEqual({
      backup_check_last_failure_timestamp_seconds: 1_700_000_090.5,
      backup_check_last_status: 0,
    });
  });

  test('every pushed name has its help text', () => {
    const all = [
      ...startGauges(info('backup')), ...startGauges(info('verify')), ...startGauges(info('check')),
      ...finishGauges(info('backup'), outcome('success', { bytes: 1, rawBytes: 2 })), ...finishGauges(info('backup'), outcome('failure', {})),
      ...finishGauges(info('verify'), outcome('success', { restoreDurationSeconds: 1 })), ...finishGauges(info('verify'), outcome('failure', {})),
      ...finishGauges(info('check'), outcome('success', { newestBackupTimestampSeconds: 1, backupCount: 1 })), ...finishGauges(info('check'), outcome('failure', {})),
    ];
    expect([...new Set(all.map(g => g.name))].sort()).toEqual(Object.keys(METRIC_HELP).sort());
  });
});

/** A local HTTP server that records requests and answers from a script (or never). */
async function recorder(answers: Array<{ status: number; body?: string } | 'hang'>) {
  const requests: Array<{ method: string; url: string; contentType: string; body: string }> = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, contentType: String(req.headers['content-type']), body });
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)];
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    close: () => new Promise<void>(resolve => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('pushing (a local HTTP server in place of the Pushgateway)', () => {
  const key: Array<readonly [string, string]> = [['job', METRICS_JOB], ['series', 'orders']];
  const gauges = [{ name: 'backup_last_status' as const, value: 1 }];
  const never = () => new AbortController().signal;

  test('one POST to the group URL with the text format\'s content type', async () => {
    const r = await recorder([{ status: 200 }]);
    try {
      await pushGauges(`${r.url}/prefix`, key, gauges, never(), [5]);
      expect(r.requests).toEqual([{
        method: 'POST',
        url: '/prefix/metrics/job/cdk8s-db-backup/series/orders',
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
        body: exposition(gauges),
      }]);
    } finally {
      await r.close();
    }
  });

  test('a 5xx is retried, and a retry that succeeds is a success; each retry is announced', async () => {
    const r = await recorder([{ status: 503, body: 'busy' }, { status: 502 }, { status: 202 }]);
    const notes: string[] = [];
    try {
      await pushGauges(r.url, key, gauges, never(), [5, 5], m => notes.push(m));
      expect(r.requests.map(q => q.method)).toEqual(['POST', 'POST', 'POST']);
      expect(notes).toEqual([
        `POST ${r.url}/metrics/job/cdk8s-db-backup/series/orders try 1 of 3 failed, trying again in 5 ms: answered 503 Service Unavailable: busy`,
        `POST ${r.url}/metrics/job/cdk8s-db-backup/series/orders try 2 of 3 failed, trying again in 5 ms: answered 502 Bad Gateway`,
      ]);
    } finally {
      await r.close();
    }
  });

  test('a 5xx on every try: the error has the URL, the tries, the status and the body\'s first line', async () => {
    const r = await recorder([{ status: 500, body: '\nfirst line\nsecond line\n' }]);
    try {
      await expect(pushGauges(r.url, key, gauges, never(), [5, 5])).rejects.toThrow(
        `POST ${r.url}/metrics/job/cdk8s-db-backup/series/orders failed after 3 tries: answered 500 Internal Server Error: first line`);
      expect(r.requests).toHaveLength(3);
    } finally {
      await r.close();
    }
  });

  test('a 4xx (an inconsistent push) is not retried', async () => {
    const r = await recorder([{ status: 400, body: 'pushed metrics are invalid or inconsistent with existing metrics: x is not a GAUGE' }]);
    try {
      await expect(pushGauges(r.url, key, gauges, never(), [5, 5])).rejects.toThrow(
        /failed: answered 400 Bad Request: pushed metrics are invalid or inconsistent with existing metrics: x is not a GAUGE$/);
      expect(r.requests).toHaveLength(1);
    } finally {
      await r.close();
    }
  });

  test('nothing listening: retried, then an error naming the connection failure', async () => {
    const port = await freePort();
    await expect(pushGauges(`http://127.0.0.1:${port}`, key, gauges, never(), [5, 5]))
      .rejects.toThrow(new RegExp(`^POST http://127\\.0\\.0\\.1:${port}/metrics/job/cdk8s-db-backup/series/orders failed after 3 tries: fetch failed: .*ECONNREFUSED`));
  });

  test('a server that never answers: the abort ends the push at once with the abort\'s reason', async () => {
    const r = await recorder(['hang']);
    try {
      const controller = new AbortController();
      const t0 = Date.now();
      setTimeout(() => controller.abort(new Error('reporting took longer than 0.3s')), 300);
      await expect(pushGauges(r.url, key, gauges, controller.signal, [5, 5])).rejects.toThrow('reporting took longer than 0.3s');
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(r.requests).toHaveLength(1);
    } finally {
      await r.close();
    }
  });

  test('the reporter: a failure throws for reportAll to log; an aborted push ends quietly (reportAll logged the timeout)', async () => {
    const lines: string[] = [];
    const log = new Logger({}, l => lines.push(l));
    const info: RunInfo = { command: 'backup', series: 'orders', engine: 'postgres', startedAt: new Date() };
    const failing = await recorder([{ status: 400, body: 'bad' }]);
    try {
      const reporter = metricsReporter({ url: failing.url, retryDelaysMs: [] }, log);
      expect(reporter.name).toBe('pushgateway');
      await expect(reporter.start(info, never())).rejects.toThrow(/answered 400 Bad Request: bad$/);
      expect(failing.requests[0].url).toBe('/metrics/job/cdk8s-db-backup/series/orders/engine/postgres');
      expect(failing.requests[0].body).toContain('backup_last_start_timestamp_seconds ');
    } finally {
      await failing.close();
    }
    const hanging = await recorder(['hang']);
    try {
      const reporter = metricsReporter({ url: hanging.url, retryDelaysMs: [] }, log);
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('too long')), 200);
      await expect(reporter.start(info, controller.signal)).resolves.toBeUndefined();
    } finally {
      await hanging.close();
    }
    expect(lines).toEqual([]);
  });
});
