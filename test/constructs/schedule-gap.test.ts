import { longestGapSeconds, staleAfterSeconds, staleGraceSeconds } from '../../lib/schedule-gap';

const MIN = 60;
const HOUR = 3600;
const DAY = 86400;

describe('longestGapSeconds', () => {
  test.each<[string, number]>([
    ['0 0 * * *', DAY],
    ['@daily', DAY],
    ['@midnight', DAY],
    ['7-59/15 * * * *', 15 * MIN], // what H/15 resolves to
    ['7/15 * * * *', 15 * MIN], // robfig/cron: 'a/n' means 'a-59/n'
    ['0 * * * *', HOUR],
    ['@hourly', HOUR],
    ['* * * * *', MIN],
    ['0 3 * * 1-5', 72 * HOUR], // Friday 03:00 to Monday 03:00
    ['0 3 * * MON-FRI', 72 * HOUR],
    ['0 0 * * 0,6', 6 * DAY], // Sunday 00:00 to Saturday 00:00
    ['@weekly', 7 * DAY],
    ['0 0 * * 0', 7 * DAY],
    ['0 0 1 * *', 31 * DAY],
    ['@monthly', 31 * DAY],
    ['0 0 31 * *', 61 * DAY], // Aug 31 to Oct 31 (Jul 31 to Aug 31 is 31)
    ['0 0 30 * *', 31 * DAY + 28 * DAY + 1 * DAY], // Jan 30 to Mar 30 in a leap year: 60 days
    ['@yearly', 366 * DAY],
    ['0 0 1 JAN *', 366 * DAY],
    ['0 0 29 2 *', 1461 * DAY], // leap days only: 4 years (2100 is beyond what robfig/cron looks ahead)
    ['@every 6h', 6 * HOUR],
    ['@every 1h30m', 90 * MIN],
    ['@every 1.5h', 90 * MIN],
    ['@every 500ms', 1], // robfig/cron runs at most every second
    ['0 */6 * * *', 6 * HOUR],
    ['30 1,13 * * *', 12 * HOUR],
    ['0 22 * * *', DAY],
    ['0 0 * 2 1', 350 * DAY], // Mondays in February: last one to next year's first
  ])('%s -> %d s', (expression, expected) => {
    expect(longestGapSeconds(expression)).toBe(expected);
  });

  test('day-of-month and day-of-week both restricted: either matches (robfig/cron OR)', () => {
    // The 1st or any Monday: never more than a week apart, though the 1st alone is 31 days.
    expect(longestGapSeconds('0 0 1 * 1')).toBe(7 * DAY);
    // The 13th or any Friday.
    expect(longestGapSeconds('0 0 13 * 5')).toBe(7 * DAY);
  });

  test("one of them '*' or '?': both must match, so the other alone decides", () => {
    expect(longestGapSeconds('0 0 ? * 1')).toBe(7 * DAY);
    expect(longestGapSeconds('0 0 1 * ?')).toBe(31 * DAY);
    expect(longestGapSeconds('0 0 */1 * 1')).toBe(7 * DAY); // '*/1' counts as '*'
    // '*/2' is not '*': odd days OR Mondays.
    expect(longestGapSeconds('0 0 */2 * 1')).toBe(2 * DAY);
  });

  test('time zones without DST change nothing', () => {
    expect(longestGapSeconds('0 2 * * *', 'Asia/Tokyo')).toBe(DAY);
    expect(longestGapSeconds('0 2 * * *', 'Etc/UTC')).toBe(DAY);
    expect(longestGapSeconds('0 3 * * 1-5', 'Asia/Kolkata')).toBe(72 * HOUR);
  });

  test('Europe/Berlin, daily at 02:30: skipped on the spring-forward day, so 47 h', () => {
    // 02:30 does not exist on the last Sunday of March: Saturday 02:30 CET to Monday 02:30 CEST.
    expect(longestGapSeconds('30 2 * * *', 'Europe/Berlin')).toBe(47 * HOUR);
    expect(longestGapSeconds('30 2 * * *', 'America/New_York')).toBe(47 * HOUR);
  });

  test('Europe/Berlin, daily at 03:00: the 25-hour day of the fall-back is the longest gap', () => {
    expect(longestGapSeconds('0 3 * * *', 'Europe/Berlin')).toBe(25 * HOUR);
    // 00:00 stays daily; the longest day of the year is 25 h.
    expect(longestGapSeconds('0 0 * * *', 'Europe/Berlin')).toBe(25 * HOUR);
  });

  test('a repeated local time (fall back) counts once: conservative, robfig/cron runs it twice', () => {
    // Hourly at :30 in Berlin: 02:30 exists twice on the last Sunday of October; counted once it
    // leaves a 2-hour gap next to it (and the spring-forward day skips 02:30: 2 h too).
    expect(longestGapSeconds('30 * * * *', 'Europe/Berlin')).toBe(2 * HOUR);
    expect(longestGapSeconds('30 2 * * *', 'Europe/Berlin')).toBeGreaterThanOrEqual(25 * HOUR);
  });

  test('half-hour DST (Australia/Lord_Howe) gives a 24.5 h day', () => {
    expect(longestGapSeconds('0 0 * * *', 'Australia/Lord_Howe')).toBe(24.5 * HOUR);
  });

  test('a schedule that never runs is refused', () => {
    expect(() => longestGapSeconds('0 0 30 2 *')).toThrow(/never runs/);
    expect(() => longestGapSeconds('0 0 31 4,6,9,11 *')).toThrow(/never runs/);
  });

  test('fast enough to call at every synth', () => {
    const started = Date.now();
    longestGapSeconds('* * * * *', 'America/Sao_Paulo');
    longestGapSeconds('*/5 * * * 1-5', 'Europe/London');
    longestGapSeconds('17 4 * * 0', 'Pacific/Auckland');
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('staleAfterSeconds', () => {
  test('gap + activeDeadline + grace of min(1 h, gap / 4)', () => {
    expect(staleGraceSeconds(DAY)).toBe(HOUR);
    expect(staleGraceSeconds(HOUR)).toBe(15 * MIN);
    expect(staleAfterSeconds('0 2 * * *', undefined, HOUR)).toBe(26 * HOUR);
    expect(staleAfterSeconds('0 * * * *', undefined, 30 * MIN)).toBe(HOUR + 30 * MIN + 15 * MIN);
    expect(staleAfterSeconds('0 3 * * 1-5', undefined, 6 * HOUR)).toBe(72 * HOUR + 6 * HOUR + HOUR);
    expect(staleAfterSeconds('7-59/15 * * * *', undefined, 10 * MIN)).toBe(15 * MIN + 10 * MIN + 225);
  });
});
