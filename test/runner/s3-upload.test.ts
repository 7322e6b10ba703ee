/**
 * S3Storage.put's own multipart upload, seen on the wire by an HTTP proxy in front of the real
 * radosgw: parts go up without a second hash of their bytes (UNSIGNED-PAYLOAD; the manifest's
 * sha256 covers the object) and without the SDK's flexible checksums, at most two at a time while
 * reading stops, and a part the server refuses aborts the whole upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { TestBucket, createTestBucket } from './s3-helpers';
import { describeError } from '../../image/src/errors';
import { S3Storage, partSizeFor } from '../../image/src/storage/s3';
import { describeIntegration, requireS3, uniqueName } from '../servers/env';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const PART = partSizeFor(undefined);

interface Recorded { readonly method: string; readonly url: string; readonly headers: http.IncomingHttpHeaders; readonly bytes: number }

/**
 * A proxy that forwards every request to `target` unchanged (the signature stays valid) and records
 * it. `hold(req)` may delay forwarding an UploadPart or answer it with an error status instead.
 */
async function proxyTo(target: string, hold: (url: string) => Promise<number | undefined> = async () => undefined) {
  const to = new URL(target);
  const requests: Recorded[] = [];
  let partsInFlight = 0;
  let maxPartsInFlight = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void (async () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, bytes: body.length });
      const isPart = isUploadPart({ method: req.method!, url: req.url! });
      if (isPart) maxPartsInFlight = Math.max(maxPartsInFlight, ++partsInFlight);
      const refuse = isPart ? await hold(req.url!) : undefined;
      const done = () => {
        if (isPart) partsInFlight--;
      };
      if (refuse) {
        done();
        res.writeHead(refuse, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>refused by the test proxy</Message></Error>');
        return;
      }
      const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, up => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
        up.on('end', done);
      });
      out.on('error', () => {
        done();
        res.destroy();
      });
      out.end(body);
    })());
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    maxPartsInFlight: () => maxPartsInFlight,
    close: () => new Promise<void>(resolve => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function isUploadPart(r: { method: string; url: string }): boolean {
  return r.method === 'PUT' && /[?&]partNumber=/.test(r.url);
}

/** `bytes` in 64 KiB chunks (what zstd's pipe delivers), counting how many were read. */
function counted(bytes: Buffer): { body: Readable; read(): number } {
  let read = 0;
  function* chunks() {
    for (let i = 0; i < bytes.length; i += 64 * 1024) {
      const chunk = bytes.subarray(i, i + 64 * 1024);
      read += chunk.length;
      yield chunk;
    }
  }
  return { body: Readable.from(chunks()), read: () => read };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describeIntegration('S3Storage.put on the wire (radosgw behind a recording proxy)', ['s3'], () => {
  let b: TestBucket;
  let saved: { id?: string; secret?: string };
  beforeAll(async () => {
    b = await createTestBucket('upload');
    const c = requireS3();
    saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
  });
  afterAll(() => {
    b?.s3.destroy();
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  const storageAt = (endpoint: string) => new S3Storage({
    kind: 's3', bucket: b.bucket, prefix: '', region: requireS3().region, endpoint, forcePathStyle: true,
  }, 5_000);
  const read = async (storage: S3Storage, key: string) => {
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(key, new AbortController().signal)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  test('parts are sent UNSIGNED-PAYLOAD with no flexible checksum or MD5, in whole parts; the commit is conditional; the object reads back whole', async () => {
    const proxy = await proxyTo(requireS3().endpoint);
    try {
      const storage = storageAt(proxy.endpoint);
      const data = randomBytes(2 * PART + 12345);
      const key = `multi/${uniqueName('obj')}`;
      const stored = await storage.put(key, counted(data).body, { contentType: 'application/octet-stream' }, new AbortController().signal);
      expect(stored.bytes).toBe(data.length);
      const parts = proxy.requests.filter(isUploadPart);
      expect(parts.map(p => p.bytes)).toEqual([PART, PART, 12345]);
      for (const p of parts) {
        expect(p.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
        expect(Object.keys(p.headers).filter(h => /^x-amz-checksum-|^x-amz-sdk-checksum|^content-md5$|^x-amz-decoded-content-length$/.test(h))).toEqual([]);
        expect(p.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
      }
      const complete = proxy.requests.filter(r => r.method === 'POST' && /[?&]uploadId=/.test(r.url));
      expect(complete.map(r => r.headers['if-none-match'])).toEqual(['*']);
      expect(sha256(await read(storage, key))).toBe(sha256(data));
      expect(await b.openUploads()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  test('a body that fits in one part is one PutObject, conditional, with no multipart upload', async () => {
    const proxy = await proxyTo(requireS3().endpoint);
    try {
      const storage = storageAt(proxy.endpoint);
      const data = randomBytes(PART);
      const key = `single/${uniqueName('obj')}`;
      await storage.put(key, counted(data).body, {}, new AbortController().signal);
      const writes = proxy.requests.filter(r => r.method === 'PUT' || r.method === 'POST');
      expect(writes.map(r => [r.method, r.url.split('?')[1] ?? '', r.bytes, r.headers['if-none-match']])).toEqual([['PUT', expect.not.stringContaining('uploadId'), PART, '*']]);
      expect(sha256(await read(storage, key))).toBe(sha256(data));
    } finally {
      await proxy.close();
    }
  });

  test('memory stays flat: two parts in flight at most, and the body is not read ahead while they are', async () => {
    let release!: () => void;
    const released = new Promise<void>(resolve => {
      release = resolve;
    });
    const proxy = await proxyTo(requireS3().endpoint, async () => {
      await released;
      return undefined;
    });
    try {
      const storage = storageAt(proxy.endpoint);
      const data = randomBytes(8 * PART);
      const source = counted(data);
      const key = `flat/${uniqueName('obj')}`;
      const put = storage.put(key, source.body, {}, new AbortController().signal);
      // Two parts held by the proxy, one buffer filling: the reading stops there.
      const deadline = Date.now() + 20_000;
      while (proxy.requests.filter(isUploadPart).length < 2 && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
      await new Promise(r => setTimeout(r, 500));
      expect(proxy.requests.filter(isUploadPart).length).toBe(2);
      // Three part buffers, plus what the stream machinery holds (16 chunks of 64 KiB).
      expect(source.read()).toBeLessThanOrEqual(3 * PART + 2 * MiB);
      release();
      const stored = await put;
      expect(stored.bytes).toBe(data.length);
      expect(proxy.maxPartsInFlight()).toBe(2);
      expect(sha256(await read(storage, key))).toBe(sha256(data));
    } finally {
      release();
      await proxy.close();
    }
  });

  test('a part the server refuses fails the put with the server\'s reason; the upload is aborted and nothing is left', async () => {
    const proxy = await proxyTo(requireS3().endpoint, async url => (/[?&]partNumber=2\b/.test(url) ? 403 : undefined));
    try {
      const storage = storageAt(proxy.endpoint);
      const source = counted(randomBytes(6 * PART));
      const key = `refused/${uniqueName('obj')}`;
      const err = await storage.put(key, source.body, {}, new AbortController().signal).then(() => undefined, (e: Error) => e);
      expect(describeError(err)).toMatch(/^upload to s3:\/\/\S+ failed: .*refused by the test proxy/);
      expect(source.body.destroyed).toBe(true);
      // It stopped reading at the failure instead of sending the rest.
      expect(source.read()).toBeLessThan(6 * PART);
      expect(await storage.stat(key, new AbortController().signal)).toBeUndefined();
      expect(await b.openUploads()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
