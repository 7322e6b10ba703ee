/**
 * Timing one command, with its CPU split by process group and the servers' CPU over the same
 * interval.
 *
 * How CPU-seconds are counted (all from /proc/<pid>/stat, utime + stime, in clock ticks):
 * - The command's own process tree: every 100 ms the bench scans /proc, follows parent pids down
 *   from the command, and keeps each descendant's last seen utime + stime under its name (comm:
 *   `node` is the runner, then `pg_dump`, `zstd`, `rclone`, …). A process's last slice before it
 *   exits (< 100 ms) is missed, so the command is also run under `/usr/bin/time`, whose total
 *   (getrusage of all waited-for descendants) is exact; the difference is reported as
 *   `unattributed`, which shows the polling error.
 * - PostgreSQL: the postmaster's utime + stime + cutime + cstime (cutime/cstime add up every
 *   backend it has reaped) plus utime + stime of its live children, before and after: the
 *   difference is everything PostgreSQL did meanwhile, short-lived backends included.
 * - Ceph: utime + stime of radosgw, the OSD and the mon (long-lived, threads included), before
 *   and after.
 * The bench's own polling costs ~2.5 ms of CPU per scan (~2.5 % of one core); it is not counted.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const POLL_MS = 100;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** utime + stime, ticks. */
  readonly self: number;
  /** cutime + cstime: reaped children, ticks. */
  readonly children: number;
}

function parseStat(pid: number, text: string): Stat {
  // comm may contain spaces and parentheses: it ends at the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' '); // f[0] is field 3 (state)
  return { pid, ppid: Number(f[1]), comm, self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

function readStat(pid: number): Stat | undefined {
  try {
    return parseStat(pid, fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // exited
  }
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    const s = readStat(Number(d));
    if (s) out.push(s);
  }
  return out;
}

/** The long-lived server processes whose CPU is sampled around every run. */
export interface ServerPids {
  readonly postgres: number;
  readonly ceph: readonly number[];
}

/** CPU ticks so far of each server group (see the file comment). */
function serverTicks(servers: ServerPids): { postgres: number; ceph: number } {
  const stats = allStats();
  const pm = stats.find(s => s.pid === servers.postgres);
  const postgres = pm ? pm.self + pm.children + stats.filter(s => s.ppid === pm.pid).reduce((a, s) => a + s.self, 0) : 0;
  const ceph = servers.ceph.reduce((a, pid) => a + (stats.find(s => s.pid === pid)?.self ?? 0), 0);
  return { postgres, ceph };
}

/** Process names as shown in the CPU split. */
function groupOf(comm: string): string {
  if (comm === 'node' || comm === 'MainThread') return 'runner';
  // The wrappers and the scripts' own helpers.
  if (comm === 'time' || comm === 'bash' || comm === 'sh' || comm === 'rm') return 'shell';
  return comm;
}

export interface Measured {
  readonly seconds: number;
  /** CPU-seconds per group: postgres, ceph, runner (node), pg_dump, zstd, … and unattributed. */
  readonly cpu: Record<string, number>;
  /** CPU-seconds of the command's whole process tree (exact, from /usr/bin/time). */
  readonly cpuTree: number;
  /** Peak RSS (VmHWM) of the runner's node process, when there was one. */
  readonly peakRssMiB?: number;
  /** The last JSON line the command printed on stdout, if any (the runner's outcome). */
  readonly last?: Record<string, unknown>;
}

export class CommandError extends Error {
  constructor(message: string, public readonly code: number | null, public readonly last?: Record<string, unknown>) {
    super(message);
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Runs argv (no shell unless argv says so), timed, with the CPU split described above. */
export function measure(argv: readonly string[], env: NodeJS.ProcessEnv, servers: ServerPids): Promise<Measured> {
  const timeFile = path.join(os.tmpdir(), `bench-time-${process.pid}-${Date.now()}`);
  const before = serverTicks(servers);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, '--', ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => { stdout = (stdout + d).slice(-16_000); });
    child.stderr.on('data', d => { stderr = (stderr + d).slice(-4000); });
    const seen = new Map<number, { group: string; ticks: number }>();
    let peakKiB = 0;
    const poll = () => {
      const tree = new Set([child.pid!]);
      const stats = allStats();
      // Parents have lower pids only until pids wrap: repeat until nothing new joins.
      for (let grew = true; grew;) {
        grew = false;
        for (const s of stats) {
          if (!tree.has(s.pid) && tree.has(s.ppid)) { tree.add(s.pid); grew = true; }
        }
      }
      for (const s of stats) {
        if (!tree.has(s.pid)) continue;
        const group = groupOf(s.comm);
        seen.set(s.pid, { group, ticks: s.self });
        if (group === 'runner') {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${s.pid}/status`, 'utf8'));
            if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
          } catch { /* exited */ }
        }
      }
    };
    const timer = setInterval(poll, POLL_MS);
    child.on('error', reject);
    child.on('close', code => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const after = serverTicks(servers);
      let last: Record<string, unknown> | undefined;
      for (const line of stdout.trim().split('\n').reverse()) {
        try {
          last = JSON.parse(line);
          break;
        } catch { /* not JSON */ }
      }
      let cpuTree = 0;
      try {
        const [u, s] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        cpuTree = u + s;
      } catch { /* time did not write it: the command could not start */ }
      fs.rmSync(timeFile, { force: true });
      if (code !== 0) {
        reject(new CommandError(`${argv.join(' ')} exited ${code}: ${stderr.trim() || JSON.stringify(last)}`, code, last));
        return;
      }
      const cpu: Record<string, number> = {
        postgres: round3((after.postgres - before.postgres) / TICKS_PER_SECOND),
        ceph: round3((after.ceph - before.ceph) / TICKS_PER_SECOND),
      };
      let attributed = 0;
      for (const { group, ticks } of seen.values()) {
        cpu[group] = round3((cpu[group] ?? 0) + ticks / TICKS_PER_SECOND);
        attributed += ticks / TICKS_PER_SECOND;
      }
      cpu.unattributed = round3(Math.max(0, cpuTree - attributed));
      resolve({ seconds: round3(seconds), cpu, cpuTree: round3(cpuTree), peakRssMiB: peakKiB ? Math.round(peakKiB / 1024) : undefined, last });
    });
  });
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export const min = (xs: readonly number[]): number => Math.min(...xs);
