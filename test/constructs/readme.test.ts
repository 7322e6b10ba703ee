import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
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
