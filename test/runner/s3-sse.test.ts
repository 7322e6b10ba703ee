/**
 * S3 server-side encryption (BACKUP_S3_SSE, BACKUP_S3_SSE_KMS_KEY_ID): the variables are checked
 * before anything starts, and every upload the runner makes (data, manifest, verify result; single
 * PutObject and multipart) asks for it. The requests are recorded by an HTTP proxy in front of the
 * real radosgw, which then stores them: radosgw (Ceph 16, test/servers/ceph.ts) runs its built-in
 * test KMS, so SSE-KMS with a key id is applied for real (HEAD reports it, GET decrypts); an unknown
 * key fails the upload. What radosgw 16 cannot show: SSE-KMS without a key id (it requires one; AWS
 * uses the bucket's default key) and SSE-S3 (AES256: it accepts the header but neither applies nor
 * reports it), so for AES256 only the request is checked.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { baseEnv, buildRunner, runRunner } from './runner-process';
import { TestBucket, createTestBucket, expectNothingLeft } from './s3-helpers';
import { loadRunConfig } from '../../image/src/config';
import { S3Storage } from '../../image/src/storage/s3';
import { ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';
import { RuleError } from '../../lib/rules';
import { S3_TEST_KMS_KEY_ID } from '../servers/ceph';
import { describeIntegration, requirePostgres, requireS3, uniqueName } from '../servers/env';
import { postgresRunnerEnv, quoteIdent } from '../servers/postgres';

jest.setTimeout(120_000);

const S3_ENV = {
  [ENV.ENGINE]: 'postgres',
  [ENV.NAME]: 'orders',
  [ENV.DESTINATION]: 's3://bucket/prod',
  [ENV.AWS_REGION]: 'us-east-1',
  [ENGINE_REGISTRY.postgres.env.HOST]: 'db',
  [ENGINE_REGISTRY.postgres.env.DATABASE]: 'orders',
};
const PGV = ENGINE_REGISTRY.postgres.env;

describe('BACKUP_S3_SSE and BACKUP_S3_SSE_KMS_KEY_ID are checked before anything starts', () => {
  const sse = (env: NodeJS.ProcessEnv, command = 'backup') => {
    const config = loadRunConfig([command], { ...S3_ENV, ...env });
    return config.destination.kind === 's3' ? config.destination.serverSideEncryption : 'not s3';
  };

  test('accepted values', () => {
    expect(sse({})).toBeUndefined();
    expect(sse({ [ENV.S3_SSE]: 'AES256' })).toEqual({ type: 'AES256' });
    expect(sse({ [ENV.S3_SSE]: 'aws:kms' })).toEqual({ type: 'aws:kms' });
    const arn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(sse({ [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: arn })).toEqual({ type: 'aws:kms', kmsKeyId: arn });
    expect(sse({ [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: 'alias/backups' }, 'list')).toEqual({ type: 'aws:kms', kmsKeyId: 'alias/backups' });
  });

  test.each([
    [{ [ENV.S3_SSE]: 'aes256' }, `${ENV.S3_SSE}: 'aes256' is unknown; use 'aws:kms'`],
    [{ [ENV.S3_SSE]: 'kms' }, `${ENV.S3_SSE}: 'kms' is unknown`],
    [{ [ENV.S3_SSE_KMS_KEY_ID]: 'alias/x' }, `${ENV.S3_SSE_KMS_KEY_ID}: set only with ${ENV.S3_SSE}=aws:kms`],
    [{ [ENV.S3_SSE]: 'AES256', [ENV.S3_SSE_KMS_KEY_ID]: 'alias/x' }, `${ENV.S3_SSE_KMS_KEY_ID}: a KMS key goes with ${ENV.S3_SSE}=aws:kms, not 'AES256'`],
    [{ [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: 'alias/my key' }, `${ENV.S3_SSE_KMS_KEY_ID}: "alias/my key" is not a KMS key id`],
    [{ [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: 'k\nx' }, 'is not a KMS key id'],
    [{ [ENV.DESTINATION]: 'file:///backup', [ENV.S3_SSE]: 'AES256' }, `${ENV.S3_SSE}: S3 server-side encryption applies to s3:// destinations only`],
  ])('%j is refused', (env, message) => {
    expect(() => sse(env)).toThrow(message);
    // A rule error: exit 2, nothing started.
    expect(() => sse(env)).toThrow(RuleError);
  });
});

interface Recorded { readonly method: string; readonly url: string; readonly headers: http.IncomingHttpHeaders }

/** An HTTP proxy that forwards every request to `target` unchanged (the signature stays valid) and records it. */
async function recordingProxy(target: string): Promise<{ endpoint: string; requests: Recorded[]; close(): Promise<void> }> {
  const to = new URL(target);
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, up => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise(resolve => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const SSE = 'x-amz-server-side-encryption';
const SSE_KEY = 'x-amz-server-side-encryption-aws-kms-key-id';
/** Requests that create an object or an upload: PutObject (not a part) and CreateMultipartUpload. */
const creates = (r: Recorded) => (r.method === 'PUT' && !/[?&]partNumber=/.test(r.url)) || (r.method === 'POST' && /[?&]uploads\b/.test(r.url));
const parts = (r: Recorded) => r.method === 'PUT' && /[?&]partNumber=/.test(r.url);

describeIntegration('runner: S3 server-side encryption against radosgw (its test KMS)', ['postgres', 's3'], () => {
  let pg: ReturnType<typeof requirePostgres>;
  let b: TestBucket;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let source: string;
  /** A role that can create databases: the restoring and verifying user. */
  const role = uniqueName('sserole').replace(/-/g, '_');
  const rolePassword = randomBytes(12).toString('hex');

  beforeAll(async () => {
    pg = requirePostgres();
    b = await createTestBucket('sse');
    proxy = await recordingProxy(requireS3().endpoint);
    source = uniqueName('ssesrc').replace(/-/g, '_');
    await pg.createDatabase(source);
    await pg.psql(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB PASSWORD '${rolePassword}';`);
    await pg.psql('CREATE TABLE items (id bigint PRIMARY KEY, payload text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g;', source);
    await buildRunner();
  });

  afterAll(async () => {
    b?.s3.destroy();
    await proxy?.close();
  });

  function env(series: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv({
      [ENV.ENGINE]: 'postgres', ...b.runnerEnv('prod'), [ENV.AWS_ENDPOINT_URL_S3]: proxy.endpoint, [ENV.NAME]: series, ...postgresRunnerEnv(pg, source), ...extra,
    });
  }

  const head = (key: string) => b.s3.send(new HeadObjectCommand({ Bucket: b.bucket, Key: key }));

  test('SSE-KMS with a key: asked for on the data, the manifest and the verify result; radosgw encrypts with it; restore and verify read it back', async () => {
    const kms = { [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: S3_TEST_KMS_KEY_ID };
    const from = proxy.requests.length;
    const made = await runRunner(env('kms', kms));
    expect(made.code).toBe(0);
    const key = made.last.key as string;
    const puts = proxy.requests.slice(from).filter(creates);
    expect(puts.map(r => decodeURIComponent(r.url.split('?')[0]))).toEqual(expect.arrayContaining([`/${b.bucket}/${key}`, `/${b.bucket}/${key}.manifest.json`]));
    for (const r of puts) expect({ url: r.url, sse: r.headers[SSE], key: r.headers[SSE_KEY] }).toEqual({ url: r.url, sse: 'aws:kms', key: S3_TEST_KMS_KEY_ID });
    for (const k of [key, `${key}.manifest.json`]) expect(await head(k)).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: S3_TEST_KMS_KEY_ID });

    const target = uniqueName('ssetgt').replace(/-/g, '_');
    await pg.psql(`CREATE DATABASE ${quoteIdent(target)} OWNER ${quoteIdent(role)};`);
    const as = { [PGV.USER]: role, [PGV.PASSWORD]: rolePassword };
    const restored = await runRunner(env('kms', { ...kms, ...as, [PGV.DATABASE]: target }), ['restore']);
    expect({ code: restored.code, last: restored.last.msg }).toEqual({ code: 0, last: 'restore complete' });
    expect((await pg.psql('SELECT count(*) FROM items;', target)).trim()).toBe('2000');

    const verified = await runRunner(env('kms', { ...kms, ...as, [PGV.DATABASE]: 'postgres' }), ['verify']);
    expect({ code: verified.code, last: verified.last.msg }).toEqual({ code: 0, last: 'verify passed' });
    expect(await head(`${key}.verify.json`)).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: S3_TEST_KMS_KEY_ID });
  });

  test('a KMS key radosgw does not know: the backup fails with the server\'s reason, nothing is left', async () => {
    const before = await b.objects();
    const run = await runRunner(env('nokey', { [ENV.S3_SSE]: 'aws:kms', [ENV.S3_SSE_KMS_KEY_ID]: 'no-such-key' }));
    expect(run.code).toBe(1);
    expect(run.last.msg).toMatch(/^backup failed: .*upload to s3:\/\/\S+ failed.*kms-keyid: no-such-key/);
    await expectNothingLeft(b, before, undefined);
  });

  test('AES256 (SSE-S3): the header is sent on every upload (radosgw 16 accepts it without applying or reporting it)', async () => {
    const from = proxy.requests.length;
    const made = await runRunner(env('aes', { [ENV.S3_SSE]: 'AES256' }));
    expect(made.code).toBe(0);
    const puts = proxy.requests.slice(from).filter(creates);
    expect(puts.length).toBeGreaterThanOrEqual(2);
    for (const r of puts) expect([r.headers[SSE], r.headers[SSE_KEY]]).toEqual(['AES256', undefined]);
  });

  test('without BACKUP_S3_SSE no encryption header is sent', async () => {
    const from = proxy.requests.length;
    expect((await runRunner(env('none'))).code).toBe(0);
    const puts = proxy.requests.slice(from).filter(creates);
    expect(puts.length).toBeGreaterThanOrEqual(2);
    for (const r of puts) expect(r.headers[SSE]).toBeUndefined();
  });

  test('multipart (20 MiB): CreateMultipartUpload asks for SSE-KMS, the parts inherit it; the object reads back whole', async () => {
    const c = requireS3();
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
    try {
      const storage = new S3Storage({
        kind: 's3',
        bucket: b.bucket,
        prefix: 'big',
        region: c.region,
        endpoint: proxy.endpoint,
        forcePathStyle: true,
        serverSideEncryption: { type: 'aws:kms', kmsKeyId: S3_TEST_KMS_KEY_ID },
      });
      const data = randomBytes(20 * 1024 * 1024);
      const from = proxy.requests.length;
      const key = `big/${uniqueName('obj')}`;
      const stored = await storage.put(key, Readable.from([data.subarray(0, 9e6), data.subarray(9e6)]), {}, new AbortController().signal);
      expect(stored.bytes).toBe(data.length);
      const sent = proxy.requests.slice(from);
      const create = sent.filter(creates);
      expect(create.map(r => [r.method, r.headers[SSE], r.headers[SSE_KEY]])).toEqual([['POST', 'aws:kms', S3_TEST_KMS_KEY_ID]]);
      expect(sent.filter(parts).length).toBeGreaterThanOrEqual(2);
      expect(await head(key)).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: S3_TEST_KMS_KEY_ID });
      const body = await storage.get(key, new AbortController().signal);
      const hash = createHash('sha256');
      for await (const chunk of body) hash.update(chunk as Buffer);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    } finally {
      for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
