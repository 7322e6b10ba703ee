/**
 * A real S3 server for tests: a throwaway single-node Ceph cluster (one mon,
 * one bluestore OSD on a sparse file, radosgw) bound to 127.0.0.1, run as the
 * `ceph` system user, with its own ceph.conf and keyring in a temp dir.
 * Nothing in /etc/ceph or /var/lib/ceph is read or written.
 *
 * Not memstore: it hangs silently when full. Not s3rver: see DESIGN.md.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { freePort, isAddressInUse } from './ports';
import {
  Daemon,
  logTails,
  makeTempDir,
  missingExecutables,
  mkdirOwned,
  removeDir,
  run,
  runAsFor,
  startFailure,
  stopOnce,
  waitUntil,
  writeOwned,
  type RunAs,
} from './proc';

/** A KMS key id the test radosgw's built-in test KMS knows (SSE-KMS with it works). */
export const S3_TEST_KMS_KEY_ID = 'testkey-1';

/** How a test reaches the S3 endpoint (also what global-setup publishes through process.env). */
export interface S3Connection {
  /** http://127.0.0.1:PORT; use path-style addressing. */
  readonly endpoint: string;
  /** radosgw ignores it, but SigV4 needs one. */
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The variables through which global-setup tells test files how to reach the server. */
const TEST_ENV = {
  endpoint: 'TEST_S3_ENDPOINT',
  region: 'TEST_S3_REGION',
  accessKeyId: 'TEST_S3_ACCESS_KEY_ID',
  secretAccessKey: 'TEST_S3_SECRET_ACCESS_KEY',
} as const;

export function s3ToEnv(c: S3Connection): Record<string, string> {
  return {
    [TEST_ENV.endpoint]: c.endpoint,
    [TEST_ENV.region]: c.region,
    [TEST_ENV.accessKeyId]: c.accessKeyId,
    [TEST_ENV.secretAccessKey]: c.secretAccessKey,
  };
}

/** The S3 server global-setup started, or undefined when it started none. */
export function s3FromEnv(env: NodeJS.ProcessEnv = process.env): S3Connection | undefined {
  const endpoint = env[TEST_ENV.endpoint];
  const accessKeyId = env[TEST_ENV.accessKeyId];
  const secretAccessKey = env[TEST_ENV.secretAccessKey];
  if (!endpoint || !accessKeyId || !secretAccessKey) return undefined;
  return { endpoint, region: env[TEST_ENV.region] || 'us-east-1', accessKeyId, secretAccessKey };
}

export interface S3Server extends S3Connection {
  /** Where ceph.conf, keyring, logs and the OSD's block file live. */
  readonly dir: string;
  readonly pids: { readonly mon: number; readonly osd: number; readonly rgw: number };
  /** Kills the mon, OSD and radosgw by PID and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartS3Options {
  /** Apparent size of the OSD's sparse block file. Only what is written uses disk. */
  readonly osdSizeGiB?: number;
  /** Milliseconds for the whole cluster to come up. */
  readonly timeoutMs?: number;
}

const BINARIES = [
  '/usr/bin/ceph-authtool',
  '/usr/bin/monmaptool',
  '/usr/bin/ceph-mon',
  '/usr/bin/ceph-osd',
  '/usr/bin/ceph',
  '/usr/bin/radosgw',
  '/usr/bin/radosgw-admin',
];

/** Binaries this module runs that are not installed (empty when all are there). */
export function missingCephBinaries(): string[] {
  return missingExecutables(BINARIES);
}

/**
 * The settings that make one OSD on loopback a working, fast cluster.
 * Each one is here because the default breaks or slows a single-node setup.
 */
function cephConf(o: { dir: string; fsid: string; monPort: number; rgwPort: number; osdSizeBytes: number }): string {
  const d = o.dir;
  return `# Written by test/servers/ceph.ts for one throwaway test cluster.
[global]
fsid = ${o.fsid}
mon_host = [v2:127.0.0.1:${o.monPort}]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
# msgr2 only: one mon port to pick, and no binding of 0.0.0.0 / ::
ms_bind_msgr1 = false
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = ${d}/keyring
# Everything under our dir; nothing in /var/run/ceph, /var/log/ceph, /var/lib/ceph.
run_dir = ${d}/run
admin_socket = ${d}/run/$name.asok
log_file = ${d}/log/$name.log
mon_cluster_log_file = ${d}/log/cluster.log
crash_dir = ${d}/crash
mon_data = ${d}/mon/$cluster-$id
osd_data = ${d}/osd/$cluster-$id
# Clients would otherwise wait 5 minutes for a mon that is not there.
client_mount_timeout = 30
rados_mon_op_timeout = 60

osd_objectstore = bluestore
# Outside osd_data: bluestore puts a "block" symlink there, and a file of that
# name would become a symlink loop.
bluestore_block_path = ${d}/osd/block-$id.img
bluestore_block_create = true
bluestore_block_size = ${o.osdSizeBytes}
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
# The minimum the OSD accepts (default 4 GiB).
osd_memory_target = 939524096

# One OSD: every pool has one replica, and CRUSH places across OSDs, not hosts.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_delete = true
# The mon shuts itself down when its disk has less than 5 % free by default.
mon_data_avail_crit = 1
mon_data_avail_warn = 2
auth_allow_insecure_global_id_reclaim = false
# Each osdmap change (radosgw creates ~6 pools, each several epochs) waits
# paxos_propose_interval, 1 s by default: startup took 14 s, now about 5 s.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
mon_tick_interval = 1

[client]
# radosgw-admin and the ceph CLI may run concurrently; one socket each.
admin_socket = ${d}/run/$name.$pid.asok

[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:${o.rgwPort}
rgw_data = ${d}/rgw
# Server-side encryption (the runner's BACKUP_S3_SSE tests): SSE-KMS over plain HTTP, with the
# keys from radosgw's built-in test KMS backend. Pacific has no SSE-S3 (AES256).
rgw_crypt_require_ssl = false
rgw_crypt_s3_kms_backend = testing
rgw_crypt_s3_kms_encryption_keys = ${S3_TEST_KMS_KEY_ID}=${randomBytes(32).toString('base64')}
`;
}

export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  const missing = missingCephBinaries();
  if (missing.length) {
    throw new Error(`Ceph (mon, osd, radosgw) is not installed (missing ${missing.join(', ')}); run .ci/install-servers.sh`);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      // A port we picked was taken before the daemon bound it: pick new ones.
      if (attempt < 3 && e instanceof PortTakenError) continue;
      throw e;
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(options: StartS3Options): Promise<S3Server> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const remaining = () => Math.max(1_000, timeoutMs - (Date.now() - started));
  const runAs: RunAs | undefined = runAsFor('ceph');
  const dir = makeTempDir('ceph', runAs);
  checkFreeDisk(dir);
  const conf = path.join(dir, 'ceph.conf');
  const logDir = path.join(dir, 'log');
  const daemons: Daemon[] = [];
  const ceph = (args: string[], timeout = 60_000) => run(['ceph', '-c', conf, ...args], { timeoutMs: Math.min(timeout, remaining()) });

  try {
    const [monPort, rgwPort] = await distinctPorts(2);
    const fsid = randomUUID();
    const osdUuid = randomUUID();
    for (const sub of ['mon/ceph-a', 'osd/ceph-0', 'log', 'run', 'crash', 'rgw']) mkdirOwned(path.join(dir, sub), runAs);
    writeOwned(conf, cephConf({ dir, fsid, monPort, rgwPort, osdSizeBytes: (options.osdSizeGiB ?? 20) * 1024 ** 3 }), runAs);

    // One keyring for every entity: ceph-mon --mkfs imports all of them with
    // their caps, so no `ceph auth add` round trips are needed later.
    const keyring = path.join(dir, 'keyring');
    const entities: [string, string[]][] = [
      ['mon.', ['mon', 'allow *']],
      ['client.admin', ['mon', 'allow *', 'osd', 'allow *', 'mgr', 'allow *', 'mds', 'allow *']],
      ['osd.0', ['mon', 'allow profile osd', 'mgr', 'allow profile osd', 'osd', 'allow *']],
      ['client.rgw.a', ['mon', 'allow rw', 'mgr', 'allow rw', 'osd', 'allow rwx']],
    ];
    for (const [i, [name, caps]] of entities.entries()) {
      const capArgs: string[] = [];
      for (let c = 0; c < caps.length; c += 2) capArgs.push('--cap', caps[c], caps[c + 1]);
      await run(['ceph-authtool', ...(i === 0 ? ['--create-keyring'] : []), keyring, '--gen-key', '-n', name, ...capArgs]);
    }
    const monmap = path.join(dir, 'monmap');
    await run(['monmaptool', '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap]);
    for (const f of [keyring, monmap]) if (runAs) fs.chownSync(f, runAs.uid, runAs.gid);

    await run(['ceph-mon', '-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring], { runAs });

    // The OSD's mkfs (~1.5 s, bluestore formatting) needs no mon, so it
    // overlaps with starting the mon and registering the OSD there.
    const osdMkfs = run(['ceph-osd', '-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid, '--no-mon-config'], {
      runAs,
      timeoutMs: remaining(),
    });
    const mon = new Daemon('ceph-mon.a', ['ceph-mon', '-c', conf, '-f', '-i', 'a'], path.join(logDir, 'mon.a.stderr'), { runAs });
    daemons.push(mon);
    const registered = ceph(['osd', 'new', osdUuid, '0']);
    // allSettled: never leave the other one running while we clean up after a failure.
    for (const r of await Promise.allSettled([osdMkfs, registered])) if (r.status === 'rejected') throw r.reason;

    const osd = new Daemon('ceph-osd.0', ['ceph-osd', '-c', conf, '-f', '-i', '0'], path.join(logDir, 'osd.0.stderr'), { runAs });
    daemons.push(osd);
    // radosgw-admin below creates the rgw pools. Created before the OSD is up,
    // their PGs take seconds longer to become active than created after.
    await waitUntil(
      'ceph-osd.0 up',
      async () => {
        const dump = JSON.parse((await ceph(['osd', 'dump', '--format', 'json'], 10_000)).stdout) as { osds?: { osd: number; up: number }[] };
        return dump.osds?.some((o) => o.osd === 0 && o.up === 1) ?? false;
      },
      { timeoutMs: remaining(), intervalMs: 200, daemons },
    );

    const accessKeyId = `TEST${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(24).toString('base64url');
    await run(
      [
        'radosgw-admin', '-c', conf, 'user', 'create',
        '--uid', 'test', '--display-name', 'cdk8s-db-backup tests',
        '--access-key', accessKeyId, '--secret-key', secretAccessKey,
      ],
      { timeoutMs: remaining() },
    );

    const rgw = new Daemon('radosgw', ['radosgw', '-c', conf, '-f', '-n', 'client.rgw.a'], path.join(logDir, 'client.rgw.a.stderr'), { runAs });
    daemons.push(rgw);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitUntil('radosgw answering HTTP', () => httpOk(endpoint), { timeoutMs: remaining(), intervalMs: 100, daemons });

    return {
      endpoint,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      dir,
      pids: { mon: mon.pid ?? -1, osd: osd.pid ?? -1, rgw: rgw.pid ?? -1 },
      // SIGKILL: the cluster's data is deleted next, and a clean OSD shutdown takes seconds.
      stop: stopOnce(() => Promise.all(daemons.map((d) => d.stop('SIGKILL'))), dir),
    };
  } catch (e) {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    const logs = logTails(listLogs(logDir));
    const portTaken = isAddressInUse(logs) && !process.env.KEEP_TEST_SERVERS;
    const failure = startFailure(`Ceph S3 (radosgw) failed to start after ${Date.now() - started} ms: ${(e as Error).message}\n${logs}`, dir);
    throw portTaken ? new PortTakenError(failure.message) : failure;
  }
}

/** Distinct free ports (two freePort() calls can return the same one). */
async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Daemon logs first (what each daemon said), then the cluster log. */
function listLogs(logDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(logDir);
  } catch {
    return [];
  }
  const order = (n: string) => (n.startsWith('cluster') ? 2 : n.endsWith('.stderr') ? 1 : 0);
  return names
    .filter((n) => !n.startsWith('client.admin'))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .map((n) => path.join(logDir, n));
}

/**
 * A full host disk makes the sparse block file fail writes and the OSD abort,
 * which clients see as requests that never return. Refuse early instead.
 */
function checkFreeDisk(dir: string): void {
  const st = fs.statfsSync(dir);
  const freeGiB = (st.bavail * st.bsize) / 1024 ** 3;
  if (freeGiB < 2) {
    removeDir(dir);
    throw new Error(`Ceph S3: only ${freeGiB.toFixed(1)} GiB free under ${path.dirname(dir)}; the test OSD needs at least 2 GiB`);
  }
}

/** Whether an anonymous GET / answers 200 (radosgw's ListBuckets for "anonymous"). */
function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
