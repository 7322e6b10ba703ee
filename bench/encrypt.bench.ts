/**
 * Benchmark: what age encryption (BACKUP_AGE_RECIPIENTS) adds to a backup. Starts its own throwaway
 * PostgreSQL 15 (and with --s3 a Ceph radosgw) on 127.0.0.1, generates ~`--gb` GB of poorly
 * compressible rows, then runs each variant `--runs` times, interleaved, and reports the median
 * wall time and the runner's peak RSS. Not a test: bench/RESULTS.md records the numbers.
 *
 *   npx projen bundle:runner && npx ts-node --project bench/tsconfig.json bench/encrypt.bench.ts [--gb 0.5] [--runs 3] [--s3]
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startS3, S3Server } from '../test/servers/ceph';
import { startPostgres, PostgresServer } from '../test/servers/postgres';

const RUNNER = path.join(__dirname, '..', 'image', 'build', 'runner.js');

interface Timed { seconds: number; peakRssMiB: number }

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Wall time and peak RSS (VmHWM) of the process itself, not its children. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', d => { stderr = (stderr + d).slice(-4000); });
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch { /* exited between polls */ }
    }, 50);
    child.on('error', reject);
    child.on('close', code => {
      clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds, peakRssMiB: Math.round(peak) });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function makeDatabase(pg: PostgresServer, name: string, gb: number): Promise<void> {
  await pg.createDatabase(name);
  await pg.psql(`CREATE TABLE events (
    id bigint PRIMARY KEY, created_at timestamptz NOT NULL, account uuid NOT NULL,
    amount numeric(12,2) NOT NULL, kind text NOT NULL, payload text NOT NULL)`, name);
  const rows = Math.round((gb * 1e9) / 250);
  for (let start = 0; start < rows; start += 500_000) {
    await pg.psql(`INSERT INTO events SELECT g, timestamptz '2026-01-01' + random() * interval '300 days', gen_random_uuid(),
      round((random() * 100000)::numeric, 2), (ARRAY['order','refund','payout','fee'])[1 + (g % 4)],
      md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(g::text)
      FROM generate_series(${start + 1}, ${Math.min(rows, start + 500_000)}) g`, name);
  }
  await pg.psql('VACUUM ANALYZE events', name);
}

async function main(): Promise<void> {
  const gb = arg('gb', 0.5);
  const runs = arg('runs', 3);
  const withS3 = process.argv.includes('--s3');
  if (!fs.existsSync(RUNNER)) throw new Error(`${RUNNER} is missing: run 'npx projen bundle:runner' first`);
  const pg = await startPostgres() as PostgresServer;
  const s3 = withS3 ? await startS3() as S3Server : undefined;
  const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-age-'));
  const shm = fs.mkdtempSync('/dev/shm/bench-age-');
  try {
    execFileSync('age-keygen', ['-o', path.join(keys, 'a.txt')], { stdio: 'ignore' });
    execFileSync('age-keygen', ['-o', path.join(keys, 'b.txt')], { stdio: 'ignore' });
    const recipients = ['a', 'b'].map(k => execFileSync('age-keygen', ['-y', path.join(keys, `${k}.txt`)], { encoding: 'utf8' }).trim());
    if (s3) {
      const client = new S3Client({
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
      await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
      client.destroy();
    }
    const t0 = Date.now();
    await makeDatabase(pg, 'big', gb);
    console.error(`data generated in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const pgEnv = { ...process.env, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.user, PGPASSWORD: pg.password, PGDATABASE: 'big' };
    const pgDump = path.join('/usr/lib/postgresql', String(pg.version), 'bin', 'pg_dump');
    const runnerEnv = (destination: string, encrypted: boolean): NodeJS.ProcessEnv => ({
      ...pgEnv,
      BACKUP_ENGINE: 'postgres',
      BACKUP_DESTINATION: destination,
      BACKUP_NAME: 'big',
      ...(encrypted ? { BACKUP_AGE_RECIPIENTS: recipients.join('\n') } : {}),
      ...(s3 ? {
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: s3.region,
        BACKUP_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      } : {}),
    });
    const ageArgs = recipients.map(r => `-r ${r}`).join(' ');
    const variants: Record<string, () => Promise<Timed>> = {
      pipeZstd: () => run('bash', ['-c', `${pgDump} -Fc -Z0 | zstd -T0 -1 -q > /dev/null`], pgEnv),
      pipeZstdAge: () => run('bash', ['-c', `${pgDump} -Fc -Z0 | zstd -T0 -1 -q | age ${ageArgs} > /dev/null`], pgEnv),
      runnerTmpfs: () => run('node', [RUNNER, 'backup'], runnerEnv(`file://${shm}`, false)),
      runnerTmpfsAge: () => run('node', [RUNNER, 'backup'], runnerEnv(`file://${shm}`, true)),
      ...(s3 ? {
        runnerS3: () => run('node', [RUNNER, 'backup'], runnerEnv('s3://bench/runs', false)),
        runnerS3Age: () => run('node', [RUNNER, 'backup'], runnerEnv('s3://bench/runs', true)),
      } : {}),
    };
    const samples: Record<string, Timed[]> = {};
    for (let i = 0; i < runs; i++) {
      for (const [name, fn] of Object.entries(variants)) {
        (samples[name] ??= []).push(await fn());
        fs.rmSync(path.join(shm, 'big'), { recursive: true, force: true });
      }
    }
    const results = Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, {
      medianSeconds: Number(median(xs.map(x => x.seconds)).toFixed(2)),
      seconds: xs.map(x => Number(x.seconds.toFixed(2))),
      peakRssMiB: Math.max(...xs.map(x => x.peakRssMiB)),
    }]));
    const ratio = (a: string, b: string) => (results[a] && results[b]
      ? Number((results[a].medianSeconds / results[b].medianSeconds).toFixed(3)) : undefined);
    console.log(JSON.stringify({
      date: new Date().toISOString(),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
      age: execFileSync('age', ['--version'], { encoding: 'utf8' }).trim(),
      databaseBytes: Number(await pg.psql("SELECT pg_database_size('big')")),
      recipients: recipients.length,
      runs,
      results,
      ratios: {
        pipe: ratio('pipeZstdAge', 'pipeZstd'),
        runnerTmpfs: ratio('runnerTmpfsAge', 'runnerTmpfs'),
        runnerS3: ratio('runnerS3Age', 'runnerS3'),
      },
    }, null, 2));
  } finally {
    fs.rmSync(keys, { recursive: true, force: true });
    fs.rmSync(shm, { recursive: true, force: true });
    await Promise.all([pg.stop(), s3?.stop()]);
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
