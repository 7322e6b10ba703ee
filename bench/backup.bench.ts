/**
 * Benchmark: the runner against the ways people back up PostgreSQL today, on a database of
 * realistic, poorly compressible rows (pgbench's tables compress ~40:1 and hide every
 * compression cost). Not a test: it reports numbers; bench/RESULTS.md records them.
 *
 *   npx projen bundle:runner && npx ts-node --project bench/tsconfig.json bench/backup.bench.ts [--gb 1.1] [--small-gb 0.1]
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startS3, S3Server } from '../test/servers/ceph';
import { startPostgres, PostgresServer } from '../test/servers/postgres';

const RUNNER = path.join(__dirname, '..', 'image', 'build', 'runner.js');

interface Timed { seconds: number; peakRssMiB?: number; bytes?: number; lastLog?: unknown }

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Runs a command, returns wall time and the peak RSS of that process (not its children). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdoutTo?: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const out = stdoutTo ? fs.openSync(stdoutTo, 'w') : 'pipe';
    const child = spawn(cmd, args, { env, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout?.on('data', d => { stdout = (stdout + d).slice(-8000); });
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
      if (typeof out === 'number') fs.closeSync(out);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds, peakRssMiB: peak || undefined, lastLog: lastJsonLine(stdout) });
    });
  });
}

function lastJsonLine(text: string): unknown {
  const line = text.trim().split('\n').pop();
  try {
    return line ? JSON.parse(line) : undefined;
  } catch {
    return undefined;
  }
}

/** ~`gb` GB of rows: ids, timestamps, UUIDs, amounts and hex payloads (compress ~2:1, like real data). */
async function makeDatabase(pg: PostgresServer, name: string, gb: number): Promise<void> {
  await pg.createDatabase(name);
  await pg.psql(`CREATE TABLE events (
    id bigint PRIMARY KEY, created_at timestamptz NOT NULL, account uuid NOT NULL,
    amount numeric(12,2) NOT NULL, kind text NOT NULL, payload text NOT NULL)`, name);
  const rowBytes = 250;
  const rows = Math.round((gb * 1e9) / rowBytes);
  const batch = 500_000;
  for (let start = 0; start < rows; start += batch) {
    await pg.psql(`INSERT INTO events SELECT g, timestamptz '2026-01-01' + random() * interval '300 days', gen_random_uuid(),
      round((random() * 100000)::numeric, 2), (ARRAY['order','refund','payout','fee'])[1 + (g % 4)],
      md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(g::text)
      FROM generate_series(${start + 1}, ${Math.min(rows, start + batch)}) g`, name);
  }
  await pg.psql('VACUUM ANALYZE events', name);
}

async function dbSize(pg: PostgresServer, name: string): Promise<number> {
  return Number(await pg.psql(`SELECT pg_database_size('${name}')`));
}

function pgEnv(pg: PostgresServer, db: string): NodeJS.ProcessEnv {
  return { ...process.env, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.user, PGPASSWORD: pg.password, PGDATABASE: db };
}

async function main(): Promise<void> {
  const gb = arg('gb', 1.1);
  const smallGb = arg('small-gb', 0.1);
  if (!fs.existsSync(RUNNER)) throw new Error(`${RUNNER} is missing: run 'npx projen bundle:runner' first`);
  const [pg, s3] = await Promise.all([startPostgres(), startS3()]) as [PostgresServer, S3Server];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  try {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: 'bench' }));

    const t0 = Date.now();
    await makeDatabase(pg, 'big', gb);
    await makeDatabase(pg, 'small', smallGb);
    console.error(`data generated in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const sizes = { big: await dbSize(pg, 'big'), small: await dbSize(pg, 'small') };

    const pgDump = path.join('/usr/lib/postgresql', String(pg.version), 'bin', 'pg_dump');
    const env = pgEnv(pg, 'big');
    const runnerEnv = (db: string, name: string): NodeJS.ProcessEnv => ({
      ...pgEnv(pg, db),
      BACKUP_ENGINE: 'postgres',
      BACKUP_DESTINATION: 's3://bench/runs',
      BACKUP_NAME: name,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: s3.region,
      BACKUP_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });

    const results: Record<string, Timed> = {};
    results.runner = await run('node', [RUNNER, 'backup'], runnerEnv('big', 'big'));
    // The same run into a tmpfs directory: separates the runner's own cost from radosgw's, which
    // shares these CPUs.
    const shm = fs.mkdtempSync('/dev/shm/bench-');
    try {
      results.runnerToFile = await run('node', [RUNNER, 'backup'], { ...runnerEnv('big', 'big'), BACKUP_DESTINATION: `file://${shm}` });
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
    results.pgDumpZstd = await run('bash', ['-c', `${pgDump} -Fc -Z0 | zstd -T0 -1 -q > /dev/null`], env);
    results.pgDumpFc = await run(pgDump, ['-Fc'], env, '/dev/null');
    results.pgDumpFcZ0 = await run(pgDump, ['-Fc', '-Z0'], env, '/dev/null');
    const file = path.join(scratch, 'big.dump');
    const dumpToFile = await run(pgDump, ['-Fc', '-f', file], env);
    const uploadStart = process.hrtime.bigint();
    await new Upload({ client, params: { Bucket: 'bench', Key: 'file-then-upload/big.dump', Body: fs.createReadStream(file) } }).done();
    const uploadSeconds = Number(process.hrtime.bigint() - uploadStart) / 1e9;
    results.fileThenUpload = { seconds: dumpToFile.seconds + uploadSeconds, bytes: fs.statSync(file).size };
    fs.rmSync(file);
    results.runnerSmall = await run('node', [RUNNER, 'backup'], runnerEnv('small', 'small'));

    const report = {
      date: new Date().toISOString(),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
      databaseBytes: sizes,
      results,
      ratios: {
        runnerVsPgDumpFc: results.runner.seconds / results.pgDumpFc.seconds,
        runnerVsPgDumpFcZ0: results.runner.seconds / results.pgDumpFcZ0.seconds,
        runnerVsFileThenUpload: results.runner.seconds / results.fileThenUpload.seconds,
        runnerToFileVsPgDumpFcZ0: results.runnerToFile.seconds / results.pgDumpFcZ0.seconds,
      },
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
    await Promise.all([pg.stop(), s3.stop()]);
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
