import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { atPath } from './at-path';
import {
  BackupSchedule, MysqlBackupCronJob, MysqlBackupCronJobProps, RedisBackupCronJob, RedisBackupCronJobProps,
} from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';

function mysqlProps(chart: any, overrides: Partial<MysqlBackupCronJobProps> = {}): MysqlBackupCronJobProps {
  return {
    schedule: BackupSchedule.daily({ hour: 1 }),
    storage: s3Storage(chart),
    host: 'mysql.db.svc',
    database: 'shop',
    username: 'backup',
    password: { secret: kplus.Secret.fromSecretName(chart, 'My', 'shop-db'), key: 'password' },
    ...overrides,
  };
}

function redisProps(chart: any, overrides: Partial<RedisBackupCronJobProps> = {}): RedisBackupCronJobProps {
  return {
    schedule: BackupSchedule.hourly(),
    storage: s3Storage(chart),
    host: 'redis.cache.svc',
    password: { secret: kplus.Secret.fromSecretName(chart, 'Redis', 'sessions-redis'), key: 'password' },
    ...overrides,
  };
}

describe('MysqlBackupCronJob', () => {
  test('the quick start synthesizes this CronJob', () => {
    const chart = newChart();
    new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart, { dumpArgs: ['--ignore-table=shop.sessions'] }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('is a valid, hardened CronJob with the mysql image', () => {
    const chart = newChart();
    new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart));
    const [cj] = cronJobs(chart);
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(container(cj).image).toMatch(/:\d+\.\d+\.\d+-mysql$/);
  });

  test('connection settings by value, the password only by secretKeyRef (never MYSQL_PWD)', () => {
    const chart = newChart();
    new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart, { port: 3307 }));
    const env = envOf(cronJobs(chart)[0]);
    expect(env).toMatchObject({
      BACKUP_ENGINE: 'mysql',
      BACKUP_MYSQL_HOST: 'mysql.db.svc',
      BACKUP_MYSQL_PORT: '3307',
      BACKUP_MYSQL_DATABASE: 'shop',
      BACKUP_MYSQL_USER: 'backup',
      BACKUP_MYSQL_PASSWORD: { secretKeyRef: { name: 'shop-db', key: 'password' } },
    });
    expect(Object.keys(env).filter(k => /^(MYSQL|PG)/.test(k))).toEqual([]);
  });

  test('default port 3306; no password prop, no password variable', () => {
    const chart = newChart();
    new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart, { password: undefined }));
    const env = envOf(cronJobs(chart)[0]);
    expect(env.BACKUP_MYSQL_PORT).toBe('3306');
    expect(env).not.toHaveProperty('BACKUP_MYSQL_PASSWORD');
    expect(env).not.toHaveProperty('BACKUP_MYSQL_TLS');
  });

  test('tls: false for a server without a certificate', () => {
    const chart = newChart();
    new MysqlBackupCronJob(chart, 'shop', mysqlProps(chart, { tls: false }));
    expect(envOf(cronJobs(chart)[0]).BACKUP_MYSQL_TLS).toBe('false');
  });

  test.each<[string, (c: any) => MysqlBackupCronJobProps, RegExp]>([
    ['empty host', c => mysqlProps(c, { host: '' }), /^host: must be set, e\.g\. '[a-z.]+'/],
    ['a URL as host', c => mysqlProps(c, { host: 'mysql://db:3306' }), /^host: 'mysql:\/\/db:3306' must be a bare host name or IP address, e.g. 'mysql.db.svc'/],
    ['port 0', c => mysqlProps(c, { port: 0 }), /^port: 0 is not a TCP port; use a whole number from 1 to 65535 \(MySQL's default is 3306\)/],
    ['empty database', c => mysqlProps(c, { database: '' }), /^database: must be set, e\.g\. '[a-z]+'/],
    ['database with a dot', c => mysqlProps(c, { database: 'a.b' }), /^database: 'a.b' is not a valid MySQL database name/],
    ['empty username', c => mysqlProps(c, { username: ' ' }), /^username: must be set, e\.g\. 'backup'/],
    ['empty password key', c => mysqlProps(c, { password: { secret: kplus.Secret.fromSecretName(c, 'X', 'x'), key: '' } }), /^password\.key: must be set, e\.g\. 'password'/],
    ['--password in dumpArgs', c => mysqlProps(c, { dumpArgs: ['--password=x'] }), /^dumpArgs: '--password=x' is mariadb-dump's --password \(-p\).*use the construct's props instead/],
    ['-pSECRET in dumpArgs', c => mysqlProps(c, { dumpArgs: ['-psecret'] }), /^dumpArgs: '-psecret' is mariadb-dump's --password \(-p\)/],
    ['--result-file in dumpArgs', c => mysqlProps(c, { dumpArgs: ['--result-file=/tmp/x'] }), /^dumpArgs: '--result-file=\/tmp\/x' is mariadb-dump's --result-file \(-r\)/],
    ['--defaults-file in dumpArgs', c => mysqlProps(c, { dumpArgs: ['--defaults-file=/etc/my.cnf'] }), /^dumpArgs: '--defaults-file=\/etc\/my.cnf' is mariadb-dump's --defaults-file/],
    ['--tab in dumpArgs', c => mysqlProps(c, { dumpArgs: ['--tab=/tmp'] }), /^dumpArgs: '--tab=\/tmp' is mariadb-dump's --tab \(-T\)/],
    ['--all-databases in dumpArgs', c => mysqlProps(c, { dumpArgs: ['--all-databases'] }), /^dumpArgs: '--all-databases'/],
  ])('rejects %s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new MysqlBackupCronJob(chart, 'shop', props(chart))).toThrow(atPath('test/shop', message));
  });
});

describe('RedisBackupCronJob', () => {
  test('the quick start synthesizes this CronJob', () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { username: 'backup' }));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('is a valid, hardened CronJob with the redis image', () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart));
    const [cj] = cronJobs(chart);
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(container(cj).image).toMatch(/:\d+\.\d+\.\d+-redis$/);
  });

  test("the password only as redis-cli's REDISCLI_AUTH by secretKeyRef; default port 6379", () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { username: 'backup' }));
    const [cj] = cronJobs(chart);
    expect(envOf(cj)).toMatchObject({
      BACKUP_ENGINE: 'redis',
      BACKUP_REDIS_HOST: 'redis.cache.svc',
      BACKUP_REDIS_PORT: '6379',
      BACKUP_REDIS_USER: 'backup',
      REDISCLI_AUTH: { secretKeyRef: { name: 'sessions-redis', key: 'password' } },
    });
    expect(container(cj).args).toEqual(['backup']);
  });

  test('without username and password, neither variable', () => {
    const chart = newChart();
    new RedisBackupCronJob(chart, 'sessions', redisProps(chart, { password: undefined }));
    const env = envOf(cronJobs(chart)[0]);
    expect(env).not.toHaveProperty('REDISCLI_AUTH');
    expect(env).not.toHaveProperty('BACKUP_REDIS_USER');
  });

  test.each<[string, (c: any) => RedisBackupCronJobProps, RegExp]>([
    ['empty host', c => redisProps(c, { host: '' }), /^host: must be set, e\.g\. '[a-z.]+'/],
    ['a URL as host', c => redisProps(c, { host: 'redis://cache' }), /^host: 'redis:\/\/cache' must be a bare host name or IP address, e\.g\. 'redis\.cache\.svc'; the port and database have their own settings/],
    ['port 70000', c => redisProps(c, { port: 70000 }), /^port: 70000 is not a TCP port; use a whole number from 1 to 65535 \(Redis's default is 6379\)/],
    ['empty username', c => redisProps(c, { username: '' }), /^username: must be set, e\.g\. 'backup'/],
    ['username with a space', c => redisProps(c, { username: 'a b' }), /^username: 'a b' must not contain white space/],
    ['empty password key', c => redisProps(c, { password: { secret: kplus.Secret.fromSecretName(c, 'X', 'x'), key: '' } }), /^password\.key: must be set, e\.g\. 'password'/],
    ['-a in dumpArgs', c => redisProps(c, { dumpArgs: ['-a', 'secret'] }), /^dumpArgs: '-a' is redis-cli's -a, which selects the server, database, user or password/],
    ['--pass in dumpArgs', c => redisProps(c, { dumpArgs: ['--pass', 'secret'] }), /^dumpArgs: '--pass'/],
    ['--rdb in dumpArgs', c => redisProps(c, { dumpArgs: ['--rdb', '/tmp/x'] }), /^dumpArgs: '--rdb'/],
    ['-u URI in dumpArgs', c => redisProps(c, { dumpArgs: ['-u', 'redis://:p@h'] }), /^dumpArgs: '-u'/],
  ])('rejects %s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new RedisBackupCronJob(chart, 'sessions', props(chart))).toThrow(atPath('test/sessions', message));
  });
});
