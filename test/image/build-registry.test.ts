/**
 * `image/build.sh --registry REG` tags the images the way `BackupDefaults.of(app).useRegistry(REG)`
 * names them, and refuses what the library refuses, with the same words. Needs
 * image/build/registry.js (the bundle:runner task), neither root nor podman.
 */
import { execFileSync } from 'node:child_process';
import { Chart, Duration, Testing } from 'cdk8s';
import { BUILD_SCRIPT, BuildPlan, placeholderDownloadSha256s } from './container';
import { BackupCheckCronJob, BackupDefaults, BackupSchedule, BackupSeries } from '../../lib';
import { ENGINE_NAMES } from '../../lib/registry';
import { podSpecOf } from '../helpers/k8s';
import { s3Storage } from '../helpers/synth';

/** `build.sh --print-plan …args` for every engine; throws with build.sh's stderr when it refuses. */
function plan(...args: string[]): Array<BuildPlan & { registryTag?: string }> {
  const out = execFileSync('bash', [BUILD_SCRIPT, '--print-plan', ...args, ...ENGINE_NAMES], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...placeholderDownloadSha256s() },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  return out.trim().split('\n').map(line => JSON.parse(line));
}

/** build.sh's one-line refusal of `--registry value`. */
function refusal(value: string): string {
  try {
    plan('--registry', value);
  } catch (e) {
    return String((e as { stderr?: string }).stderr).trim();
  }
  throw new Error(`build.sh accepted --registry '${value}'`);
}

/** The companion image each engine's pods pull below `BackupDefaults.of(app).useRegistry(registry)`. */
function libraryImages(registry: string): Record<string, string> {
  const app = Testing.app();
  const chart = new Chart(app, 'test');
  BackupDefaults.of(app).useRegistry(registry);
  for (const engine of ENGINE_NAMES) {
    new BackupCheckCronJob(chart, `${engine}-check`, {
      schedule: BackupSchedule.daily({ hour: 7 }),
      series: BackupSeries.fromName(s3Storage(new Chart(app, engine)), engine, engine),
      maxAge: Duration.hours(26),
    });
  }
  const cronJobs = Testing.synth(chart).filter(o => o.kind === 'CronJob');
  return Object.fromEntries(cronJobs.map(c => [c.metadata.labels['app.kubernetes.io/component'].replace(/-check$/, ''), podSpecOf(c).containers[0].image]));
}

describe('image/build.sh --registry', () => {
  test.each(['registry.example.com/mirror', 'mirror.internal:5000', 'localhost/a/b'])('%s: each engine is tagged as the library pulls it', registry => {
    const images = libraryImages(registry);
    const plans = plan('--registry', registry);
    expect(plans.map(p => p.engine)).toEqual([...ENGINE_NAMES]);
    expect(Object.fromEntries(plans.map(p => [p.engine, p.registryTag]))).toEqual(images);
    // The local tag the tests run stays as it was.
    for (const p of plans) expect(p.tag).toMatch(/^localhost\/cdk8s-db-backup:.+-[a-z]+$/);
  });

  test('--registry=REG is the same; without --registry the plan has no registryTag', () => {
    expect(plan('--registry=registry.example.com/mirror')).toEqual(plan('--registry', 'registry.example.com/mirror'));
    for (const p of plan()) expect(p).not.toHaveProperty('registryTag');
  });

  test.each([
    '', 'https://registry.example.com/mirror', 'registry.example.com/mirror/', 'registry.example.com/mirror:1.0',
    'registry.example.com:latest', 'registry.example.com/mirror@sha256:abc', 'Registry.example.com/Mirror', 'mirror/images',
    'mirror', 'registry.example.com//mirror', 'registry.example.com/-mirror', 'registry-.example.com', 'registry.example.com/my mirror',
  ])('refuses %j as the library does, in the same words', value => {
    let library = '';
    try {
      BackupDefaults.of(Testing.app()).useRegistry(value);
    } catch (e) {
      library = (e as Error).message;
    }
    const prefix = 'BackupDefaults.of(app).useRegistry(registry): ';
    expect(library.startsWith(prefix)).toBe(true);
    expect(refusal(value)).toBe(`build.sh: error: --registry: ${library.slice(prefix.length)}`);
  });

  test('--registry without a value', () => {
    let stderr = '';
    try {
      execFileSync('bash', [BUILD_SCRIPT, '--print-plan', '--registry'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      stderr = String((e as { stderr?: string }).stderr);
    }
    expect(stderr).toContain('--registry needs a value, e.g. --registry registry.example.com/mirror');
  });
});
