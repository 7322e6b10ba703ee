/**
 * STAND-INS for dump tools, written by the tests into a temp directory put first on PATH. They are
 * not the real tools: they exist to drive the runner through exact byte counts, failures and
 * signals, and to record what the runner passed them. Behaviour is set by STANDIN_* variables.
 *
 * Data is a deterministic, incompressible byte stream (AES-256-CTR of zeros with a fixed key), so a
 * test can regenerate what was dumped and compare it with what was stored.
 */
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Node source of the data generator, shared by the stand-ins and `expectedSha256`. */
const GENERATOR = `
const crypto = require('node:crypto');
function generator(seed) {
  const key = crypto.createHash('sha256').update(String(seed)).digest();
  return crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
}
const ZEROS = Buffer.alloc(64 * 1024);
`;

/** Writes `total` bytes of the seeded stream to stdout with backpressure, then calls `after`. */
const EMITTER = `
function emit(seed, total, stopAt, after) {
  const gen = generator(seed);
  let written = 0;
  const step = () => {
    while (written < total) {
      if (stopAt !== undefined && written >= stopAt) return after(true);
      const n = Math.min(ZEROS.length, total - written, stopAt !== undefined ? stopAt - written : Infinity);
      const chunk = gen.update(ZEROS.subarray(0, n));
      written += n;
      if (!process.stdout.write(chunk)) return process.stdout.once('drain', step);
    }
    after(false);
  };
  step();
}
`;

/**
 * STANDIN_BYTES      total bytes to write (default 1 MiB)
 * STANDIN_SEED       data seed (default 'seed')
 * STANDIN_FAIL_AT    after this many bytes: print an error to stderr and exit 1
 * STANDIN_KILL_AT    after this many bytes: SIGKILL itself (a crash / OOM kill)
 * STANDIN_HANG_AT    after this many bytes: stop writing and wait (to be signalled)
 * STANDIN_RECORD     file to append {tool, argv, envNames, pid} to, as a JSON line
 * STANDIN_STDERR     a line to print to stderr before writing
 */
const PG_DUMP = `#!/usr/bin/env node
// STAND-IN for pg_dump, written by test/runner/stand-ins.ts. Not the real tool.
${GENERATOR}${EMITTER}
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('pg_dump (PostgreSQL) ' + (process.env.STANDIN_PG_DUMP_VERSION || '15.14') + ' (stand-in)'); process.exit(0); }
if (process.env.STANDIN_RECORD) require('node:fs').appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'pg_dump', argv, envNames: Object.keys(process.env), pid: process.pid }) + '\\n');
if (process.env.STANDIN_STDERR) process.stderr.write(process.env.STANDIN_STDERR + '\\n');
const num = (v) => v === undefined ? undefined : Number(v);
const failAt = num(process.env.STANDIN_FAIL_AT), killAt = num(process.env.STANDIN_KILL_AT), hangAt = num(process.env.STANDIN_HANG_AT);
const stopAt = [failAt, killAt, hangAt].find((v) => v !== undefined);
emit(process.env.STANDIN_SEED || 'seed', num(process.env.STANDIN_BYTES) ?? 1048576, stopAt, (stopped) => {
  if (!stopped) return;
  if (failAt !== undefined) { process.stderr.write('pg_dump: error: query failed: server closed the connection unexpectedly\\n'); process.exit(1); }
  if (killAt !== undefined) process.kill(process.pid, 'SIGKILL');
  if (hangAt !== undefined) setInterval(() => {}, 1000);
});
`;

/**
 * STANDIN_SERVER_VERSION_NUM  what 'show server_version_num' returns (default 150014)
 * STANDIN_PSQL_FAIL           make the connection fail with this message (the password is echoed into it
 *                              on purpose, to prove the runner redacts tool output)
 */
const PSQL = `#!/usr/bin/env node
// STAND-IN for psql, written by test/runner/stand-ins.ts. Not the real tool.
if (process.env.STANDIN_RECORD) require('node:fs').appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'psql', argv: process.argv.slice(2), envNames: Object.keys(process.env), pid: process.pid }) + '\\n');
if (process.env.STANDIN_PSQL_FAIL) {
  process.stderr.write('psql: error: connection to server at "db" (10.0.0.1), port 5432 failed: FATAL:  ' + process.env.STANDIN_PSQL_FAIL + ' (password was ' + (process.env.PGPASSWORD || '') + ')\\n');
  process.exit(2);
}
const num = process.env.STANDIN_SERVER_VERSION_NUM || '150014';
// server_version_num, pg_database_size, server_version: what the runner's preflight query returns.
console.log(num + ' 52428800 ' + Math.floor(Number(num) / 10000) + '.' + (Number(num) % 10000) + ' (stand-in)');
`;

/**
 * STAND-IN for mongodump. It checks what the runner promises (no URI in argv, a private config file
 * with the URI) and fails loudly otherwise; then writes archive-like bytes.
 * STANDIN_EXPECT_URI  the URI the config file must contain
 */
const MONGODUMP = `#!/usr/bin/env node
// STAND-IN for mongodump, written by test/runner/stand-ins.ts. Not the real tool.
${GENERATOR}${EMITTER}
const fs = require('node:fs'), path = require('node:path');
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('mongodump version: 100.10.0-standin\\ngit version: standin'); process.exit(0); }
const config = (argv.find((a) => a.startsWith('--config=')) || '').slice('--config='.length);
let configInfo = null;
if (config) {
  const st = fs.statSync(config), dst = fs.statSync(path.dirname(config));
  configInfo = { path: config, mode: st.mode & 0o777, dirMode: dst.mode & 0o777, text: fs.readFileSync(config, 'utf8') };
}
if (process.env.STANDIN_RECORD) fs.appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'mongodump', argv, envNames: Object.keys(process.env), pid: process.pid, config: configInfo && { path: configInfo.path, mode: configInfo.mode, dirMode: configInfo.dirMode } }) + '\\n');
const expected = process.env.STANDIN_EXPECT_URI;
const fail = (msg) => { process.stderr.write('stand-in mongodump: ' + msg + '\\n'); process.exit(3); };
if (!expected) fail('STANDIN_EXPECT_URI not set');
if (argv.some((a) => a.includes(expected) || a.includes('mongodb://'))) fail('connection string found in argv');
if (!configInfo) fail('no --config file');
if (configInfo.mode !== 0o600) fail('config file mode is ' + configInfo.mode.toString(8));
if (configInfo.text !== 'uri: ' + JSON.stringify(expected) + '\\n') fail('config file does not hold the expected uri');
if (!argv.includes('--archive')) fail('--archive missing');
process.stderr.write('2024-01-01T00:00:00.000+0000\\twriting test.things to archive on stdout\\n');
const num = (v) => v === undefined ? undefined : Number(v);
const failAt = num(process.env.STANDIN_FAIL_AT);
emit(process.env.STANDIN_SEED || 'seed', num(process.env.STANDIN_BYTES) ?? 1048576, failAt, (stopped) => {
  if (stopped) { process.stderr.write('Failed: error writing data for collection test.things: connection reset\\n'); process.exit(1); }
});
`;

/**
 * STAND-IN for mongorestore. Like the stand-in mongodump it refuses a URI in argv and checks the
 * private config file; then it reads the archive from stdin to the end and records its size and
 * sha256 (with its argv), so a test can prove the bytes arrived intact.
 * STANDIN_EXPECT_URI  the URI the config file must contain
 * STANDIN_FAIL_AT     after reading this many bytes: print an error to stderr and exit 1
 */
const MONGORESTORE = `#!/usr/bin/env node
// STAND-IN for mongorestore, written by test/runner/stand-ins.ts. Not the real tool.
const fs = require('node:fs'), path = require('node:path'), crypto = require('node:crypto');
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('mongorestore version: 100.10.0-standin\\ngit version: standin'); process.exit(0); }
const fail = (msg) => { process.stderr.write('stand-in mongorestore: ' + msg + '\\n'); process.exit(3); };
const expected = process.env.STANDIN_EXPECT_URI;
if (!expected) fail('STANDIN_EXPECT_URI not set');
if (argv.some((a) => a.includes(expected) || a.includes('mongodb://'))) fail('connection string found in argv');
const config = (argv.find((a) => a.startsWith('--config=')) || '').slice('--config='.length);
if (!config) fail('no --config file');
const st = fs.statSync(config), dst = fs.statSync(path.dirname(config));
if ((st.mode & 0o777) !== 0o600) fail('config file mode is ' + (st.mode & 0o777).toString(8));
if (fs.readFileSync(config, 'utf8') !== 'uri: ' + JSON.stringify(expected) + '\\n') fail('config file does not hold the expected uri');
if (!argv.includes('--archive')) fail('--archive missing');
const failAt = process.env.STANDIN_FAIL_AT === undefined ? undefined : Number(process.env.STANDIN_FAIL_AT);
const hash = crypto.createHash('sha256');
let bytes = 0;
process.stdin.on('data', (chunk) => {
  bytes += chunk.length;
  hash.update(chunk);
  if (failAt !== undefined && bytes >= failAt) {
    process.stderr.write('Failed: shop.things: error restoring from archive: connection reset\\n');
    process.exit(1);
  }
});
process.stdin.on('end', () => {
  if (process.env.STANDIN_RECORD) fs.appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'mongorestore', argv, envNames: Object.keys(process.env), pid: process.pid, config: { path: config, mode: st.mode & 0o777, dirMode: dst.mode & 0o777 }, stdin: { bytes, sha256: hash.digest('hex') } }) + '\\n');
  process.stderr.write('2024-01-01T00:00:00.000+0000\\tfinished restoring shop.things (1 document, 0 failures)\\n');
});
`;

/** A temp dir with the stand-ins (executable) for PATH. */
export function writeStandIns(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-standins-'));
  for (const [name, source] of Object.entries({ pg_dump: PG_DUMP, psql: PSQL, mongodump: MONGODUMP, mongorestore: MONGORESTORE })) {
    fs.writeFileSync(path.join(dir, name), source, { mode: 0o755 });
  }
  return dir;
}

/** sha256 of the first `bytes` bytes of the stand-ins' stream for `seed`. */
export function expectedSha256(bytes: number, seed = 'seed'): string {
  const key = createHash('sha256').update(seed).digest();
  const gen = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = bytes; left > 0; left -= zeros.length) hash.update(gen.update(zeros.subarray(0, Math.min(left, zeros.length))));
  return hash.digest('hex');
}

/** What a stand-in recorded about one invocation. */
export interface StandInRecord {
  readonly tool: string;
  readonly argv: string[];
  readonly envNames: string[];
  readonly pid: number;
  readonly config?: { path: string; mode: number; dirMode: number } | null;
  /** What the stand-in mongorestore read on stdin. */
  readonly stdin?: { bytes: number; sha256: string };
}

export function readRecords(file: string): StandInRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(l => JSON.parse(l));
}
