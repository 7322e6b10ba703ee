import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing, Yaml } from 'cdk8s';
import { BackupsChart } from '../../examples/backups-chart';
import { RestoreChart } from '../../examples/restore-chart';
import { validatePrometheusRule } from '../alerts/prometheus-rule';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';

describe('the example app', () => {
  test('synthesizes this YAML', () => {
    const chart = new BackupsChart(Testing.app(), 'backups', { namespace: 'backups' });
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test("'cdk8s synth' writes valid, hardened CronJobs for every engine, each with its alert rules and a verification", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'example-synth-'));
    try {
      execFileSync(path.resolve('node_modules/.bin/cdk8s'), ['synth', '--output', out], {
        cwd: path.resolve('examples'), stdio: 'pipe', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' },
      });
      const files = fs.readdirSync(out);
      expect(files).toEqual(['backups.k8s.yaml']);
      const objects = Yaml.load(path.join(out, files[0]));
      const components = [
        'postgres-backup', 'postgres-verify', 'postgres-check', 'mongo-backup', 'mysql-backup', 'redis-backup', 'mongo-verify', 'mysql-verify', 'redis-verify',
      ];
      expect(objects.map((o: any) => `${o.kind}/${o.metadata.labels['app.kubernetes.io/component']}`))
        .toEqual(components.flatMap(c => [`CronJob/${c}`, `PrometheusRule/${c}`]));
      for (const o of objects) {
        expect(o.metadata.namespace).toBe('backups');
        if (o.kind === 'PrometheusRule') {
          validatePrometheusRule(o);
          continue;
        }
        validateSchema(o);
        expect(restrictedViolations(podSpecOf(o))).toEqual([]);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("the example's restore app", () => {
  test('synthesizes this YAML', () => {
    const chart = new RestoreChart(Testing.app(), 'restore', { namespace: 'backups' });
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test("'cdk8s synth' of restore.ts writes one valid, hardened Job, for the backup id it is given", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'example-restore-'));
    try {
      execFileSync(path.resolve('node_modules/.bin/cdk8s'), ['synth', '--app', 'npx ts-node --project tsconfig.json restore.ts', '--output', out], {
        cwd: path.resolve('examples'), stdio: 'pipe', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', BACKUP_ID: '20261125T010203Z-1a2b3c4d' },
      });
      expect(fs.readdirSync(out)).toEqual(['restore.k8s.yaml']);
      const objects = Yaml.load(path.join(out, 'restore.k8s.yaml'));
      expect(objects.map((o: any) => `${o.kind}/${o.metadata.name}`)).toEqual(['Job/orders-restore']);
      expect(objects[0].spec.template.spec.containers[0].args).toEqual(['restore', '20261125T010203Z-1a2b3c4d']);
      validateSchema(objects[0]);
      expect(restrictedViolations(podSpecOf(objects[0]))).toEqual([]);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('the manifest checks themselves', () => {
  const good = () => new BackupsChart(Testing.app(), 'backups', { namespace: 'backups' }).toJson()[0];

  test('schema validation rejects a wrong type', () => {
    const cj = good();
    cj.spec.jobTemplate.spec.backoffLimit = 'two';
    expect(() => validateSchema(cj)).toThrow(/backoffLimit/);
  });

  test('schema validation rejects a missing required field', () => {
    const cj = good();
    delete cj.spec.jobTemplate.spec.template.spec.containers[0].name;
    expect(() => validateSchema(cj)).toThrow(/name/);
  });

  test('the restricted check catches each violation', () => {
    const spec = podSpecOf(good());
    spec.hostNetwork = true;
    spec.volumes.push({ name: 'host', hostPath: { path: '/' } });
    spec.securityContext.seccompProfile = { type: 'Unconfined' };
    const c = spec.containers[0];
    c.securityContext.allowPrivilegeEscalation = true;
    c.securityContext.capabilities = { add: ['SYS_ADMIN'] };
    c.securityContext.runAsNonRoot = false;
    delete spec.securityContext.runAsNonRoot;
    c.securityContext.privileged = true;
    expect(restrictedViolations(spec)).toEqual([
      'host namespaces',
      'volume host has type hostPath',
      'pod seccomp Unconfined',
      'container backup privileged',
      'container backup allowPrivilegeEscalation != false',
      'container backup runAsNonRoot != true',
      'container backup seccompProfile Unconfined',
      'container backup does not drop ALL capabilities',
      'container backup adds capability SYS_ADMIN',
    ]);
  });
});
