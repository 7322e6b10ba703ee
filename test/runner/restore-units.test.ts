/**
 * Pieces of restore that need no server: the PostgreSQL 17 → older server script filter, the
 * streaming hash check, reserved restore arguments.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DropTransactionTimeout, dbnameConninfo } from '../../image/src/engines/postgres';
import { HashCheck, IntegrityError } from '../../image/src/integrity';
import { HeldTail, TAIL_HOLD_BYTES, drained, feed } from '../../image/src/restore';
import { RuleError, passThroughArgs } from '../../lib/rules';

async function filter(chunks: string[]): Promise<string> {
  let out = '';
  await pipeline(Readable.from(chunks.map(c => Buffer.from(c, 'latin1'))), new DropTransactionTimeout(), new Writable({
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString('latin1');
      cb();
    },
  }));
  return out;
}

describe('DropTransactionTimeout (pg_restore 17 script → psql on an older server)', () => {
  const script = [
    'SET statement_timeout = 0;',
    'SET transaction_timeout = 0;',
    'SET lock_timeout = 0;',
    'COPY public.t (id, v) FROM stdin;',
    '1\tSET transaction_timeout = 0;',
    'SET transaction_timeout = 0;',
    '\\.',
    'SET transaction_timeout = 0;',
    'SELECT 1;',
    '',
  ].join('\n');
  const expected = [
    'SET statement_timeout = 0;',
    'SET lock_timeout = 0;',
    'COPY public.t (id, v) FROM stdin;',
    '1\tSET transaction_timeout = 0;',
    'SET transaction_timeout = 0;',
    '\\.',
    'SELECT 1;',
    '',
  ].join('\n');

  test('drops the line outside COPY data, keeps rows that happen to read the same', async () => {
    expect(await filter([script])).toBe(expected);
  });

  test('whatever the chunk boundaries (every split point)', async () => {
    for (let i = 1; i < script.length; i++) {
      expect(await filter([script.slice(0, i), script.slice(i)])).toBe(expected);
    }
  });

  test('bytes pass unchanged (non-UTF-8 data)', async () => {
    const binary = 'COPY t FROM stdin;\n\xff\xfe\x80\n\\.\n';
    expect(await filter([binary])).toBe(binary);
  });
});

describe('HashCheck', () => {
  const data = Buffer.from('the backup');
  const manifest = { key: 'k', bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  const run = (body: Buffer) => pipeline(Readable.from([body]), new HashCheck(manifest, 'test'), new Writable({ write: (_c, _e, cb) => cb() }));

  test('passes the recorded bytes', async () => {
    await expect(run(data)).resolves.toBeUndefined();
  });
  test.each([
    ['truncated', data.subarray(0, 5), /is 5 bytes but its manifest records 10: the object is truncated/],
    ['longer', Buffer.concat([data, data]), /is larger than the 10 bytes its manifest records/],
    ['changed', Buffer.from('THE backup'), /has sha256 [0-9a-f]{64} but its manifest records/],
  ])('%s → IntegrityError', async (_name, body, message) => {
    const err = await run(body).catch(e => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toMatch(message);
  });
});

test('reserved restore arguments: as --flag, --flag=value or a short flag with its value attached', () => {
  expect(passThroughArgs('restore-tool arguments', 'postgres', 'restore', ['--schema=public', '-n', 'x'])).toEqual(['--schema=public', '-n', 'x']);
  expect(() => passThroughArgs('restore-tool arguments', 'postgres', 'restore', ['-j4'])).toThrow(RuleError);
  expect(() => passThroughArgs('restore-tool arguments', 'postgres', 'restore', ['--dbname=other'])).toThrow(/^restore-tool arguments: '--dbname=other' is pg_restore's --dbname/);
});

test('dbnameConninfo quotes the database name for libpq', () => {
  expect(dbnameConninfo("it's a=b")).toBe("dbname='it\\'s a=b'");
});

describe('feeding a restore tool under back-pressure', () => {
  /** A tool's stdin that takes one byte at a time, slowly: every write waits for 'drain'. */
  const slowStdin = () => new Writable({
    highWaterMark: 1,
    write: (_c, _e, cb) => void setImmediate(cb),
  });

  test('each wait for drain removes what it added: no listener piles up (MaxListenersExceededWarning)', async () => {
    const stdin = slowStdin();
    const before = { error: stdin.listenerCount('error'), close: stdin.listenerCount('close'), drain: stdin.listenerCount('drain') };
    const source = Readable.from(Array.from({ length: 50 }, (_, i) => Buffer.from(`chunk ${i}\n`)));
    let allowEnd!: () => void;
    const fed = feed(source, stdin, new Promise<void>(r => (allowEnd = r)));
    // Counted while the input is still open: ending it emits 'close', which would clear leftovers.
    await new Promise(r => source.once('end', r));
    await new Promise(r => setTimeout(r, 20));
    // feed's own error listener (one) stays for the life of the stdin.
    expect({ error: stdin.listenerCount('error'), close: stdin.listenerCount('close'), drain: stdin.listenerCount('drain') })
      .toEqual({ ...before, error: before.error + 1 });
    allowEnd();
    await fed;
  });

  test('drained: resolves on close as well as on drain, and leaves no listener either way', async () => {
    const a = slowStdin();
    a.write('xx');
    const waitA = drained(a);
    a.destroy();
    await waitA;
    const b = slowStdin();
    b.write('xx');
    await drained(b);
    for (const s of [a, b]) expect([s.listenerCount('drain'), s.listenerCount('close')]).toEqual([0, 0]);
  });

  test('the input is ended only once allowEnd resolved; a failed source leaves it open', async () => {
    const stdin = slowStdin();
    let allow!: () => void;
    const fed = feed(Readable.from([Buffer.from('abc')]), stdin, new Promise<void>(r => (allow = r)));
    await new Promise(r => setTimeout(r, 20));
    expect(stdin.writableEnded).toBe(false);
    allow();
    await fed;
    expect(stdin.writableEnded).toBe(true);

    const open = slowStdin();
    const failing = new Readable({
      read() {
        this.destroy(new Error('storage reset'));
      },
    });
    await expect(feed(failing, open, Promise.resolve())).rejects.toThrow('storage reset');
    expect(open.writableEnded).toBe(false);
  });
});

describe('single pass: the object\'s last bytes wait for its checksum', () => {
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  const sha256 = createHash('sha256').update(data).digest('hex');
  const hold = 1000;

  /** Streams `stored` in 100-byte chunks through HashCheck → HeldTail; records what came out before the end. */
  async function run(stored: Buffer, manifestBytes = data.length) {
    const out: Buffer[] = [];
    let outBeforeEnd = 0;
    const chunks = Array.from({ length: Math.ceil(stored.length / 100) }, (_, i) => stored.subarray(i * 100, i * 100 + 100));
    const source = Readable.from(chunks);
    source.on('end', () => (outBeforeEnd = Buffer.concat(out).length));
    const err = await pipeline(source, new HashCheck({ key: 'k', bytes: manifestBytes, sha256 }, 'single pass'), new HeldTail(hold), new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    })).then(() => undefined, (e: Error) => e);
    return { err, out: Buffer.concat(out), outBeforeEnd };
  }

  test('a matching object: every byte, in order; the last `hold` bytes only after the end', async () => {
    const r = await run(data);
    expect(r.err).toBeUndefined();
    expect(r.out.equals(data)).toBe(true);
    expect(r.outBeforeEnd).toBeLessThanOrEqual(data.length - hold);
  });

  test.each([
    ['a bit flipped in the last byte', () => {
      const c = Buffer.from(data);
      c[c.length - 1] = 255 - c[c.length - 1];
      return { stored: c, bytes: data.length };
    }],
    ['truncated (its manifest rewritten to the shorter size)', () => ({ stored: data.subarray(0, data.length - 300), bytes: data.length - 300 })],
  ])('%s: the tail never comes out', async (_what, make) => {
    const { stored, bytes } = make();
    const r = await run(stored, bytes);
    expect(r.err).toBeInstanceOf(IntegrityError);
    expect(r.out.length).toBeLessThanOrEqual(stored.length - hold);
    expect(data.subarray(0, r.out.length).equals(r.out)).toBe(true);
  });

  test('the hold covers more than two age chunks (64 KiB + 16 each) and a zstd frame end', () => {
    expect(TAIL_HOLD_BYTES).toBeGreaterThan(2 * (64 * 1024 + 16) + 7);
  });
});
