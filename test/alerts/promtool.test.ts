/**
 * The synthesized alert rules, run by Prometheus' own rule engine (`promtool test rules`) over
 * synthetic kube-state-metrics and Pushgateway series: each alert fires exactly when it should
 * and not a minute before. Expected times and labels are computed here from the documented
 * formula (stale = longest gap + activeDeadline + min(1 h, gap / 4); `for` 5 m), with the gaps
 * written down by hand, never by calling the code under test.
 *
 * The rule files are the PrometheusRule's `spec` as synthesized. Only for `promtool test rules`
 * are annotations removed (promtool compares them exactly and they quote `$value`); `promtool
 * check rules` sees them unchanged, and one test expands them.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Duration, Testing } from 'cdk8s';
import { namespacedChart, prometheusRules } from './prometheus-rule';
import {
  BackupAlerts, BackupMetrics, BackupSchedule, BackupSeries, PostgresBackupCronJob, PostgresBackupCronJobProps, PostgresVerifyCronJob,
} from '../../lib';
import { postgresProps, s3Storage } from '../helpers/synth';
import { describeIntegration, TOOLS } from '../servers/env';

const MIN = 60;
const HOUR = 3600;
const NS = 'databases';
/** The `for` of every rule but BackupSuspended (documented). */
const PENDING = 5 * MIN;

/** The documented stale threshold. */
function staleAfter(gapSeconds: number, activeDeadlineSeconds: number): number {
  return gapSeconds + activeDeadlineSeconds + Math.min(HOUR, Math.floor(gapSeconds / 4));
}

/**
 * When an alert whose condition holds from `from` on (strictly after `from` for a `>` test)
 * fires, given rule evaluation every minute from 0 and its `for`.
 */
function firesAt(from: number, forSeconds: number, strict = true): number {
  const firstTrue = strict ? Math.floor(from / MIN) * MIN + MIN : Math.ceil(from / MIN) * MIN;
  return firstTrue + forSeconds;
}

/** promtool's duration for a number of seconds (whole minutes or seconds). */
function at(seconds: number): string {
  return seconds % MIN === 0 ? `${seconds / MIN}m` : `${seconds}s`;
}

/**
 * A series' samples every minute from 0 to `endSeconds`, as promtool's expanding notation:
 * `steps` are [value, fromSeconds] pairs, ascending; '_' is no sample (the series is absent).
 */
function samples(endSeconds: number, ...steps: [number | '_', number][]): string {
  const parts: string[] = [];
  steps.forEach(([value, from], i) => {
    const to = i + 1 < steps.length ? steps[i + 1][1] : endSeconds + MIN;
    const count = (to - from) / MIN;
    if (count <= 0) return;
    parts.push(value === '_' ? Array(count).fill('_').join(' ') : `${value}x${count - 1}`);
  });
  return parts.join(' ');
}

function series(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}

/** kube-state-metrics adds its own target labels; the rules must not depend on them. */
const KSM = { job: 'kube-state-metrics', instance: '10.0.0.7:8080' };

interface InputSeries { series: string; values: string }
interface ExpectedAlert { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }
interface AlertTest { eval_time: string; alertname: string; exp_alerts: ExpectedAlert[] }

interface JobTimes { created: number; start?: number; completeAt?: number; failedAt?: number; activeUntil?: number }

interface Built {
  /** The cronjob name of each construct, from the synthesized CronJob. */
  readonly cronJobs: Record<string, string>;
  /** PrometheusRule by construct id. */
  readonly rules: Record<string, any>;
}

function build(): Built {
  // One chart per construct (the props helper makes its Secrets and storage in the chart).
  const chart = () => namespacedChart(NS);
  const pushgateway = BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' });
  const backup = (id: string, props: Partial<PostgresBackupCronJobProps>) => {
    const c = chart();
    return new PostgresBackupCronJob(c, id, postgresProps(c, props));
  };
  const verifyChart = chart();
  const constructs = {
    orders: backup('orders', {
      schedule: BackupSchedule.cron('0 2 * * *'),
      activeDeadline: Duration.hours(1),
      metrics: pushgateway,
      alerts: BackupAlerts.prometheus({ runbookUrl: 'https://wiki.example.com/runbooks/backups' }),
    }),
    events: backup('events', {
      schedule: BackupSchedule.hourly({ minute: 0 }), activeDeadline: Duration.minutes(30), alerts: BackupAlerts.prometheus(),
    }),
    reports: backup('reports', { schedule: BackupSchedule.cron('0 3 * * 1-5'), alerts: BackupAlerts.prometheus() }),
    audit: backup('audit', {
      schedule: BackupSchedule.cron('H/15 * * * *'), activeDeadline: Duration.minutes(10), alerts: BackupAlerts.prometheus(),
    }),
    braces: backup('braces', {
      database: 'x{{ .Foo }}y', alerts: BackupAlerts.prometheus({ labels: { team: 'db' }, ruleLabels: { release: 'prometheus' } }),
    }),
    ordersVerify: new PostgresVerifyCronJob(verifyChart, 'orders-verify', {
      schedule: BackupSchedule.cron('0 6 * * *'),
      series: BackupSeries.fromName(s3Storage(verifyChart), 'orders', 'postgres'),
      postgresMajor: 15,
      activeDeadline: Duration.hours(2),
      metrics: pushgateway,
      alerts: BackupAlerts.prometheus(),
    }),
  };
  const cronJobs: Record<string, string> = {};
  const rules: Record<string, any> = {};
  for (const [id, construct] of Object.entries(constructs)) {
    const c = construct.node.scope as Chart;
    cronJobs[id] = construct.cronJob.name;
    rules[id] = prometheusRules(c).find(r => r.metadata.name === construct.cronJob.name);
    if (!rules[id]) throw new Error(`no PrometheusRule for ${id}`);
    if (id === 'audit') {
      // The H/15 schedule as the CronJob has it: the test below relies on a 15-minute gap.
      const cronJob = Testing.synth(c).find(o => o.kind === 'CronJob');
      expect(cronJob.spec.schedule).toMatch(/^\d+-59\/15 \* \* \* \*$/);
    }
  }
  return { cronJobs, rules };
}

describeIntegration('alert rules in promtool', ['promtool'], () => {
  let dir: string;
  let built: Built;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alerts-promtool-'));
    built = build();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function promtool(...args: string[]): { ok: boolean; output: string } {
    try {
      const output = execFileSync(TOOLS.promtool, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
      return { ok: true, output };
    } catch (e: any) {
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.stdout === undefined ? String(e) : ''}` };
    }
  }

  /** Writes the rule file of a PrometheusRule (annotations kept unless `stripAnnotations`). */
  function ruleFile(name: string, prometheusRule: any, stripAnnotations: boolean): string {
    const groups = prometheusRule.spec.groups.map((g: any) => ({
      ...g,
      rules: g.rules.map((r: any) => (stripAnnotations ? { ...r, annotations: undefined } : r)),
    }));
    const file = `${name}.rules.json`;
    fs.writeFileSync(path.join(dir, file), JSON.stringify({ groups }, null, 2));
    return file;
  }

  /** Runs `promtool test rules` on one test case against the rules of construct `id`. */
  function testRules(name: string, id: string, input: InputSeries[], tests: AlertTest[], keepAnnotations = false): { ok: boolean; output: string } {
    const rules = ruleFile(name, built.rules[id], !keepAnnotations);
    const file = `${name}.test.json`;
    fs.writeFileSync(path.join(dir, file), JSON.stringify({
      rule_files: [rules],
      evaluation_interval: '1m',
      tests: [{ interval: '1m', input_series: input, alert_rule_test: tests }],
    }, null, 2));
    return promtool('test', 'rules', file);
  }

  function expectPass(result: { ok: boolean; output: string }): void {
    if (!result.ok) throw new Error(`promtool test rules failed:\n${result.output}`);
  }

  /** The labels of an alert of construct `id`: the expression's, plus the rule's own. */
  function labels(id: string, seriesName: string, severity: string, byExpression: Record<string, string>): Record<string, string> {
    return { namespace: NS, cronjob: built.cronJobs[id], series: seriesName, engine: 'postgres', severity, ...byExpression };
  }

  test('promtool check rules accepts every synthesized rule file, annotations included', () => {
    const files = Object.entries(built.rules).map(([id, rule]) => ruleFile(`check-${id}`, rule, false));
    const result = promtool('check', 'rules', ...files);
    if (!result.ok) throw new Error(result.output);
    for (const id of Object.keys(built.rules)) {
      expect(result.output).toMatch(new RegExp(`SUCCESS: ${built.rules[id].spec.groups[0].rules.length} rules found`));
    }
  });

  test('promtool check rules rejects a broken rule file (the check can fail)', () => {
    const broken = JSON.parse(JSON.stringify(built.rules.orders));
    broken.spec.groups[0].rules[0].expr = broken.spec.groups[0].rules[0].expr.replace('max by', 'max bye');
    const result = promtool('check', 'rules', ruleFile('broken', broken, false));
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/parse error|FAILED/);
  });

  describe('BackupStale', () => {
    // Daily at 02:00, activeDeadline 1 h: gap 24 h, so 26 h.
    const dailyStale = staleAfter(24 * HOUR, HOUR);

    function dailyInput(lastSuccess: number, end: number): InputSeries[] {
      const cronjob = built.cronJobs.orders;
      return [
        { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob }), values: samples(end, [0, 0]) },
        { series: series('kube_cronjob_status_last_successful_time', { ...KSM, namespace: NS, cronjob }), values: samples(end, ['_', 0], [lastSuccess, lastSuccess]) },
        // Another CronJob in the namespace that never succeeded, and ours by name in another namespace.
        { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob: 'someone-else' }), values: samples(end, [0, 0]) },
        { series: series('kube_cronjob_created', { ...KSM, namespace: 'other', cronjob }), values: samples(end, [0, 0]) },
      ];
    }

    test('daily: silent 25 h after the last success and up to the threshold, firing from threshold + for', () => {
      expect(dailyStale).toBe(26 * HOUR);
      const last = 10 * MIN;
      const fire = firesAt(last + dailyStale, PENDING);
      const end = fire + 10 * MIN;
      const stale = (t: number, firing: boolean): AlertTest => ({
        eval_time: at(t),
        alertname: 'BackupStale',
        exp_alerts: firing ? [{ exp_labels: labels('orders', 'orders', 'critical', {}) }] : [],
      });
      expectPass(testRules('stale-daily', 'orders', dailyInput(last, end), [
        stale(last + 25 * HOUR, false),
        stale(last + dailyStale, false),
        stale(fire - MIN, false),
        stale(fire, true),
        stale(end, true),
      ]));
    });

    test('the harness can fail: expecting it a minute early is an error', () => {
      const last = 10 * MIN;
      const fire = firesAt(last + dailyStale, PENDING);
      const result = testRules('stale-daily-wrong', 'orders', dailyInput(last, fire), [
        { eval_time: at(fire - MIN), alertname: 'BackupStale', exp_alerts: [{ exp_labels: labels('orders', 'orders', 'critical', {}) }] },
      ]);
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/BackupStale/);
    });

    test('never succeeded: counts from kube_cronjob_created (series absent, or 0)', () => {
      const cronjob = built.cronJobs.orders;
      const created = 20 * MIN;
      const fire = firesAt(created + dailyStale, PENDING);
      const end = fire + 5 * MIN;
      for (const lastSuccess of ['absent', 'zero'] as const) {
        const input: InputSeries[] = [
          { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob }), values: samples(end, ['_', 0], [created, created]) },
        ];
        if (lastSuccess === 'zero') {
          input.push({ series: series('kube_cronjob_status_last_successful_time', { ...KSM, namespace: NS, cronjob }), values: samples(end, ['_', 0], [0, created]) });
        }
        expectPass(testRules(`stale-never-${lastSuccess}`, 'orders', input, [
          { eval_time: at(fire - MIN), alertname: 'BackupStale', exp_alerts: [] },
          { eval_time: at(fire), alertname: 'BackupStale', exp_alerts: [{ exp_labels: labels('orders', 'orders', 'critical', {}) }] },
        ]));
      }
    });

    test('a new success ends it', () => {
      const cronjob = built.cronJobs.orders;
      const first = 0;
      const second = 27 * HOUR; // late: after the threshold
      const end = second + 10 * MIN;
      const fire = firesAt(first + dailyStale, PENDING);
      expectPass(testRules('stale-recovers', 'orders', [
        { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob }), values: samples(end, [0, 0]) },
        { series: series('kube_cronjob_status_last_successful_time', { ...KSM, namespace: NS, cronjob }), values: samples(end, [first, 0], [second, second]) },
      ], [
        { eval_time: at(fire), alertname: 'BackupStale', exp_alerts: [{ exp_labels: labels('orders', 'orders', 'critical', {}) }] },
        { eval_time: at(second + MIN), alertname: 'BackupStale', exp_alerts: [] },
      ]));
    });

    test('hourly, activeDeadline 30 min: 1h45m', () => {
      const cronjob = built.cronJobs.events;
      const threshold = staleAfter(HOUR, 30 * MIN);
      expect(threshold).toBe(HOUR + 45 * MIN);
      const last = 5 * MIN;
      const fire = firesAt(last + threshold, PENDING);
      const end = fire + 5 * MIN;
      expectPass(testRules('stale-hourly', 'events', [
        { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob }), values: samples(end, [0, 0]) },
        { series: series('kube_cronjob_status_last_successful_time', { ...KSM, namespace: NS, cronjob }), values: samples(end, ['_', 0], [last, last]) },
      ], [
        { eval_time: at(last + HOUR + 30 * MIN), alertname: 'BackupStale', exp_alerts: [] },
        { eval_time: at(fire - MIN), alertname: 'BackupStale', exp_alerts: [] },
        { eval_time: at(fire), alertname: 'BackupStale', exp_alerts: [{ exp_labels: labels('events', 'events', 'critical', {}) }] },
      ]));
    });

    test('weekdays only: a Friday success stays silent over the weekend and Monday morning', () => {
      // The epoch (time 0 in promtool) is Thursday 1970-01-01 00:00 UTC.
      const cronjob = built.cronJobs.reports;
      const friday0320 = 24 * HOUR + 3 * HOUR + 20 * MIN;
      const monday0300 = 4 * 24 * HOUR + 3 * HOUR;
      const threshold = staleAfter(72 * HOUR, 6 * HOUR); // Friday 03:00 to Monday 03:00; default activeDeadline 6 h
      expect(threshold).toBe(79 * HOUR);
      const fire = firesAt(friday0320 + threshold, PENDING); // Monday 10:26
      const end = fire + 5 * MIN;
      expectPass(testRules('stale-weekdays', 'reports', [
        { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob }), values: samples(end, [0, 0]) },
        { series: series('kube_cronjob_status_last_successful_time', { ...KSM, namespace: NS, cronjob }), values: samples(end, ['_', 0], [friday0320, friday0320]) },
      ], [
        { eval_time: at(2 * 24 * HOUR + 12 * HOUR), alertname: 'BackupStale', exp_alerts: [] }, // Saturday noon
        { eval_time: at(3 * 24 * HOUR + 23 * HOUR), alertname: 'BackupStale', exp_alerts: [] }, // Sunday 23:00
        { eval_time: at(monday0300 + 6 * HOUR), alertname: 'BackupStale', exp_alerts: [] }, // Monday's run hit its deadline
        { eval_time: at(fire - MIN), alertname: 'BackupStale', exp_alerts: [] },
        { eval_time: at(fire), alertname: 'BackupStale', exp_alerts: [{ exp_labels: labels('reports', 'reports', 'critical', {}) }] },
      ]));
    });

    test('H/15 with activeDeadline 10 min: 28m45s', () => {
      const cronjob = built.cronJobs.audit;
      const threshold = staleAfter(15 * MIN, 10 * MIN);
      expect(threshold).toBe(28 * MIN + 45);
      const last = 8 * MIN;
      const fire = firesAt(last + threshold, PENDING);
      const end = fire + 5 * MIN;
      expectPass(testRules('stale-h15', 'audit', [
        { series: series('kube_cronjob_created', { ...KSM, namespace: NS, cronjob }), values: samples(end, [0, 0]) },
        { series: series('kube_cronjob_status_last_successful_time', { ...KSM, namespace: NS, cronjob }), values: samples(end, ['_', 0], [last, last]) },
      ], [
        { eval_time: at(fire - MIN), alertname: 'BackupStale', exp_alerts: [] },
        { eval_time: at(fire), alertname: 'BackupStale', exp_alerts: [{ exp_labels: labels('audit', 'audit', 'critical', {}) }] },
      ]));
    });
  });

  /** The kube-state-metrics series of one Job: created, started, finished (times in seconds). */
  function job(name: string, owner: string, end: number, spec: JobTimes): InputSeries[] {
    const base = { ...KSM, namespace: NS, job_name: name };
    const condition = (at_?: number): [number | '_', number][] =>
      (at_ === undefined ? [['_', 0], [0, spec.created]] : [['_', 0], [0, spec.created], [1, at_]]);
    const out: InputSeries[] = [
      { series: series('kube_job_owner', { ...base, owner_kind: 'CronJob', owner_name: owner, owner_is_controller: 'true' }), values: samples(end, ['_', 0], [1, spec.created]) },
      { series: series('kube_job_created', base), values: samples(end, ['_', 0], [spec.created, spec.created]) },
      { series: series('kube_job_complete', { ...base, condition: 'true' }), values: samples(end, ...condition(spec.completeAt)) },
      { series: series('kube_job_failed', { ...base, condition: 'true' }), values: samples(end, ...condition(spec.failedAt)) },
      // The other condition values exist too, and must not count.
      { series: series('kube_job_failed', { ...base, condition: 'false' }), values: samples(end, ['_', 0], [1, spec.created]) },
    ];
    if (spec.start !== undefined) {
      const activeUntil = spec.activeUntil ?? spec.completeAt ?? spec.failedAt;
      out.push({ series: series('kube_job_status_start_time', base), values: samples(end, ['_', 0], [spec.start, spec.start]) });
      out.push({
        series: series('kube_job_status_active', base),
        values: samples(end, ...(activeUntil === undefined ? [['_', 0], [1, spec.start]] : [['_', 0], [1, spec.start], [0, activeUntil]]) as [number | '_', number][]),
      });
    }
    return out;
  }

  test('BackupFailed: fires when the newest finished Job failed, not when an older one did', () => {
    const ours = built.cronJobs.orders;
    const end = 100 * MIN;
    const input = [
      ...job('orders-1', ours, end, { created: 0, start: 0, failedAt: 0 }),
      ...job('orders-2', ours, end, { created: 30 * MIN, start: 30 * MIN, completeAt: 40 * MIN }),
      // Another CronJob's newer failure in the same namespace.
      ...job('other-1', 'other-backup', end, { created: 50 * MIN, start: 50 * MIN, failedAt: 50 * MIN }),
      ...job('orders-3', ours, end, { created: 70 * MIN, start: 70 * MIN, failedAt: 80 * MIN }),
    ];
    const failed = (t: number, jobName?: string): AlertTest => ({
      eval_time: at(t),
      alertname: 'BackupFailed',
      exp_alerts: jobName ? [{ exp_labels: labels('orders', 'orders', 'warning', { job_name: jobName }) }] : [],
    });
    expectPass(testRules('failed', 'orders', input, [
      failed(firesAt(0, PENDING, false) - MIN), // pending
      failed(firesAt(0, PENDING, false), 'orders-1'),
      failed(35 * MIN, 'orders-1'), // orders-2 still running: the last result stands
      failed(45 * MIN), // orders-2 succeeded
      failed(60 * MIN), // another CronJob's failure
      failed(firesAt(80 * MIN, PENDING, false) - MIN),
      failed(firesAt(80 * MIN, PENDING, false), 'orders-3'),
    ]));
  });

  test('BackupVerificationFailed for a verify CronJob, critical', () => {
    const ours = built.cronJobs.ordersVerify;
    const end = 30 * MIN;
    expectPass(testRules('verify-failed', 'ordersVerify', [
      ...job('verify-1', ours, end, { created: 0, start: 0, completeAt: 5 * MIN }),
      ...job('verify-2', ours, end, { created: 10 * MIN, start: 10 * MIN, failedAt: 12 * MIN }),
    ], [
      { eval_time: at(8 * MIN), alertname: 'BackupVerificationFailed', exp_alerts: [] },
      { eval_time: at(firesAt(12 * MIN, PENDING, false) - MIN), alertname: 'BackupVerificationFailed', exp_alerts: [] },
      {
        eval_time: at(firesAt(12 * MIN, PENDING, false)),
        alertname: 'BackupVerificationFailed',
        exp_alerts: [{ exp_labels: labels('ordersVerify', 'orders', 'critical', { job_name: 'verify-2' }) }],
      },
      { eval_time: at(20 * MIN), alertname: 'BackupFailed', exp_alerts: [] },
    ]));
  });

  test('BackupRunningTooLong: 80 % of the activeDeadline (1 h: 48 min), only for active Jobs of this CronJob', () => {
    const ours = built.cronJobs.orders;
    const threshold = 0.8 * HOUR;
    const start = 10 * MIN;
    const end = 70 * MIN;
    expectPass(testRules('running', 'orders', [
      ...job('orders-7', ours, end, { created: start, start }),
      // Finished long ago, and another CronJob's long-running Job.
      ...job('orders-6', ours, end, { created: 0, start: 0, completeAt: 5 * MIN }),
      ...job('other-7', 'other-backup', end, { created: 0, start: 0 }),
    ], [
      { eval_time: at(start + threshold), alertname: 'BackupRunningTooLong', exp_alerts: [] },
      {
        eval_time: at(firesAt(start + threshold, 0)),
        alertname: 'BackupRunningTooLong',
        exp_alerts: [{ exp_labels: labels('orders', 'orders', 'warning', { job_name: 'orders-7' }) }],
      },
    ]));
  });

  test('BackupSuspended after a day, not before', () => {
    const cronjob = built.cronJobs.orders;
    const suspendedAt = HOUR;
    const fire = firesAt(suspendedAt, 24 * HOUR, false);
    const end = fire + 5 * MIN;
    expectPass(testRules('suspended', 'orders', [
      { series: series('kube_cronjob_spec_suspend', { ...KSM, namespace: NS, cronjob }), values: samples(end, [0, 0], [1, suspendedAt]) },
      { series: series('kube_cronjob_spec_suspend', { ...KSM, namespace: NS, cronjob: 'someone-else' }), values: samples(end, [1, 0]) },
    ], [
      { eval_time: at(fire - MIN), alertname: 'BackupSuspended', exp_alerts: [] },
      { eval_time: at(fire), alertname: 'BackupSuspended', exp_alerts: [{ exp_labels: labels('orders', 'orders', 'warning', {}) }] },
    ]));
  });

  test('annotations expand: a database name with braces stays text; labels and runbook as set', () => {
    const cronjob = built.cronJobs.braces;
    const rule = built.rules.braces.spec.groups[0].rules.find((r: any) => r.alert === 'BackupSuspended');
    // What Prometheus should print: the template string constant, as the plain text it stands for.
    const expand = (text: string) => text.replace('{{ "x{{ .Foo }}y" }}', 'x{{ .Foo }}y');
    expect(rule.annotations.description).toContain('{{ "x{{ .Foo }}y" }}');
    const fire = firesAt(0, 24 * HOUR, false);
    expectPass(testRules('annotations', 'braces', [
      { series: series('kube_cronjob_spec_suspend', { ...KSM, namespace: NS, cronjob }), values: samples(fire, [1, 0]) },
    ], [{
      eval_time: at(fire),
      alertname: 'BackupSuspended',
      exp_alerts: [{
        exp_labels: { ...labels('braces', 'braces', 'warning', {}), team: 'db' },
        exp_annotations: { summary: expand(rule.annotations.summary), description: expand(rule.annotations.description) },
      }],
    }], true));
    expect(expand(rule.annotations.description)).toContain('database x{{ .Foo }}y');
  });

  describe('with metrics (Pushgateway, honor_labels: true)', () => {
    const pushed = (name: string, extra: Record<string, string> = {}) =>
      series(name, { job: 'cdk8s-db-backup', instance: '', namespace: NS, series: 'orders', engine: 'postgres', ...extra });

    test('BackupMetricsStale at the same threshold as BackupStale', () => {
      const threshold = staleAfter(24 * HOUR, HOUR);
      const last = 30 * MIN;
      const fire = firesAt(last + threshold, PENDING);
      const end = fire + 5 * MIN;
      expectPass(testRules('metrics-stale', 'orders', [
        { series: pushed('backup_last_success_timestamp_seconds'), values: samples(end, [last, 0]) },
        // The verify CronJob's own metric of the same series, long ago: not ours.
        { series: pushed('backup_verify_last_success_timestamp_seconds'), values: samples(end, [0, 0]) },
        { series: series('backup_last_success_timestamp_seconds', { job: 'cdk8s-db-backup', instance: '', namespace: 'other', series: 'orders', engine: 'postgres' }), values: samples(end, [0, 0]) },
      ], [
        { eval_time: at(fire - MIN), alertname: 'BackupMetricsStale', exp_alerts: [] },
        { eval_time: at(fire), alertname: 'BackupMetricsStale', exp_alerts: [{ exp_labels: labels('orders', 'orders', 'critical', {}) }] },
      ]));
    });

    test('BackupMetricsLastRunFailed when the last pushed status is 0', () => {
      const failedAt = 2 * HOUR;
      const fire = firesAt(failedAt, PENDING, false);
      expectPass(testRules('metrics-failed', 'orders', [
        { series: pushed('backup_last_status'), values: samples(fire, [1, 0], [0, failedAt]) },
        { series: pushed('backup_verify_last_status'), values: samples(fire, [0, 0]) },
      ], [
        { eval_time: at(failedAt - MIN), alertname: 'BackupMetricsLastRunFailed', exp_alerts: [] },
        { eval_time: at(fire - MIN), alertname: 'BackupMetricsLastRunFailed', exp_alerts: [] },
        { eval_time: at(fire), alertname: 'BackupMetricsLastRunFailed', exp_alerts: [{ exp_labels: labels('orders', 'orders', 'warning', {}) }] },
      ]));
    });

    test('verify: its own metrics, critical', () => {
      const failedAt = 10 * MIN;
      const fire = firesAt(failedAt, PENDING, false);
      expectPass(testRules('metrics-verify-failed', 'ordersVerify', [
        { series: pushed('backup_verify_last_status'), values: samples(fire, [1, 0], [0, failedAt]) },
        { series: pushed('backup_last_status'), values: samples(fire, [1, 0]) },
      ], [
        { eval_time: at(fire), alertname: 'BackupMetricsLastRunFailed', exp_alerts: [{ exp_labels: labels('ordersVerify', 'orders', 'critical', {}) }] },
      ]));
    });
  });
});
