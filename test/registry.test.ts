/**
 * The engine registry (lib/registry.ts) against everything that must agree with it: the image build
 * (image/Dockerfile's one engine stage, fed by image/build.sh from the registry's bundle), the
 * package's exported constructs, the runner's engine map and the test servers. An engine added to
 * the registry without its files, or files added without a registry entry, fail here.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENGINE_MODULES } from '../image/src/engines';
import * as lib from '../lib';
import { ENV } from '../lib/contract';
import { ENGINE_NAMES, ENGINE_REGISTRY, EngineDescriptor, EngineName } from '../lib/registry';
import {
  BUILD_SCRIPT, BuildPlan, DOCKERFILE, ROOT, RUN_IN_CONTAINER, buildArgs, buildPlan, dockerfileStages,
  placeholderDownloadSha256s, podmanFlag,
} from './image/container';
import { STAND_IN_ONLY, TEST_SERVERS } from './servers/catalog';

const REGISTRY_JS = path.join(ROOT, 'image', 'build', 'registry.js');
const descriptors: readonly EngineDescriptor[] = ENGINE_NAMES.map(name => ENGINE_REGISTRY[name]);

/** `postgres` → `Postgres`: how the constructs of an engine are named. */
function titleCase(engine: string): string {
  return engine.charAt(0).toUpperCase() + engine.slice(1);
}

/** The lines of a script or Dockerfile that are not comments. */
function codeLines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(l => !/^\s*#/.test(l));
}

describe('the registry is consistent in itself', () => {
  test.each([...ENGINE_NAMES])('engine %s: its name is its key, its secrets are its variables, restore and verify need a restore tool, verify its assertions', name => {
    const d: EngineDescriptor = ENGINE_REGISTRY[name];
    expect(d.name).toBe(name);
    const env = Object.values(d.env);
    for (const secret of d.secretEnv) expect(env).toContain(secret);
    expect(d.tools.dump.length).toBeGreaterThan(0);
    expect({ restore: d.capabilities.restore, restoreTool: d.tools.restore?.[0] !== undefined }).toEqual({
      restore: d.capabilities.restore,
      restoreTool: d.capabilities.restore,
    });
    if (d.capabilities.verify) expect(d.capabilities.restore).toBe(true);
    // A verification checks at least one kind of assertion; an engine without one checks none.
    const verify = d.capabilities.verify;
    expect({ verify, assertions: d.assertions.length > 0 }).toEqual({ verify, assertions: verify });
  });

  test('no variable name belongs to two engines, nor to an engine and the general contract (ENV)', () => {
    const owners = new Map<string, string[]>();
    for (const d of descriptors) {
      for (const v of Object.values(d.env)) owners.set(v, [...(owners.get(v) ?? []), d.name]);
    }
    for (const v of Object.values(ENV)) owners.set(v, [...(owners.get(v) ?? []), 'ENV']);
    const shared = [...owners].filter(([, who]) => who.length > 1);
    expect(shared).toEqual([]);
    // Several engines list the same concepts (HOST, PASSWORD, …), so the check above has something to find.
    expect(owners.size).toBeGreaterThan(Object.values(ENV).length + ENGINE_NAMES.length);
  });
});

describe('the image build takes every engine from the registry', () => {
  let plans: BuildPlan[];

  beforeAll(() => {
    plans = buildPlan(ENGINE_NAMES, placeholderDownloadSha256s());
  });

  test('image/build/registry.js, which build.sh reads, is what the bundle:runner task makes of lib/registry.ts now', () => {
    const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8'));
    const steps: Array<{ exec?: string }> = tasks.tasks['bundle:runner'].steps;
    const bundle = steps.map(s => s.exec ?? '').find(e => e.includes('lib/registry.ts'));
    expect(bundle).toContain('--outfile=image/build/registry.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'registry-bundle-'));
    try {
      const fresh = path.join(dir, 'registry.js');
      execFileSync('sh', ['-c', bundle!.replace('--outfile=image/build/registry.js', `--outfile=${fresh}`)], {
        cwd: ROOT,
        env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const current = fs.existsSync(REGISTRY_JS) ? fs.readFileSync(REGISTRY_JS, 'utf8') : '(missing)';
      if (current !== fs.readFileSync(fresh, 'utf8')) {
        throw new Error('image/build/registry.js is missing or older than lib/registry.ts: run `npx projen bundle:runner`');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([...ENGINE_NAMES])('engine %s: built from the Dockerfile\'s one engine stage with its packages, download and smoke test', name => {
    const d: EngineDescriptor = ENGINE_REGISTRY[name];
    const plan = plans.find(p => p.engine === name)!;
    const dl = d.image.download;
    expect(buildArgs(plan)).toEqual({
      ENGINE: name,
      ENGINE_PACKAGES: d.image.packages.join(' '),
      ...(dl ? {
        DOWNLOAD_URL: dl.url,
        DOWNLOAD_SHA256: placeholderDownloadSha256s()[dl.sha256Arg],
        DOWNLOAD_SHA256_ARG: dl.sha256Arg,
        DOWNLOAD_ARCHITECTURES: dl.architectures.join(' '),
      } : {}),
    });
    expect(plan.smoke).toEqual([d.tools.dump[0], '--version']);
    expect(plan.default).toBe(!dl);

    // The target exists, is built on the shared base and declares every argument build.sh passes.
    const stage = dockerfileStages(fs.readFileSync(DOCKERFILE, 'utf8')).find(s => s.name === podmanFlag(plan, '--target'));
    expect(stage?.from).toBe('base');
    const declared = stage!.instructions.filter(i => /^ARG\s/i.test(i)).map(i => i.replace(/^ARG\s+/i, '').split('=')[0]);
    expect(declared).toEqual(expect.arrayContaining(Object.keys(buildArgs(plan))));
  });

  test('every engine has the same target: one parameterized stage, not a stage per engine', () => {
    expect(new Set(plans.map(p => podmanFlag(p, '--target'))).size).toBe(1);
    const names = dockerfileStages(fs.readFileSync(DOCKERFILE, 'utf8')).map(s => s.name);
    for (const engine of ENGINE_NAMES) expect(names).not.toContain(engine);
  });

  test('with no engine named, build.sh builds every engine without a vendor download', () => {
    expect(buildPlan([]).map(p => p.engine)).toEqual(descriptors.filter(d => !d.image.download).map(d => d.name));
  });

  const downloads = descriptors.filter(d => d.image.download).map(d => [d.name, d.image.download!.sha256Arg, d.image.download!.url]);
  test.each(downloads)('engine %s: build.sh refuses its vendor download without a sha256, naming the variable to set', (name, sha256Arg, url) => {
    let stderr = '';
    expect(() => {
      try {
        buildPlan([name], { [sha256Arg]: 'not-a-sha256' });
      } catch (e) {
        stderr = String((e as { stderr?: string }).stderr);
        throw e;
      }
    }).toThrow();
    expect(stderr).toContain(`${name}: set ${sha256Arg} to the sha256 of ${path.basename(url)}`);
  });

  test('build.sh refuses an engine the registry does not know, listing the ones it does', () => {
    let stderr = '';
    try {
      buildPlan(['sqlite']);
    } catch (e) {
      stderr = String((e as { stderr?: string }).stderr);
    }
    expect(stderr).toContain(`unknown engine 'sqlite' (engines: ${ENGINE_NAMES.join(' ')};`);
  });

  test('no engine is written into the Dockerfile, build.sh or run-in-container.sh: a new engine edits none of them', () => {
    const words = descriptors.flatMap(d => [
      d.name, ...d.image.packages, ...d.tools.dump, ...(d.tools.restore ?? []), ...Object.values(d.env),
      ...(d.image.download ? [d.image.download!.url, d.image.download!.sha256Arg] : []),
    ]);
    const found: string[] = [];
    for (const file of [DOCKERFILE, BUILD_SCRIPT, RUN_IN_CONTAINER]) {
      for (const line of codeLines(file)) {
        for (const word of words) {
          const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          if (new RegExp(`(^|[^\\w-])${escaped}($|[^\\w-])`).test(line)) found.push(`${path.relative(ROOT, file)}: ${word}: ${line.trim()}`);
        }
      }
    }
    expect(found).toEqual([]);
  });
});

describe('the package exports each engine\'s constructs, as its capabilities say', () => {
  const exported = Object.keys(lib);
  const SUFFIXES = { backup: 'BackupCronJob', restore: 'RestoreJob', verify: 'VerifyCronJob' } as const;

  test.each([...ENGINE_NAMES])('engine %s', name => {
    const d: EngineDescriptor = ENGINE_REGISTRY[name];
    for (const [capability, suffix] of Object.entries(SUFFIXES) as Array<[keyof typeof SUFFIXES, string]>) {
      const construct = `${titleCase(name)}${suffix}`;
      expect({ construct, exported: exported.includes(construct) }).toEqual({ construct, exported: d.capabilities[capability] });
      if (d.capabilities[capability]) expect(typeof (lib as Record<string, unknown>)[construct]).toBe('function');
    }
  });

  test('no exported construct is named for an engine the registry does not know', () => {
    const known = new Set(ENGINE_NAMES.map(titleCase));
    const pattern = new RegExp(`^([A-Z][a-z0-9]*)(${Object.values(SUFFIXES).join('|')})$`);
    const engineNamed = exported.map(e => pattern.exec(e)).filter((m): m is RegExpExecArray => m !== null);
    expect(engineNamed.length).toBeGreaterThanOrEqual(ENGINE_NAMES.length);
    expect(engineNamed.map(m => m[0]).filter(e => !known.has(pattern.exec(e)![1]))).toEqual([]);
  });
});

describe('the runner has a module for every engine, built on the registry\'s descriptor', () => {
  test('image/src/engines: ENGINE_MODULES has exactly the registry\'s engines', () => {
    expect(Object.keys(ENGINE_MODULES).sort()).toEqual([...ENGINE_NAMES].sort());
  });

  test.each([...ENGINE_NAMES])('engine %s: its module\'s descriptor is the registry entry itself', name => {
    expect(ENGINE_MODULES[name as EngineName].descriptor).toBe(ENGINE_REGISTRY[name]);
  });
});

describe('every engine has a test server global-setup starts, or is declared stand-in-only', () => {
  test.each([...ENGINE_NAMES])('engine %s: exactly one of the two', name => {
    const servers = TEST_SERVERS.filter(s => s.engine === name).map(s => s.label);
    const standIn = STAND_IN_ONLY[name];
    expect({ servers: servers.length, standIn: standIn !== undefined }).toEqual(
      standIn !== undefined ? { servers: 0, standIn: true } : { servers: 1, standIn: false },
    );
  });

  test('the test servers and the stand-in list name only registry engines', () => {
    const named = [...TEST_SERVERS.flatMap(s => (s.engine ? [s.engine] : [])), ...Object.keys(STAND_IN_ONLY)];
    expect(named.filter(n => !(ENGINE_NAMES as string[]).includes(n))).toEqual([]);
  });

  const standInOnly = ENGINE_NAMES.filter(name => STAND_IN_ONLY[name] !== undefined);
  test.each(standInOnly)('engine %s: test/runner/stand-ins.ts stands in for each tool the runner runs for it', name => {
    const d: EngineDescriptor = ENGINE_REGISTRY[name];
    const standIns = fs.readFileSync(path.join(ROOT, 'test', 'runner', 'stand-ins.ts'), 'utf8');
    const tools = [d.tools.dump[0], ...(d.capabilities.restore && d.tools.restore ? [d.tools.restore[0]] : [])];
    expect(tools.filter(tool => !standIns.includes(`// STAND-IN for ${tool},`))).toEqual([]);
  });
});
