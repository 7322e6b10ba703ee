/**
 * The `compat` task (projenrc/compat.ts): jsii-diff against the previous release. A local baseline
 * stands in for the release (an assembly copied from this build, then changed), and a stand-in `npm`
 * on PATH plays the registry's answers, so this runs offline.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const ASSEMBLY = path.join(ROOT, '.jsii');
let tmp: string;

beforeAll(() => {
  if (!fs.existsSync(ASSEMBLY)) throw new Error('.jsii is missing: compile first (npx projen compile); the build does before the tests');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function compat(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'ts-node'), ['--project', 'projenrc/tsconfig.json', 'projenrc/compat.ts', ...args], {
    cwd: ROOT, encoding: 'utf8', env, input: '',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A baseline folder: this build's package.json and assembly, changed by `edit`, resolving deps from ours. */
function baseline(name: string, edit: (assembly: any) => void): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  const assembly = JSON.parse(fs.readFileSync(ASSEMBLY, 'utf8'));
  edit(assembly);
  fs.writeFileSync(path.join(dir, '.jsii'), JSON.stringify(assembly));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

test('the same API is compatible', () => {
  const r = compat(['--baseline', baseline('same', () => undefined)]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('a prop that became required is a breaking change, named with its key', () => {
  let changed = '';
  const dir = baseline('optional-before', assembly => {
    // In the release, a prop of a props struct was optional; this build requires it.
    const struct: any = Object.values(assembly.types).find((t: any) => t.datatype && t.properties?.some((p: any) => !p.optional));
    const prop = struct.properties.find((p: any) => !p.optional);
    prop.optional = true;
    changed = `${struct.fqn}: newly required property '${prop.name}'`;
  });
  const r = compat(['--baseline', dir]);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`err  - IFACE ${changed}`);
  expect(r.stderr).toMatch(/\[strengthened:[^\]]+\]/);
  expect(r.stderr).toContain('compat: breaking API changes against');
});

test('a removed class is a breaking change', () => {
  const dir = baseline('extra-class', assembly => {
    const [fqn, cls] = Object.entries<any>(assembly.types).find(([, t]) => t.kind === 'class')!;
    assembly.types[`${fqn}Removed`] = { ...cls, fqn: `${fqn}Removed`, name: `${cls.name}Removed` };
  });
  const r = compat(['--baseline', dir]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/Removed: has been removed/);
});

/** A stand-in `npm` first on PATH: prints `out` to stderr and exits with `code`. */
function fakeNpm(name: string, out: string, code: number): NodeJS.ProcessEnv {
  const bin = path.join(tmp, `npm-${name}`);
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\ncat >&2 <<'OUT'\n${out}\nOUT\nexit ${code}\n`, { mode: 0o755 });
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}

test('nothing published yet (npm says E404): one line, and it passes', () => {
  const r = compat([], fakeNpm('e404', 'npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/cdk8s-db-backup - Not found', 1));
  expect(r.stdout).toBe('no release of cdk8s-db-backup on npm yet: nothing to compare\n');
  expect(r.status).toBe(0);
});

test('any other npm failure fails the check (jsii-diff alone would pass it)', () => {
  const r = compat([], fakeNpm('offline', 'npm error code ECONNREFUSED\nnpm error errno ECONNREFUSED', 1));
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^compat: cannot ask npm for the latest release of cdk8s-db-backup \(npm error code ECONNREFUSED\)/);
});
