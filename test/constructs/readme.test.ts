import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing, Yaml } from 'cdk8s';
import { BackupsChart } from '../../examples/backups-chart';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';

// A user copies the README's quick start: it must compile, synthesize and validate as printed.
test('the README quick start synthesizes valid, hardened CronJobs', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const block = /## Quick start\s+```ts\n([\s\S]*?)```/.exec(readme);
  expect(block).not.toBeNull();
  const source = block![1].replace("from 'cdk8s-db-backup'", "from '../../../lib'");
  const dir = path.join(__dirname, '.quickstart');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'quickstart.ts');
  fs.writeFileSync(file, source);
  const previous = process.env.CDK8S_OUTDIR;
  process.env.CDK8S_OUTDIR = outdir;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    jest.isolateModules(() => require(file));
    const objects = Yaml.load(path.join(outdir, 'backups.k8s.yaml'));
    expect(objects.map((o: any) => o.metadata.name)).toEqual([
      expect.stringMatching(/^backups-orders-/), expect.stringMatching(/^backups-orders-verify-/), expect.stringMatching(/^backups-catalog-/),
      expect.stringMatching(/^backups-shop-/), expect.stringMatching(/^backups-sessions-/),
    ]);
    for (const o of objects) {
      validateSchema(o);
      expect(restrictedViolations(podSpecOf(o))).toEqual([]);
    }
  } finally {
    if (previous === undefined) delete process.env.CDK8S_OUTDIR; else process.env.CDK8S_OUTDIR = previous;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});

// The README's table of the example's stale thresholds is what the example synthesizes.
test("the README's Monitoring table matches the example app's alert rules", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = /<!-- monitoring-example:start -->([\s\S]*?)<!-- monitoring-example:end -->/.exec(readme);
  expect(section).not.toBeNull();
  const rows = [...section![1].matchAll(/^\| (\S+) \((\S+)\) \| `([^`]+)`(?: in (\S+))? \| (\S+) \|$/gm)]
    .map(([, instance, component, schedule, timeZone, after]) => ({ instance, component, schedule, timeZone, seconds: durationSeconds(after) }));

  const objects = Testing.synth(new BackupsChart(Testing.app(), 'backups', { namespace: 'backups' }));
  const actual = objects.filter(o => o.kind === 'CronJob').map(cronJob => {
    const labels = cronJob.metadata.labels;
    const rule = objects.find(o => o.kind === 'PrometheusRule' && o.metadata.name === cronJob.metadata.name);
    const stale = rule.spec.groups[0].rules.find((r: any) => r.alert === 'BackupStale');
    return {
      instance: labels['app.kubernetes.io/instance'],
      component: labels['app.kubernetes.io/component'],
      schedule: cronJob.spec.schedule,
      timeZone: cronJob.spec.timeZone,
      seconds: Number(/>\s*(\d+)\s*$/.exec(stale.expr)![1]),
    };
  });
  expect(rows).toEqual(actual);
});

/** '7h15m', '32h', '2d3h' in seconds. */
function durationSeconds(text: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') throw new Error(`not a duration: ${text}`);
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
}
