import { Duration, Testing } from 'cdk8s';
import {
  BackupAlerts, BackupCheckCronJob, BackupMetrics, BackupSchedule, BackupSeries, PostgresBackupCronJob, PostgresVerifyCronJob,
  PrometheusAlertsOptions,
} from '../../lib';
import { alertNames, namespacedChart, prometheusRuleErrors, prometheusRules, ruleOf } from '../alerts/prometheus-rule';
import { newChart, postgresProps, s3Storage } from '../helpers/synth';

const HOUR = 3600;

/** A Postgres backup with alerts in the namespace 'databases'; its construct and rule. */
function backup(schedule: string, activeDeadline: Duration | undefined, alerts: PrometheusAlertsOptions = {}, extra: object = {}) {
  const chart = namespacedChart();
  const construct = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, {
    schedule: BackupSchedule.cron(schedule),
    activeDeadline,
    alerts: BackupAlerts.prometheus(alerts),
    ...extra,
  }));
  const [rule] = prometheusRules(chart);
  return { chart, construct, rule };
}

/** The number the expression compares against at its end (`... > 93600`). */
function threshold(rule: any): number {
  const m = /> (\d+)\s*$/.exec(rule.expr);
  if (!m) throw new Error(`no threshold in ${rule.expr}`);
  return Number(m[1]);
}

describe('BackupAlerts.prometheus()', () => {
  test('no PrometheusRule without alerts', () => {
    const chart = namespacedChart();
    const construct = new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    expect(construct.prometheusRule).toBeUndefined();
    expect(Testing.synth(chart).filter(o => o.kind === 'PrometheusRule')).toEqual([]);
  });

  test('a PrometheusRule in the chart namespace, named and labelled like the CronJob, exposed as .prometheusRule', () => {
    const { chart, construct, rule } = backup('0 2 * * *', Duration.hours(1), { ruleLabels: { release: 'prometheus' } });
    const cronJob = Testing.synth(chart).find(o => o.kind === 'CronJob');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.namespace).toBe('databases');
    expect(rule.metadata.name).toBe(cronJob.metadata.name);
    expect(rule.metadata.labels).toEqual({ ...cronJob.metadata.labels, release: 'prometheus' });
    expect(construct.prometheusRule).toBeDefined();
    expect(construct.prometheusRule!.toJson()).toEqual(rule);
    expect(alertNames(rule)).toEqual(['BackupStale', 'BackupFailed', 'BackupRunningTooLong', 'BackupSuspended']);
    // Every expression selects this CronJob (or its Jobs) in this namespace.
    for (const r of rule.spec.groups[0].rules) {
      expect(r.expr).toContain('namespace="databases"');
      expect(r.expr).toContain(`"${cronJob.metadata.name}"`);
      expect(r.labels).toMatchObject({ cronjob: cronJob.metadata.name, series: 'orders', engine: 'postgres' });
      expect(r.annotations.description).toContain(`CronJob databases/${cronJob.metadata.name}`);
      expect(r.annotations.description).toContain('database orders');
    }
  });

  test('a chart without a namespace is refused, naming alerts and the fix', () => {
    const chart = newChart();
    expect(() => new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { alerts: BackupAlerts.prometheus() })))
      .toThrow(/alerts: the Chart has no namespace.*Give the Chart a namespace/);
  });

  test.each<[string, string, Duration | undefined, number, string]>([
    // expression, what it is, activeDeadline, expected staleAfter in seconds (gap + deadline + grace), words
    ['0 2 * * *', 'daily', Duration.hours(1), 24 * HOUR + HOUR + HOUR, '26h'],
    ['0 2 * * *', 'daily, default activeDeadline 6h', undefined, 24 * HOUR + 6 * HOUR + HOUR, '31h'],
    ['0 * * * *', 'hourly', Duration.minutes(30), HOUR + 30 * 60 + 15 * 60, '1h45m'],
    ['0 3 * * 1-5', 'weekdays', undefined, 72 * HOUR + 6 * HOUR + HOUR, '79h'],
    ['7-59/15 * * * *', 'every 15 minutes (H/15 resolved)', Duration.minutes(10), 15 * 60 + 10 * 60 + 225, '28m45s'],
    ['0 0 1 * *', 'monthly', Duration.hours(2), 31 * 24 * HOUR + 2 * HOUR + HOUR, '31d3h'],
  ])('BackupStale for %s (%s): exact threshold', (schedule, _what, deadline, expected, words) => {
    const { construct, rule } = backup(schedule, deadline);
    const stale = ruleOf(rule, 'BackupStale');
    expect(threshold(stale)).toBe(expected);
    expect(construct.staleAfter!.toSeconds()).toBe(expected);
    expect(stale.annotations.summary).toContain(`for more than ${words}`);
    expect(stale.for).toBe('5m');
    expect(stale.labels.severity).toBe('critical');
    expect(stale.expr).toContain('kube_cronjob_status_last_successful_time');
    expect(stale.expr).toContain('kube_cronjob_created');
  });

  test('H/15 resolves per construct, and the threshold follows the resolved schedule', () => {
    const { rule } = backup('H/15 * * * *', Duration.minutes(10));
    expect(threshold(ruleOf(rule, 'BackupStale'))).toBe(15 * 60 + 10 * 60 + 225);
  });

  test('the CronJob time zone counts: daily 02:30 in Europe/Berlin skips the spring-forward day (47 h gap)', () => {
    const { rule } = backup('30 2 * * *', Duration.hours(1), {}, { timeZone: 'Europe/Berlin' });
    expect(threshold(ruleOf(rule, 'BackupStale'))).toBe(47 * HOUR + HOUR + HOUR);
    expect(ruleOf(rule, 'BackupStale').annotations.description).toContain("'30 2 * * *' in Europe/Berlin (47h)");
  });

  test('staleAfter, runningTooLongAfter, suspendedFor and severities override the defaults', () => {
    const { construct, rule } = backup('0 2 * * *', Duration.hours(1), {
      staleAfter: Duration.hours(30),
      runningTooLongAfter: Duration.minutes(50),
      suspendedFor: Duration.hours(2),
      severities: { stale: 'page', failed: 'critical', runningTooLong: 'info', suspended: 'info' },
    });
    expect(threshold(ruleOf(rule, 'BackupStale'))).toBe(30 * HOUR);
    // The construct's own staleAfter stays the computed one.
    expect(construct.staleAfter!.toSeconds()).toBe(26 * HOUR);
    expect(ruleOf(rule, 'BackupRunningTooLong').expr).toContain('> 3000');
    expect(ruleOf(rule, 'BackupSuspended').for).toBe('2h');
    expect(ruleOf(rule, 'BackupStale').labels.severity).toBe('page');
    expect(ruleOf(rule, 'BackupFailed').labels.severity).toBe('critical');
    expect(ruleOf(rule, 'BackupRunningTooLong').labels.severity).toBe('info');
    expect(ruleOf(rule, 'BackupSuspended').labels.severity).toBe('info');
  });

  test('defaults: running too long at 80 % of the activeDeadline, suspended for 24h, failed a warning', () => {
    const { rule } = backup('0 2 * * *', Duration.hours(1));
    expect(ruleOf(rule, 'BackupRunningTooLong').expr).toMatch(/\) > 2880\n/);
    expect(ruleOf(rule, 'BackupRunningTooLong').labels.severity).toBe('warning');
    expect(ruleOf(rule, 'BackupSuspended').for).toBe('24h');
    expect(ruleOf(rule, 'BackupSuspended').labels.severity).toBe('warning');
    expect(ruleOf(rule, 'BackupFailed').labels.severity).toBe('warning');
  });

  test('labels go on every alert, ruleLabels on the object, runbookUrl as runbook_url', () => {
    const { rule } = backup('0 2 * * *', undefined, {
      labels: { team: 'db', tier: 'gold' },
      ruleLabels: { 'release': 'prometheus', 'example.com/owner': 'dba' },
      runbookUrl: 'https://wiki.example.com/runbooks/backups#stale',
    });
    expect(rule.metadata.labels).toMatchObject({ 'release': 'prometheus', 'example.com/owner': 'dba' });
    for (const r of rule.spec.groups[0].rules) {
      expect(r.labels).toMatchObject({ team: 'db', tier: 'gold' });
      expect(r.annotations.runbook_url).toBe('https://wiki.example.com/runbooks/backups#stale');
    }
  });

  test('with metrics: rules over the pushed metrics, same threshold', () => {
    const { rule } = backup('0 2 * * *', Duration.hours(1), {}, { metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }) });
    expect(alertNames(rule)).toEqual(['BackupStale', 'BackupFailed', 'BackupRunningTooLong', 'BackupSuspended', 'BackupMetricsStale', 'BackupMetricsLastRunFailed']);
    const stale = ruleOf(rule, 'BackupMetricsStale');
    expect(threshold(stale)).toBe(26 * HOUR);
    expect(stale.expr).toContain('backup_last_success_timestamp_seconds{job="cdk8s-db-backup", namespace="databases", series="orders", engine="postgres"}');
    expect(ruleOf(rule, 'BackupMetricsLastRunFailed').expr).toContain('backup_last_status{');
  });

  test('a verify CronJob: BackupVerificationFailed instead of BackupFailed, verify metrics, critical', () => {
    const chart = namespacedChart();
    const verify = new PostgresVerifyCronJob(chart, 'orders-verify', {
      schedule: BackupSchedule.cron('0 6 * * *'),
      series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
      postgresMajor: 15,
      activeDeadline: Duration.hours(2),
      alerts: BackupAlerts.prometheus(),
      metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }),
    });
    const [rule] = prometheusRules(chart);
    expect(verify.prometheusRule!.toJson()).toEqual(rule);
    expect(alertNames(rule)).toEqual(['BackupStale', 'BackupVerificationFailed', 'BackupRunningTooLong', 'BackupSuspended', 'BackupMetricsStale', 'BackupMetricsLastRunFailed']);
    expect(ruleOf(rule, 'BackupVerificationFailed').labels.severity).toBe('critical');
    expect(ruleOf(rule, 'BackupMetricsLastRunFailed').labels.severity).toBe('critical');
    expect(ruleOf(rule, 'BackupMetricsStale').expr).toContain('backup_verify_last_success_timestamp_seconds{');
    expect(ruleOf(rule, 'BackupMetricsLastRunFailed').expr).toContain('backup_verify_last_status{');
    expect(threshold(ruleOf(rule, 'BackupStale'))).toBe(24 * HOUR + 2 * HOUR + HOUR);
    expect(ruleOf(rule, 'BackupStale').annotations.summary).toMatch(/^Backup verification of orders is late/);
    // The verify CronJob connects to a throwaway server: no source database to name.
    expect(ruleOf(rule, 'BackupStale').annotations.description).not.toContain('database ');
  });

  test('a check CronJob: BackupFailed is critical and says check; check metrics', () => {
    const chart = namespacedChart();
    new BackupCheckCronJob(chart, 'orders-check', {
      schedule: BackupSchedule.cron('0 8 * * *'),
      maxAge: Duration.hours(31),
      series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
      alerts: BackupAlerts.prometheus(),
      metrics: BackupMetrics.pushgateway({ url: 'http://pushgateway.monitoring:9091' }),
    });
    const [rule] = prometheusRules(chart);
    expect(alertNames(rule)).toEqual(['BackupStale', 'BackupFailed', 'BackupRunningTooLong', 'BackupSuspended', 'BackupMetricsStale', 'BackupMetricsLastRunFailed']);
    expect(ruleOf(rule, 'BackupFailed').labels.severity).toBe('critical');
    expect(ruleOf(rule, 'BackupFailed').annotations.summary).toBe('Backup check of orders failed');
    expect(ruleOf(rule, 'BackupMetricsLastRunFailed').labels.severity).toBe('critical');
    expect(ruleOf(rule, 'BackupMetricsStale').expr).toContain('backup_check_last_success_timestamp_seconds{');
    expect(ruleOf(rule, 'BackupMetricsLastRunFailed').expr).toContain('backup_check_last_status{');
  });

  test('a database name with template braces cannot inject into the annotations', () => {
    const { rule } = backup('0 2 * * *', undefined, {}, { database: 'x{{ .Foo }}y' });
    // A Go template string constant: Prometheus prints it as is (promtool.test.ts expands it).
    expect(ruleOf(rule, 'BackupStale').annotations.description).toContain('database {{ "x{{ .Foo }}y" }}');
  });

  describe('bad options fail at the call site, naming the option', () => {
    test.each<[string, () => unknown, RegExp]>([
      ['labels name', () => BackupAlerts.prometheus({ labels: { 'team-name': 'db' } }), /^alerts\.labels: 'team-name' is not a Prometheus label name/],
      ['labels __', () => BackupAlerts.prometheus({ labels: { __x: 'db' } }), /^alerts\.labels: '__x'/],
      ['labels severity', () => BackupAlerts.prometheus({ labels: { severity: 'page' } }), /^alerts\.labels: set 'severity' with the severities option/],
      ['labels reserved', () => BackupAlerts.prometheus({ labels: { namespace: 'x' } }), /^alerts\.labels: 'namespace' is set by the rules themselves/],
      ['labels empty value', () => BackupAlerts.prometheus({ labels: { team: '' } }), /^alerts\.labels: the value of 'team' must be a non-empty string/],
      ['labels not an object', () => BackupAlerts.prometheus({ labels: 'team=db' as any }), /^alerts\.labels: expected an object/],
      ['ruleLabels key', () => BackupAlerts.prometheus({ ruleLabels: { 'bad key': 'x' } }), /^alerts\.ruleLabels: 'bad key' is not a Kubernetes label key/],
      ['ruleLabels value', () => BackupAlerts.prometheus({ ruleLabels: { release: 'a b' } }), /^alerts\.ruleLabels: the value of 'release' is not a Kubernetes label value/],
      ['ruleLabels app.kubernetes.io', () => BackupAlerts.prometheus({ ruleLabels: { 'app.kubernetes.io/name': 'x' } }), /^alerts\.ruleLabels: 'app.kubernetes.io\/name' is set already/],
      ['runbookUrl scheme', () => BackupAlerts.prometheus({ runbookUrl: 'ftp://x.example/rb' }), /^alerts\.runbookUrl: 'ftp:\/\/x.example\/rb' is not an http\(s\) URL/],
      ['runbookUrl not a URL', () => BackupAlerts.prometheus({ runbookUrl: 'wiki/runbook' }), /^alerts\.runbookUrl: 'wiki\/runbook' is not an http\(s\) URL/],
      ['runbookUrl empty', () => BackupAlerts.prometheus({ runbookUrl: '' }), /^alerts\.runbookUrl: must be set/],
      ['staleAfter string', () => BackupAlerts.prometheus({ staleAfter: '26h' as any }), /^alerts\.staleAfter: expected a Duration/],
      ['staleAfter fraction', () => BackupAlerts.prometheus({ staleAfter: Duration.millis(1500) }), /^alerts\.staleAfter: must be a positive whole number of seconds/],
      ['staleAfter zero', () => BackupAlerts.prometheus({ staleAfter: Duration.seconds(0) }), /^alerts\.staleAfter: must be a positive/],
      ['runningTooLongAfter zero', () => BackupAlerts.prometheus({ runningTooLongAfter: Duration.seconds(0) }), /^alerts\.runningTooLongAfter: must be a positive/],
      ['suspendedFor zero', () => BackupAlerts.prometheus({ suspendedFor: Duration.seconds(0) }), /^alerts\.suspendedFor: must be a positive/],
      ['severities key', () => BackupAlerts.prometheus({ severities: { stal: 'page' } as any }), /^alerts\.severities: 'stal' is not an alert/],
      ['severities empty', () => BackupAlerts.prometheus({ severities: { stale: '' } }), /^alerts\.severities\.stale: must be a non-empty string/],
    ])('%s', (_name, make, message) => {
      expect(make).toThrow(message);
    });

    test('runningTooLongAfter not below the activeDeadline is refused at synth', () => {
      expect(() => backup('0 2 * * *', Duration.hours(1), { runningTooLongAfter: Duration.hours(1) }))
        .toThrow(/alerts\.runningTooLongAfter: 1h is not shorter than the activeDeadline \(1h\)/);
    });
  });

  describe('the schema check can fail', () => {
    function valid(): any {
      return backup('0 2 * * *', undefined).rule;
    }
    test('the synthesized rule is valid', () => {
      expect(prometheusRuleErrors(valid())).toEqual([]);
    });
    test('an alert name that is a number', () => {
      const obj = valid();
      obj.spec.groups[0].rules[0].alert = 42;
      expect(prometheusRuleErrors(obj).join('\n')).toMatch(/\/spec\/groups\/0\/rules\/0\/alert must be string/);
    });
    test('a rule without expr', () => {
      const obj = valid();
      delete obj.spec.groups[0].rules[1].expr;
      expect(prometheusRuleErrors(obj).join('\n')).toMatch(/must have required property 'expr'/);
    });
    test('an unknown field (the API server would drop it)', () => {
      const obj = valid();
      obj.spec.groups[0].rules[0].severity = 'critical';
      expect(prometheusRuleErrors(obj).join('\n')).toMatch(/must NOT have additional properties.*severity/);
    });
    test('a bad for duration and a bad metadata label', () => {
      const obj = valid();
      obj.spec.groups[0].rules[0].for = '5 minutes';
      obj.metadata.labels.release = 'not valid!';
      const errors = prometheusRuleErrors(obj).join('\n');
      expect(errors).toMatch(/\/for must match pattern/);
      expect(errors).toMatch(/metadata\.labels\['release'\]: bad value/);
    });
  });
});

describe('alerts need the failed Job they look at', () => {
  test('failedJobsRetained: 0 with alerts is refused, naming the prop', () => {
    const chart = namespacedChart();
    expect(() => new PostgresBackupCronJob(chart, 'orders', {
      ...postgresProps(chart), failedJobsRetained: 0, alerts: BackupAlerts.prometheus(),
    })).toThrow(/failedJobsRetained: 0 keeps no failed Job, so the BackupFailed alert/);
  });
});
