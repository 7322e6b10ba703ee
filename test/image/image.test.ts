/**
 * The companion image itself, run the way a pod from the constructs runs it (image/run-in-container.sh:
 * uid 10001, read-only root FS, only /tmp writable, capabilities dropped, env passed by name), against
 * the real servers jest's globalSetup starts (PostgreSQL 15, Ceph radosgw).
 *
 * Needs the image built by `npx projen image:build`: without it these tests skip locally and fail
 * under CI. The first block (Dockerfile ↔ constructs ↔ build script) needs no podman and always runs;
 * test/registry.test.ts checks that the build takes every engine's packages from the registry.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import {
  CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import * as semver from 'semver';
import {
  BuildPlan, DOCKERFILE, LogLine, RUN_IN_CONTAINER, buildPlan, containerEnv, containerExists, dockerfileStages,
  placeholderDownloadSha256s, podmanFlag, runContainer, startContainer,
} from './container';
import { ENGINE_NAMES, ENV, IMAGE, imageTag } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { defaultImage } from '../../lib/runner-pod';
import { describeIntegration, requirePostgres, requireS3, s3ClientConfig, uniqueName } from '../servers/env';
import { TRIXIE_NODE, VERSION, localImage, podmanSync } from '../servers/image';
import { quoteIdent } from '../servers/postgres';

jest.setTimeout(180_000);

const MB = 1e6;

const PG = ENGINE_REGISTRY.postgres.env;

describe('image contract: the Dockerfile, build script and constructs agree (no podman needed)', () => {
  const stages = dockerfileStages(fs.readFileSync(DOCKERFILE, 'utf8'));
  const runScript = fs.readFileSync(RUN_IN_CONTAINER, 'utf8');
  let plans: BuildPlan[];
  beforeAll(() => {
    plans = buildPlan(ENGINE_NAMES, placeholderDownloadSha256s());
  });

  test.each([...ENGINE_NAMES])('engine %s: build.sh tags its image as the constructs\' default image, and run-in-container.sh runs that tag', engine => {
    const plan = plans.find(p => p.engine === engine)!;
    // The constructs write <repository>:<version>-<engine>, at this package's version.
    const image = defaultImage(engine);
    expect(image).toBe(`${IMAGE.REPOSITORY}:${imageTag(VERSION, engine)}`);
    const tag = image.slice(image.lastIndexOf(':') + 1);
    expect(tag).toBe(`${VERSION}-${engine}`);
    expect(plan.tag).toBe(`localhost/cdk8s-db-backup:${tag}`);
    expect(localImage(engine)).toBe(plan.tag);
    expect(runScript).toMatch(/IMAGE=localhost\/cdk8s-db-backup:\$version-\$engine/);
  });

  test('every engine\'s target copies the runner last, root-owned and 0644, and ends as USER IMAGE.UID:IMAGE.GID', () => {
    for (const plan of plans) {
      const stage = stages.find(s => s.name === podmanFlag(plan, '--target'))!;
      expect(stage.from).toBe('base');
      const last = stage.instructions.slice(-2);
      expect({ engine: plan.engine, last }).toEqual({
        engine: plan.engine,
        last: ['COPY --chmod=0644 build/runner.js /opt/backup/runner.js', `USER ${IMAGE.UID}:${IMAGE.GID}`],
      });
    }
    // The account behind that uid is created in the shared base with the same ids.
    const base = stages.find(s => s.name === 'base')!;
    const run = base.instructions.join('\n');
    expect(run).toMatch(new RegExp(`groupadd --gid ${IMAGE.GID}\\b`));
    expect(run).toMatch(new RegExp(`useradd --uid ${IMAGE.UID} --gid ${IMAGE.GID}\\b`));
  });
});

describeIntegration('companion image (postgres): real backups from inside the container', ['image:postgres', 'postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let s3: S3Client;
  let bucket: string;
  let source: string;
  let big: string;
  let bigReady: Promise<void>;
  const prefix = 'image-test/pg';
  const TABLES = ['kinds', 'blob'];

  beforeAll(async () => {
    pg = requirePostgres();
    s3 = new S3Client(s3ClientConfig());
    bucket = uniqueName('image');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    // The database for the SIGTERM test (~150 MB of poorly compressible rows) fills in the
    // background while the other tests run; only that test waits for it.
    big = uniqueName('imgbig').replace(/-/g, '_');
    bigReady = (async () => {
      await pg.createDatabase(big);
      await pg.psql(`
        CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL);
        INSERT INTO big SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text)
          || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, 750000) g;
      `, big);
    })();
    bigReady.catch(() => undefined); // awaited (and reported) by the SIGTERM test

    source = uniqueName('imgsrc').replace(/-/g, '_');
    await pg.createDatabase(source);
    await pg.psql(`
      CREATE TABLE kinds (id serial PRIMARY KEY, t text, nul text, b bytea, j jsonb, n numeric, ts timestamptz, a text[]);
      INSERT INTO kinds (t, nul, b, j, n, ts, a) VALUES
        ('Grüße, 日本語, emoji 🎉, RTL שלום', NULL, '\\x00ff00fe'::bytea, '{"ü": "ß", "nested": [1, null, "😀"]}', 1.5, '2024-02-29 23:59:59.999+00', ARRAY['a', NULL, 'ć']),
        (E'tab\\there, newline\\nthere, backslash \\\\ and quote ''s', 'not null', decode('', 'hex'), 'null', -0.0001, '1970-01-01 00:00:00+00', '{}'),
        ('', '', NULL, NULL, NULL, NULL, NULL);
      INSERT INTO kinds (t, nul, b, j, n, ts, a)
        SELECT 'row ' || g || ' ☃', CASE WHEN g % 3 = 0 THEN NULL ELSE 'v' || g END, decode(md5(g::text), 'hex'),
          jsonb_build_object('g', g), g / 7.0, '2024-01-01'::timestamptz + g * interval '1 minute', ARRAY[g::text]
        FROM generate_series(1, 1000) g;
      CREATE TABLE blob (id int PRIMARY KEY, data bytea NOT NULL, label text NOT NULL);
      INSERT INTO blob SELECT g, decode(md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text), 'hex'), repeat(md5(g::text), 2)
        FROM generate_series(1, 40000) g;
    `, source);
  });

  afterAll(async () => {
    s3?.destroy();
    await bigReady?.catch(() => undefined);
  });

  /** count and md5 over every row of each table, in key order. */
  async function tableDigests(db: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const t of TABLES) {
      out[t] = (await pg.psql(`SELECT count(*) || ':' || md5(string_agg(x::text, '|' ORDER BY x.id)) FROM ${quoteIdent(t)} x;`, db)).trim();
    }
    return out;
  }

  async function listKeys(under: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: under, ContinuationToken: token }));
      for (const o of page.Contents ?? []) keys.push(o.Key!);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async function openUploads(): Promise<string[]> {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (page.Uploads ?? []).map(u => `${u.Key} ${u.UploadId}`);
  }

  async function download(key: string, file: string): Promise<void> {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await pipeline(out.Body as Readable, fs.createWriteStream(file));
  }

  /** What the constructs give the pod, for a backup of `database` to s3://<bucket>/<prefix> as series `name`. */
  function backupEnv(database: string, name: string, extra: Record<string, string> = {}): Record<string, string> {
    const c = requireS3();
    return {
      [ENV.ENGINE]: 'postgres',
      [ENV.DESTINATION]: `s3://${bucket}/${prefix}`,
      [ENV.NAME]: name,
      [ENV.AWS_ENDPOINT_URL_S3]: c.endpoint,
      [ENV.AWS_REGION]: c.region,
      [ENV.AWS_ACCESS_KEY_ID]: c.accessKeyId,
      [ENV.AWS_SECRET_ACCESS_KEY]: c.secretAccessKey,
      [ENV.S3_FORCE_PATH_STYLE]: 'true',
      [PG.HOST]: '127.0.0.1',
      [PG.PORT]: String(pg.port),
      [PG.USER]: pg.user,
      [PG.PASSWORD]: pg.password,
      [PG.DATABASE]: database,
      ...extra,
    };
  }

  function secrets(): string[] {
    return [pg.password, requireS3().secretAccessKey];
  }

  /**
   * Restores a downloaded backup into a new database. The host's pg_restore 15 cannot read the
   * archive of the image's pg_dump 17 ("unsupported version (1.16) in file header"), and the
   * image's pg_restore 17 restoring straight into this PostgreSQL 15 fails on its first statement,
   * `SET transaction_timeout = 0;` (a PostgreSQL 17 setting). So: decompress on the host (per the
   * manifest's compression), let the image's pg_restore turn the archive into SQL, drop that one
   * line, and run the rest with the host's psql 15 (ON_ERROR_STOP). Returns the database's name.
   */
  async function restoreWithImage(file: string, compression: string): Promise<string> {
    const target = uniqueName('imgrestored').replace(/-/g, '_');
    await pg.createDatabase(target);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-restore-'));
    let sql: string;
    try {
      const dump = path.join(dir, 'backup.pgdump');
      if (compression === 'zstd') execFileSync('zstd', ['-d', '-q', '-o', dump, file]);
      else if (compression === 'gzip') fs.writeFileSync(dump, zlib.gunzipSync(fs.readFileSync(file)));
      else fs.copyFileSync(file, dump);
      expect(fs.readFileSync(dump).subarray(0, 5).toString('latin1')).toBe('PGDMP'); // pg_dump's custom format
      // Readable by the container's uid 10001.
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(dump, 0o644);
      const run = await runContainer('postgres', ['--no-owner', '--no-privileges', '--file=-', '/restore/backup.pgdump'],
        containerEnv({}, `--entrypoint pg_restore -v ${dir}:/restore:ro`));
      if (run.code !== 0) throw new Error(`pg_restore (in the image) exited ${run.code}: ${run.stderr}`);
      sql = run.stdout;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const lines = sql.split('\n');
    const kept = lines.filter(l => l !== 'SET transaction_timeout = 0;');
    expect(lines.length - kept.length).toBeLessThanOrEqual(1);
    await pg.psql(kept.join('\n'), target);
    return target;
  }

  test('the built image carries the tag the constructs default to, and its user is IMAGE.UID:IMAGE.GID', () => {
    const tag = defaultImage('postgres').split(':').pop();
    expect(localImage('postgres')).toBe(`localhost/cdk8s-db-backup:${tag}`);
    const config = JSON.parse(podmanSync(['image', 'inspect', '--format', '{{json .Config}}', localImage('postgres')]));
    expect(config.User).toBe(`${IMAGE.UID}:${IMAGE.GID}`);
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '-s', '--', 'node', '/opt/backup/runner.js']);
    expect(config.Cmd).toEqual(['backup']);
  });

  test('the image runs the Node the runner bundle is checked against (test/runner-bundle.test.ts)', () => {
    const version = podmanSync(['run', '--rm', '--network', 'none', '--entrypoint', 'node', localImage('postgres'), '-p', 'process.versions.node']).trim();
    expect(semver.major(version)).toBe(semver.major(TRIXIE_NODE));
    expect(semver.gte(version, TRIXIE_NODE)).toBe(true);
  });

  test('runs like the restricted pod: uid/gid 10001, read-only root FS, only /tmp writable, no capabilities', async () => {
    const script = [
      'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"',
      'echo "home=$HOME"',
      'for p in /opt/x /opt/backup/x /x /etc/x /var/tmp/x; do if touch "$p" 2>/dev/null; then echo "writable $p"; else echo "readonly $p"; fi; done',
      'touch /tmp/x && echo "writable /tmp/x"',
      'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status',
      'node -e "console.log(\'node uid=\' + process.getuid())"',
      'test -w /opt/backup/runner.js && echo "runner writable" || echo "runner read-only"',
    ].join('\n');
    const run = await runContainer('postgres', ['-c', script], containerEnv({}, '--entrypoint sh'));
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const out = run.stdout.trim().split('\n');
    expect(out).toEqual(expect.arrayContaining([
      `uid=${IMAGE.UID} gid=${IMAGE.GID} groups=${IMAGE.GID}`,
      `home=${IMAGE.TMP_DIR}`,
      'readonly /opt/x', 'readonly /opt/backup/x', 'readonly /x', 'readonly /etc/x', 'readonly /var/tmp/x',
      'writable /tmp/x',
      'NoNewPrivs:\t1',
      `node uid=${IMAGE.UID}`,
      'runner read-only',
    ]));
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(out).toContain(`${cap}:\t0000000000000000`);
    }
    // Writing outside /tmp fails because the root FS is read-only, not only for lack of permission.
    const touch = await runContainer('postgres', ['-c', 'touch /opt/x'], containerEnv({}, '--entrypoint sh'));
    expect(touch.code).not.toBe(0);
    expect(touch.stderr).toMatch(/Read-only file system/);
  });

  test('run-in-container.sh passes in BACKUP_*, AWS_* and the variables of the engine\'s registry entry, and nothing else', async () => {
    const passed = [PG.HOST, PG.SSL_MODE, 'BACKUP_ANYTHING', 'AWS_REGION'];
    // Another engine's variable, one libpq reads that the registry does not list, and an unrelated one.
    const kept = [ENGINE_REGISTRY.redis.env.PASSWORD, 'PGAPPNAME', 'UNRELATED'];
    const vars = Object.fromEntries([...passed, ...kept].map(name => [name, 'x']));
    const run = await runContainer('postgres', ['-c', 'env | cut -d= -f1'], containerEnv(vars, '--entrypoint sh'));
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const names = run.stdout.trim().split('\n');
    expect(names).toEqual(expect.arrayContaining(passed));
    expect(kept.filter(name => names.includes(name))).toEqual([]);
  });

  test('backup from inside the container → one object + manifest in S3 → sha256 and size match → restores to identical rows', async () => {
    const name = 'shop';
    const started = new Date();
    const run = await runContainer('postgres', ['backup'], containerEnv(backupEnv(source, name)));
    const finished = new Date();
    if (run.code !== 0) throw new Error(`container exited ${run.code}:\n${run.stdout}\n${run.stderr}`);

    // Logs: every stdout line is a JSON object with time, level and msg; no secret anywhere.
    expect(run.nonJson).toEqual([]);
    expect(run.lines.length).toBeGreaterThan(1);
    for (const line of run.lines) {
      expect(line).toEqual(expect.objectContaining({ time: expect.any(String), level: expect.stringMatching(/^(info|warn|error)$/), msg: expect.any(String) }));
    }
    for (const secret of secrets()) {
      expect(run.stdout).not.toContain(secret);
      expect(run.stderr).not.toContain(secret);
    }
    const done = run.last as LogLine;
    expect(done).toMatchObject({ level: 'info', msg: 'backup complete' });
    expect(run.lines.find(l => l.msg === 'dump starting')).toMatchObject({
      tool: { name: 'pg_dump', version: expect.stringMatching(/^\d+\./) },
      server: { version: expect.stringMatching(new RegExp(`^${pg.version}\\.`)) },
    });

    // Exactly one data object and its manifest under <prefix>/<name>/, named <UTC timestamp>-<8 hex>.<ext>.
    const keys = await listKeys(`${prefix}/${name}/`);
    expect(keys).toHaveLength(2);
    const key = done.key as string;
    expect(keys).toEqual([key, `${key}.manifest.json`]);
    const m = new RegExp(`^${prefix}/${name}/(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})(\\d{2})Z-[0-9a-f]{8}\\.pgdump\\.zst$`).exec(key);
    expect(m).not.toBeNull();
    const stamp = Date.UTC(+m![1], +m![2] - 1, +m![3], +m![4], +m![5], +m![6]);
    expect(stamp).toBeGreaterThanOrEqual(Math.floor(started.getTime() / 1000) * 1000);
    expect(stamp).toBeLessThanOrEqual(finished.getTime());

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'image-rt-'));
    try {
      const manifestFile = path.join(tmp, 'manifest.json');
      const dataFile = path.join(tmp, 'data');
      await download(`${key}.manifest.json`, manifestFile);
      await download(key, dataFile);
      const manifestText = fs.readFileSync(manifestFile, 'utf8');
      const manifest = JSON.parse(manifestText);
      const data = fs.readFileSync(dataFile);
      expect(manifest).toMatchObject({
        formatVersion: 1,
        engine: 'postgres',
        database: source,
        key,
        bytes: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
        compression: 'zstd',
        format: 'pg_dump-custom',
        tool: { name: 'pg_dump', version: expect.stringMatching(/^\d+\./) },
        server: { version: expect.stringMatching(new RegExp(`^${pg.version}\\.`)) },
        runner: { version: VERSION },
      });
      expect(manifest.rawBytes).toBeGreaterThan(3 * MB);
      expect(Date.parse(manifest.startedAt)).toBeLessThanOrEqual(Date.parse(manifest.finishedAt));
      expect(done).toMatchObject({ bytes: manifest.bytes, sha256: manifest.sha256, manifestKey: `${key}.manifest.json` });
      for (const secret of secrets()) expect(manifestText).not.toContain(secret);
      // zstd's magic number: the object really is what the manifest says.
      expect(data.subarray(0, 4).toString('hex')).toBe('28b52ffd');

      const restored = await restoreWithImage(dataFile, manifest.compression);
      expect(await tableDigests(restored)).toEqual(await tableDigests(source));
      process.stderr.write(`[image round trip] pg_dump ${manifest.tool.version} → PostgreSQL ${manifest.server.version}: raw ${(manifest.rawBytes / MB).toFixed(1)} MB → stored ${(manifest.bytes / MB).toFixed(1)} MB in ${manifest.durationSeconds} s; container run ${((finished.getTime() - started.getTime()) / 1000).toFixed(1)} s\n`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('SIGTERM to the container mid-upload (the kubelet at the Job deadline): exit 143, nothing stored, no open upload, a last line naming the signal', async () => {
    await bigReady;
    // Big enough that the dump is still streaming well after the signal below.
    expect(Number(await pg.psql("SELECT pg_table_size('big');", big))).toBeGreaterThan(140 * MB);
    const name = 'sigterm';
    const containerName = uniqueName('cdk8s-db-backup-sigterm');
    const run = startContainer('postgres', ['backup'], containerEnv(
      backupEnv(big, name, { BACKUP_PROGRESS_INTERVAL_MS: '100' }), `--name ${containerName}`));
    const at = await run.waitForLine(l => l.msg === 'progress' && (l.bytes as number) >= 8 * MB, 90_000);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const status = await run.exited;
    const stopSeconds = (Date.now() - t0) / 1000;

    expect(status).toEqual({ code: 143, signal: null });
    expect(run.nonJson).toEqual([]);
    const last = run.lines[run.lines.length - 1];
    expect(last).toMatchObject({ level: 'error', msg: expect.stringContaining('SIGTERM') });
    expect(last.cleanup).toBe('verified: nothing stored at the key, no unfinished upload');
    expect(run.lines.some(l => l.level === 'warn' && /received SIGTERM/.test(l.msg))).toBe(true);
    expect(run.lines.some(l => l.msg === 'backup complete')).toBe(false);
    for (const secret of secrets()) {
      expect(run.stdout()).not.toContain(secret);
      expect(run.stderr()).not.toContain(secret);
    }

    // Nothing at the key, no manifest, nothing at all under the series; no multipart upload left open.
    const key = run.lines.find(l => l.msg === 'dump starting')?.key as string;
    expect(key).toMatch(new RegExp(`^${prefix}/${name}/`));
    await new Promise(r => setTimeout(r, 500));
    expect(await listKeys(`${prefix}/${name}/`)).toEqual([]);
    expect(await openUploads()).toEqual([]);
    // The container is gone (--rm), nothing keeps running after the signal.
    expect(containerExists(containerName)).toBe(false);
    process.stderr.write(`[image SIGTERM] signalled at ${((at.bytes as number) / MB).toFixed(0)} MB stored, container exited ${status.code} after ${stopSeconds.toFixed(1)} s\n`);
  });
});
