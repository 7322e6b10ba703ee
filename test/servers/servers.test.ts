/**
 * Tests of the test harness itself: the servers global-setup.ts started are
 * real, reachable from a jest worker, and enforce authentication the way the
 * backup runner will meet it.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { s3ToEnv } from './ceph';
import { describeIntegration, requirePostgres, requireS3, s3ClientConfig, uniqueName, unmetNeeds } from './env';
import { PG_BINDIR } from './postgres';
import { cleanEnv, run } from './proc';

describeIntegration('test S3 server (Ceph radosgw)', ['s3'], () => {
  let client: S3Client;
  let bucket: string;

  beforeAll(async () => {
    client = new S3Client(s3ClientConfig());
    bucket = uniqueName('harness');
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    if (!client) return; // beforeAll failed; its error is the one to read
    // Leave the shared server as we found it; later test files may list all buckets.
    const left = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    for (const o of left.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  });

  test('a streamed multipart upload round-trips byte for byte', async () => {
    const partSize = 5 * 1024 * 1024;
    const sent = createHash('sha256');
    let size = 0;
    // More than 4 parts, last one short: the shape of a real dump stream.
    async function* body(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 22; i++) {
        const chunk = randomBytes(1024 * 1024 + (i === 21 ? 12345 : 0));
        sent.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    await new Upload({ client, params: { Bucket: bucket, Key: 'dir/dump.bin', Body: Readable.from(body()) }, partSize, queueSize: 2 }).done();

    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'dir/' }));
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([['dir/dump.bin', size]]);

    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/dump.bin' }));
    const received = createHash('sha256');
    for await (const chunk of got.Body as Readable) received.update(chunk as Buffer);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
  });

  test('an open multipart upload is listed until it is aborted, and never visible as an object', async () => {
    const Key = 'partial.bin';
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
    await client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: randomBytes(5 * 1024 * 1024) }));

    const open = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(open.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([[Key, UploadId]]);
    const objects = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: Key }));
    expect(objects.KeyCount).toBe(0);

    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    const after = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(after.Uploads ?? []).toEqual([]);
  });

  test('a wrong secret key is rejected', async () => {
    const c = requireS3();
    const bad = new S3Client(s3ClientConfig({ ...c, secretAccessKey: `${c.secretAccessKey}x` }));
    try {
      await expect(bad.send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toMatchObject({
        name: 'SignatureDoesNotMatch',
        $metadata: { httpStatusCode: 403 },
      });
    } finally {
      bad.destroy();
    }
  });
});

describeIntegration('test PostgreSQL server', ['postgres'], () => {
  const pg = () => requirePostgres();
  let db: string;

  /** psql over TCP as `user` with `password`, the way a backup job connects. */
  const tcpPsql = (sql: string, password: string, user = pg().user) =>
    run(
      [path.join(PG_BINDIR, 'psql'), '--no-psqlrc', '--tuples-only', '--no-align', '--host', pg().host, '--port', String(pg().port), '--username', user, '--dbname', db, '--command', sql],
      { env: cleanEnv({ PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' }), timeoutMs: 30_000 },
    );

  beforeAll(async () => {
    db = uniqueName('harness').replace(/-/g, '_');
    await pg().createDatabase(db);
    await pg().psql('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;', db);
  });

  afterAll(async () => {
    await pg().psql(`DROP DATABASE ${db};`);
  });

  test('is PostgreSQL 15, and the superuser reaches it through the unix socket', async () => {
    expect(pg().version).toBe(15);
    expect((await pg().psql('SELECT current_user, count(*) FROM t;', db)).trim()).toBe('postgres|1000');
  });

  test('the backup role connects over TCP with its password and reads every table', async () => {
    const { stdout } = await tcpPsql('SELECT current_user, count(*) FROM t;', pg().password);
    expect(stdout.trim()).toBe('backup|1000');
  });

  test('a wrong password over TCP is rejected', async () => {
    await expect(tcpPsql('SELECT 1;', `${pg().password}x`)).rejects.toThrow(/password authentication failed for user "backup"/);
  });

  test('the superuser cannot log in over TCP at all (it has no password)', async () => {
    await expect(tcpPsql('SELECT 1;', 'anything', pg().superuser)).rejects.toThrow(/password authentication failed for user "postgres"/);
  });

  test('pg_dump runs as the backup role', async () => {
    const { stdout } = await run(
      [path.join(PG_BINDIR, 'pg_dump'), '--host', pg().host, '--port', String(pg().port), '--username', pg().user, '--format', 'plain', '--table', 't', db],
      { env: cleanEnv({ PGPASSWORD: pg().password }), timeoutMs: 60_000 },
    );
    expect(stdout).toContain('COPY public.t (id, v) FROM stdin;');
  });
});

describe('describeIntegration: what a suite needs and why it is skipped (or fails under CI)', () => {
  // An environment in which global-setup started nothing and build.sh never ran.
  const bare = { CDK8S_DB_BACKUP_CACHE: path.join(os.tmpdir(), uniqueName('no-image-cache')) };

  test('a server global-setup did not start: the suite names it, CI gets the cause and the fix', () => {
    const [unmet] = unmetNeeds(['mysql'], bare);
    expect(unmet).toMatchObject({ need: 'mysql', skip: 'no mysql server; run .ci/install-servers.sh' });
    expect(unmet.error).toMatch(/^MariaDB for integration tests is not available: jest's globalSetup \(test\/servers\/global-setup\.ts\) did not start it\..*install-servers\.sh/);
  });

  test('an image build.sh has not built: the reason names the image build', () => {
    expect(unmetNeeds(['image:redis'], bare)).toEqual([{
      need: 'image:redis',
      skip: `no podman setup in ${bare.CDK8S_DB_BACKUP_CACHE} (image/build.sh has not run): run \`npx projen image:build\` first`,
      error: `no podman setup in ${bare.CDK8S_DB_BACKUP_CACHE} (image/build.sh has not run): run \`npx projen image:build\` first`,
    }]);
  });

  test('a server is met by the variables global-setup writes for it; root only when running as root', () => {
    const withS3 = { ...bare, ...s3ToEnv({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 's' }) };
    expect(unmetNeeds(['s3', 'postgres'], withS3).map(u => u.need)).toEqual(['postgres']);
    expect(unmetNeeds(['root'], bare).map(u => u.need)).toEqual(process.getuid?.() === 0 ? [] : ['root']);
  });
});
