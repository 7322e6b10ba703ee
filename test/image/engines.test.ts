/**
 * The mysql and redis image targets: a real backup from inside each container (restricted like the
 * pod: uid 10001, read-only root, no capabilities) into the test S3, restored on the host.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerEnv, runContainer } from './container';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { createTestBucket, sha256File, TestBucket } from '../runner/s3-helpers';
import { describeIntegration, requireMysql, requireS3, uniqueName } from '../servers/env';
import { mysqlRunnerEnv, quoteMysqlIdent } from '../servers/mariadb';
import { redisCli, startRedis } from '../servers/redis';

jest.setTimeout(120_000);

const MYSQL = ENGINE_REGISTRY.mysql.env;
const REDIS = ENGINE_REGISTRY.redis.env;

/** Runs a backup in the container; returns the data file downloaded, its manifest and the logs. */
async function backupInContainer(b: TestBucket, engine: string, vars: Record<string, string>) {
  const run = await runContainer(engine, ['backup'], containerEnv({
    ...b.runnerEnv(`image-test/${engine}`) as Record<string, string>,
    [ENV.ENGINE]: engine,
    [ENV.NAME]: 'series',
    ...vars,
  }));
  if (run.code !== 0) throw new Error(`container exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  expect(run.nonJson).toEqual([]);
  const key = run.last!.key as string;
  expect(Object.keys(await b.objects()).sort()).toEqual([key, `${key}.manifest.json`]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `image-${engine}-`));
  const data = path.join(dir, path.basename(key));
  await b.download(key, data);
  await b.download(`${key}.manifest.json`, path.join(dir, 'manifest.json'));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  expect(manifest).toMatchObject({ engine, key, sha256: sha256File(data), bytes: fs.statSync(data).size, compression: 'zstd' });
  for (const secret of [vars[MYSQL.PASSWORD], vars[REDIS.PASSWORD], requireS3().secretAccessKey].filter(Boolean)) {
    expect(run.stdout + run.stderr + JSON.stringify(manifest)).not.toContain(secret);
  }
  return { dir, data, manifest };
}

describeIntegration('companion image (mysql): backup from inside the container, restored on the host', ['image:mysql', 'mysql', 's3'], () => {
  test('MariaDB: dump in the container → S3 → mariadb into a new database → identical tables', async () => {
    const my = requireMysql();
    const b = await createTestBucket('image-mysql');
    const db = uniqueName('imgmy').replace(/-/g, '_');
    await my.createDatabase(db);
    await my.sql(`
      CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(100) CHARACTER SET utf8mb4, n INT NULL, bin VARBINARY(16));
      INSERT INTO t VALUES (1, 'Grüße 🎉', NULL, UNHEX('00FF10')), (2, 'quote '' and \\\\ backslash', 7, NULL);
      INSERT INTO t SELECT seq + 10, CONCAT('row ', seq), seq, UNHEX(MD5(seq)) FROM seq_1_to_5000;
    `, db);
    const { dir, data, manifest } = await backupInContainer(b, 'mysql', {
      ...mysqlRunnerEnv(my, db),
      // The test server has no certificate; the image's MariaDB 11.8 client requires TLS by default.
      [MYSQL.TLS]: 'false',
    });
    try {
      expect(manifest).toMatchObject({ database: db, format: 'mysqldump-sql', tool: { name: 'mariadb-dump' } });
      const target = `${db}_restored`;
      await my.createDatabase(target);
      const restore = spawnSync('bash', ['-c', 'zstd -d -c -q "$1" | mariadb --no-defaults --socket="$2" --user=root --database="$3"', 'restore', data, my.socket, target]);
      expect({ code: restore.status, stderr: restore.stderr.toString() }).toEqual({ code: 0, stderr: '' });
      const checksum = (name: string) => my.sql(`SELECT COUNT(*) FROM t; CHECKSUM TABLE ${quoteMysqlIdent(name)}.t;`, name);
      expect((await checksum(target)).replace(target, 'db')).toBe((await checksum(db)).replace(db, 'db'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      b.s3.destroy();
    }
  });
});

describeIntegration('companion image (redis): backup from inside the container, loaded by a fresh server', ['image:redis', 'redis', 's3'], () => {
  test('Redis: RDB from the container → S3 → a fresh redis-server loads it → identical keys', async () => {
    // A server of its own: the shared one is emptied by other test files.
    const source = await startRedis();
    const b = await createTestBucket('image-redis');
    try {
      const commands = Array.from({ length: 500 }, (_, i) => `SET key:${i} "value ${i} ☃"`).concat(['HSET h a 1 b 2', 'RPUSH l x y z']);
      await redisCli(source, [], commands.join('\n') + '\n');
      const { dir, data } = await backupInContainer(b, 'redis', {
        [REDIS.HOST]: source.host, [REDIS.PORT]: String(source.port), [REDIS.PASSWORD]: source.password,
      });
      try {
        fs.chmodSync(dir, 0o755);
        execFileSync('zstd', ['-d', '-q', '-o', path.join(dir, 'dump.rdb'), data]);
        fs.chmodSync(path.join(dir, 'dump.rdb'), 0o644);
        const loaded = await startRedis({ args: ['--dir', dir, '--dbfilename', 'dump.rdb'] });
        try {
          expect((await redisCli(loaded, ['DBSIZE'])).trim()).toBe('502');
          expect((await redisCli(loaded, ['GET', 'key:499'])).trim()).toBe('value 499 ☃');
          expect((await redisCli(loaded, ['LRANGE', 'l', '0', '-1'])).trim().split('\n')).toEqual(['x', 'y', 'z']);
        } finally {
          await loaded.stop();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      await source.stop();
      b.s3.destroy();
    }
  });
});
