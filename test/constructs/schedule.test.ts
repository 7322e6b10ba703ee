import { Testing } from 'cdk8s';
import { Construct } from 'constructs';
import { BackupSchedule, WeekDay } from '../../lib';

function scopeAt(...ids: string[]): Construct {
  let scope: Construct = Testing.chart();
  for (const id of ids) scope = new Construct(scope, id);
  return scope;
}

describe('BackupSchedule.cron', () => {
  test.each([
    '0 0 * * *', '*/15 * * * *', '5 4 * * sun', '0 0 1,15 * *', '0 22 * * MON-FRI', '0 3 ? * *',
    '30 2 * JAN-MAR,DEC 1-5', '0 0-23/2 * * *', '5/10 * * * *', '@daily', '@hourly', '@weekly', '@monthly',
    '@yearly', '@annually', '@midnight', '@every 6h', '@every 1h30m',
  ])('accepts what the API server accepts: %s', expr => {
    expect(BackupSchedule.cron(expr)._resolve(scopeAt('a'))).toBe(expr.replace(/^@\w+$/, m => m.toLowerCase()));
  });

  test('folds runs of white space to the single spaces the API server stores', () => {
    expect(BackupSchedule.cron('  0   3 * *\t* ')._resolve(scopeAt('a'))).toBe('0 3 * * *');
  });

  test("resolves the origin's Jenkins 'H 0 * * *' to a stable minute at midnight", () => {
    const schedule = BackupSchedule.cron('H 0 * * *');
    const first = schedule._resolve(scopeAt('orders'));
    expect(first).toMatch(/^([0-9]|[1-5][0-9]) 0 \* \* \*$/);
    expect(schedule._resolve(scopeAt('orders'))).toBe(first);
  });

  test('H spreads many backups instead of firing them all at the same minute', () => {
    const schedule = BackupSchedule.cron('H H * * *');
    const resolved = new Set(Array.from({ length: 100 }, (_, i) => schedule._resolve(scopeAt(`db${i}`))));
    expect(resolved.size).toBeGreaterThan(90);
  });

  test('minute and hour are hashed independently', () => {
    const values = Array.from({ length: 200 }, (_, i) => BackupSchedule.cron('H H * * *')._resolve(scopeAt(`x${i}`)).split(' ').map(Number));
    expect(values.filter(([m, h]) => m === h).length).toBeLessThan(30);
  });

  test.each([
    ['H * * * *', 0, 0, 59],
    ['0 H * * *', 1, 0, 23],
    ['0 0 H * *', 2, 1, 28],
    ['0 0 1 H *', 3, 1, 12],
    ['0 0 * * H', 4, 0, 6],
    ['H(10-20) * * * *', 0, 10, 20],
    ['0 H(1-5) * * *', 1, 1, 5],
  ])('%s stays within the field range', (expr, index, lo, hi) => {
    for (let i = 0; i < 200; i++) {
      const value = Number(BackupSchedule.cron(expr)._resolve(scopeAt(`s${i}`)).split(' ')[index]);
      expect(value).toBeGreaterThanOrEqual(lo);
      expect(value).toBeLessThanOrEqual(hi);
    }
  });

  test('H/n becomes a hashed start with step n to the end of the field', () => {
    for (let i = 0; i < 50; i++) {
      const minute = BackupSchedule.cron('H/15 * * * *')._resolve(scopeAt(`m${i}`)).split(' ')[0];
      const m = /^(\d+)-59\/15$/.exec(minute);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeLessThan(15);
    }
  });

  test('H(a-b)/n stays within a-b', () => {
    for (let i = 0; i < 50; i++) {
      const hour = BackupSchedule.cron('0 H(2-10)/4 * * *')._resolve(scopeAt(`h${i}`)).split(' ')[1];
      const m = /^(\d+)-10\/4$/.exec(hour);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(2);
      expect(Number(m![1])).toBeLessThan(6);
    }
  });

  test('H in a list is resolved in place', () => {
    expect(BackupSchedule.cron('H,30 * * * *')._resolve(scopeAt('l'))).toMatch(/^\d+,30 \* \* \* \*$/);
  });

  test.each<[string, RegExp]>([
    ['', /empty/],
    ['0 0 * *', /has 4 field\(s\); Kubernetes needs exactly 5/],
    ['0 0 0 * * *', /has 6 field\(s\).*Seconds and years are not supported/],
    ['60 * * * *', /60 in the minute field is out of range; it must be from 0 to 59/],
    ['0 24 * * *', /24 in the hour field is out of range; it must be from 0 to 23/],
    ['0 0 0 * *', /0 in the day-of-month field is out of range; it must be from 1 to 31/],
    ['0 0 32 * *', /32 in the day-of-month field/],
    ['0 0 * 13 *', /13 in the month field is out of range; it must be from 1 to 12/],
    ['0 0 * * 7', /Sunday is 0, not 7/],
    ['0 0 * FOO *', /'FOO' in the month field is not valid.*JAN/],
    ['0 0 * * funday', /day-of-week field is not valid.*SUN/],
    ['*/0 * * * *', /step .* must be at least 1/],
    ['*/x * * * *', /step .* must be a positive whole number/],
    ['30-10 * * * *', /runs backwards/],
    ['1-2-3 * * * *', /not a valid range/],
    ['? * * * *', /'\?' is only allowed in the day-of-month and day-of-week fields/],
    ['0,,5 * * * *', /empty list item/],
    ['TZ=Europe/Berlin 0 0 * * *', /Remove the TZ=\/CRON_TZ= prefix and set the 'timeZone' prop/],
    ['CRON_TZ=UTC 0 0 * * *', /set the 'timeZone' prop/],
    ['@fortnightly', /not a descriptor Kubernetes knows/],
    ['@every soon', /invalid duration 'soon'.*'@every 6h'/],
    ['HH * * * *', /'HH' in the minute field is not a valid H form/],
    ['H-5 * * * *', /not a valid H form/],
    ['h * * * *', /not a valid H form/],
    ['H(50-70) * * * *', /'H\(50-70\)' in the minute field needs 0 <= a <= b <= 59/],
    ['0 H(5-2) * * *', /needs 0 <= a <= b <= 23/],
    ['H/0 * * * *', /step in 'H\/0' \(minute field\) must be from 1 to 60/],
    ['0 H(1-3)/5 * * *', /must be from 1 to 3/],
  ])('rejects %j naming the prop and the fix', (expr, message) => {
    expect(() => BackupSchedule.cron(expr)).toThrow(/^schedule: /);
    expect(() => BackupSchedule.cron(expr)).toThrow(message);
  });
});

describe('BackupSchedule presets', () => {
  const scope = () => scopeAt('preset');
  test('daily({ hour }) runs at that hour, at a hashed minute', () => {
    expect(BackupSchedule.daily({ hour: 3 })._resolve(scope())).toMatch(/^\d+ 3 \* \* \*$/);
  });
  test('daily({ hour, minute }) is exact', () => {
    expect(BackupSchedule.daily({ hour: 2, minute: 30 })._resolve(scope())).toBe('30 2 * * *');
  });
  test('daily() with no options hashes both', () => {
    expect(BackupSchedule.daily().expression).toBe('H H * * *');
  });
  test('hourly()', () => {
    expect(BackupSchedule.hourly({ minute: 5 })._resolve(scope())).toBe('5 * * * *');
    expect(BackupSchedule.hourly()._resolve(scope())).toMatch(/^\d+ \* \* \* \*$/);
  });
  test('weekly()', () => {
    expect(BackupSchedule.weekly({ weekDay: WeekDay.SUNDAY, hour: 4, minute: 0 })._resolve(scope())).toBe('0 4 * * SUN');
    expect(BackupSchedule.weekly()._resolve(scope())).toMatch(/^\d+ \d+ \* \* [0-6]$/);
  });
  test('monthly()', () => {
    expect(BackupSchedule.monthly({ day: 1, hour: 5, minute: 15 })._resolve(scope())).toBe('15 5 1 * *');
    expect(BackupSchedule.monthly()._resolve(scope())).toMatch(/^\d+ \d+ ([1-9]|1\d|2[0-8]) \* \*$/);
  });
  test.each<[() => BackupSchedule, RegExp]>([
    [() => BackupSchedule.daily({ hour: 24 }), /'hour' is 24; it must be a whole number from 0 to 23/],
    [() => BackupSchedule.daily({ hour: 1.5 }), /'hour' is 1.5/],
    [() => BackupSchedule.hourly({ minute: -1 }), /'minute' is -1; it must be a whole number from 0 to 59/],
    [() => BackupSchedule.monthly({ day: 31 }), /'day' is 31; it must be a whole number from 1 to 28/],
  ])('rejects out-of-range options (%#)', (make, message) => {
    expect(make).toThrow(message);
  });
});
