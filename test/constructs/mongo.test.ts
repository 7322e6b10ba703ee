import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { atPath } from './at-path';
import { BackupSchedule, MongoBackupCronJob, MongoBackupCronJobProps } from '../../lib';
import { podSpecOf, restrictedViolations, validateSchema } from '../helpers/k8s';
import { container, cronJobs, envOf, newChart, s3Storage } from '../helpers/synth';

function mongoProps(chart: any, overrides: Partial<MongoBackupCronJobProps> = {}): MongoBackupCronJobProps {
  return {
    schedule: BackupSchedule.daily({ hour: 3 }),
    storage: s3Storage(chart),
    uri: { secret: kplus.Secret.fromSecretName(chart, 'Mongo', 'catalog-mongo'), key: 'uri' },
    database: 'catalog',
    ...overrides,
  };
}

describe('MongoBackupCronJob', () => {
  test('the quick start synthesizes this CronJob', () => {
    const chart = newChart();
    new MongoBackupCronJob(chart, 'catalog', mongoProps(chart));
    expect(Testing.synth(chart)).toMatchSnapshot();
  });

  test('is a valid, hardened CronJob', () => {
    const chart = newChart();
    new MongoBackupCronJob(chart, 'catalog', mongoProps(chart));
    const [cj] = cronJobs(chart);
    validateSchema(cj);
    expect(restrictedViolations(podSpecOf(cj))).toEqual([]);
    expect(cj.spec.schedule).toMatch(/^\d+ 3 \* \* \*$/);
    expect(container(cj).image).toMatch(/:\d+\.\d+\.\d+-mongo$/);
  });

  test('the URI reaches the pod only by secretKeyRef', () => {
    const chart = newChart();
    new MongoBackupCronJob(chart, 'catalog', mongoProps(chart));
    const env = envOf(cronJobs(chart)[0]);
    expect(env).toMatchObject({
      BACKUP_ENGINE: 'mongo',
      BACKUP_MONGO_URI: { secretKeyRef: { name: 'catalog-mongo', key: 'uri' } },
      BACKUP_MONGO_DATABASE: 'catalog',
    });
    expect(Object.keys(env).filter(k => k.startsWith('PG'))).toEqual([]);
  });

  test('without a database, every database is dumped', () => {
    const chart = newChart();
    new MongoBackupCronJob(chart, 'catalog', mongoProps(chart, { database: undefined }));
    expect(envOf(cronJobs(chart)[0])).not.toHaveProperty('BACKUP_MONGO_DATABASE');
  });

  test.each<[string, (c: any) => MongoBackupCronJobProps, RegExp]>([
    ['empty uri key', c => mongoProps(c, { uri: { secret: kplus.Secret.fromSecretName(c, 'X', 'x'), key: '' } }), /^uri\.key: must be set, e\.g\. 'uri'/],
    ['empty database', c => mongoProps(c, { database: '' }), /^database: must be set, e\.g\. '[a-z]+'/],
    ['database with a dot', c => mongoProps(c, { database: 'cat.alog' }), /^database: 'cat.alog' is not a valid MongoDB database name/],
    ['--uri in dumpArgs', c => mongoProps(c, { dumpArgs: ['--uri=mongodb://u:p@h'] }), /^dumpArgs: '--uri=mongodb:\/\/u:p@h' is mongodump's --uri, which selects the server.*use the construct's props instead/],
    ['--password in dumpArgs', c => mongoProps(c, { dumpArgs: ['--password', 'p'] }), /^dumpArgs: '--password'/],
    ['--out in dumpArgs', c => mongoProps(c, { dumpArgs: ['--out=/tmp'] }), /^dumpArgs: '--out=\/tmp' is mongodump's --out \(-o\)/],
  ])('rejects %s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new MongoBackupCronJob(chart, 'catalog', props(chart))).toThrow(atPath('test/catalog', message));
  });

  test('passes allowed dumpArgs through', () => {
    const chart = newChart();
    new MongoBackupCronJob(chart, 'catalog', mongoProps(chart, { dumpArgs: ['--excludeCollection=sessions'] }));
    expect(container(cronJobs(chart)[0]).args).toEqual(['backup', '--', '--excludeCollection=sessions']);
  });
});
