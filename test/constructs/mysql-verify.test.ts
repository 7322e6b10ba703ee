import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, Size, Testing } from 'cdk8s';
import { atPath } from './at-path';
import {
  BackupSchedule, BackupSeries, BackupStorage, MysqlServerFlavor, MysqlVerifyCronJob, MysqlVerifyCronJobProps, VerifyAssertion,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';
import { describeIntegration } from '../servers/env';
import { freePort } from '../servers/ports';

function verifyProps(chart: any, overrides: Partial<MysqlVerifyCronJobProps> = {}): MysqlVerifyCronJobProps {
  return {
    schedule: BackupSchedule.daily({ hour: 6 }),
    series: BackupSeries.fromName(s3Storage(chart), 'shop', 'mysql'),
    ...overrides,
  };
}

function synthVerify(overrides: Partial<MysqlVerifyCronJobProps> = {}): any {
  const chart = newChart();
  new MysqlVerifyCronJob(chart, 'shop-verify', verifyProps(chart, overrides));
  return cronJobs(chart)[0];
}

const serverName = (cj: any) => podSpecOf(cj).containers[1].name;

describe('MysqlVerifyCronJob', () => {
  test('synthesizes this CronJob', () => {
    const chart = newChart();
    new MysqlVerifyCronJob(chart, 'shop-verify', verifyProps(chart, {
      assertions: [VerifyAssertion.sql('SELECT COUNT(*) > 0 FROM orders'), VerifyAssertion.minRows('orders', 1), VerifyAssertion.tablesExist(['orders', 'customers'])],
    }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test.each([MysqlServerFlavor.MARIADB, MysqlServerFlavor.MYSQL])('a valid CronJob whose pod, %s server included, passes the restricted Pod Security Standard', flavor => {
    const cj = synthVerify({ serverFlavor: flavor });
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(podSpecOf(cj).containers.map((c: any) => c.name)).toEqual(['verify', flavor]);
    expect(podSpecOf(cj).initContainers).toBeUndefined();
  });

  test('the runner verifies the latest backup as root on 127.0.0.1, without a password or TLS, with the assertions', () => {
    const cj = synthVerify({ assertions: [VerifyAssertion.minRows('odd` name', 3), VerifyAssertion.tablesExist(['orders'])] });
    expect(container(cj, 'verify').args).toEqual(['verify', 'latest']);
    const env = envOf(cj, 'verify');
    expect(env).toMatchObject({
      BACKUP_ENGINE: 'mysql',
      BACKUP_NAME: 'shop',
      BACKUP_DESTINATION: 's3://backups/prod',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
      BACKUP_MYSQL_HOST: '127.0.0.1',
      BACKUP_MYSQL_PORT: '3306',
      BACKUP_MYSQL_USER: 'root',
      BACKUP_MYSQL_DATABASE: 'mysql',
      BACKUP_MYSQL_TLS: 'false',
    });
    expect(JSON.parse(env.BACKUP_VERIFY_ASSERTIONS)).toEqual([{ type: 'minRows', table: 'odd` name', min: 3 }, { type: 'tablesExist', tables: ['orders'] }]);
    expect(env).not.toHaveProperty('BACKUP_MYSQL_PASSWORD');
    expect(env).not.toHaveProperty('BACKUP_VERIFY_SQL');
    expect(cj.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'shop', 'app.kubernetes.io/component': 'mysql-verify' });
  });

  test('the throwaway MariaDB: pinned image, localhost only, root without a password from 127.0.0.1 only, non-root, every written path on an emptyDir', () => {
    const cj = synthVerify({ dataSizeLimit: Size.gibibytes(20) });
    const server = container(cj, 'mariadb');
    expect(server.image).toBe('mariadb:11.8.6');
    expect(server.command.slice(0, 2)).toEqual(['bash', '-c']);
    expect(server.command[2]).toContain('docker-entrypoint.sh mariadbd --bind-address=127.0.0.1 --port=3306 --skip-name-resolve ');
    expect(envOf(cj, 'mariadb')).toEqual({
      MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1',
      MARIADB_ROOT_HOST: '127.0.0.1',
      MARIADB_INITDB_SKIP_TZINFO: '1',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
    });
    expect(server.securityContext).toMatchObject({
      runAsUser: 999, runAsGroup: 999, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
    });
    expect(server.ports).toBeUndefined();
    const volumes = Object.fromEntries(podSpecOf(cj).volumes.map((v: any) => [v.name, v]));
    const mounts = Object.fromEntries(server.volumeMounts.map((m: any) => [m.mountPath, m]));
    for (const written of ['/var/lib/mysql', '/run/mysqld', '/tmp']) {
      expect(volumes[mounts[written].name].emptyDir.sizeLimit).toBeDefined();
    }
    expect(volumes[mounts['/var/lib/mysql'].name].emptyDir).toEqual({ sizeLimit: '20480Mi' });
    // The socket and pid file go where the emptyDir is.
    expect(server.command[2]).toContain('--socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid');
    expect(mounts['/run/backup-verify']).toMatchObject({ name: 'verify-done', readOnly: true });
    expect(container(cj, 'verify').volumeMounts).toContainEqual({ mountPath: '/run/backup-verify', name: 'verify-done' });
    // The runner mounts none of the server's volumes.
    const runnerMounts = container(cj, 'verify').volumeMounts.map((m: any) => m.name);
    for (const written of ['/var/lib/mysql', '/run/mysqld', '/tmp']) expect(runnerMounts).not.toContain(mounts[written].name);
  });

  test('the MySQL flavor: its entrypoint variables, mysqld, and the X protocol off (it would listen on every address)', () => {
    const cj = synthVerify({ serverFlavor: MysqlServerFlavor.MYSQL });
    const server = container(cj, 'mysql');
    expect(server.image).toBe('mysql:8.4.8');
    expect(server.command[2]).toContain('docker-entrypoint.sh mysqld --bind-address=127.0.0.1 --port=3306 --skip-name-resolve ');
    expect(server.command[2]).toContain(' --mysqlx=OFF');
    expect(envOf(cj, 'mysql')).toEqual({
      MYSQL_ALLOW_EMPTY_PASSWORD: '1',
      MYSQL_ROOT_HOST: '127.0.0.1',
      MYSQL_INITDB_SKIP_TZINFO: '1',
      BACKUP_VERIFY_DONE_FILE: '/run/backup-verify/done',
    });
    expect(server.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 999 });
  });

  test.each<[string, Partial<MysqlVerifyCronJobProps>, string, string]>([
    ['a MariaDB mirror', { mysqlImage: 'registry.example.com/db/mariadb:10.11.16' }, 'registry.example.com/db/mariadb:10.11.16', 'mariadb'],
    ['a MySQL image', { mysqlImage: 'mysql:8.0.44' }, 'mysql:8.0.44', 'mysql'],
    ['a MySQL image by digest', { mysqlImage: `mysql@sha256:${'a'.repeat(64)}` }, `mysql@sha256:${'a'.repeat(64)}`, 'mysql'],
    ['another name with serverFlavor', { mysqlImage: 'registry.example.com/percona-server:8.0.43', serverFlavor: MysqlServerFlavor.MYSQL },
      'registry.example.com/percona-server:8.0.43', 'mysql'],
  ])('the flavor follows the image: %s', (_name, props, image, flavor) => {
    const cj = synthVerify(props);
    expect(serverName(cj)).toBe(flavor);
    expect(container(cj, flavor).image).toBe(image);
  });

  test('overrides: server resources, runner image, deadline, retries; a failed check is not retried by default', () => {
    expect(synthVerify().spec).toMatchObject({ concurrencyPolicy: 'Forbid', jobTemplate: { spec: { backoffLimit: 0 } } });
    const cj = synthVerify({
      serverResources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(4) } },
      image: 'registry.example.com/backup:1.2.3-mysql',
      activeDeadline: Duration.hours(2),
      backoffLimit: 1,
      cronJobName: 'shop-verify',
    });
    expect(cj.metadata.name).toBe('shop-verify');
    expect(container(cj, 'mariadb').resources).toEqual({ requests: { memory: '2048Mi' }, limits: { memory: '4096Mi' } });
    expect(container(cj, 'verify').image).toBe('registry.example.com/backup:1.2.3-mysql');
    expect(cj.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 7200 });
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, (chart: any) => any, RegExp]>([
      ['missing series', c => verifyProps(c, { series: undefined as any }), /^series: must be set to the backups a MysqlVerifyCronJob reads/],
      ['a series of another engine', c => verifyProps(c, { series: BackupSeries.fromName(BackupStorage.s3({ bucket: 'backups' }), 'orders', 'postgres') }),
        /^series: 'orders' holds PostgreSQL backups \(engine 'postgres'\), but a MysqlVerifyCronJob reads MySQL backups \(engine 'mysql'\) only/],
      ['untagged server image', c => verifyProps(c, { mysqlImage: 'mariadb' }), /^mysqlImage: 'mariadb' is untagged/],
      ['latest server image', c => verifyProps(c, { mysqlImage: 'mysql:latest' }), /^mysqlImage: 'mysql:latest' is tagged 'latest'/],
      ['a flavor the image contradicts', c => verifyProps(c, { mysqlImage: 'mysql:8.4.8', serverFlavor: MysqlServerFlavor.MARIADB }),
        /^serverFlavor: 'mariadb' disagrees with mysqlImage 'mysql:8\.4\.8', a mysql image; remove serverFlavor or make them agree\.$/],
      ['an image whose flavor cannot be told', c => verifyProps(c, { mysqlImage: 'registry.example.com/db-server:11.8.6' }),
        /^serverFlavor: cannot tell from mysqlImage 'registry\.example\.com\/db-server:11\.8\.6' whether it is a MariaDB or a MySQL image; set serverFlavor/],
      ['an unknown flavor', c => verifyProps(c, { serverFlavor: 'percona' as any }), /^serverFlavor: 'percona' is not a server flavor; use MysqlServerFlavor\.MARIADB or MysqlServerFlavor\.MYSQL\.$/],
      ['an assertion MySQL cannot check', c => verifyProps(c, { assertions: [VerifyAssertion.minKeys(1)] }),
        /^assertions\[0\]: 'minKeys' is not an assertion MySQL can check; use 'sql', 'minRows', 'tablesExist'\.$/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new MysqlVerifyCronJob(chart, 'shop-verify', props(chart))).toThrow(atPath('test/shop-verify', message));
    });
  });
});

/*
 * The server container's command, as synthesized, run with a stand-in for the official image's
 * docker-entrypoint.sh: a "server" that runs until SIGTERM (mariadbd's clean shutdown) and records it.
 */
describe('the throwaway server stops when the runner is done', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mysql-server-'));
    fs.mkdirSync(path.join(dir, 'bin'));
  });
  afterEach(() => {
    // The container's whole process tree, as the kubelet would at the end of the grace period.
    try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function standIn(body: string): void {
    fs.writeFileSync(path.join(dir, 'bin', 'docker-entrypoint.sh'), `#!/bin/bash\necho "$@" > "${dir}/argv"\n${body}\n`, { mode: 0o755 });
  }

  let stderr = '';
  function start(): Promise<number | null> {
    const server = container(synthVerify(), 'mariadb');
    stderr = '';
    child = spawn(server.command[0], server.command.slice(1), {
      env: { PATH: `${dir}/bin:${process.env.PATH}`, BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done') },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    return new Promise(resolve => child!.on('close', code => resolve(code)));
  }

  const waitFor = async (file: string) => {
    for (let i = 0; i < 200 && !fs.existsSync(file); i++) await new Promise(r => setTimeout(r, 50));
    if (!fs.existsSync(file)) throw new Error(`the stand-in server never wrote ${file}`);
  };
  const SERVER_UNTIL_SIGTERM = `exec node -e '
    const fs = require("fs"); const done = process.env.BACKUP_VERIFY_DONE_FILE;
    process.on("SIGTERM", () => { fs.writeFileSync(done + ".server", "stopped\\n"); process.exit(0); });
    fs.writeFileSync(done + ".up", ""); setInterval(() => {}, 1000);'`;

  test('the done file stops the server with SIGTERM, and the container exits 0', async () => {
    standIn(SERVER_UNTIL_SIGTERM);
    const exit = start();
    await waitFor(path.join(dir, 'done.up'));
    expect(fs.readFileSync(path.join(dir, 'argv'), 'utf8')).toMatch(/^mariadbd --bind-address=127\.0\.0\.1 --port=3306 /);
    fs.writeFileSync(path.join(dir, 'done'), '');
    expect(await exit).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'done.server'), 'utf8')).toBe('stopped\n');
  }, 20_000);

  test('a server that dies before the runner is done fails the container', async () => {
    standIn('exit 3');
    expect(await start()).toBe(1);
    expect(stderr).toContain('mariadb exited before the verification finished');
  }, 20_000);
});

/*
 * The same command with a real MariaDB (Debian's mariadbd) behind a minimal stand-in entrypoint
 * (mariadb-install-db, then exec the server with the command's flags; only the port and the
 * /run/mysqld directory are swapped for the test's), as the mysql user: the flags are accepted,
 * the server listens on 127.0.0.1 only, root connects over TCP without a password as the runner
 * does, and the done file shuts it down cleanly.
 */
describeIntegration('the throwaway server command with a real MariaDB', ['mysql', 'root'], () => {
  let dir: string;
  let child: ChildProcess | undefined;
  afterEach(() => {
    try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('starts on 127.0.0.1 with the flags as given, and stops cleanly on the done file', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-mariadb-'));
    fs.chmodSync(dir, 0o777);
    for (const d of ['bin', 'data', 'run']) fs.mkdirSync(path.join(dir, d), { mode: 0o777 });
    fs.chmodSync(path.join(dir, 'data'), 0o777);
    fs.chmodSync(path.join(dir, 'run'), 0o777);
    fs.writeFileSync(path.join(dir, 'bin', 'docker-entrypoint.sh'), `#!/bin/bash
set -e
mariadb-install-db --no-defaults --datadir="${dir}/data" --auth-root-authentication-method=normal --skip-test-db > /dev/null
args=("\${@/--port=3306/--port=$TEST_PORT}")
args=("\${args[@]//\\/run\\/mysqld/${dir.replace(/\//g, '\\/')}\\/run}")
exec "$1" --no-defaults --datadir="${dir}/data" --log-error="${dir}/error.log" "\${args[@]:1}"
`, { mode: 0o755 });
    const port = await freePort();
    const server = container(synthVerify(), 'mariadb');
    child = spawn('setpriv', ['--reuid=mysql', '--regid=mysql', '--init-groups', ...server.command], {
      env: { PATH: `${dir}/bin:/usr/sbin:${process.env.PATH}`, TEST_PORT: String(port), BACKUP_VERIFY_DONE_FILE: path.join(dir, 'done') },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr!.on('data', d => { stderr += d; });
    const exit = new Promise<number | null>(resolve => child!.on('exit', code => resolve(code)));

    // As the runner connects: TCP to 127.0.0.1, root, no password, no TLS.
    const sql = (query: string) => execFileSync('mariadb', [
      '--no-defaults', '--protocol=TCP', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', '--skip-ssl', '--batch', '--skip-column-names', '-e', query,
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    let settings = '';
    for (let i = 0; i < 300 && !settings; i++) {
      try {
        settings = sql('SELECT @@bind_address, @@skip_name_resolve, @@log_bin, @@innodb_doublewrite, @@innodb_flush_log_at_trx_commit, @@socket');
      } catch {
        await new Promise(r => setTimeout(r, 100));
      }
    }
    expect(settings.split('\t')).toEqual(['127.0.0.1', '1', '0', '0', '0', `${dir}/run/mysqld.sock`]);
    expect(fs.existsSync(path.join(dir, 'run', 'mysqld.pid'))).toBe(true);

    fs.writeFileSync(path.join(dir, 'done'), '');
    expect(await exit).toBe(0);
    // (mariadb-install-db may warn that it cannot raise max_open_files here.)
    expect(stderr).not.toMatch(/ERROR|exited before the verification finished/);
    expect(fs.readFileSync(path.join(dir, 'error.log'), 'utf8')).toMatch(/Shutdown complete/);
    expect(fs.existsSync(path.join(dir, 'run', 'mysqld.pid'))).toBe(false);
  }, 90_000);
});
