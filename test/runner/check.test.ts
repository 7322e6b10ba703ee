/**
 * `check`: its argv and variables as loadRunConfig reads them (no servers), then the runner as a
 * real process on a file:// series made by `backup` with the STAND-IN pg_dump (see stand-ins.ts),
 * the same checks as check-s3.test.ts on the other storage backend.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { writeStandIns } from './stand-ins';
import { loadRunConfig } from '../../image/src/config';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { RuleError } from '../../lib/rules';

jest.setTimeout(60_000);

const PG = ENGINE_REGISTRY.postgres.env;
const BASE = { [ENV.DESTINATION]: 's3://backups/prod', [ENV.AWS_REGION]: 'us-east-1', [ENV.NAME]: 'orders' };

describe('check: configuration', () => {
  test('reads the maximum age, readData, an optional engine and the reporting variables', () => {
    const config: any = loadRunConfig(['check'], { ...BASE, [ENV.CHECK_MAX_AGE_SECONDS]: '111600', [ENV.CHECK_READ_DATA]: 'true', [ENV.ENGINE]: 'redis' });
    expect(config).toMatchObject({
      command: 'check',
      name: 'orders',
      engineName: 'redis',
      check: { maxAgeMs: 111_600_000, readData: true },
      incompleteMinAgeMs: 172_800_000,
      progressIntervalMs: 10_000,
      reporting: { timeoutMs: 30_000 },
    });
    // No engine needed, no age check unless set, readData off by default.
    const bare: any = loadRunConfig(['check'], BASE);
    expect(bare.engineName).toBeUndefined();
    expect(bare.check).toEqual({ maxAgeMs: undefined, readData: false });
  });

  test.each([
    [['check', 'latest'], {}, /unexpected argument 'latest'; usage: .*runner check$/],
    [['check', '--', '-x'], {}, /'check' takes no tool arguments/],
    [['check'], { [ENV.CHECK_MAX_AGE_SECONDS]: '0' }, /^BACKUP_CHECK_MAX_AGE_SECONDS: 0s must be between 1 and 315360000 seconds \(ten years\)/],
    [['check'], { [ENV.CHECK_MAX_AGE_SECONDS]: '1h' }, /^BACKUP_CHECK_MAX_AGE_SECONDS: '1h' must be a whole number/],
    [['check'], { [ENV.CHECK_MAX_AGE_SECONDS]: '-5' }, /^BACKUP_CHECK_MAX_AGE_SECONDS: '-5' must be a whole number/],
    [['check'], { [ENV.CHECK_MAX_AGE_SECONDS]: '999999999' }, /^BACKUP_CHECK_MAX_AGE_SECONDS: 999999999s must be between 1 and 315360000/],
    [['check'], { [ENV.CHECK_READ_DATA]: 'yes' }, /^BACKUP_CHECK_READ_DATA: 'yes' must be 'true' or 'false'/],
    [['check'], { [ENV.ENGINE]: 'oracle' }, /^BACKUP_ENGINE: 'oracle' is unknown; use one of postgres, mongo, mysql, redis/],
    [['check'], { [ENV.NOTIFY_TIMEOUT_SECONDS]: '0' }, /^BACKUP_NOTIFY_TIMEOUT_SECONDS/],
  ])('%j with %j is refused, naming the argument or variable', (argv, env, message) => {
    expect(() => loadRunConfig(argv, { ...BASE, ...env })).toThrow(RuleError);
    expect(() => loadRunConfig(argv, { ...BASE, ...env })).toThrow(message);
  });
});

describe('check on file:// with backups made by the runner', () => {
  let standIns: string;
  let dest: string;

  beforeAll(async () => {
    standIns = writeStandIns();
    await buildRunner();
  });
  beforeEach(() => {
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'check-dest-'));
  });
  afterEach(() => fs.rmSync(dest, { recursive: true, force: true }));

  const env = (extra: NodeJS.ProcessEnv = {}) => baseEnv({
    [ENV.ENGINE]: 'postgres',
    [ENV.DESTINATION]: `file://${dest}/prod`,
    [ENV.NAME]: 'orders',
    [PG.HOST]: 'db.example',
    [PG.DATABASE]: 'orders',
    [PG.USER]: 'backup',
    [ENV.CHECK_MAX_AGE_SECONDS]: '3600',
    ...extra,
  }, standIns);

  /** Every file under the destination with its size and mtime: what the check must leave as it is. */
  function snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else out[path.relative(dest, p)] = `${fs.statSync(p).size}:${fs.statSync(p).mtimeMs}`;
      }
    };
    walk(dest);
    return out;
  }

  async function check(extra: NodeJS.ProcessEnv = {}) {
    const before = snapshot();
    const run = await runRunner(env(extra), ['check']);
    expect(snapshot()).toEqual(before);
    return run;
  }

  async function backup(): Promise<string> {
    const run = await runRunner(env({ STANDIN_BYTES: String(2 * 1024 * 1024) }));
    expect(run.code).toBe(0);
    return path.join(dest, 'prod', run.last.key as string);
  }

  test('an empty series fails; after a backup it passes; flipped bytes fail only with readData; a removed object fails', async () => {
    const empty = await check();
    expect(empty.code).toBe(1);
    expect(empty.last.msg).toMatch(/^check failed: no sound complete backup/);

    const first = await backup();
    const second = await backup();
    const ok = await check({ [ENV.CHECK_READ_DATA]: 'true' });
    expect(ok.code).toBe(0);
    expect(ok.last).toMatchObject({ msg: 'check passed', backups: 2, bytesRead: fs.statSync(first).size + fs.statSync(second).size });

    const bytes = fs.readFileSync(second);
    bytes[1000] = 255 - bytes[1000];
    fs.writeFileSync(second, bytes);
    expect((await check()).code).toBe(0);
    const full = await check({ [ENV.CHECK_READ_DATA]: 'true' });
    expect(full.code).toBe(1);
    expect(full.last.msg).toContain('has sha256');
    expect(full.last).toMatchObject({ backups: 1, damaged: 1, problems: ['sha256-mismatch'] });

    fs.rmSync(first);
    const missing = await check();
    expect(missing.code).toBe(1);
    expect(missing.last.problems).toEqual(['missing-object']);
    expect(missing.last.msg).toContain(`its object ${path.relative(path.join(dest, 'prod'), first)} is missing`);
  });

  test('without BACKUP_CHECK_MAX_AGE_SECONDS there is no age check, and the final line says so', async () => {
    await backup();
    const run = await check({ [ENV.CHECK_MAX_AGE_SECONDS]: '' });
    expect(run.code).toBe(0);
    expect(run.last).toMatchObject({ msg: 'check passed (no age check: BACKUP_CHECK_MAX_AGE_SECONDS is not set)', maxAgeSeconds: null });
  });

  test('a configuration error exits 2 before anything is read', async () => {
    const run = await runRunner(env({ [ENV.CHECK_MAX_AGE_SECONDS]: 'soon' }), ['check']);
    expect(run.code).toBe(2);
    expect(run.last.msg).toMatch(/^configuration error: BACKUP_CHECK_MAX_AGE_SECONDS: 'soon'/);
  });
});
