import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BackupSchedule, BackupSeries, PostgresVerifyCronJob, VerifyAssertion } from '../../lib';
import { assertionsFromText } from '../../lib/verify-assertions';
import { supervisorScript } from '../../lib/verify-cron-job';
import { cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';

function synth(assertions: VerifyAssertion[]): any {
  const chart = newChart();
  new PostgresVerifyCronJob(chart, 'orders-verify', {
    schedule: BackupSchedule.daily({ hour: 6 }),
    series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
    postgresMajor: 15,
    assertions,
  });
  return cronJobs(chart)[0];
}

describe('VerifyAssertion', () => {
  test('the assertions reach the runner as one JSON array it reads back the same', () => {
    const cj = synth([
      VerifyAssertion.sql("SELECT count(*) > 0 FROM orders WHERE note = 'it''s'"),
      VerifyAssertion.minRows('public.orders', 10),
      VerifyAssertion.tablesExist(['orders', 'Order Lines']),
    ]);
    const json = envOf(cj, 'verify').BACKUP_VERIFY_ASSERTIONS;
    expect(JSON.parse(json)).toEqual([
      { type: 'sql', query: "SELECT count(*) > 0 FROM orders WHERE note = 'it''s'" },
      { type: 'minRows', table: 'public.orders', min: 10 },
      { type: 'tablesExist', tables: ['orders', 'Order Lines'] },
    ]);
    expect(assertionsFromText('BACKUP_VERIFY_ASSERTIONS', json, 'postgres')).toEqual(JSON.parse(json));
  });

  test('no assertions: no variable', () => {
    expect(envOf(synth([]), 'verify')).not.toHaveProperty('BACKUP_VERIFY_ASSERTIONS');
  });

  test.each([
    ['minRows below 1', () => VerifyAssertion.minRows('orders', 0), /^VerifyAssertion\.minRows: min must be a whole number of at least 1/],
    ['minRows not whole', () => VerifyAssertion.minRows('orders', 1.5), /^VerifyAssertion\.minRows: min must be a whole number/],
    ['empty table', () => VerifyAssertion.minRows(' ', 1), /^VerifyAssertion\.minRows: the table must be a non-empty string/],
    ['no tables', () => VerifyAssertion.tablesExist([]), /^VerifyAssertion\.tablesExist: give at least one table/],
    ['a table twice', () => VerifyAssertion.tablesExist(['a', 'a']), /^VerifyAssertion\.tablesExist: 'a' is named twice/],
    ['empty sql', () => VerifyAssertion.sql(''), /^VerifyAssertion\.sql: the query must be a non-empty string/],
    ['minKeys 0', () => VerifyAssertion.minKeys(0), /^VerifyAssertion\.minKeys: min must be/],
    ['a key that is not a string', () => VerifyAssertion.keysExist([42 as any]), /^VerifyAssertion\.keysExist\[0\]: key must be a non-empty string/],
    ['minDocuments of no collection', () => VerifyAssertion.minDocuments('', 3), /^VerifyAssertion\.minDocuments: the collection must be/],
  ])('%s fails where it is made', (_name, make, message) => {
    expect(make).toThrow(message);
  });

  test.each([
    [() => VerifyAssertion.minKeys(5), /assertions\[1\]: 'minKeys' is not an assertion PostgreSQL can check; use 'sql', 'minRows', 'tablesExist'/],
    [() => VerifyAssertion.minDocuments('orders', 5), /assertions\[1\]: 'minDocuments' is not an assertion PostgreSQL can check/],
  ])('an assertion the engine cannot check fails the synth, naming it', (make, message) => {
    expect(() => synth([VerifyAssertion.minRows('orders', 1), make()])).toThrow(message);
  });

  test('something that is not a VerifyAssertion is refused', () => {
    expect(() => synth([{ type: 'sql', query: 'SELECT true' } as any])).toThrow(/assertions\[0\]: expected a VerifyAssertion/);
  });

  test.each([
    ['not JSON', '[{', /^BACKUP_VERIFY_ASSERTIONS: is not valid JSON/],
    ['not an array', '{"type":"sql","query":"x"}', /^BACKUP_VERIFY_ASSERTIONS: must be a JSON array/],
    ['an unknown field', '[{"type":"minRows","table":"t","min":1,"max":3}]', /^BACKUP_VERIFY_ASSERTIONS\[0\]: minRows has no 'max'/],
    ['an unknown type', '[{"type":"maxRows","table":"t","min":1}]', /^BACKUP_VERIFY_ASSERTIONS\[0\]: 'maxRows' is not an assertion PostgreSQL can check/],
  ])('the runner refuses %s', (_name, text, message) => {
    expect(() => assertionsFromText('BACKUP_VERIFY_ASSERTIONS', text, 'postgres')).toThrow(message);
  });
});

describe('the throwaway server supervisor', () => {
  // The script as it runs in the pod, with a stand-in server (sleep) and files in a temp dir.
  function runScript(startAfterFile: boolean, steps: (dir: string) => void): { code: number; ms: number; started: boolean } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisor-'));
    const script = supervisorScript({
      name: 'stand-in',
      image: 'x:1',
      uid: 999,
      // The stand-in server marks that it started, then runs until it is stopped.
      start: `touch '${path.join(dir, 'started')}'; sleep 30`,
      stopSignal: 'TERM',
      mounts: {},
      startAfterFile: startAfterFile ? path.join(dir, 'input') : undefined,
    });
    steps(dir);
    const started = Date.now();
    let code = 0;
    try {
      execFileSync('bash', ['-c', script], { env: { PATH: process.env.PATH, BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done') }, timeout: 40_000 });
    } catch (err: any) {
      code = err.status ?? -1;
    }
    const serverStarted = fs.existsSync(path.join(dir, 'started'));
    fs.rmSync(dir, { recursive: true, force: true });
    return { code, ms: Date.now() - started, started: serverStarted };
  }

  test('exits 0 at once when the runner is already done', () => {
    const r = runScript(false, dir => fs.writeFileSync(path.join(dir, 'done'), ''));
    expect(r.code).toBe(0);
    expect(r.started).toBe(true);
    // Well before the stand-in server's own 30 s: it was stopped, not waited for.
    expect(r.ms).toBeLessThan(15_000);
  }, 45_000);

  test('a server that needs its input never starts when the runner finishes without writing it', () => {
    const r = runScript(true, dir => fs.writeFileSync(path.join(dir, 'done'), ''));
    expect(r.code).toBe(0);
    expect(r.started).toBe(false);
    expect(r.ms).toBeLessThan(15_000);
  }, 45_000);

  test('a server that dies before the runner is done fails the container', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisor-'));
    const script = supervisorScript({ name: 'stand-in', image: 'x:1', uid: 999, start: 'sleep 1', stopSignal: 'TERM', mounts: {} });
    let status = 0;
    let stderr = '';
    try {
      execFileSync('bash', ['-c', script], { env: { PATH: process.env.PATH, BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done') }, timeout: 20_000, stdio: 'pipe' });
    } catch (err: any) {
      status = err.status;
      stderr = String(err.stderr);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    expect(status).toBe(1);
    expect(stderr).toContain('stand-in exited before the verification finished');
  }, 45_000);
});
