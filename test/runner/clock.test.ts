/**
 * The pod's clock decides nothing that deletes or chooses (DESIGN.md, invariant 7): the bundled
 * runner run under `faketime` (libfaketime: the process's clock moves, the storage's and the
 * file system's do not) against radosgw and a file:// volume, with real PostgreSQL backups.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket } from './s3-helpers';
import { formatDuration } from '../../image/src/clock';
import { loadRunConfig } from '../../image/src/config';
import { backupIdOf, backupKey, timestamp } from '../../image/src/key';
import { Logger } from '../../image/src/log';
import { runPrune } from '../../image/src/prune';
import { FileStorage } from '../../image/src/storage/file';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { RuleError } from '../../lib/rules';
import { followJsonLog } from '../helpers/json-log';
import { describeIntegration, requirePostgres, uniqueName } from '../servers/env';

jest.setTimeout(300_000);

const PG = ENGINE_REGISTRY.postgres.env;
const FAKETIME = '/usr/bin/faketime';
const SKEW_LINE = /^configuration error: the pod's clock is (\d+(\.\d+)?) (days?|hours?) (ahead of|behind) the storage's \(\d{4}-\d\d-\d\dT[^)]*Z\) at .*raise BACKUP_MAX_CLOCK_SKEW_SECONDS \(now 600\)/;

/** Runs the bundled runner with its clock moved by `offset` (faketime's syntax: '+1y', '-3d', '+120s'). */
async function runAt(offset: string, env: NodeJS.ProcessEnv, args: readonly string[]) {
  const runner = await buildRunner();
  const child = spawn(FAKETIME, ['-f', offset, process.execPath, runner, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = followJsonLog(child, `runner under faketime ${offset}`);
  const status = await log.exited;
  return { ...status, lines: log.lines, last: log.lines[log.lines.length - 1], output: log.stdout() + log.stderr() };
}

/** A backend's view for the test: the runner's variables and everything stored (objects and unfinished writes). */
interface Backend {
  readonly name: string;
  env(): NodeJS.ProcessEnv;
  state(): Promise<string[]>;
  /** Starts a write of a backup of `series` that has not finished (a temporary file, an open multipart upload). */
  startUnfinished(series: string): Promise<string>;
}

async function s3Backend(): Promise<Backend & { bucket: TestBucket }> {
  const b = await createTestBucket('clock');
  return {
    name: 's3',
    bucket: b,
    env: () => b.runnerEnv('pp'),
    state: async () => [...Object.entries(await b.objects()).map(([k, v]) => `${k} ${v}`), ...await b.openUploads()].sort(),
    async startUnfinished(series) {
      const key = `pp/${series}/${timestamp(new Date())}-0badf00d.pgdump.zst`;
      await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: key }));
      return key;
    },
  };
}

function fileBackend(): Backend & { dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clock-file-'));
  const walk = (rel: string): string[] => fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap(e => {
    const key = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return walk(key);
    const st = fs.statSync(path.join(dir, key));
    return [`${key} ${st.size} ${st.mtimeMs}`];
  });
  return {
    name: 'file',
    dir,
    env: () => ({ [ENV.DESTINATION]: `file://${dir}` }),
    state: async () => walk('').sort(),
    async startUnfinished(series) {
      const name = `${timestamp(new Date())}-0badf00d.pgdump.zst`;
      fs.mkdirSync(path.join(dir, series), { recursive: true });
      const file = path.join(dir, series, `.${name}.partial-0badf00d`);
      fs.writeFileSync(file, 'a running backup writes here');
      return `${series}/${path.basename(file)}`;
    },
  };
}

describe('the clock tolerance and the just-completed rule (no servers)', () => {
  const listEnv = (skew?: string) => ({
    [ENV.DESTINATION]: 'file:///backup', [ENV.NAME]: 'orders', ...(skew === undefined ? {} : { [ENV.MAX_CLOCK_SKEW_SECONDS]: skew }),
  });

  test.each([[undefined, 600_000], ['', 600_000], ['30', 30_000], ['86400', 86_400_000]])(
    '%p seconds of tolerance is %p ms, for every command', (skew, ms) => {
      expect(loadRunConfig(['list'], listEnv(skew)).destination.maxClockSkewMs).toBe(ms);
    });

  test.each(['-1', '1.5', '10m', ' 60'])('%p is refused naming the variable', skew => {
    expect(() => loadRunConfig(['list'], listEnv(skew))).toThrow(RuleError);
    expect(() => loadRunConfig(['list'], listEnv(skew))).toThrow(/^BACKUP_MAX_CLOCK_SKEW_SECONDS: .* must be a whole number of 0 or more/);
  });

  test('0 is refused, as the constructs refuse maxClockSkew: Duration.seconds(0)', () => {
    expect(() => loadRunConfig(['list'], listEnv('0'))).toThrow(/^BACKUP_MAX_CLOCK_SKEW_SECONDS: 0s allows no difference at all between two clocks; give at least 1 second/);
  });

  test('durations read as a person would say them', () => {
    expect(formatDuration(365 * 86_400_000)).toBe('365 days');
    expect(formatDuration(3 * 86_400_000)).toBe('3 days');
    expect(formatDuration(90_000)).toBe('1.5 minutes');
    expect(formatDuration(1000)).toBe('1 second');
  });

  test('prune never removes the backup its run just completed, even when the storage\'s time makes it the oldest', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clock-keep-'));
    try {
      const storage = new FileStorage(dir);
      const write = (key: string, mtime: Date) => {
        fs.mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
        fs.writeFileSync(path.join(dir, key), '{}');
        fs.utimesSync(path.join(dir, key), mtime, mtime);
      };
      const keys = [2, 1, 0].map(hours => {
        const key = backupKey('orders/', 'pgdump.zst', new Date(Date.now() - hours * 3600_000));
        write(key, new Date(Date.now() - hours * 3600_000));
        write(`${key}.manifest.json`, new Date(Date.now() - hours * 3600_000));
        return key;
      });
      const lines: string[] = [];
      const result = await runPrune({
        storage,
        prefix: 'orders/',
        policy: { keepLast: 1 },
        incompleteMinAgeMs: 0,
        signal: new AbortController().signal,
        log: new Logger({}, l => lines.push(l)),
        justCompleted: keys[0],
      });
      expect(result).toMatchObject({ kept: 2, removed: 1 });
      expect(fs.existsSync(path.join(dir, keys[0]))).toBe(true);
      expect(fs.existsSync(path.join(dir, keys[2]))).toBe(true);
      expect(fs.existsSync(path.join(dir, keys[1]))).toBe(false);
      const kept = lines.map(l => JSON.parse(l)).filter(l => l.msg === 'keep');
      expect(kept.find(l => l.key === keys[0]).reasons).toEqual(['just completed']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeIntegration('runner: the pod\'s clock against the storage\'s (faketime)', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let source: string;
  const backends: Record<string, Backend> = {};

  beforeAll(async () => {
    expect(fs.existsSync(FAKETIME)).toBe(true);
    pg = requirePostgres();
    source = uniqueName('clk').replace(/-/g, '_');
    await pg.createDatabase(source);
    await pg.psql('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 200) g;', source);
    backends.s3 = await s3Backend();
    backends.file = fileBackend();
    await buildRunner();
  });
  afterAll(() => (backends.s3 as Awaited<ReturnType<typeof s3Backend>> | undefined)?.bucket.s3.destroy());

  const pgEnv = (database: string) => ({
    [PG.HOST]: pg.host, [PG.PORT]: String(pg.port), [PG.USER]: pg.user, [PG.PASSWORD]: pg.password, [PG.DATABASE]: database,
  });
  const env = (backend: Backend, series: string, extra: NodeJS.ProcessEnv = {}) => baseEnv({
    [ENV.ENGINE]: 'postgres', ...backend.env(), [ENV.NAME]: series, ...pgEnv(source), ...extra,
  });
  const newTarget = async () => {
    const name = uniqueName('clkt').replace(/-/g, '_');
    // Owned by the runner's role, as a restore job's target would be.
    await pg.psql(`CREATE DATABASE ${name} OWNER ${pg.user};`);
    return name;
  };

  describe.each(['s3', 'file'])('on %s', name => {
    const backend = () => backends[name];

    test('beyond the tolerance (±1 year, ±3 days) backup, prune, list and restore latest refuse with exit 2 and change nothing', async () => {
      const b = backend();
      const made = await runRunner(env(b, 'skew'));
      expect(made.code).toBe(0);
      // A running backup's unfinished write: prune by a clock 3 days ahead would have removed it.
      await b.startUnfinished('skew');
      const target = await newTarget();
      const before = await b.state();
      const commands: Array<[string, string[], NodeJS.ProcessEnv]> = [
        ['backup', ['backup'], { [ENV.KEEP_LAST]: '1' }],
        ['prune', ['prune'], { [ENV.KEEP_LAST]: '1' }],
        ['list', ['list'], {}],
        ['restore', ['restore', 'latest'], pgEnv(target)],
      ];
      for (const offset of ['+1y', '-1y', '+3d', '-3d']) {
        for (const [what, args, extra] of commands) {
          const run = await runAt(offset, env(b, 'skew', extra), args);
          const context = `${what} at ${offset}: ${run.last?.msg}`;
          expect([context, run.code]).toEqual([context, 2]);
          expect(run.last.msg).toMatch(SKEW_LINE);
          expect(run.last.msg).toContain(offset.startsWith('+') ? 'ahead of' : 'behind');
          expect(run.last.msg).toMatch(offset.endsWith('y') ? /is 36[56] days/ : /is 3 days/);
          expect(run.lines.some(l => ['dump starting', 'remove', 'remove incomplete', 'backup', 'restore starting'].includes(l.msg))).toBe(false);
        }
        expect(await b.state()).toEqual(before);
      }
      expect((await pg.psql('SELECT count(*) FROM pg_tables WHERE schemaname = \'public\';', target)).trim()).toBe('0');
    });

    test('within the tolerance (2 minutes ahead, 2 minutes behind) every command works', async () => {
      const b = backend();
      const ahead = await runAt('+120s', env(b, 'near', { [ENV.KEEP_LAST]: '1' }), ['backup']);
      expect(ahead.code).toBe(0);
      // The storage records times to the second (S3 listings): a second backup finished within the
      // same second would tie with the first, and ties go by id. Make "written last" observable.
      await new Promise(r => setTimeout(r, 1_100));
      const behind = await runAt('-120s', env(b, 'near', { [ENV.KEEP_LAST]: '1' }), ['backup']);
      expect(behind.code).toBe(0);
      const list = await runAt('+120s', env(b, 'near'), ['list']);
      expect(list.code).toBe(0);
      // The newest by the storage's time is the one written last, although its id is 4 minutes older.
      expect(list.last).toMatchObject({ msg: 'list complete', backups: 1, newest: backupIdOf(behind.lines.find(l => l.msg === 'backup complete')!.key as string) });
      const target = await newTarget();
      const restore = await runAt('-120s', env(b, 'near', pgEnv(target)), ['restore', 'latest']);
      expect([restore.code, restore.last.msg]).toEqual([0, 'restore complete']);
      expect(restore.last).toMatchObject({ msg: 'restore complete', id: list.last.newest });
      const prune = await runAt('+120s', env(b, 'near', { [ENV.KEEP_LAST]: '1' }), ['prune']);
      expect(prune.code).toBe(0);
    });

    test('with the tolerance raised: a backup made a year behind is never pruned by its own run; a year-ahead one never counts as newest', async () => {
      const b = backend();
      const raised = { [ENV.MAX_CLOCK_SKEW_SECONDS]: '999999999' };
      const real = await runRunner(env(b, 'drift'));
      expect(real.code).toBe(0);
      const realId = backupIdOf(real.lines.find(l => l.msg === 'backup complete')!.key as string);
      await new Promise(r => setTimeout(r, 1100));

      // A year behind, KEEP_LAST=1: the backup just made keeps itself; the older real one goes.
      const behind = await runAt('-1y', env(b, 'drift', { ...raised, [ENV.KEEP_LAST]: '1' }), ['backup']);
      expect(behind.code).toBe(0);
      const behindKey = behind.lines.find(l => l.msg === 'backup complete')!.key as string;
      const behindId = backupIdOf(behindKey);
      expect(behindId < realId).toBe(true);
      expect(behind.lines.filter(l => l.msg === 'keep').map(l => l.id)).toEqual([behindId]);
      expect(behind.lines.filter(l => l.msg === 'remove').map(l => l.id)).toEqual([realId]);
      expect((await b.state()).some(s => s.includes(behindKey))).toBe(true);

      // list marks it skewed (a field and a warn line) and still lists it as the newest.
      const listed = await runRunner(env(b, 'drift'), ['list']);
      expect(listed.code).toBe(0);
      expect(listed.lines.find(l => l.msg === 'backup')).toMatchObject({ id: behindId, skewed: true });
      expect(listed.lines.some(l => l.level === 'warn' && l.msg.startsWith(`backup ${behindId} was named by a clock 36`) && l.msg.includes('behind'))).toBe(true);
      await new Promise(r => setTimeout(r, 1100));

      // A year ahead: its id sorts after everything, but the storage saw it written before the next one.
      const ahead = await runAt('+1y', env(b, 'drift', raised), ['backup']);
      expect(ahead.code).toBe(0);
      const aheadId = backupIdOf(ahead.lines.find(l => l.msg === 'backup complete')!.key as string);
      await new Promise(r => setTimeout(r, 1100));
      const later = await runRunner(env(b, 'drift'));
      expect(later.code).toBe(0);
      const laterId = backupIdOf(later.lines.find(l => l.msg === 'backup complete')!.key as string);
      expect(aheadId > laterId).toBe(true);

      const list2 = await runRunner(env(b, 'drift'), ['list']);
      expect(list2.lines.filter(l => l.msg === 'backup').map(l => l.id)).toEqual([laterId, aheadId, behindId]);
      expect(list2.lines.find(l => l.id === aheadId && l.msg === 'backup')).toMatchObject({ skewed: true });
      expect(list2.last).toMatchObject({ msg: 'list complete', newest: laterId, skewed: 2 });

      const target = await newTarget();
      const restore = await runRunner(env(b, 'drift', pgEnv(target)), ['restore', 'latest']);
      expect([restore.code, restore.last.msg]).toEqual([0, 'restore complete']);
      expect(restore.last).toMatchObject({ msg: 'restore complete', id: laterId });

      // Retention keeps the one the storage saw last, not the future-dated one.
      const prune = await runRunner(env(b, 'drift', { [ENV.KEEP_LAST]: '1' }), ['prune']);
      expect(prune.code).toBe(0);
      expect(prune.lines.filter(l => l.msg === 'keep').map(l => l.id)).toEqual([laterId]);
      expect(prune.lines.filter(l => l.msg === 'remove').map(l => l.id).sort()).toEqual([aheadId, behindId].sort());
    });

    test('with the tolerance raised, prune 3 days ahead measures a running write\'s age on the storage\'s clock and keeps it', async () => {
      const b = backend();
      const unfinished = await b.startUnfinished('running');
      const run = await runAt('+3d', env(b, 'running', { [ENV.MAX_CLOCK_SKEW_SECONDS]: '999999999', [ENV.KEEP_LAST]: '1' }), ['prune']);
      expect(run.code).toBe(0);
      const kept = run.lines.find(l => l.msg === 'keep incomplete');
      expect(kept).toMatchObject({ kind: 'unfinished-write' });
      expect(kept!.ageSeconds as number).toBeLessThan(600);
      expect(run.last).toMatchObject({ msg: 'prune complete', leftoversRemoved: 0, leftoversKept: 1 });
      expect((await b.state()).some(s => s.includes(path.basename(unfinished)))).toBe(true);
    });
  });
});
