/**
 * How far apart the runs of a cron expression can be, in a time zone: the basis of the stale
 * alert's threshold and of `check`'s default maximum age.
 * Internal: not exported from the package index.
 *
 * Semantics are those of the Kubernetes CronJob controller, which parses with robfig/cron v3's
 * `ParseStandard` and steps with its `Next()` in the CronJob's time zone:
 * - `*` and `?` (and `* /1`) mark a field as unrestricted; `* /n` with n > 1 does not. When
 *   day-of-month or day-of-week is unrestricted a day must match both, otherwise either.
 * - `a/n` means `a-max/n`; names (JAN, MON) are case-insensitive.
 * - `@every d` runs every d (sub-second parts dropped, at least 1 s), independent of the zone.
 *
 * DST, assumed conservatively (a longer gap means fewer false alarms):
 * - a local time that does not exist (spring forward) is skipped, as robfig/cron does;
 * - a local time that exists twice (fall back) counts ONCE. robfig/cron would run at both, which
 *   only shortens gaps; we compute the gap with the earlier and with the later instant and keep
 *   the longer one.
 */
import { RuleError } from './rules';

/** Years simulated: 28 is the cycle of weekdays and leap years between 1901 and 2099. */
const SIMULATED_YEARS = 28;
/** Fixed start, so synth output does not depend on the day it runs; a leap year. */
const START_YEAR = 2024;

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

interface CronFields {
  readonly minutes: number[];
  readonly hours: number[];
  readonly dom: Set<number>;
  readonly months: Set<number>;
  readonly dow: Set<number>;
  readonly domStar: boolean;
  readonly dowStar: boolean;
}

interface Bounds {
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const MINUTE: Bounds = { min: 0, max: 59 };
const HOUR: Bounds = { min: 0, max: 23 };
const DOM: Bounds = { min: 1, max: 31 };
const MONTH: Bounds = { min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] };
const DOW: Bounds = { min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] };

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const GO_UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

const cache = new Map<string, number>();

/**
 * The longest time in seconds between two consecutive runs of `expression` (five fields or a
 * descriptor, `H` already resolved, as the CronJob receives it) evaluated in `timeZone` (IANA;
 * undefined: UTC), over enough years to include every pattern (weekends, month ends, leap years,
 * DST changes).
 *
 * `0 0 29 2 *` gives 4 years (1461 days); it ignores 2100, which is not a leap year (robfig/cron
 * gives up after 5 years without a match, so such a CronJob stops in 2096 anyway).
 * Throws when the expression never runs (e.g. `0 0 30 2 *`).
 */
export function longestGapSeconds(expression: string, timeZone?: string): number {
  const key = `${timeZone ?? 'UTC'}\0${expression}`;
  let gap = cache.get(key);
  if (gap === undefined) {
    gap = compute(expression.trim(), timeZone);
    cache.set(key, gap);
  }
  return gap;
}

/** The grace added to a stale threshold: an hour or a quarter of the gap, whichever is smaller. */
export function staleGraceSeconds(gapSeconds: number): number {
  return Math.min(3600, Math.floor(gapSeconds / 4));
}

/**
 * How old the newest successful run may become before the series is late: the longest gap, plus
 * the time one run may take (activeDeadline), plus the grace.
 */
export function staleAfterSeconds(expression: string, timeZone: string | undefined, activeDeadlineSeconds: number): number {
  const gap = longestGapSeconds(expression, timeZone);
  return gap + activeDeadlineSeconds + staleGraceSeconds(gap);
}

function compute(expression: string, timeZone: string | undefined): number {
  const lower = expression.toLowerCase();
  const every = /^@every\s+(\S+)$/.exec(lower);
  if (every) return everySeconds(every[1], expression);
  const fields = parseFields(DESCRIPTORS[lower] ?? expression);
  const zone = zoneOffsets(timeZone);
  const gap = zone.constant
    ? longestGap(fields, zone, 'earlier')
    : Math.max(longestGap(fields, zone, 'earlier') ?? 0, longestGap(fields, zone, 'later') ?? 0) || undefined;
  if (gap === undefined) {
    throw new RuleError(`schedule: '${expression}' never runs: no date has its day-of-month in its month(s). Pick a day every chosen month has.`);
  }
  return gap / 1000;
}

/** robfig/cron `Every()`: whole seconds, at least one. */
function everySeconds(duration: string, expression: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map(p => p[0]).join('') !== duration) {
    throw new Error(`schedule: '${expression}' has an invalid duration '${duration}'.`);
  }
  const ns = parts.reduce((sum, p) => sum + Number(p[1]) * GO_UNITS_NS[p[2]], 0);
  return Math.max(1, Math.floor(ns / 1e9));
}

function parseFields(expression: string): CronFields {
  const parts = expression.split(/\s+/);
  if (parts.length !== 5) throw new Error(`schedule: '${expression}' does not have 5 fields.`);
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(p, [MINUTE, HOUR, DOM, MONTH, DOW][i], expression));
  return {
    minutes: [...minute.values].sort((a, b) => a - b),
    hours: [...hour.values].sort((a, b) => a - b),
    dom: dom.values,
    months: month.values,
    dow: dow.values,
    domStar: dom.star,
    dowStar: dow.star,
  };
}

/** One field, as robfig/cron's getField/getRange read it. */
function parseField(field: string, bounds: Bounds, expression: string): { values: Set<number>; star: boolean } {
  const values = new Set<number>();
  let star = false;
  for (const item of field.split(',')) {
    const [range, stepText, ...rest] = item.split('/');
    const lowHigh = range.split('-');
    let start: number;
    let end: number;
    let itemStar = false;
    if (lowHigh[0] === '*' || lowHigh[0] === '?') {
      [start, end, itemStar] = [bounds.min, bounds.max, true];
    } else {
      start = valueOf(lowHigh[0], bounds, expression);
      end = lowHigh.length === 2 ? valueOf(lowHigh[1], bounds, expression) : start;
    }
    let step = 1;
    if (stepText !== undefined) {
      step = Number(stepText);
      if (lowHigh.length === 1) end = bounds.max; // "N/step" means "N-max/step"
      if (step > 1) itemStar = false;
    }
    if (rest.length > 0 || lowHigh.length > 2 || !Number.isInteger(step) || step < 1 || start > end || start < bounds.min || end > bounds.max) {
      throw new Error(`schedule: '${expression}': '${item}' is not a valid cron field item.`);
    }
    for (let v = start; v <= end; v += step) values.add(v);
    star = star || itemStar;
  }
  return { values, star };
}

function valueOf(text: string, bounds: Bounds, expression: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const index = bounds.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index < 0) throw new Error(`schedule: '${expression}': '${text}' is not a valid cron value.`);
  return index + bounds.min;
}

/** The UTC offset of a zone over the simulated years, as a list of changes. */
interface ZoneOffsets {
  readonly constant: boolean;
  /** Instants (ms) at which the offset changes, ascending. */
  readonly changes: number[];
  /** offsets[i] applies before changes[i]; offsets[changes.length] after the last. */
  readonly offsets: number[];
}

const zones = new Map<string, ZoneOffsets>();

function zoneOffsets(timeZone: string | undefined): ZoneOffsets {
  const name = timeZone ?? 'UTC';
  let zone = zones.get(name);
  if (!zone) {
    zone = scanZone(name);
    zones.set(name, zone);
  }
  return zone;
}

/** Samples the offset daily (no zone changes twice within a day) and bisects each change to the minute. */
function scanZone(timeZone: string): ZoneOffsets {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return { constant: true, changes: [], offsets: [0] };
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  });
  const offsetAt = (instant: number): number => {
    const p: Record<string, number> = {};
    for (const part of format.formatToParts(new Date(instant))) p[part.type] = Number(part.value);
    const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    return wall - Math.floor(instant / 1000) * 1000;
  };
  // From two days before the first simulated day to two days after the last one.
  const from = Date.UTC(START_YEAR, 0, 1) - 2 * DAY_MS;
  const to = Date.UTC(START_YEAR + SIMULATED_YEARS, 0, 1) + 2 * DAY_MS;
  const changes: number[] = [];
  const offsets = [offsetAt(from)];
  for (let t = from + DAY_MS; t <= to; t += DAY_MS) {
    const offset = offsetAt(t);
    if (offset === offsets[offsets.length - 1]) continue;
    let [lo, hi] = [t - DAY_MS, t]; // offset(lo) = previous, offset(hi) = new
    while (hi - lo > MINUTE_MS) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE_MS) * MINUTE_MS;
      if (offsetAt(mid) === offset) hi = mid; else lo = mid;
    }
    changes.push(hi);
    offsets.push(offset);
  }
  return { constant: changes.length === 0, changes, offsets };
}

/**
 * The instants (ms) at which a local wall time (ms, as if UTC) happens: none in a spring-forward
 * gap, one, or two in a fall-back overlap, of which `policy` picks one.
 */
function instantOf(wall: number, zone: ZoneOffsets, policy: 'earlier' | 'later', changeIndex: number): number | undefined {
  const change = zone.changes[changeIndex];
  const before = zone.offsets[changeIndex];
  const after = zone.offsets[changeIndex + 1];
  const candidates: number[] = [];
  if (wall - before < change) candidates.push(wall - before);
  if (wall - after >= change) candidates.push(wall - after);
  if (candidates.length === 0) return undefined;
  return policy === 'earlier' ? Math.min(...candidates) : Math.max(...candidates);
}

/** Milliseconds; undefined when it never runs. */
function longestGap(fields: CronFields, zone: ZoneOffsets, policy: 'earlier' | 'later'): number | undefined {
  // Minutes of the day at which it runs, and the longest gap between two of them.
  const times: number[] = [];
  for (const h of fields.hours) for (const m of fields.minutes) times.push((h * 60 + m) * MINUTE_MS);
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i] - times[i - 1]);

  let previous: number | undefined;
  let changeIndex = 0;
  const first = Date.UTC(START_YEAR, 0, 1);
  const end = Date.UTC(START_YEAR + SIMULATED_YEARS, 0, 1);
  for (let day = first; day < end; day += DAY_MS) {
    const date = new Date(day);
    if (!fields.months.has(date.getUTCMonth() + 1)) continue;
    const domMatch = fields.dom.has(date.getUTCDate());
    const dowMatch = fields.dow.has(date.getUTCDay());
    const matches = fields.domStar || fields.dowStar ? domMatch && dowMatch : domMatch || dowMatch;
    if (!matches) continue;
    // The offset change nearest this day, if it is close enough to touch it (offsets are within ±14 h).
    while (changeIndex < zone.changes.length && zone.changes[changeIndex] < day - DAY_MS) changeIndex++;
    const change = zone.changes[changeIndex];
    const touched = change !== undefined && change <= day + 2 * DAY_MS;
    if (!touched) {
      // One offset all day: only the day's first and last run can make a longer gap.
      const offset = zone.offsets[changeIndex];
      const firstRun = day + times[0] - offset;
      if (previous !== undefined) longest = Math.max(longest, firstRun - previous);
      previous = day + times[times.length - 1] - offset;
      continue;
    }
    for (const time of times) {
      const run = instantOf(day + time, zone, policy, changeIndex);
      if (run === undefined) continue;
      if (previous !== undefined) longest = Math.max(longest, run - previous);
      previous = run;
    }
  }
  return previous === undefined ? undefined : longest;
}
