import { createHash } from 'crypto';
import { IConstruct } from 'constructs';
import { RuleError } from './rules';

/** Days of the week, for `BackupSchedule.weekly()`. */
export enum WeekDay {
  SUNDAY = 'SUN',
  MONDAY = 'MON',
  TUESDAY = 'TUE',
  WEDNESDAY = 'WED',
  THURSDAY = 'THU',
  FRIDAY = 'FRI',
  SATURDAY = 'SAT',
}

/** Options for `BackupSchedule.hourly()`. */
export interface HourlyScheduleOptions {
  /**
   * Minute of the hour (0-59).
   * @default - a stable minute hashed from the construct path, so many backups spread out
   */
  readonly minute?: number;
}

/** Options for `BackupSchedule.daily()`. */
export interface DailyScheduleOptions extends HourlyScheduleOptions {
  /**
   * Hour of the day (0-23), in the CronJob's `timeZone`.
   * @default - a stable hour hashed from the construct path
   */
  readonly hour?: number;
}

/** Options for `BackupSchedule.weekly()`. */
export interface WeeklyScheduleOptions extends DailyScheduleOptions {
  /**
   * Day of the week.
   * @default - a stable day hashed from the construct path
   */
  readonly weekDay?: WeekDay;
}

/** Options for `BackupSchedule.monthly()`. */
export interface MonthlyScheduleOptions extends DailyScheduleOptions {
  /**
   * Day of the month (1-28, so that every month has it).
   * @default - a stable day (1-28) hashed from the construct path
   */
  readonly day?: number;
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Range used for a bare `H`: Jenkins keeps day-of-month to 1-28 so every month has the day. */
  readonly hashMax: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59, hashMax: 59 },
  { name: 'hour', min: 0, max: 23, hashMax: 23 },
  { name: 'day-of-month', min: 1, max: 31, hashMax: 28 },
  {
    name: 'month',
    min: 1,
    max: 12,
    hashMax: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  { name: 'day-of-week', min: 0, max: 6, hashMax: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

// The descriptors the Kubernetes API server accepts (robfig/cron's ParseStandard).
const DESCRIPTORS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

const PROP = 'schedule';

/**
 * When a backup runs: a cron expression checked against the rules the Kubernetes API server
 * enforces, with Jenkins-style `H` tokens resolved at synth time.
 *
 * `H` stands for a value hashed from the construct path: stable across synths, different per
 * backup, so a fleet of backups spreads out instead of all firing at 00:00. Forms: `H`
 * (anywhere in the field's range; day-of-month 1-28), `H(a-b)` (within a range), `H/n` and
 * `H(a-b)/n` (every n, starting at a hashed offset).
 */
export class BackupSchedule {
  /**
   * A cron expression: five fields (`minute hour day-of-month month day-of-week`), or a
   * descriptor such as `@daily` or `@every 6h`, with optional Jenkins-style `H` tokens.
   *
   * @example BackupSchedule.cron('H 0 * * *')
   */
  public static cron(expression: string): BackupSchedule {
    if (typeof expression !== 'string') {
      throw new RuleError(`${PROP}: expected a cron expression string, got ${expression === null ? 'null' : typeof expression}; e.g. BackupSchedule.cron('H 2 * * *').`);
    }
    const schedule = new BackupSchedule(expression);
    // Fail at the call site for anything that does not depend on the construct path.
    schedule.resolveWithSeed('syntax-check');
    return schedule;
  }

  /**
   * Every hour, at `minute`.
   */
  public static hourly(options: HourlyScheduleOptions = {}): BackupSchedule {
    return BackupSchedule.cron(`${field('minute', options.minute, 0, 59)} * * * *`);
  }

  /**
   * Every day, at `hour`:`minute`.
   *
   * @example BackupSchedule.daily({ hour: 2 })
   */
  public static daily(options: DailyScheduleOptions = {}): BackupSchedule {
    return BackupSchedule.cron(`${field('minute', options.minute, 0, 59)} ${field('hour', options.hour, 0, 23)} * * *`);
  }

  /**
   * Every week, on `weekDay` at `hour`:`minute`.
   */
  public static weekly(options: WeeklyScheduleOptions = {}): BackupSchedule {
    const day = options.weekDay ?? 'H';
    return BackupSchedule.cron(`${field('minute', options.minute, 0, 59)} ${field('hour', options.hour, 0, 23)} * * ${day}`);
  }

  /**
   * Every month, on `day` at `hour`:`minute`.
   */
  public static monthly(options: MonthlyScheduleOptions = {}): BackupSchedule {
    return BackupSchedule.cron(
      `${field('minute', options.minute, 0, 59)} ${field('hour', options.hour, 0, 23)} ${field('day', options.day, 1, 28)} * *`,
    );
  }

  /** The expression as given, before `H` tokens are resolved. */
  public readonly expression: string;

  private constructor(expression: string) {
    this.expression = expression;
  }

  /**
   * The expression the cluster receives: `H` tokens resolved from `scope`'s path, every field
   * validated. Throws with the field, its allowed range and the fix when invalid. @internal
   */
  public _resolve(scope: IConstruct): string {
    return this.resolveWithSeed(scope.node.path);
  }

  private resolveWithSeed(seed: string): string {
    const expression = this.expression.trim();
    if (expression === '') {
      throw new Error(`${PROP}: the cron expression is empty. Use five fields, e.g. BackupSchedule.cron('H 2 * * *'), or a preset such as BackupSchedule.daily().`);
    }
    if (/\b(CRON_)?TZ=/.test(expression)) {
      throw new Error(`${PROP}: '${expression}' sets a time zone inside the expression, which the Kubernetes API server rejects. Remove the TZ=/CRON_TZ= prefix and set the 'timeZone' prop instead.`);
    }
    if (expression.startsWith('@')) {
      return validateDescriptor(expression);
    }
    const parts = expression.split(/\s+/);
    if (parts.length !== 5) {
      throw new Error(`${PROP}: '${expression}' has ${parts.length} field(s); Kubernetes needs exactly 5 (minute hour day-of-month month day-of-week), e.g. 'H 2 * * *'. Seconds and years are not supported.`);
    }
    return parts.map((part, i) => resolveField(part, FIELDS[i], seed, expression)).join(' ');
  }
}

function field(prop: string, value: number | undefined, min: number, max: number): string {
  if (value === undefined || value === null) return 'H';
  if (typeof value === 'string') {
    throw new RuleError(`${PROP}: '${prop}' is '${value}', a string; give a number from ${min} to ${max}.`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${PROP}: '${prop}' is ${value}; it must be a whole number from ${min} to ${max}.`);
  }
  return String(value);
}

function validateDescriptor(expression: string): string {
  const lower = expression.toLowerCase();
  if (DESCRIPTORS.includes(lower)) return lower;
  const every = /^@every\s+(\S+)$/i.exec(expression);
  if (every) {
    if (!GO_DURATION.test(every[1])) {
      throw new Error(`${PROP}: '${expression}' has an invalid duration '${every[1]}'. Use a Go duration such as '@every 6h' or '@every 1h30m'.`);
    }
    return `@every ${every[1]}`;
  }
  throw new Error(`${PROP}: '${expression}' is not a descriptor Kubernetes knows. Use one of ${DESCRIPTORS.join(', ')} or '@every <duration>', or five cron fields.`);
}

function hashOf(seed: string, fieldName: string): number {
  return createHash('sha256').update(`${seed}\0${fieldName}`).digest().readUInt32BE(0);
}

function resolveField(part: string, spec: FieldSpec, seed: string, expression: string): string {
  return part.split(',').map(item => {
    if (item === '') {
      throw new Error(`${PROP}: '${expression}': the ${spec.name} field '${part}' has an empty list item. Remove the extra comma.`);
    }
    return /^H/i.test(item)
      ? resolveHash(item, spec, seed, expression)
      : validateRange(item, spec, expression);
  }).join(',');
}

const HASH_FORM = /^H(?:\((\d+)-(\d+)\))?(?:\/(\d+))?$/;

function resolveHash(item: string, spec: FieldSpec, seed: string, expression: string): string {
  const m = HASH_FORM.exec(item);
  if (!m) {
    throw new Error(`${PROP}: '${expression}': '${item}' in the ${spec.name} field is not a valid H form. Use H, H(a-b), H/n or H(a-b)/n, e.g. 'H(0-5)' for a hashed hour between 0 and 5.`);
  }
  const ranged = m[1] !== undefined;
  const lo = ranged ? Number(m[1]) : spec.min;
  const hi = ranged ? Number(m[2]) : spec.hashMax;
  if (ranged && (lo < spec.min || hi > spec.max || lo > hi)) {
    throw new Error(`${PROP}: '${expression}': '${item}' in the ${spec.name} field needs ${spec.min} <= a <= b <= ${spec.max}.`);
  }
  const hash = hashOf(seed, spec.name);
  if (m[3] === undefined) {
    return String(lo + (hash % (hi - lo + 1)));
  }
  const step = Number(m[3]);
  if (step < 1 || step > hi - lo + 1) {
    throw new Error(`${PROP}: '${expression}': the step in '${item}' (${spec.name} field) must be from 1 to ${hi - lo + 1}.`);
  }
  const start = lo + (hash % step);
  const end = ranged ? hi : spec.max;
  return start === end ? String(start) : `${start}-${end}/${step}`;
}

function parseValue(value: string, spec: FieldSpec, expression: string, item: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const index = spec.names?.indexOf(value.toLowerCase()) ?? -1;
  if (index >= 0) return index + spec.min;
  const namesHint = spec.names ? ` or a name (${spec.names.join(', ').toUpperCase()})` : '';
  throw new Error(`${PROP}: '${expression}': '${item}' in the ${spec.name} field is not valid. Use a number from ${spec.min} to ${spec.max}${namesHint}, '*', a range 'a-b', a list 'a,b' or a step '*/n'.`);
}

function validateRange(item: string, spec: FieldSpec, expression: string): string {
  const [rangePart, stepPart, ...rest] = item.split('/');
  if (rest.length > 0) {
    throw new Error(`${PROP}: '${expression}': '${item}' in the ${spec.name} field has more than one '/'.`);
  }
  if (stepPart !== undefined && !/^\d+$/.test(stepPart)) {
    throw new Error(`${PROP}: '${expression}': the step in '${item}' (${spec.name} field) must be a positive whole number.`);
  }
  if (stepPart !== undefined && Number(stepPart) === 0) {
    throw new Error(`${PROP}: '${expression}': the step in '${item}' (${spec.name} field) must be at least 1.`);
  }
  if (rangePart === '*' || rangePart === '?') {
    if (rangePart === '?' && spec.name !== 'day-of-month' && spec.name !== 'day-of-week') {
      throw new Error(`${PROP}: '${expression}': '?' is only allowed in the day-of-month and day-of-week fields; use '*' in the ${spec.name} field.`);
    }
    return item;
  }
  const bounds = rangePart.split('-');
  if (bounds.length > 2 || bounds.some(b => b === '')) {
    throw new Error(`${PROP}: '${expression}': '${item}' in the ${spec.name} field is not a valid range. Use 'a-b' with ${spec.min} <= a <= b <= ${spec.max}.`);
  }
  const values = bounds.map(b => parseValue(b, spec, expression, item));
  for (const v of values) {
    if (v < spec.min || v > spec.max) {
      const fix = spec.name === 'day-of-week' && v === 7 ? ' (Sunday is 0, not 7)' : '';
      throw new Error(`${PROP}: '${expression}': ${v} in the ${spec.name} field is out of range; it must be from ${spec.min} to ${spec.max}${fix}.`);
    }
  }
  if (values.length === 2 && values[0] > values[1]) {
    throw new Error(`${PROP}: '${expression}': the range '${item}' in the ${spec.name} field runs backwards; write it as low-high.`);
  }
  return item;
}
