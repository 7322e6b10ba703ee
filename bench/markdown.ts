/**
 * The bench's results file and its rendering as bench/RESULTS.md's tables, so that recording a
 * run is a paste (`backup.bench.ts --markdown results-<date>.json` renders a file again).
 */
import { median, min } from './measure';

export interface RunRecord {
  readonly section: string;
  readonly variant: string;
  readonly label: string;
  readonly round: number;
  readonly seconds: number;
  /** CPU-seconds by process group (measure.ts). */
  readonly cpu: Record<string, number>;
  readonly cpuTree: number;
  readonly peakRssMiB?: number;
  /** Bytes the run added to the storage (for the runner: the backup object, from its log). */
  readonly storedBytes?: number;
  readonly rawBytes?: number;
  readonly databaseBytes?: number;
}

export interface Report {
  date: string;
  machine: string;
  command: string;
  options: Record<string, unknown>;
  versions: Record<string, string>;
  databases: Record<string, { bytes: number; tables: number; rows: number }>;
  runs: RunRecord[];
  failures: Array<{ key: string; round: number; message: string }>;
  skipped: Record<string, string>;
  daily: Array<{
    pattern: string;
    databaseBytes: number;
    days: Array<{ day: number; runnerSeconds: number; resticSeconds: number; runnerTotalBytes: number; resticTotalBytes: number }>;
  }>;
  titles?: Record<string, string>;
  totalSeconds?: number;
  /** The results file's name, for the link. */
  file?: string;
}

/** The CPU groups with a column of their own; the peer tool (rclone, aws, restic, pg_restore, …) gets one more. */
const FIXED = ['postgres', 'ceph', 'runner', 'pg_dump', 'zstd'];
const REST = ['shell', 'unattributed'];
const HEAD: Record<string, string> = { postgres: 'PostgreSQL', ceph: 'radosgw+OSD', runner: 'runner (node)', pg_dump: 'pg_dump', zstd: 'zstd' };

const f2 = (x: number) => x.toFixed(2);
const f1 = (x: number) => x.toFixed(1);
const mb = (bytes: number) => (bytes / 1e6).toFixed(0);

interface Group { variant: string; label: string; runs: RunRecord[] }

function groups(report: Report, section: string): Group[] {
  const out: Group[] = [];
  for (const r of report.runs.filter(x => x.section === section)) {
    let g = out.find(x => x.variant === r.variant);
    if (!g) out.push(g = { variant: r.variant, label: r.label, runs: [] });
    g.runs.push(r);
  }
  return out;
}

const med = (g: Group | undefined, pick: (r: RunRecord) => number | undefined): number | undefined => {
  const xs = (g?.runs ?? []).map(pick).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return xs.length ? median(xs) : undefined;
};

function cpuCells(g: Group): string[] {
  const toolNames = new Set<string>();
  for (const r of g.runs) for (const k of Object.keys(r.cpu)) if (!FIXED.includes(k) && !REST.includes(k)) toolNames.add(k);
  const tool = med(g, r => Object.entries(r.cpu).filter(([k]) => toolNames.has(k)).reduce((a, [, v]) => a + v, 0))!;
  const rest = med(g, r => REST.reduce((a, k) => a + (r.cpu[k] ?? 0), 0))!;
  const all = med(g, r => Object.values(r.cpu).reduce((a, v) => a + v, 0))!;
  return [
    ...FIXED.map(k => {
      const v = med(g, r => r.cpu[k] ?? 0)!;
      return v ? f1(v) : '–';
    }),
    toolNames.size ? `${f1(tool)} (${[...toolNames].join(', ')})` : '–',
    f1(rest),
    f1(all),
  ];
}

function timingTable(report: Report, section: string, withStored: boolean): string[] {
  const gs = groups(report, section);
  const base = med(gs.find(g => g.variant === 'runner'), r => r.seconds);
  const lines = [
    `| what | median s | min s | × runner |${withStored ? ' stored MB |' : ''} ${FIXED.map(k => HEAD[k]).join(' | ')} | tool | rest | all CPU-s |`,
    `|---|---|---|---|${withStored ? '---|' : ''}${FIXED.map(() => '---|').join('')}---|---|---|`,
  ];
  for (const g of gs) {
    const m = med(g, r => r.seconds)!;
    const stored = med(g, r => r.storedBytes);
    lines.push(`| ${g.label} | ${f2(m)} | ${f2(min(g.runs.map(r => r.seconds)))} | ${base ? f2(m / base) : '–'} |${withStored ? ` ${stored === undefined ? '–' : mb(stored)} |` : ''} ${cpuCells(g).join(' | ')} |`);
  }
  for (const [key, why] of Object.entries(report.skipped).filter(([k]) => k.startsWith(`${section}/`))) {
    lines.push(`| ${key.slice(section.length + 1)}: not measured — ${why} | | | |${withStored ? ' |' : ''}${FIXED.map(() => ' |').join('')} | | |`);
  }
  return lines;
}

function scaleTable(report: Report): string[] {
  const lines = [
    '| database (`pg_database_size`) | median s | min s | s per GB | peak RSS MiB (min–max) | runner CPU-s | runner CPU-s per GB stored | stored MB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const g of groups(report, 'scale')) {
    const dbGb = (med(g, r => r.databaseBytes) ?? 0) / 1e9;
    const s = med(g, r => r.seconds)!;
    const rss = g.runs.map(r => r.peakRssMiB ?? 0);
    const cpu = med(g, r => r.cpu.runner ?? 0)!;
    const stored = med(g, r => r.storedBytes) ?? 0;
    lines.push(`| ${f2(dbGb)} GB | ${f2(s)} | ${f2(min(g.runs.map(r => r.seconds)))} | ${dbGb ? f2(s / dbGb) : '–'} | ${min(rss)}–${Math.max(...rss)} | ${f2(cpu)} | ${stored ? f2(cpu / (stored / 1e9)) : '–'} | ${mb(stored)} |`);
  }
  return lines;
}

function targets(report: Report): string[] {
  const sec = (section: string, variant: string) => groups(report, section).find(g => g.variant === variant);
  const rows: string[] = [];
  const row = (what: string, value: string | undefined, ok: boolean | undefined) =>
    rows.push(`| ${what} | ${value ?? 'not measured'} | ${ok === undefined ? '–' : ok ? 'met' : '**not met**'} |`);
  const runner = sec('backup', 'runner');
  const floor = med(sec('backup', 'floor-zstd'), r => r.seconds);
  const rs = med(runner, r => r.seconds);
  row('backup wall time ≤ 1.25 × `pg_dump -Fc -Z0 \\| zstd -T0 -1 > /dev/null`', rs && floor ? `${f2(rs / floor)} ×` : undefined, rs && floor ? rs / floor <= 1.25 : undefined);
  const cpu = med(runner, r => r.cpu.runner);
  const stored = med(runner, r => r.storedBytes);
  const perGb = cpu !== undefined && stored ? cpu / (stored / 1e9) : undefined;
  row('runner process CPU ≤ 2 CPU-s per GB stored (to radosgw)', perGb === undefined ? undefined : `${f2(perGb)} CPU-s/GB`, perGb === undefined ? undefined : perGb <= 2);
  const tinyRunner = med(sec('tiny', 'runner'), r => r.seconds);
  const tinyDump = med(sec('tiny', 'pg_dump'), r => r.seconds);
  const over = tinyRunner !== undefined && tinyDump !== undefined ? tinyRunner - tinyDump : undefined;
  row('tiny database: runner ≤ 0.3 s over `pg_dump` alone', over === undefined ? undefined : `+${f2(over)} s`, over === undefined ? undefined : over <= 0.3);
  const stream = med(sec('restore-multi', 'runner'), r => r.seconds);
  const j2 = med(sec('restore-multi', 'runner-j2'), r => r.seconds);
  const pgj2 = med(sec('restore-multi', 'pg_restore-j2'), r => r.seconds);
  row(`${report.options.tables ?? 50}-table restore, parallelism 2: ≤ 0.7 × streaming restore`, j2 && stream ? `${f2(j2 / stream)} ×` : undefined, j2 && stream ? j2 / stream <= 0.7 : undefined);
  row('… and ≤ 1.1 × `pg_restore -j2` from a local file', j2 && pgj2 ? `${f2(j2 / pgj2)} ×` : undefined, j2 && pgj2 ? j2 / pgj2 <= 1.1 : undefined);
  const rss = report.runs.filter(r => r.section === 'scale').map(r => r.peakRssMiB ?? 0);
  row('runner peak RSS flat with database size', rss.length ? `${min(rss)}–${Math.max(...rss)} MiB` : undefined, undefined);
  return ['| target (issue #15) | measured | |', '|---|---|---|', ...rows];
}

function dailyTable(report: Report): string[] {
  if (!report.daily.length) return [];
  const lines = [
    `${report.daily[0].days.length} daily backups of a ${f2(report.daily[0].databaseBytes / 1e9)} GB database changing 2 % a day (bytes in radosgw after the last day):`,
    '',
    '| change pattern | runner: full zstd objects + manifests | restic: deduplicated repository | restic / runner | day 1: runner / restic | median s per day: runner / restic |',
    '|---|---|---|---|---|---|',
  ];
  for (const d of report.daily) {
    const last = d.days[d.days.length - 1];
    const first = d.days[0];
    lines.push(`| ${d.pattern} | ${mb(last.runnerTotalBytes)} MB | ${mb(last.resticTotalBytes)} MB | ${f2(last.resticTotalBytes / last.runnerTotalBytes)} | ${mb(first.runnerTotalBytes)} MB / ${mb(first.resticTotalBytes)} MB | ${f2(median(d.days.map(x => x.runnerSeconds)))} / ${f2(median(d.days.map(x => x.resticSeconds)))} |`);
  }
  lines.push('', '`uniform`: 2 % of the rows, spread over the whole table, updated each day; `append`: the oldest 2 % deleted and as many appended (an event log).');
  return lines;
}

function tinyTable(report: Report): string[] {
  const gs = groups(report, 'tiny');
  if (!gs.length) return [];
  return [
    '| what | median s | min s | runner CPU-s | all CPU-s |',
    '|---|---|---|---|---|',
    ...gs.map(g => `| ${g.label} | ${f2(med(g, r => r.seconds)!)} | ${f2(min(g.runs.map(r => r.seconds)))} | ${g.variant.startsWith('runner') ? f2(med(g, r => r.cpu.runner ?? 0)!) : '–'} | ${f2(med(g, r => Object.values(r.cpu).reduce((a, v) => a + v, 0))!)} |`),
  ];
}

export function renderMarkdown(report: Report): string {
  const day = report.date.slice(0, 10);
  const rounds = report.options.rounds;
  const file = report.file ?? `results-${day}.json`;
  const out: string[] = [
    `## ${day} — issue #15 bench: ${report.machine}`,
    '',
    `${Object.entries(report.versions).map(([k, v]) => `${k}: ${v}`).join('; ')}.`,
    '',
    '```sh',
    report.command,
    '```',
    '',
    `Raw JSON: [\`${file}\`](${file})${report.totalSeconds ? `; the whole run took ${Math.round(report.totalSeconds / 60)} min` : ''}. `
    + `Every variant ran once per round, round-robin (the order rotated each round), ${rounds} rounds; wall time median and min. `
    + 'CPU columns: median CPU-seconds per process group over the run (bench/measure.ts: /proc utime+stime of the servers before/after; '
    + 'the command\'s process tree polled every 100 ms, its exact total from `/usr/bin/time`; "rest" is the shell plus what polling missed). '
    + 'PostgreSQL, radosgw, the runner and every tool share the same cores.',
    '',
  ];
  for (const section of ['backup', 'restore-big', 'restore-multi']) {
    if (!groups(report, section).length && !Object.keys(report.skipped).some(k => k.startsWith(`${section}/`))) continue;
    out.push(`### ${report.titles?.[section] ?? section}`, '', ...timingTable(report, section, section === 'backup'), '');
  }
  if (groups(report, 'scale').length) out.push(`### ${report.titles?.scale ?? 'scale'}`, '', ...scaleTable(report), '');
  if (report.daily.length) out.push('### Bytes stored by daily backups', '', ...dailyTable(report), '');
  if (groups(report, 'tiny').length) out.push(`### ${report.titles?.tiny ?? 'tiny'}`, '', ...tinyTable(report), '');
  out.push('### Targets', '', ...targets(report), '');
  if (report.failures.length) {
    out.push('### Failed variants', '', ...report.failures.map(f => `- ${f.key} (round ${f.round}): ${f.message.split('\n')[0]}`), '');
  }
  return `${out.join('\n')}\n`;
}
