import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { atPath } from './at-path';
import {
  BackupSchedule, MongoBackupCronJob, MysqlBackupCronJob, PostgresBackupCronJob, RedisBackupCronJob, Retention,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { cronJobs, envOf, newChart, postgresProps, s3Storage } from '../helpers/synth';

const KEEP = /^BACKUP_(KEEP_|INCOMPLETE_)/;
const keepEnv = (cronJob: any) => Object.fromEntries(Object.entries(envOf(cronJob)).filter(([name]) => KEEP.test(name)));

describe('retention', () => {
  test('Retention.keepLast(7) reaches the runner as BACKUP_KEEP_LAST', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { retention: Retention.keepLast(7) }));
    const [cj] = cronJobs(chart);
    expect(keepEnv(cj)).toEqual({ BACKUP_KEEP_LAST: '7' });
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
  });

  test('a full policy, with keepWithin in seconds and incompleteMinAge', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, {
      retention: Retention.policy({
        keepLast: 3, keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 2, keepWithin: Duration.days(2),
      }),
      incompleteMinAge: Duration.hours(72),
    }));
    expect(keepEnv(cronJobs(chart)[0])).toEqual({
      BACKUP_KEEP_LAST: '3',
      BACKUP_KEEP_HOURLY: '24',
      BACKUP_KEEP_DAILY: '7',
      BACKUP_KEEP_WEEKLY: '4',
      BACKUP_KEEP_MONTHLY: '12',
      BACKUP_KEEP_YEARLY: '2',
      BACKUP_KEEP_WITHIN_SECONDS: '172800',
      BACKUP_INCOMPLETE_MIN_AGE_SECONDS: '259200',
    });
  });

  test('only the rules that are set are written; 0 is a rule', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { retention: Retention.policy({ keepDaily: 0, keepWeekly: 4 }) }));
    expect(keepEnv(cronJobs(chart)[0])).toEqual({ BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '4' });
  });

  test('without retention nothing is pruned: no KEEP_* variable at all', () => {
    const chart = newChart();
    new PostgresBackupCronJob(chart, 'orders', postgresProps(chart));
    expect(keepEnv(cronJobs(chart)[0])).toEqual({});
  });

  test('every engine takes the same prop', () => {
    const chart = newChart();
    const storage = s3Storage(chart);
    const secret = kplus.Secret.fromSecretName(chart, 'Db', 'db');
    const common = { schedule: BackupSchedule.daily({ hour: 1 }), storage, retention: Retention.policy({ keepDaily: 7, keepMonthly: 6 }) };
    new PostgresBackupCronJob(chart, 'pg', { ...common, host: 'pg', database: 'a', username: 'b' });
    new MongoBackupCronJob(chart, 'mongo', { ...common, uri: { secret, key: 'uri' } });
    new MysqlBackupCronJob(chart, 'mysql', { ...common, host: 'my', database: 'a', username: 'b' });
    new RedisBackupCronJob(chart, 'redis', { ...common, host: 'redis' });
    for (const cj of cronJobs(chart)) {
      expect(keepEnv(cj)).toEqual({ BACKUP_KEEP_DAILY: '7', BACKUP_KEEP_MONTHLY: '6' });
    }
  });

  describe('rejects bad input at synth time, naming the prop and the fix', () => {
    test.each<[string, () => unknown, RegExp]>([
      ['negative keepLast', () => Retention.keepLast(-1), /^keepLast: -1 must be a whole number of 0 or more/],
      ['fractional keepDaily', () => Retention.policy({ keepDaily: 1.5 }), /^keepDaily: 1\.5 must be a whole number of 0 or more/],
      ['NaN keepYearly', () => Retention.policy({ keepYearly: NaN }), /^keepYearly: NaN must be a whole number of 0 or more/],
      ['empty policy', () => Retention.policy({}), /^retention: the policy has no rule.*Set at least one, e\.g\. Retention\.keepLast\(7\)/],
      ['zero keepWithin', () => Retention.policy({ keepWithin: Duration.seconds(0) }), /^keepWithin: must be a positive whole number of seconds, e\.g\. Duration\.days\(7\); got 0 ms/],
      ['sub-second keepWithin', () => Retention.policy({ keepWithin: Duration.millis(1500) }), /^keepWithin: must be a positive whole number of seconds.*got 1500 ms/],
    ])('%s', (_name, make, message) => {
      expect(make).toThrow(message);
    });

    test.each<[string, (chart: any) => any, RegExp]>([
      ['incompleteMinAge without retention', c => postgresProps(c, { incompleteMinAge: Duration.hours(48) }),
        /^incompleteMinAge: has no effect without retention.*retention: Retention\.keepLast\(7\)/],
      ['incompleteMinAge shorter than activeDeadline', c => postgresProps(c, { retention: Retention.keepLast(7), incompleteMinAge: Duration.hours(1) }),
        /^incompleteMinAge: 3600s is shorter than activeDeadline \(21600s\).*Give at least the activeDeadline/],
      ['incompleteMinAge shorter than a custom activeDeadline', c => postgresProps(c, {
        retention: Retention.keepLast(7), activeDeadline: Duration.hours(10), incompleteMinAge: Duration.hours(9),
      }), /^incompleteMinAge: 32400s is shorter than activeDeadline \(36000s\)/],
      ['zero incompleteMinAge', c => postgresProps(c, { retention: Retention.keepLast(7), incompleteMinAge: Duration.seconds(0) }),
        /^incompleteMinAge: must be a positive whole number of seconds, e\.g\. Duration\.hours\(48\)/],
    ])('%s', (_name, props, message) => {
      const chart = newChart();
      expect(() => new PostgresBackupCronJob(chart, 'orders', props(chart))).toThrow(atPath('test/orders', message));
    });
  });
});
