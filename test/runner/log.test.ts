import { describeError } from '../../image/src/errors';
import { Logger, REDACTED, redactText, secretsFromEnv } from '../../image/src/log';
import { ENV, SECRET_ENV } from '../../lib/contract';
import { ENGINE_REGISTRY } from '../../lib/registry';

const PGPASSWORD = ENGINE_REGISTRY.postgres.env.PASSWORD;

const SECRETS = {
  [PGPASSWORD]: 'pg-Pa55word!',
  [ENV.AWS_SECRET_ACCESS_KEY]: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  [ENV.AWS_SESSION_TOKEN]: 'FwoGZXIvYXdzEBYaDHExampleSessionToken',
  [ENGINE_REGISTRY.mongo.env.URI]: 'mongodb://backup:m0ngo%2Fp%40ss@mongo-0:27017/?authSource=admin',
};

function capture(env: NodeJS.ProcessEnv) {
  const lines: string[] = [];
  return { log: new Logger(env, l => lines.push(l)), lines };
}

describe('log', () => {
  test('one JSON object per line with time, level, msg and fields', () => {
    const { log, lines } = capture({});
    log.info('progress', { bytes: 10, rawMBps: 1.5 });
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    const line = JSON.parse(lines[0]);
    expect(line).toEqual({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: 'info', msg: 'progress', bytes: 10, rawMBps: 1.5 });
  });

  test('fields cannot overwrite time, level or msg', () => {
    const { log, lines } = capture({});
    log.warn('real', { level: 'info', msg: 'fake' });
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'warn', msg: 'real' });
  });

  test('no secret value appears in a message, a field, a nested field or an error chain', () => {
    const { log, lines } = capture(SECRETS);
    for (const secret of Object.values(SECRETS)) {
      log.error(`failed with ${secret} inside`, {
        detail: `x${secret}y`,
        nested: { list: [secret, { deeper: secret }] },
        error: new Error('outer', { cause: new Error(`inner: ${secret}`) }),
      });
    }
    // The decoded password from the URI (m0ngo/p@ss) and the bare userinfo are secrets too.
    log.error('tool said: authentication failed for m0ngo/p@ss and backup:m0ngo%2Fp%40ss');
    const text = lines.join('');
    for (const secret of [...Object.values(SECRETS), 'm0ngo/p@ss', 'm0ngo%2Fp%40ss', 'backup:m0ngo']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(REDACTED);
    // The structure survives: every line is still JSON.
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
  });

  test('a secret nested deeper than any real field is dropped, not written unredacted', () => {
    const { log, lines } = capture(SECRETS);
    const secret = SECRETS[PGPASSWORD];
    log.error('deep', { a: { b: { c: { d: { e: { f: { g: secret } } } } } } });
    expect(lines[0]).not.toContain(secret);
    expect(lines[0]).toContain('[nested too deep]');
  });

  test('a secret with JSON-special characters is redacted before serialization', () => {
    const { log, lines } = capture({ [PGPASSWORD]: 'a"b\\c\nd' });
    log.error('pw is a"b\\c\nd');
    expect(JSON.parse(lines[0]).msg).toBe(`pw is ${REDACTED}`);
  });

  test('userinfo of any URL is redacted, even if it is not a known secret', () => {
    expect(redactText('connect to postgresql://app:other-secret@db:5432/x failed', [])).toBe(`connect to postgresql://${REDACTED}@db:5432/x failed`);
    expect(redactText('https://token123@example.com/a', [])).toBe(`https://${REDACTED}@example.com/a`);
    expect(redactText('mail me at ops@example.com', [])).toBe('mail me at ops@example.com');
  });

  test.each(SECRET_ENV)('every secret variable is redacted, a URL value with its userinfo in every form: %s', name => {
    const password = `pw-${name}/p@ss`;
    const { log, lines } = capture({ [name]: `scheme+x://user-${name}:${encodeURIComponent(password)}@host:1/db` });
    log.error(`tool said: auth failed for ${password}, ${encodeURIComponent(password)} and user-${name}:${encodeURIComponent(password)}`);
    expect(lines[0]).not.toContain(password);
    expect(lines[0]).not.toContain(encodeURIComponent(password));
    const plain = capture({ [name]: `plain-${name}-value` });
    plain.log.error(`echoed plain-${name}-value`);
    expect(JSON.parse(plain.lines[0]).msg).toBe(`echoed ${REDACTED}`);
  });

  test('secretsFromEnv ignores unset and empty values, longest first', () => {
    expect(secretsFromEnv({ [PGPASSWORD]: '', PATH: '/bin' })).toEqual([]);
    const secrets = secretsFromEnv(SECRETS);
    expect(secrets).toEqual([...secrets].sort((a, b) => b.length - a.length));
    expect(secrets).toContain('m0ngo/p@ss');
  });
});

describe('describeError', () => {
  test('joins the cause chain into one line, saying each thing once', () => {
    const err = new Error('upload to s3://b/k failed', { cause: new Error('socket hang up\nat line 2', { cause: new Error('socket hang up') }) });
    expect(describeError(err)).toBe('upload to s3://b/k failed: socket hang up at line 2');
  });
});

describe('URL-valued secrets', () => {
  test('a URL derived from a secret URL is redacted too: path, query and their long pieces', () => {
    const env = { BACKUP_HEALTHCHECK_URL: 'https://hc.example.com/ping/0f3c2a9e-1111-4e0b-9c1d-2b7f5a6c8d90?token=s3cr3t-t0ken' };
    const lines: string[] = [];
    const log = new Logger(env, l => lines.push(l));
    log.warn('ping https://hc.example.com/ping/0f3c2a9e-1111-4e0b-9c1d-2b7f5a6c8d90/start?rid=1&token=s3cr3t-t0ken failed');
    expect(lines.join('')).not.toContain('0f3c2a9e-1111-4e0b-9c1d-2b7f5a6c8d90');
    expect(lines.join('')).not.toContain('s3cr3t-t0ken');
    // The host is not the secret and stays readable.
    expect(lines.join('')).toContain('https://hc.example.com/');
  });
});
