/**
 * One conformance suite for every Storage backend (restic's internal/backend/test is the model):
 * each case is written once and runs against FileStorage on a temporary directory and against
 * S3Storage on the real radosgw that jest's global setup starts. What the runner relies on —
 * listing at any depth, no overwrite, nothing left by a failed or aborted write, unfinished
 * writes listed under their final key — must hold on both, or callers would branch on the kind.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Destination } from '../../image/src/config';
import { describeError } from '../../image/src/errors';
import { createStorage } from '../../image/src/storage';
import { FileStorage } from '../../image/src/storage/file';
import { S3Storage } from '../../image/src/storage/s3';
import { Storage, StoredObject } from '../../image/src/storage/storage';
import { describeIntegration, requireS3, s3ClientConfig, uniqueName } from '../servers/env';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;
/** More than one 8 MiB part: on S3 a multipart upload exists while it is written. */
const MULTIPART = 9 * MiB;
/** A key in the runner's layout, so every case exercises the shapes the runner uses. */
const KEY = 'orders/20240501T020304Z-0badf00d.pgdump.zst';

interface Backend {
  /** A new, empty storage of its own, and a raw writer into it that bypasses the Storage under test. */
  create(): Promise<{ storage: Storage; seed(key: string, bytes: Buffer): Promise<void> }>;
  /** A storage that is not usable (no such bucket, a file where the directory should be), and its name. */
  broken(): Promise<{ storage: Storage; name: string }>;
}

const live = new AbortController().signal;

function body(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += MiB) chunks.push(bytes.subarray(i, i + MiB));
  return Readable.from(chunks);
}

async function read(storage: Storage, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.get(key, live)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const keysOf = (objects: readonly StoredObject[]) => objects.map(o => o.key).sort();

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

/** A time the storage recorded just now: the test servers run on this machine's clock. */
function expectRecent(t: Date): void {
  expect(Math.abs(t.getTime() - Date.now())).toBeLessThan(60_000);
}

/** An unfinished put: `written` bytes are in, the body stays open until the test ends or aborts it. */
async function startPut(storage: Storage, key: string, written: number) {
  const controller = new AbortController();
  const stream = new PassThrough();
  // Settled into a value at once, so a rejection before the test awaits it is not an unhandled one.
  const outcome = storage.put(key, stream, {}, controller.signal).then(() => undefined, (err: Error) => err);
  stream.write(randomBytes(written));
  const unfinished = await waitFor('the unfinished write to be listed', async () => {
    const found = (await storage.listUnfinished(key, live)).filter(u => u.key === key);
    return found.length === 1 ? found[0] : undefined;
  });
  return { controller, stream, outcome, unfinished };
}

function conformance(backend: Backend): void {
  let storage: Storage;
  let seed: (key: string, bytes: Buffer) => Promise<void>;
  beforeEach(async () => {
    ({ storage, seed } = await backend.create());
  });

  test('preflight accepts a usable destination and rejects an unusable one, naming it', async () => {
    await storage.preflight(live);
    const broken = await backend.broken();
    await expect(broken.storage.preflight(live)).rejects.toThrow(broken.name);
  });

  test('preflight reads the storage\'s clock from the storage itself, agrees with what it records, and leaves nothing behind', async () => {
    const before = Date.now();
    const reading = await storage.preflight(live);
    expect(reading.local.getTime()).toBeGreaterThanOrEqual(before);
    expect(reading.local.getTime()).toBeLessThanOrEqual(Date.now());
    // The test servers share this machine's clock: the storage's time is now, to the second.
    expect(Math.abs(reading.storage.getTime() - reading.local.getTime())).toBeLessThan(2_000);
    const stored = await storage.put(KEY, body(Buffer.from('x')), {}, live);
    expect(Math.abs(stored.modified.getTime() - reading.storage.getTime())).toBeLessThan(5_000);
    await storage.delete(KEY, live);
    // No probe file or object is left anywhere, not even at the root.
    expect(await storage.list('', live)).toEqual([]);
    expect(await storage.listUnfinished('', live)).toEqual([]);
    expect(storage.maxClockSkewMs).toBe(600_000);
  });

  describe('list', () => {
    test('an empty storage lists nothing, at the root or under a prefix', async () => {
      expect(await storage.list('', live)).toEqual([]);
      expect(await storage.list('orders/', live)).toEqual([]);
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });

    test('keys at any depth; a prefix is a string prefix, so callers filter series', async () => {
      const keys = ['orders/a', 'orders/daily/b', 'orders/daily/deeper/c', 'orders-eu/d', 'other/e'];
      for (const [i, key] of keys.entries()) await storage.put(key, body(Buffer.alloc(i + 1, i)), {}, live);

      const all = await storage.list('', live);
      expect(keysOf(all)).toEqual([...keys].sort());
      for (const o of all) {
        expect(o.bytes).toBe(keys.indexOf(o.key) + 1);
        expectRecent(o.modified);
      }
      expect(keysOf(await storage.list('orders', live))).toEqual(['orders-eu/d', 'orders/a', 'orders/daily/b', 'orders/daily/deeper/c']);
      expect(keysOf(await storage.list('orders/', live))).toEqual(['orders/a', 'orders/daily/b', 'orders/daily/deeper/c']);
      expect(keysOf(await storage.list('orders/daily/', live))).toEqual(['orders/daily/b', 'orders/daily/deeper/c']);
      expect(keysOf(await storage.list('orders/d', live))).toEqual(['orders/daily/b', 'orders/daily/deeper/c']);
      expect(await storage.list('nothing/', live)).toEqual([]);
    });

    test('more keys than one listing page (S3 returns 1,000 at a time)', async () => {
      const keys = Array.from({ length: 1_003 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map(k => seed(k, Buffer.from(k))));
      const listed = await storage.list('many/', live);
      expect(keysOf(listed)).toEqual(keys);
      expect(listed.every(o => o.bytes === 9)).toBe(true);
    });
  });

  describe('save', () => {
    test.each([
      ['empty', 0],
      ['small', 1234],
      ['multi-part', 2 * 8 * MiB + 12345],
    ])('%s: put, then stat and get give back the same bytes and the storage\'s time', async (_name, size) => {
      const bytes = randomBytes(size);
      const stored = await storage.put(KEY, body(bytes), { contentType: 'application/octet-stream', sizeHint: size }, live);
      expect(stored).toMatchObject({ key: KEY, bytes: size });
      expectRecent(stored.modified);
      expect(await storage.stat(KEY, live)).toEqual(stored);
      const back = await read(storage, KEY);
      expect(back.length).toBe(size);
      expect(sha256(back)).toBe(sha256(bytes));
      expect(await storage.list('orders/', live)).toEqual([stored]);
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });

    test('never overwrites: a second put to the same key is refused and the first object stays', async () => {
      const first = randomBytes(1000);
      const stored = await storage.put(KEY, body(first), {}, live);
      const second = body(randomBytes(MULTIPART));
      await expect(storage.put(KEY, second, {}, live)).rejects.toMatchObject({
        name: 'ObjectExistsError', message: expect.stringMatching(/^refusing to overwrite \S+orders\/20240501T020304Z-0badf00d\.pgdump\.zst: /),
      });
      // The refused body is not left open with its producer blocked.
      expect(second.destroyed).toBe(true);
      expect(await storage.stat(KEY, live)).toEqual(stored);
      expect(sha256(await read(storage, KEY))).toBe(sha256(first));
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });
  });

  describe('save-error: a body that fails leaves nothing', () => {
    test.each([
      ['before any byte', 0],
      ['after a few bytes', 1000],
      ['after more than a part', 2 * MULTIPART],
    ])('%s', async (_name, before) => {
      async function* failing() {
        for (let sent = 0; sent < before; sent += MiB) yield randomBytes(Math.min(MiB, before - sent));
        throw new Error('the dump tool died');
      }
      const err = await storage.put(KEY, Readable.from(failing()), {}, live).then(() => undefined, (e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(describeError(err)).toContain('the dump tool died');
      expect(await storage.stat(KEY, live)).toBeUndefined();
      expect(await storage.list('', live)).toEqual([]);
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });
  });

  describe('abort', () => {
    test('mid-put: rejects promptly with the reason, the body is destroyed, nothing is left', async () => {
      const run = await startPut(storage, KEY, MULTIPART);
      const reason = new Error('interrupted by SIGTERM');
      const started = Date.now();
      run.controller.abort(reason);
      const err = await run.outcome;
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(describeError(err)).toContain('interrupted by SIGTERM');
      expect(run.stream.destroyed).toBe(true);
      expect(await storage.stat(KEY, live)).toBeUndefined();
      expect(await storage.list('', live)).toEqual([]);
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });

    test('a body that stalls before its first byte still stops on abort', async () => {
      const controller = new AbortController();
      const stalled = new PassThrough();
      const put = storage.put(KEY, stalled, {}, controller.signal);
      await new Promise(r => setTimeout(r, 200));
      controller.abort(new Error('deadline'));
      await expect(put).rejects.toThrow();
      expect(stalled.destroyed).toBe(true);
      expect(await storage.list('', live)).toEqual([]);
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });

    test('an aborted signal stops every call before it does anything', async () => {
      await storage.put(KEY, body(Buffer.from('kept')), {}, live);
      const aborted = AbortSignal.abort(new Error('stopped'));
      const unread = body(Buffer.from('new'));
      await expect(storage.put('orders/other', unread, {}, aborted)).rejects.toThrow();
      expect(unread.destroyed).toBe(true);
      await expect(storage.preflight(aborted)).rejects.toThrow();
      await expect(storage.get(KEY, aborted)).rejects.toThrow();
      await expect(storage.stat(KEY, aborted)).rejects.toThrow();
      await expect(storage.list('', aborted)).rejects.toThrow();
      await expect(storage.delete(KEY, aborted)).rejects.toThrow();
      await expect(storage.listUnfinished('', aborted)).rejects.toThrow();
      await expect(storage.removeUnfinished({ key: KEY, started: new Date(), handle: 'x' }, aborted)).rejects.toThrow();
      expect(keysOf(await storage.list('', live))).toEqual([KEY]);
      expect(sha256(await read(storage, KEY))).toBe(sha256(Buffer.from('kept')));
    });

    test('mid-get: the reader fails instead of ending as if the object were shorter', async () => {
      await storage.put(KEY, body(randomBytes(4 * MiB)), {}, live);
      const controller = new AbortController();
      const reader = await storage.get(KEY, controller.signal);
      let received = 0;
      const err = await (async () => {
        for await (const chunk of reader) {
          received += (chunk as Buffer).length;
          controller.abort(new Error('stopped'));
        }
      })().then(() => undefined, (e: Error) => e);
      // Node's own errors come from another realm than jest's test context: no instanceof here.
      expect(err).not.toBeUndefined();
      expect(received).toBeLessThan(4 * MiB);
    });
  });

  describe('delete', () => {
    test('removes the object; deleting again, or a key never written, is no error', async () => {
      await storage.put(KEY, body(Buffer.from('x')), {}, live);
      await storage.put(`${KEY}.manifest.json`, body(Buffer.from('{}')), {}, live);
      await storage.delete(KEY, live);
      expect(await storage.stat(KEY, live)).toBeUndefined();
      expect(keysOf(await storage.list('', live))).toEqual([`${KEY}.manifest.json`]);
      await storage.delete(KEY, live);
      await storage.delete('orders/never-written', live);
      await storage.delete('no/such/directory/key', live);
    });
  });

  describe('missing keys', () => {
    test('stat of a missing key is undefined; get rejects naming the key', async () => {
      expect(await storage.stat(KEY, live)).toBeUndefined();
      expect(await storage.stat('no/such/directory/key', live)).toBeUndefined();
      await expect(storage.get(KEY, live)).rejects.toThrow(KEY);
    });
  });

  describe('unfinished writes', () => {
    test('a put in progress is listed under its final key and the storage\'s start time, not as an object', async () => {
      const run = await startPut(storage, KEY, MULTIPART);
      try {
        expect(run.unfinished).toMatchObject({ key: KEY, handle: expect.any(String) });
        expectRecent(run.unfinished.started);
        expect(await storage.list('', live)).toEqual([]);
        expect(await storage.stat(KEY, live)).toBeUndefined();
        // At any depth, by string prefix — the same semantics as list.
        for (const prefix of ['', 'orders', 'orders/', 'orders/2024', KEY]) {
          expect((await storage.listUnfinished(prefix, live)).map(u => u.key)).toEqual([KEY]);
        }
        for (const prefix of ['orders-eu/', 'orders/2025', 'orders/20240501T020304Z-0badf00d.pgdump.zst.manifest']) {
          expect(await storage.listUnfinished(prefix, live)).toEqual([]);
        }
      } finally {
        run.controller.abort(new Error('test done'));
        await run.outcome;
      }
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });

    test('removeUnfinished removes it, and the write it belonged to can no longer complete', async () => {
      const run = await startPut(storage, KEY, MULTIPART);
      await storage.removeUnfinished(run.unfinished, live);
      expect(await storage.listUnfinished('', live)).toEqual([]);
      // Removing one that is already gone is no error (two prunes at once).
      await storage.removeUnfinished(run.unfinished, live);
      run.stream.end(randomBytes(1000));
      const err = await run.outcome;
      expect(err).toBeInstanceOf(Error);
      expect(await storage.stat(KEY, live)).toBeUndefined();
      expect(await storage.list('', live)).toEqual([]);
      expect(await storage.listUnfinished('', live)).toEqual([]);
    });
  });
}

describe('storage locations and series prefixes', () => {
  const s3 = (prefix: string, endpoint?: string): S3Destination => ({ kind: 's3', bucket: 'backups', prefix, region: 'us-east-1', endpoint, forcePathStyle: true });

  test('S3: the bucket prefix is part of the location and of every series prefix', () => {
    const storage = createStorage(s3('prod/db', 'http://minio.storage:9000'));
    expect(storage).toBeInstanceOf(S3Storage);
    expect(storage.location).toBe('s3://backups/prod/db (http://minio.storage:9000)');
    expect(storage.seriesPrefix('orders')).toBe('prod/db/orders/');
    const bare = createStorage(s3(''));
    expect(bare.location).toBe('s3://backups');
    expect(bare.seriesPrefix('orders')).toBe('orders/');
  });

  test('file: keys are relative to the directory', () => {
    const storage = createStorage({ kind: 'file', dir: '/backup/prod' });
    expect(storage).toBeInstanceOf(FileStorage);
    expect(storage.location).toBe('file:///backup/prod');
    expect(storage.seriesPrefix('orders')).toBe('orders/');
  });
});

describe('storage conformance: FileStorage on a temporary directory', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-conformance-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  conformance({
    // A directory below the temporary one: preflight must create it, as on a fresh volume.
    create: async () => {
      const root = path.join(tempDir(), 'volume', 'prod');
      return {
        storage: new FileStorage(root),
        seed: async (key, bytes) => {
          fs.mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
          fs.writeFileSync(path.join(root, key), bytes);
        },
      };
    },
    broken: async () => {
      const file = path.join(tempDir(), 'not-a-directory');
      fs.writeFileSync(file, '');
      return { storage: new FileStorage(file), name: `file://${file}` };
    },
  });

  test('a temporary file left by a killed run is listed under its final key, with its mtime', async () => {
    const dir = tempDir();
    const storage = new FileStorage(dir);
    const handle = `orders/.${path.basename(KEY)}.partial-1a2b3c4d`;
    fs.mkdirSync(path.join(dir, 'orders'));
    fs.writeFileSync(path.join(dir, handle), 'half a dump');
    const old = new Date('2024-05-01T02:03:09Z');
    fs.utimesSync(path.join(dir, handle), old, old);
    expect(await storage.listUnfinished('orders/', live)).toEqual([{ key: KEY, started: old, handle }]);
    expect(await storage.list('', live)).toEqual([]);
  });
});

describeIntegration('storage conformance: S3Storage on radosgw', ['s3'], () => {
  let client: S3Client;
  beforeAll(() => {
    client = new S3Client(s3ClientConfig());
  });
  afterAll(() => client?.destroy());

  const destination = (bucket: string): S3Destination => {
    const c = requireS3();
    return { kind: 's3', bucket, prefix: '', region: c.region, endpoint: c.endpoint, forcePathStyle: true };
  };

  let credentials: NodeJS.ProcessEnv;
  beforeAll(() => {
    // The SDK's default chain reads the keys from the environment, as in the image.
    const c = requireS3();
    credentials = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(credentials ?? {})) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  conformance({
    create: async () => {
      const bucket = uniqueName('conformance');
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return {
        // A short abort deadline: radosgw is local, and a failing cleanup should fail the test fast.
        storage: new S3Storage(destination(bucket), 5_000),
        seed: async (key, bytes) => {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
        },
      };
    },
    broken: async () => {
      const bucket = uniqueName('no-such-bucket');
      return { storage: new S3Storage(destination(bucket), 5_000), name: `s3://${bucket}` };
    },
  });
});
