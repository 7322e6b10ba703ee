/**
 * The runner is one esbuild bundle that runs on the image's Node: Debian trixie's nodejs package, not
 * the Node 22 the library and its tooling need. Nothing at run time would notice a bundled package
 * that needs a newer Node until it failed in a cluster, so the build checks it: every package inside
 * image/build/runner.js must declare (package.json "engines") support for the Node the image ships,
 * and the bundle's syntax target must be that Node's major. A dependency upgrade that drops Node 20
 * (the AWS SDK announced one for its releases after January 2027) fails here, before any image is
 * built with it. test/image/image.test.ts checks the built image really runs TRIXIE_NODE.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import * as semver from 'semver';
import { TRIXIE_NODE } from './servers/image';


const ROOT = path.join(__dirname, '..');

function runnerTarget(): string {
  const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8'));
  const steps: Array<{ exec?: string }> = tasks.tasks['bundle:runner'].steps;
  const runner = steps.map(s => s.exec ?? '').find(e => e.includes('image/src/main.ts'));
  const target = /--target=(node\d+)\b/.exec(runner ?? '');
  if (!target) throw new Error(`bundle:runner has no --target=nodeNN for image/src/main.ts: ${runner}`);
  return target[1];
}

/** The package.json of every npm package whose files end up in the runner bundle. */
async function bundledPackages(): Promise<Map<string, { version: string; engines?: string }>> {
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, 'image', 'src', 'main.ts')],
    bundle: true,
    platform: 'node',
    write: false,
    metafile: true,
    logLevel: 'silent',
    outfile: path.join(ROOT, 'image', 'build', 'runner-bundle-test.js'),
  });
  const packages = new Map<string, { version: string; engines?: string }>();
  for (const input of Object.keys(result.metafile!.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input.split(path.sep).join('/'));
    if (!m || packages.has(m[1])) continue;
    const dir = input.slice(0, input.lastIndexOf(`node_modules/${m[1]}/`) + `node_modules/${m[1]}`.length);
    const pkg = JSON.parse(fs.readFileSync(path.resolve(ROOT, dir, 'package.json'), 'utf8'));
    packages.set(m[1], { version: pkg.version, engines: pkg.engines?.node });
  }
  return packages;
}

test('the runner bundle targets the image\'s Node major', () => {
  expect(runnerTarget()).toBe(`node${semver.major(TRIXIE_NODE)}`);
});

test('every package bundled into the runner supports the image\'s Node (package.json engines)', async () => {
  const packages = await bundledPackages();
  // The SDK is the bulk of the bundle: if it were missing, this test would be checking nothing.
  expect([...packages.keys()]).toEqual(expect.arrayContaining(['@aws-sdk/client-s3', '@smithy/core']));
  const unsupported = [...packages]
    .filter(([, p]) => p.engines !== undefined && !semver.satisfies(TRIXIE_NODE, p.engines))
    .map(([name, p]) => `${name}@${p.version} needs node ${p.engines}`);
  expect(unsupported).toEqual([]);
});

test('the check above refuses a package that needs a newer Node', () => {
  // The same predicate on a made-up upgrade: it must not pass everything.
  expect(semver.satisfies(TRIXIE_NODE, '>=22.0.0')).toBe(false);
  expect(semver.satisfies(TRIXIE_NODE, '>=20.0.0')).toBe(true);
});
