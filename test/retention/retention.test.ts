import { applyRetention, Dated, isoWeek, RetentionPolicy } from '../../image/src/retention';
import { RuleError } from '../../lib/rules';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A seeded PRNG (Park-Miller) so every generated history can be reproduced from its seed. */
function rng(seed: number): () => number {
  let state = seed % 2147483647 || 1;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

/** A history like a real CronJob's: mostly regular runs, some missed, some retried twice in an hour. */
function history(random: () => number, count: number): Dated[] {
  const out: Dated[] = [];
  let t = Date.UTC(2024, 0, 1) + Math.floor(random() * 400) * DAY;
  const step = [HOUR, 6 * HOUR, DAY, 7 * DAY][Math.floor(random() * 4)];
  for (let i = 0; i < count; i++) {
    t += random() < 0.1 ? Math.floor(random() * 50) * 60_000 : step * (1 + Math.floor(random() * 2)) + Math.floor(random() * 600_000);
    out.push({ id: `b${i}`, time: new Date(t) });
  }
  return out;
}

function randomPolicy(random: () => number): RetentionPolicy {
  const maybe = (max: number) => (random() < 0.5 ? undefined : Math.floor(random() * max));
  return {
    keepLast: maybe(5),
    keepHourly: maybe(30),
    keepDaily: maybe(10),
    keepWeekly: maybe(6),
    keepMonthly: maybe(13),
    keepYearly: maybe(3),
    keepWithinMs: random() < 0.3 ? Math.floor(random() * 10) * DAY : undefined,
  };
}

const BUCKETS: Array<[keyof RetentionPolicy, (t: Date) => string]> = [
  ['keepHourly', t => t.toISOString().slice(0, 13)],
  ['keepDaily', t => t.toISOString().slice(0, 10)],
  ['keepWeekly', isoWeek],
  ['keepMonthly', t => t.toISOString().slice(0, 7)],
  ['keepYearly', t => t.toISOString().slice(0, 4)],
];

/** Same time: the greater id counts as newer (real ids start with the UTC timestamp). */
function sortNewestFirst(backups: readonly Dated[]): Dated[] {
  return [...backups].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** The policy restated as sets, independently of the algorithm's single pass. */
function expectedKeep(backups: Dated[], policy: RetentionPolicy): Set<string> {
  const newestFirst = sortNewestFirst(backups);
  const keep = new Set<string>();
  if (newestFirst.length === 0) return keep;
  keep.add(newestFirst[0].id);
  newestFirst.slice(0, policy.keepLast ?? 0).forEach(b => keep.add(b.id));
  for (const [field, bucketOf] of BUCKETS) {
    const n = (policy[field] as number | undefined) ?? 0;
    const newestPerBucket = new Map<string, Dated>();
    for (const b of newestFirst) if (!newestPerBucket.has(bucketOf(b.time))) newestPerBucket.set(bucketOf(b.time), b);
    [...newestPerBucket.values()].slice(0, n).forEach(b => keep.add(b.id));
  }
  if (policy.keepWithinMs !== undefined) {
    const newest = newestFirst[0].time.getTime();
    newestFirst.filter(b => newest - b.time.getTime() <= policy.keepWithinMs!).forEach(b => keep.add(b.id));
  }
  return keep;
}

describe('retention (restic forget semantics)', () => {
  test('keep-last keeps the n newest', () => {
    const backups = [0, 1, 2, 3, 4].map(i => ({ id: `b${i}`, time: new Date(Date.UTC(2026, 0, 1 + i)) }));
    expect(applyRetention(backups, { keepLast: 2 }).keep.map(b => b.id)).toEqual(['b4', 'b3']);
  });

  test('keep-daily keeps the newest backup of each of the n most recent days that have one', () => {
    const at = (d: number, h: number) => new Date(Date.UTC(2026, 0, d, h));
    const backups = [
      { id: 'd1-02', time: at(1, 2) }, { id: 'd1-14', time: at(1, 14) },
      { id: 'd3-02', time: at(3, 2) }, { id: 'd3-14', time: at(3, 14) },
      { id: 'd4-02', time: at(4, 2) },
    ];
    const decision = applyRetention(backups, { keepDaily: 2 });
    expect(decision.keep.map(b => b.id)).toEqual(['d4-02', 'd3-14']);
    expect(decision.remove.map(b => b.id)).toEqual(['d3-02', 'd1-14', 'd1-02']);
    expect(decision.reasons.get('d4-02')).toEqual(['newest', 'daily']);
  });

  test('weeks are ISO weeks (Monday start; the week of 2026-01-01 is 2026-W01, 2024-12-30 is 2025-W01)', () => {
    expect(isoWeek(new Date(Date.UTC(2026, 0, 1)))).toBe('2026-W01');
    expect(isoWeek(new Date(Date.UTC(2024, 11, 30)))).toBe('2025-W01');
    expect(isoWeek(new Date(Date.UTC(2021, 0, 3)))).toBe('2020-W53');
    expect(isoWeek(new Date(Date.UTC(2026, 10, 23)))).toBe('2026-W48');
  });

  test('keep-within is relative to the newest backup, not to now', () => {
    const backups = [0, 1, 2, 3].map(i => ({ id: `b${i}`, time: new Date(Date.UTC(2020, 0, 1 + i)) }));
    expect(applyRetention(backups, { keepWithinMs: DAY }).keep.map(b => b.id)).toEqual(['b3', 'b2']);
  });

  test('an empty policy still keeps the newest backup', () => {
    const backups = [0, 1].map(i => ({ id: `b${i}`, time: new Date(Date.UTC(2026, 0, 1 + i)) }));
    expect(applyRetention(backups, {}).keep.map(b => b.id)).toEqual(['b1']);
    expect(applyRetention([], { keepLast: 3 })).toMatchObject({ keep: [], remove: [] });
  });

  test('rejects negative or fractional counts and keep-within, naming the field, with the shared rule error', () => {
    expect(() => applyRetention([], { keepDaily: -1 })).toThrow(/^keepDaily: -1 must be a whole number of 0 or more/);
    expect(() => applyRetention([], { keepLast: 1.5 })).toThrow(/^keepLast: 1.5/);
    expect(() => applyRetention([], { keepWithinMs: -DAY })).toThrow(/^keepWithinMs: -86400000 must be a whole number of milliseconds/);
    expect(() => applyRetention([], { keepYearly: -1 })).toThrow(RuleError);
    // A duration is not a count: a year in milliseconds is far above any count's bound.
    expect(applyRetention([{ id: 'b', time: new Date() }], { keepWithinMs: 365 * DAY }).keep).toHaveLength(1);
  });

  test('on 500 generated histories, what is kept is exactly what the policy keeps, and always the newest', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const random = rng(seed);
      const backups = history(random, 1 + Math.floor(random() * 200));
      const policy = randomPolicy(random);
      const { keep, remove } = applyRetention(backups, policy);
      const context = `seed ${seed}, policy ${JSON.stringify(policy)}`;
      const newest = sortNewestFirst(backups)[0];
      expect({ context, newestKept: keep.some(b => b.id === newest.id) }).toEqual({ context, newestKept: true });
      expect({ context, keep: new Set(keep.map(b => b.id)) }).toEqual({ context, keep: expectedKeep(backups, policy) });
      expect(keep.length + remove.length).toBe(backups.length);
      // Applying the policy again to what was kept removes nothing: a second prune never loses more.
      expect({ context, removedAgain: applyRetention(keep, policy).remove.length }).toEqual({ context, removedAgain: 0 });
      // A policy that keeps more never removes something a smaller policy kept.
      const bigger = { ...policy, keepDaily: (policy.keepDaily ?? 0) + 3 };
      const keptByBigger = new Set(applyRetention(backups, bigger).keep.map(b => b.id));
      expect({ context, lost: keep.filter(b => !keptByBigger.has(b.id)).map(b => b.id) }).toEqual({ context, lost: [] });
    }
  });

  test('the result does not depend on the order backups are listed in', () => {
    const random = rng(42);
    const backups = history(random, 100);
    const policy = { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 };
    const shuffled = [...backups].sort(() => random() - 0.5);
    expect(applyRetention(shuffled, policy).keep.map(b => b.id)).toEqual(applyRetention(backups, policy).keep.map(b => b.id));
  });
});
