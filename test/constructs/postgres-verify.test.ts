import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Duration, Size, Testing } from 'cdk8s';
import { atPath } from './at-path';
import { BackupSchedule, BackupSeries, BackupStorage, PostgresVerifyCronJob, PostgresVerifyCronJobProps } from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';
import { describeIntegration } from '../servers/env';

function verifyProps(chart: any, overrides: Partial<PostgresVerifyCronJobProps> = {}): PostgresVerifyCronJobProps {
  return {
    schedule: BackupSchedule.daily({ hour: 6 }),
    series: BackupSeries.fromName(s3Storage(chart), 'orders', 'postgres'),
    postgresMajor: 15,
    ...overrides,
  };
}

function synthVerify(overrides: Partial<PostgresVerifyCronJobProps> = {}): any {
  const chart = newChart();
  new PostgresVerifyCronJob(chart, 'orders-verify', verifyProps(chart, overrides));
  return cronJobs(chart)[0];
}

describe('PostgresVerifyCronJob', () => {
  test('synthesizes this CronJob', () => {
    const chart = newChart();
    new PostgresVerifyCronJob(chart, 'orders-verify', verifyProps(chart, { assertionSql: 'SELECT count(*) > 0 FROM orders' }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('is a valid CronJob whose pod, throwaway server included, passes the restricted Pod Security Standard', () => {
    const cj = synthVerify();
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(podSpecOf(cj).containers.map((c: any) => c.name)).toEqual(['verify', 'postgres']);
    expect(podSpecOf(cj).initContainers).toBeUndefined();
  });

  test('the runner verifies the latest backup of the series against the server on 127.0.0.1', () => {
    const cj = synthVerify({ assertionSql: 'SELECT count(*) > 0 FROM orders' });
    expect(container(cj, 'verify').args).toEqual(['verify', 'latest']);
    expect(envOf(cj, 'verify')).toMatchObject({
      BACKUP_ENGINE: 'postgres',
      BACKUP_NAME: 'orders',
      BACKUP_DESTINATION: 's3://backups/prod',
      BACKUP_VERIFY_SQL: 'SELECT count(*) > 0 FROM orders',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'backup-s3', key: 'access-key' } },
      PGHOST: '127.0.0.1',
      PGPORT: '5432',
      PGUSER: 'postgres',
      PGDATABASE: 'postgres',
    });
    expect(envOf(cj, 'verify')).not.toHaveProperty('PGPASSWORD');
    expect(cj.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/component': 'postgres-verify' });
  });

  test('without assertionSql no BACKUP_VERIFY_SQL is set', () => {
    expect(envOf(synthVerify(), 'verify')).not.toHaveProperty('BACKUP_VERIFY_SQL');
  });

  test('the throwaway server: same major, localhost only, trust auth, non-root, every written path on an emptyDir', () => {
    const cj = synthVerify({ dataSizeLimit: Size.gibibytes(20) });
    const server = container(cj, 'postgres');
    expect(server.image).toBe('postgres:15.16');
    expect(server.command[0]).toBe('bash');
    expect(server.command[2]).toContain('docker-entrypoint.sh postgres -c listen_addresses=127.0.0.1 -c port=5432');
    expect(envOf(cj, 'postgres')).toEqual({
      PGDATA: '/var/lib/postgresql/data/pgdata',
      POSTGRES_HOST_AUTH_METHOD: 'trust',
      POSTGRES_INITDB_ARGS: '--no-sync',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
    });
    expect(server.securityContext).toMatchObject({
      runAsUser: 999, runAsGroup: 999, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
    });
    expect(server.ports).toBeUndefined();
    const volumes = Object.fromEntries(podSpecOf(cj).volumes.map((v: any) => [v.name, v]));
    const mounts = Object.fromEntries(server.volumeMounts.map((m: any) => [m.mountPath, m]));
    for (const written of ['/var/lib/postgresql/data', '/var/run/postgresql', '/tmp']) {
      expect(volumes[mounts[written].name].emptyDir).toBeDefined();
    }
    expect(volumes[mounts['/var/lib/postgresql/data'].name].emptyDir).toEqual({ sizeLimit: '20480Mi' });
    // PGDATA must be a directory postgres creates itself, not the volume's root.
    expect(envOf(cj, 'postgres').PGDATA.startsWith(mounts['/var/lib/postgresql/data'].mountPath + '/')).toBe(true);
    // Both containers share the done directory; only the runner writes to it.
    expect(mounts['/run/backup-verify']).toMatchObject({ name: 'verify-done', readOnly: true });
    expect(container(cj, 'verify').volumeMounts).toContainEqual({ mountPath: '/run/backup-verify', name: 'verify-done' });
  });

  test('a failed check is not retried away; the rest like a backup CronJob', () => {
    const cj = synthVerify();
    expect(cj.spec).toMatchObject({
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 3600,
      jobTemplate: { spec: { backoffLimit: 0, activeDeadlineSeconds: 21600 } },
    });
    expect(podSpecOf(cj)).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false });
  });

  test('overrides: server image and resources, runner image, deadline, retries', () => {
    const cj = synthVerify({
      postgresImage: 'registry.example.com/postgres:15.8-bookworm',
      postgresResources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(4) } },
      image: 'registry.example.com/backup:1.2.3-postgres',
      activeDeadline: Duration.hours(2),
      backoffLimit: 1,
      cronJobName: 'orders-verify',
    });
    expect(cj.metadata.name).toBe('orders-verify');
    expect(container(cj, 'postgres')).toMatchObject({
      image: 'registry.example.com/postgres:15.8-bookworm',
      resources: { requests: { memory: '2048Mi' }, limits: { memory: '4096Mi' } },
    });
    expect(container(cj, 'verify').image).toBe('registry.example.com/backup:1.2.3-postgres');
    expect(cj.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 7200 });
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => any, RegExp]>([
      ['missing series', c => verifyProps(c, { series: undefined as any }), /^series: must be set to the backups a PostgresVerifyCronJob reads/],
      ['a series of another engine', c => verifyProps(c, { series: BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'shop', 'mysql') }),
        /^series: 'shop' holds MySQL backups \(engine 'mysql'\), but a PostgresVerifyCronJob reads PostgreSQL backups \(engine 'postgres'\) only/],
      ['no major version from the prop or the series', c => verifyProps(c, { postgresMajor: undefined }),
        /^postgresMajor: the series 'orders' does not record its server's major version; set postgresMajor here, or on its PostgresBackupCronJob/],
      ['minor version as major', c => verifyProps(c, { postgresMajor: 15.4 }), /^postgresMajor: 15\.4 is not a PostgreSQL major version/],
      ['9.6-style major', c => verifyProps(c, { postgresMajor: 9 }), /^postgresMajor: 9 is not/],
      ['image of another major', c => verifyProps(c, { postgresImage: 'postgres:16.2' }), /^postgresImage: 'postgres:16\.2' is PostgreSQL 16 but postgresMajor is 15\. Use .*'postgres:15\.16'/],
      ['untagged server image', c => verifyProps(c, { postgresImage: 'postgres' }), /^postgresImage: 'postgres' is untagged/],
      ['latest server image', c => verifyProps(c, { postgresImage: 'postgres:latest' }), /^postgresImage: 'postgres:latest' is tagged 'latest'/],
      ['empty assertionSql', c => verifyProps(c, { assertionSql: '  ' }), /^assertionSql: must not be empty/],
      ['long cronJobName', c => verifyProps(c, { cronJobName: 'x'.repeat(53) }), /^cronJobName: .* at most 52 characters/],
      ['bad schedule time zone', c => verifyProps(c, { timeZone: 'Local' }), /^timeZone: 'Local'/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new PostgresVerifyCronJob(chart, 'orders-verify', props(chart))).toThrow(atPath('test/orders-verify', message));
    });

    test('a digest-pinned server image is accepted as is', () => {
      const cj = synthVerify({ postgresImage: 'postgres@sha256:' + 'b'.repeat(64) });
      expect(container(cj, 'postgres').image).toMatch(/@sha256:b{64}$/);
    });
  });
});

/*
 * The server container's command, as synthesized, run with a stand-in for the official image's
 * docker-entrypoint.sh: a "server" that runs until SIGINT (postgres' fast shutdown) and records it.
 */
describe('the throwaway server stops when the runner is done', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-server-'));
    fs.mkdirSync(path.join(dir, 'bin'));
  });
  afterEach(() => {
    // The container's whole process tree, as the kubelet would at the end of the grace period.
    try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function standIn(body: string): void {
    const file = path.join(dir, 'bin', 'docker-entrypoint.sh');
    fs.writeFileSync(file, `#!/bin/bash\necho "$@" > "${dir}/argv"\n${body}\n`);
    fs.chmodSync(file, 0o755);
  }

  function start(): { exit: Promise<number | null>; stderr: () => string } {
    const server = container(synthVerify(), 'postgres');
    let stderr = '';
    child = spawn(server.command[0], server.command.slice(1), {
      env: { PATH: `${dir}/bin:${process.env.PATH}`, BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done') },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    child.stderr!.on('data', d => { stderr += d; });
    const exit = new Promise<number | null>(resolve => child!.on('exit', code => resolve(code)));
    return { exit, stderr: () => stderr };
  }

  const waitFor = async (file: string) => {
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise(r => setTimeout(r, 50));
    if (!fs.existsSync(file)) throw new Error(`the stand-in server never wrote ${file}`);
  };
  // Like postgres, it installs its own SIGINT handler (a shell background job starts with SIGINT ignored).
  // perl (Essential in Debian), not node: node resets inherited signal dispositions to the default
  // at startup, so a SIGINT in the moment before its handler exists would kill it instead of
  // stopping it, and the tests would race with the supervisor's repeated signal.
  const SERVER_UNTIL_SIGINT = `exec perl -e '
    my $done = $ENV{BACKUP_VERIFY_DONE_FILE};
    $SIG{INT} = sub { open(my $f, ">", "$done.server") or die; print $f "stopped\\n"; close $f; exit 0 };
    open(my $u, ">", "$done.up") or die; close $u;
    sleep 1 while 1;'`;

  test('the done file stops the server with a fast shutdown, and the container exits 0', async () => {
    standIn(SERVER_UNTIL_SIGINT);
    const { exit } = start();
    await waitFor(path.join(dir, 'done.up'));
    expect(fs.readFileSync(path.join(dir, 'argv'), 'utf8')).toMatch(/^postgres -c listen_addresses=127\.0\.0\.1 -c port=5432 /);
    fs.writeFileSync(path.join(dir, 'done'), '');
    expect(await exit).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'done.server'), 'utf8')).toBe('stopped\n');
  }, 20_000);

  test('a server that dies before the runner is done fails the container', async () => {
    standIn('exit 3');
    const { exit, stderr } = start();
    expect(await exit).toBe(1);
    expect(stderr()).toContain('postgres exited before the verification finished');
  }, 20_000);

  test('a runner that is done before the server has finished initializing still stops it', async () => {
    // The entrypoint is a script (SIGINT ignored as a background job) until it execs postgres.
    standIn(`sleep 1.5\n${SERVER_UNTIL_SIGINT}`);
    const { exit } = start();
    await new Promise(r => setTimeout(r, 300));
    fs.writeFileSync(path.join(dir, 'done'), '');
    expect(await exit).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'done.server'), 'utf8')).toBe('stopped\n');
  }, 20_000);

  test('SIGTERM (deadline, eviction) stops the server and exits 143', async () => {
    standIn(SERVER_UNTIL_SIGINT);
    const { exit } = start();
    await waitFor(path.join(dir, 'done.up'));
    child!.kill('SIGTERM');
    expect(await exit).toBe(143);
    expect(fs.readFileSync(path.join(dir, 'done.server'), 'utf8')).toBe('stopped\n');
  }, 20_000);
});

/*
 * The same command with a real PostgreSQL 15 (Debian's) behind a minimal stand-in entrypoint
 * (initdb, then exec postgres with the command's arguments), as a non-root user: the flags are
 * accepted, the server listens on 127.0.0.1 only, and the done file shuts it down cleanly.
 */
const PG_BIN = '/usr/lib/postgresql/15/bin';

// The test server's PostgreSQL binaries, run as the postgres user (which needs root).
describeIntegration('the throwaway server command with a real PostgreSQL', ['postgres', 'root'], () => {
  let dir: string;
  let child: ChildProcess | undefined;
  afterEach(() => {
    try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const freePort = () => new Promise<number>(resolve => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });

  test('starts on 127.0.0.1 with the flags as given, and stops cleanly on the done file', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-pg-'));
    fs.chmodSync(dir, 0o777);
    fs.mkdirSync(path.join(dir, 'bin'));
    // The port is the one thing swapped, so the test cannot collide with a server on 5432.
    fs.writeFileSync(path.join(dir, 'bin', 'docker-entrypoint.sh'), `#!/bin/bash
set -e
initdb -D "$PGDATA" --auth=trust -U postgres --no-sync > /dev/null
args=("\${@/port=5432/port=$TEST_PORT}")
exec postgres -D "$PGDATA" -k "${dir}" "\${args[@]:1}"
`, { mode: 0o755 });
    const port = await freePort();
    const server = container(synthVerify(), 'postgres');
    child = spawn('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', ...server.command], {
      env: {
        PATH: `${dir}/bin:${PG_BIN}:${process.env.PATH}`,
        TEST_PORT: String(port),
        PGDATA: path.join(dir, 'pgdata'),
        BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done'),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr!.on('data', d => { stderr += d; });
    const exit = new Promise<number | null>(resolve => child!.on('exit', code => resolve(code)));

    const psql = (sql: string) => execFileSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-tAc', sql],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    let settings = '';
    for (let i = 0; i < 200 && !settings; i++) {
      try {
        settings = psql("SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('listen_addresses', 'fsync', 'synchronous_commit', 'full_page_writes')");
      } catch {
        await new Promise(r => setTimeout(r, 100));
      }
    }
    expect(settings).toBe('fsync=off full_page_writes=off listen_addresses=127.0.0.1 synchronous_commit=off');

    fs.writeFileSync(path.join(dir, 'done'), '');
    expect(await exit).toBe(0);
    expect(fs.existsSync(path.join(dir, 'pgdata', 'postmaster.pid'))).toBe(false);
    expect(stderr).toMatch(/received fast shutdown request/);
  }, 60_000);
});
