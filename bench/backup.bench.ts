/**
 * The project's own bench (issue #15): the runner against the tools users would otherwise pick,
 * backup and restore, on this machine. Starts its own throwaway PostgreSQL 15 and Ceph radosgw on
 * 127.0.0.1 (test/servers/), generates the data, then runs every variant once per round, round-robin
 * (the order rotates each round), for `--rounds` rounds, and reports min and median wall time with
 * each process group's CPU-seconds (bench/measure.ts says how they are counted). Then 30 daily
 * backups of a database changing 2 % a day (bytes stored: runner vs restic) and a tiny database's
 * cold start. Writes bench/results-<date>.json and prints bench/RESULTS.md's tables.
 * Not a test: it reports numbers.
 *
 *   bash bench/install-peers.sh     # rclone, awscli, restic from Debian (once)
 *   npx projen bench [--gb 1.1] [--rounds 3] [--only backup,restore,scale,daily,tiny] …  (see OPTIONS)
 *   npx ts-node --project bench/tsconfig.json bench/backup.bench.ts --markdown bench/results-<date>.json
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DAILY_PATTERNS, DailyPattern, changeOneDay, databaseBytes, makeDatabase, totalRows } from './data';
import { Report, RunRecord, renderMarkdown } from './markdown';
import { CommandError, Measured, ServerPids, measure } from './measure';
import { startS3, S3Server } from '../test/servers/ceph';
import { postgresRunnerEnv, quoteIdent, startPostgres, PostgresServer } from '../test/servers/postgres';

const RUNNER = path.join(__dirname, '..', 'image', 'build', 'runner.js');
const BUCKET = 'bench';

/** Flags, with the defaults of the full run. */
const OPTIONS = {
  /** GB of the single-table database (backups; single-table restore; a scaling point). */
  gb: 1.1,
  /** GB of the multi-table database, spread over `tables` tables. */
  multiGb: 1.1,
  tables: 50,
  rounds: 3,
  /** Runner backup sizes for the scaling rows (a size equal to --gb reuses that database). */
  scale: [0.1, 0.5, 1.1, 2],
  /** The daily-change database (small, to keep the 30 days short). */
  dailyGb: 0.2,
  days: 30,
  dailyPatterns: [...DAILY_PATTERNS] as string[],
  tinyRuns: 10,
  only: ['backup', 'restore', 'scale', 'daily', 'tiny'],
  out: '',
};
type Options = typeof OPTIONS;

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { ...OPTIONS, scale: [...OPTIONS.scale], dailyPatterns: [...OPTIONS.dailyPatterns], only: [...OPTIONS.only] };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    const key = m?.[1].replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Options | undefined;
    if (!key || !(key in o) || i + 1 >= argv.length) {
      throw new Error(`unknown or incomplete option '${argv[i]}'; options: ${Object.keys(OPTIONS).map(k => `--${k.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}`).join(' ')}`);
    }
    const value = argv[++i];
    const current = o[key];
    if (Array.isArray(current)) {
      const list = value.split(',').filter(Boolean);
      (o as Record<string, unknown>)[key] = typeof current[0] === 'number' ? list.map(Number) : list;
    } else {
      (o as Record<string, unknown>)[key] = typeof current === 'number' ? Number(value) : value;
    }
    const v = (o as Record<string, unknown>)[key];
    if ((typeof v === 'number' && !(v > 0)) || (Array.isArray(v) && v.some(x => typeof x === 'number' && !(x > 0)))) {
      throw new Error(`--${argv[i - 1].slice(2)} must be a positive number (got '${value}')`);
    }
  }
  const patterns: readonly string[] = DAILY_PATTERNS;
  const unknown = o.only.filter(s => !OPTIONS.only.includes(s)).concat(o.dailyPatterns.filter(p => !patterns.includes(p)));
  if (unknown.length) throw new Error(`unknown section or pattern ${unknown.join(', ')}: --only takes ${OPTIONS.only.join(',')}, --daily-patterns ${DAILY_PATTERNS.join(',')}`);
  return o;
}

/** One command as a variant runs it. */
interface Command { readonly argv: string[]; readonly env: NodeJS.ProcessEnv }

interface Variant {
  readonly id: string;
  /** Markdown for the table's first column. */
  readonly label: string;
  /** The runner may not support this variant yet (a setting another change adds): exit 2 skips it. */
  readonly optional?: boolean;
  /** Untimed: makes what the run needs (a target database, a restic repository) and names the command. */
  prepare(round: number): Promise<Command>;
  /** Untimed, after a successful run: checks the result and returns figures to record (bytes stored). */
  after?(round: number, m: Measured): Promise<Record<string, number>>;
}

/** Variants that must run back to back in this order (restic's second run needs its first). */
type Slot = readonly Variant[];

function sh(script: string): string[] {
  return ['bash', '-c', `set -euo pipefail; ${script}`];
}

/** The first version number a tool prints about itself. */
function version(argv: string[]): string {
  try {
    const text = execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /\d+\.\d+(\.\d+)?/.exec(text)?.[0] ?? text.trim().split('\n')[0];
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const mdAt = argv.indexOf('--markdown');
  if (mdAt >= 0) {
    process.stdout.write(renderMarkdown(JSON.parse(fs.readFileSync(argv[mdAt + 1], 'utf8')) as Report));
    return;
  }
  const o = parseOptions(argv);
  const on = (section: string) => o.only.includes(section);
  if (!fs.existsSync(RUNNER)) throw new Error(`${RUNNER} is missing: run 'npx projen bundle:runner' first`);
  // Debian's awscli (v2) is the one measured, even when another `aws` comes first on PATH.
  const tools = { rclone: '/usr/bin/rclone', aws: '/usr/bin/aws', restic: '/usr/bin/restic' };
  const missingTools = Object.values(tools).filter(t => !fs.existsSync(t));
  if (on('backup') && missingTools.length) throw new Error(`${missingTools.join(', ')} missing: run 'bash bench/install-peers.sh' (as root) first`);
  if (on('daily') && !fs.existsSync(tools.restic)) throw new Error(`${tools.restic} missing: run 'bash bench/install-peers.sh' (as root) first`);
  const runnerSource = fs.readFileSync(RUNNER, 'utf8');

  // What ends up in radosgw, generously (radosgw frees deleted data hours later, so nothing is reclaimed during a run).
  const storedGb = (on('backup') ? o.rounds * o.gb * 2.5 : 0) + (on('scale') ? o.rounds * o.scale.reduce((a, b) => a + b, 0) * 0.6 : 0)
    + (on('restore') ? o.gb + o.multiGb : 0) + (on('daily') ? o.days * o.dailyGb * o.dailyPatterns.length : 0);
  const osdSizeGiB = Math.max(20, Math.ceil(storedGb * 2));
  const t0 = Date.now();
  const [pg, s3] = await Promise.all([startPostgres(), startS3({ osdSizeGiB })]) as [PostgresServer, S3Server];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const shm = fs.mkdtempSync('/dev/shm/bench-');
  const home = path.join(scratch, 'home');
  fs.mkdirSync(home);
  const spool = path.join(scratch, 'spool');
  fs.mkdirSync(spool);
  const servers: ServerPids = { postgres: pg.pid, ceph: [s3.pids.rgw, s3.pids.osd, s3.pids.mon] };
  const report: Report = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.release()}`,
    command: `npx projen bench ${argv.join(' ')}`.trim(),
    options: o,
    versions: {
      node: process.version,
      postgres: version(['pg_dump', '--version']),
      zstd: version(['zstd', '--version']),
      ceph: version(['radosgw', '--version']),
      rclone: version([tools.rclone, 'version']),
      aws: version([tools.aws, '--version']),
      restic: version([tools.restic, 'version']),
    },
    databases: {},
    runs: [],
    failures: [],
    skipped: {},
    daily: [],
  };
  const outFile = o.out || path.join(__dirname, `results-${report.date.slice(0, 10)}.json`);
  report.file = path.basename(outFile);
  try {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const prefixBytes = async (prefix: string): Promise<number> => {
      let total = 0;
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
        for (const obj of page.Contents ?? []) total += obj.Size ?? 0;
        token = page.NextContinuationToken;
      } while (token);
      return total;
    };

    // A clean environment for every command: nothing from this shell's config (CA bundles, $HOME dotfiles) applies.
    const baseEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: scratch, LC_ALL: 'C.UTF-8' };
    const restorer = { user: 'restorer', password: `r${Date.now().toString(16)}` };
    await pg.psql(`CREATE ROLE ${restorer.user} LOGIN CREATEDB PASSWORD '${restorer.password}';`);
    const pgEnv = (db: string, as?: typeof restorer): NodeJS.ProcessEnv => ({
      ...postgresRunnerEnv(pg, db), ...(as ? { PGUSER: as.user, PGPASSWORD: as.password } : {}),
    });
    const runnerEnv = (db: string, destination: string, name: string, as?: typeof restorer): NodeJS.ProcessEnv => ({
      ...baseEnv,
      ...pgEnv(db, as),
      BACKUP_ENGINE: 'postgres',
      BACKUP_DESTINATION: destination,
      BACKUP_NAME: name,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: s3.region,
      BACKUP_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    const s3Env: NodeJS.ProcessEnv = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const resticEnv = (repo: string): NodeJS.ProcessEnv => ({
      ...s3Env,
      RESTIC_REPOSITORY: `s3:${s3.endpoint}/${BUCKET}/${repo}`,
      RESTIC_PASSWORD: 'bench-not-a-secret',
      RESTIC_CACHE_DIR: path.join(scratch, 'restic-cache', repo),
    });
    const node = process.execPath;

    // ---- data -----------------------------------------------------------------------------
    const made = new Set<string>();
    const ensureDb = async (db: string, gb: number, tables = 1) => {
      if (made.has(db)) return;
      const started = Date.now();
      await makeDatabase(pg, db, gb, tables, os.cpus().length);
      made.add(db);
      report.databases[db] = { bytes: await databaseBytes(pg, db), tables, rows: await totalRows(pg, db) };
      console.error(`bench: ${db}: ${(report.databases[db].bytes / 1e9).toFixed(2)} GB in ${tables} table(s), made in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    };
    const scaleDb = (gb: number) => (gb === o.gb ? 'big' : `scale_${String(gb).replace('.', '_')}`);
    if (on('backup') || on('restore')) await ensureDb('big', o.gb);
    if (on('restore')) await ensureDb('multi', o.multiGb, o.tables);
    if (on('scale')) for (const gb of o.scale) await ensureDb(scaleDb(gb), gb);

    // ---- variants -------------------------------------------------------------------------
    const sections: Array<{ id: string; title: string; slots: Slot[] }> = [];
    const s3Stored = (prefix: (round: number) => string) => async (round: number) => ({ storedBytes: await prefixBytes(prefix(round)) });
    const runnerStored = async (_round: number, m: Measured) => ({
      storedBytes: Number(m.last?.bytes) || 0,
      rawBytes: Number(m.last?.rawBytes) || 0,
    });

    if (on('backup')) {
      const dumpFile = path.join(scratch, 'aws-upload.dump');
      const resticAfterFirst = new Map<number, number>();
      const db = pgEnv('big');
      sections.push({
        id: 'backup',
        title: `Backup of the single-table database to radosgw (${o.gb} GB)`,
        slots: [
          [{
            id: 'runner',
            label: '**runner `backup`** (pg_dump -Fc -Z0 \\| zstd -T0 -1, streamed)',
            prepare: async r => ({ argv: [node, RUNNER, 'backup'], env: runnerEnv('big', `s3://${BUCKET}/runner/r${r}`, 'big') }),
            after: async (r, m) => ({ ...await runnerStored(r, m), objectBytes: await prefixBytes(`runner/r${r}/`) }),
          }],
          [{
            id: 'runner-tmpfs',
            label: 'runner `backup` to a tmpfs directory (`file://`, no S3)',
            prepare: async r => ({ argv: [node, RUNNER, 'backup'], env: runnerEnv('big', `file://${shm}/r${r}`, 'big') }),
            after: async (r, m) => {
              fs.rmSync(path.join(shm, `r${r}`), { recursive: true, force: true });
              return runnerStored(r, m);
            },
          }],
          [{
            id: 'rclone',
            label: 'the seed\'s pattern: `pg_dump -Fc \\| rclone rcat`',
            prepare: async r => ({
              argv: sh(`pg_dump -Fc | ${tools.rclone} rcat :s3:${BUCKET}/rclone/r${r}/big.dump`),
              env: {
                ...baseEnv,
                ...db,
                // No config file: the remote is configured by environment only.
                RCLONE_CONFIG: path.join(home, 'no-rclone.conf'),
                RCLONE_S3_PROVIDER: 'Ceph',
                RCLONE_S3_ENDPOINT: s3.endpoint,
                RCLONE_S3_REGION: s3.region,
                RCLONE_S3_ACCESS_KEY_ID: s3.accessKeyId,
                RCLONE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
              },
            }),
            after: s3Stored(r => `rclone/r${r}/`),
          }],
          [{
            id: 'aws',
            label: '`pg_dump -Fc` to a file, then `aws s3 cp` (eeshugerman/postgres-backup-s3)',
            prepare: async r => ({
              argv: sh(`pg_dump -Fc -f ${dumpFile}; ${tools.aws} s3 cp --only-show-errors --endpoint-url ${s3.endpoint} ${dumpFile} s3://${BUCKET}/aws/r${r}/big.dump; rm -f ${dumpFile}`),
              env: {
                ...baseEnv,
                ...db,
                ...s3Env,
                AWS_DEFAULT_REGION: s3.region,
                AWS_CONFIG_FILE: path.join(home, 'no-aws-config'),
                AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-aws-credentials'),
              },
            }),
            after: s3Stored(r => `aws/r${r}/`),
          }],
          [{
            id: 'restic-first',
            label: '`pg_dump -Fc -Z0 \\| restic backup --stdin` (k8up), first run',
            prepare: async r => {
              execFileSync(tools.restic, ['init', '--quiet'], { env: { ...baseEnv, ...resticEnv(`restic/r${r}`) }, stdio: 'ignore' });
              return { argv: sh(`pg_dump -Fc -Z0 | ${tools.restic} backup --quiet --stdin --stdin-filename big.dump`), env: { ...baseEnv, ...db, ...resticEnv(`restic/r${r}`) } };
            },
            after: async r => {
              const bytes = await prefixBytes(`restic/r${r}/`);
              resticAfterFirst.set(r, bytes);
              return { storedBytes: bytes };
            },
          }, {
            id: 'restic-unchanged',
            label: 'the same, data unchanged (restic deduplicates)',
            prepare: async r => ({ argv: sh(`pg_dump -Fc -Z0 | ${tools.restic} backup --quiet --stdin --stdin-filename big.dump`), env: { ...baseEnv, ...db, ...resticEnv(`restic/r${r}`) } }),
            after: async r => ({ storedBytes: await prefixBytes(`restic/r${r}/`) - (resticAfterFirst.get(r) ?? 0) }),
          }],
          [{ id: 'floor', label: 'floor: `pg_dump -Fc -Z0 > /dev/null`', prepare: async () => ({ argv: sh('pg_dump -Fc -Z0 > /dev/null'), env: { ...baseEnv, ...db } }) }],
          [{
            id: 'floor-zstd',
            label: 'pipeline floor: `pg_dump -Fc -Z0 \\| zstd -T0 -1 > /dev/null`',
            prepare: async () => ({ argv: sh('pg_dump -Fc -Z0 | zstd -T0 -1 -q > /dev/null'), env: { ...baseEnv, ...db } }),
          }],
        ],
      });
    }

    if (on('restore')) {
      for (const [db, title] of [['big', `one table, ${o.gb} GB`], ['multi', `${o.tables} tables, ${o.multiGb} GB`]] as const) {
        // The sources, made once: the runner's backup in radosgw, and pg_dump's own file on local disk.
        const series = `restore-${db}`;
        await measure([node, RUNNER, 'backup'], runnerEnv(db, `s3://${BUCKET}/sources`, series), servers);
        const file = path.join(scratch, `restore-source-${db}.dump`);
        execFileSync('pg_dump', ['-Fc', '-f', file], { env: { ...baseEnv, ...pgEnv(db) } });
        const expectedRows = report.databases[db].rows;
        let targets = 0;
        const target = async () => {
          const name = `${db}_target_${++targets}`;
          await pg.psql(`CREATE DATABASE ${quoteIdent(name)} OWNER ${restorer.user};`);
          return name;
        };
        const current = new Map<number, string>();
        const check = async (r: number) => {
          const name = current.get(r)!;
          const rows = await totalRows(pg, name);
          await pg.psql(`DROP DATABASE ${quoteIdent(name)};`);
          if (rows !== expectedRows) throw new Error(`restore into ${name} has ${rows} rows, the source ${expectedRows}`);
          return {};
        };
        // Runner restore variants: a new setting (e.g. BACKUP_RESTORE_PARALLELISM) is one more row here.
        const runnerVariants: Array<{ id: string; label: string; env: Record<string, string> }> = [
          { id: 'runner', label: '**runner `restore`** (streaming)' },
          {
            id: 'runner-j2',
            label: 'runner `restore`, `BACKUP_RESTORE_PARALLELISM=2` (spooled to local disk)',
            // The spool (the pod's emptyDir; here local disk) holds the archive, which is smaller than the database.
            env: {
              BACKUP_RESTORE_PARALLELISM: '2',
              BACKUP_RESTORE_SPOOL_DIR: spool,
              BACKUP_RESTORE_SPOOL_LIMIT_BYTES: String(2 * report.databases[db].bytes),
            },
          },
        ].map(v => ({ env: {}, ...v }));
        const slots: Slot[] = [];
        for (const v of runnerVariants) {
          // A runner that does not know a variable ignores it: the run would be the streaming one again.
          const unknown = Object.keys(v.env).filter(k => !runnerSource.includes(k));
          if (unknown.length) {
            report.skipped[`restore-${db}/${v.id}`] = `this runner does not read ${unknown.join(', ')}`;
            continue;
          }
          slots.push([{
            id: v.id,
            label: v.label,
            optional: Object.keys(v.env).length > 0,
            prepare: async r => {
              const name = await target();
              current.set(r, name);
              return { argv: [node, RUNNER, 'restore'], env: { ...runnerEnv(name, `s3://${BUCKET}/sources`, series, restorer), ...v.env } };
            },
            after: check,
          }]);
        }
        for (const [id, label, flags] of [
          ['pg_restore', '`pg_restore` from a local file', ['--single-transaction']],
          ['pg_restore-j2', '`pg_restore -j2` from a local file', ['--jobs=2']],
        ] as const) {
          slots.push([{
            id,
            label,
            prepare: async r => {
              const name = await target();
              current.set(r, name);
              return {
                argv: ['pg_restore', '--no-owner', '--no-privileges', '--exit-on-error', ...flags, `--dbname=${name}`, file],
                env: { ...baseEnv, ...pgEnv(name, restorer) },
              };
            },
            after: check,
          }]);
        }
        sections.push({ id: `restore-${db}`, title: `Restore from radosgw / a local file (${title})`, slots });
      }
    }

    if (on('scale')) {
      sections.push({
        id: 'scale',
        title: 'Runner backup to radosgw by database size',
        slots: o.scale.map(gb => [{
          id: `${gb}`,
          label: `${gb} GB`,
          prepare: async r => ({ argv: [node, RUNNER, 'backup'], env: runnerEnv(scaleDb(gb), `s3://${BUCKET}/scale/r${r}`, scaleDb(gb)) }),
          after: async (r, m) => ({ ...await runnerStored(r, m), databaseBytes: report.databases[scaleDb(gb)].bytes }),
        }]),
      });
    }

    // ---- rounds: every variant once per round, the order rotated each round ----------------
    const failed = new Set<string>();
    const record = async (section: string, v: Variant, round: number) => {
      const key = `${section}/${v.id}`;
      if (failed.has(key) || report.skipped[key]) return;
      try {
        const cmd = await v.prepare(round);
        const m = await measure(cmd.argv, cmd.env, servers);
        const extra = await v.after?.(round, m) ?? {};
        const run: RunRecord = {
          section, variant: v.id, label: v.label, round, seconds: m.seconds, cpu: m.cpu, cpuTree: m.cpuTree, peakRssMiB: m.peakRssMiB, ...extra,
        };
        report.runs.push(run);
        console.error(`bench: round ${round} ${key}: ${m.seconds.toFixed(2)} s${m.peakRssMiB ? `, ${m.peakRssMiB} MiB` : ''}`);
      } catch (e) {
        if (v.optional && e instanceof CommandError && e.code === 2) {
          report.skipped[key] = `the runner refused it: ${String(e.last?.msg ?? e.message)}`;
          return;
        }
        failed.add(key);
        report.failures.push({ key, round, message: (e as Error).message.slice(0, 2000) });
        console.error(`bench: round ${round} ${key} FAILED (not run again): ${(e as Error).message.slice(0, 500)}`);
      }
      fs.writeFileSync(outFile, JSON.stringify(report, null, 2));
    };
    for (let round = 1; round <= o.rounds; round++) {
      for (const section of sections) {
        const n = section.slots.length;
        for (let i = 0; i < n; i++) {
          for (const v of section.slots[(i + round - 1) % n]) await record(section.id, v, round);
        }
      }
    }
    for (const section of sections) report.titles = { ...report.titles, [section.id]: section.title };

    // ---- 30 daily backups of a database changing 2 % a day ---------------------------------
    if (on('daily')) {
      for (const pattern of o.dailyPatterns as DailyPattern[]) {
        const db = `daily_${pattern}`;
        await ensureDb(db, o.dailyGb);
        const repo = `daily-restic-${pattern}`;
        execFileSync(tools.restic, ['init', '--quiet'], { env: { ...baseEnv, ...resticEnv(repo) }, stdio: 'ignore' });
        const days: Report['daily'][number]['days'] = [];
        for (let day = 1; day <= o.days; day++) {
          if (day > 1) await changeOneDay(pg, db, pattern, day - 1, o.dailyGb);
          const runner = await measure([node, RUNNER, 'backup'], runnerEnv(db, `s3://${BUCKET}/daily-runner`, pattern), servers);
          const restic = await measure(sh(`pg_dump -Fc -Z0 | ${tools.restic} backup --quiet --stdin --stdin-filename ${db}.dump`), { ...baseEnv, ...pgEnv(db), ...resticEnv(repo) }, servers);
          days.push({
            day,
            runnerSeconds: runner.seconds,
            resticSeconds: restic.seconds,
            runnerTotalBytes: await prefixBytes(`daily-runner/${pattern}/`),
            resticTotalBytes: await prefixBytes(`${repo}/`),
          });
          console.error(`bench: daily ${pattern} day ${day}: runner ${days[day - 1].runnerTotalBytes} B, restic ${days[day - 1].resticTotalBytes} B`);
        }
        report.daily.push({ pattern, databaseBytes: await databaseBytes(pg, db), days });
        fs.writeFileSync(outFile, JSON.stringify(report, null, 2));
      }
    }

    // ---- a tiny database: the runner's cold start against pg_dump alone ---------------------
    if (on('tiny')) {
      await pg.createDatabase('tiny');
      await pg.psql('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100) g;', 'tiny');
      report.databases.tiny = { bytes: await databaseBytes(pg, 'tiny'), tables: 1, rows: 100 };
      const tiny: Slot[] = [
        [{ id: 'runner', label: 'runner `backup` to radosgw', prepare: async r => ({ argv: [node, RUNNER, 'backup'], env: runnerEnv('tiny', `s3://${BUCKET}/tiny/r${r}`, 'tiny') }) }],
        [{ id: 'runner-tmpfs', label: 'runner `backup` to tmpfs (`file://`)', prepare: async r => ({ argv: [node, RUNNER, 'backup'], env: runnerEnv('tiny', `file://${shm}/tiny-r${r}`, 'tiny') }) }],
        [{ id: 'pg_dump', label: '`pg_dump -Fc > /dev/null` alone', prepare: async () => ({ argv: sh('pg_dump -Fc > /dev/null'), env: { ...baseEnv, ...pgEnv('tiny') } }) }],
        [{ id: 'node', label: '`node -e 0` (Node.js start alone)', prepare: async () => ({ argv: [node, '-e', '0'], env: baseEnv }) }],
      ];
      for (let round = 1; round <= o.tinyRuns; round++) {
        for (let i = 0; i < tiny.length; i++) for (const v of tiny[(i + round - 1) % tiny.length]) await record('tiny', v, round);
      }
      report.titles = { ...report.titles, tiny: `A tiny database (${report.databases.tiny.bytes} bytes): cold start, ${o.tinyRuns} runs each` };
    }
    report.totalSeconds = Math.round((Date.now() - t0) / 1000);
    fs.writeFileSync(outFile, JSON.stringify(report, null, 2));
    console.error(`bench: results in ${outFile} (${report.totalSeconds} s in all)`);
    process.stdout.write(renderMarkdown(report));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.rmSync(shm, { recursive: true, force: true });
    await Promise.all([pg.stop(), s3.stop()]);
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
