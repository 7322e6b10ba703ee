/**
 * Pieces of restore that need no server: the PostgreSQL 17 → older server script filter, the
 * streaming hash check, reserved restore arguments.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DropTransactionTimeout, dbnameConninfo } from '../../image/src/engines/postgres';
import { HashCheck, IntegrityError } from '../../image/src/integrity';
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
