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
 * The first line of a stand-in Mongo archive (STANDIN_MONGO_ARCHIVE of the stand-in mongodump):
 * `<mark> {"shop.things": 3, …}`, the namespaces it holds and their documents. Not the real format.
 */
export const MONGO_ARCHIVE_MARK = 'STANDIN-MONGO-ARCHIVE';

/**
 * The STAND-IN mongod every stand-in Mongo tool shares: a JSON file STANDIN_MONGO_SERVER holding
 * { database: { collection: documentCount } }. It is "up" while the file exists; otherwise a tool
 * fails as the real ones do when no server answers (they try for 30 s; the stand-ins fail at once).
 * A database without collections does not exist, as in MongoDB.
 */
const MONGO_SERVER = `
const serverFile = process.env.STANDIN_MONGO_SERVER;
const connect = () => {
  if (!serverFile || !fs.existsSync(serverFile)) {
    process.stderr.write('2024-01-01T00:00:00.000+0000\\tFailed: can\\'t create session: failed to connect to mongodb://127.0.0.1:27017/: server selection error: server selection timeout, current topology: { Type: Unknown, Servers: [{ Addr: 127.0.0.1:27017, Type: Unknown, Last error: dial tcp 127.0.0.1:27017: connect: connection refused }, ] }\\n');
    process.exit(1);
  }
  return JSON.parse(fs.readFileSync(serverFile, 'utf8'));
};
const save = (state) => {
  for (const db of Object.keys(state)) if (Object.keys(state[db]).length === 0) delete state[db];
  fs.writeFileSync(serverFile, JSON.stringify(state));
};
`;

/**
 * What the stand-in mongoexport and mongoimport check of the runner's promises (no URI in argv,
 * the URI only in a 0600 --config file in a 0700 directory) before anything else; then they
 * record their argv.
 */
const MONGO_CONFIG_CHECK = `
const fail = (msg) => { process.stderr.write('stand-in ' + tool + ': ' + msg + '\\n'); process.exit(3); };
const expected = process.env.STANDIN_EXPECT_URI;
if (!expected) fail('STANDIN_EXPECT_URI not set');
if (argv.some((a) => a.includes(expected) || a.includes('mongodb://'))) fail('connection string found in argv');
const config = (argv.find((a) => a.startsWith('--config=')) || '').slice('--config='.length);
if (!config) fail('no --config file');
const st = fs.statSync(config), dst = fs.statSync(path.dirname(config));
if ((st.mode & 0o777) !== 0o600) fail('config file mode is ' + (st.mode & 0o777).toString(8));
if ((dst.mode & 0o777) !== 0o700) fail('config directory mode is ' + (dst.mode & 0o777).toString(8));
if (fs.readFileSync(config, 'utf8') !== 'uri: ' + JSON.stringify(expected) + '\\n') fail('config file does not hold the expected uri');
if (process.env.STANDIN_RECORD) fs.appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool, argv, envNames: Object.keys(process.env), pid: process.pid, config: { path: config, mode: st.mode & 0o777, dirMode: dst.mode & 0o777 } }) + '\\n');
const opt = (name) => { const a = argv.find((x) => x.startsWith('--' + name + '=')); return a === undefined ? undefined : a.slice(name.length + 3); };
const log = (m) => process.stderr.write('2024-01-01T00:00:00.000+0000\\t' + m + '\\n');
`;

/**
 * STAND-IN for mongoexport, on the stand-in mongod: one JSON line per document from --skip, at
 * most --limit (an _id only, whatever --fields says), then "exported N records" on stderr, as
 * mongoexport 100.10 prints them; --assertExists fails for a collection that does not exist
 * ("Failed: collection 'x' does not exist"), without it such a collection exports 0 records.
 */
const MONGOEXPORT = `#!/usr/bin/env node
// STAND-IN for mongoexport, written by test/runner/stand-ins.ts. Not the real tool.
const fs = require('node:fs'), path = require('node:path');
const tool = 'mongoexport';
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('mongoexport version: 100.10.0-standin\\ngit version: standin'); process.exit(0); }
${MONGO_CONFIG_CHECK}
${MONGO_SERVER}
const state = connect();
const db = opt('db'), coll = opt('collection');
if (!db || !coll) fail('--db and --collection are required here');
const count = (state[db] || {})[coll];
if (count === undefined && argv.includes('--assertExists')) { log('Failed: collection \\'' + coll + '\\' does not exist'); process.exit(1); }
const skip = Number(opt('skip') || 0), limit = opt('limit') === undefined ? Infinity : Number(opt('limit'));
let n = 0;
for (let i = skip; i < (count || 0) && n < limit; i++, n++) process.stdout.write(JSON.stringify({ _id: { $oid: i.toString(16).padStart(24, '0') } }) + '\\n');
log('exported ' + n + ' record' + (n === 1 ? '' : 's'));
`;

/**
 * STAND-IN for mongoimport, on the stand-in mongod: --drop drops the collection first (as
 * mongoimport 100.10 does before it reads any input), then it imports stdin, which must be empty.
 * STANDIN_MONGO_DROP_FAIL  a collection whose drop the server refuses
 */
const MONGOIMPORT = `#!/usr/bin/env node
// STAND-IN for mongoimport, written by test/runner/stand-ins.ts. Not the real tool.
const fs = require('node:fs'), path = require('node:path');
const tool = 'mongoimport';
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('mongoimport version: 100.10.0-standin\\ngit version: standin'); process.exit(0); }
${MONGO_CONFIG_CHECK}
${MONGO_SERVER}
const state = connect();
const db = opt('db'), coll = opt('collection');
if (!db || !coll) fail('--db and --collection are required here');
if (argv.includes('--drop')) {
  log('dropping: ' + db + '.' + coll);
  if (process.env.STANDIN_MONGO_DROP_FAIL === coll) { log('Failed: (Unauthorized) not authorized on ' + db + ' to execute command { drop: "' + coll + '" }'); process.exit(1); }
  if (state[db]) delete state[db][coll];
  save(state);
}
if (fs.readFileSync(0).length !== 0) fail('expected no input');
log('0 document(s) imported successfully. 0 document(s) failed to import.');
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
// STANDIN_MONGO_ARCHIVE: the namespaces the archive holds, written first as the header the stand-in mongorestore reads.
if (process.env.STANDIN_MONGO_ARCHIVE) process.stdout.write('${MONGO_ARCHIVE_MARK} ' + JSON.stringify(JSON.parse(process.env.STANDIN_MONGO_ARCHIVE)) + '\\n');
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
const head = [];
let headBytes = 0;
process.stdin.on('data', (chunk) => {
  if (headBytes < 65536) { head.push(chunk); headBytes += chunk.length; }
});
process.stdin.on('end', () => {
  if (process.env.STANDIN_RECORD) fs.appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'mongorestore', argv, envNames: Object.keys(process.env), pid: process.pid, config: { path: config, mode: st.mode & 0o777, dirMode: dst.mode & 0o777 }, stdin: { bytes, sha256: hash.digest('hex') } }) + '\\n');
  const text = Buffer.concat(head).toString('latin1');
  if (!text.startsWith('${MONGO_ARCHIVE_MARK} ')) {
    // Not a stand-in archive (the byte-stream tests): one fixed line, nothing on any server.
    process.stderr.write('2024-01-01T00:00:00.000+0000\\tfinished restoring shop.things (1 document, 0 failures)\\n');
    return;
  }
  restoreArchive(JSON.parse(text.slice('${MONGO_ARCHIVE_MARK} '.length, text.indexOf('\\n'))));
});

${MONGO_SERVER}
/**
 * What mongorestore 100.10 does with an archive and the namespace options the runner passes, and
 * the lines it prints: nsInclude/nsExclude match the source namespace, nsFrom/nsTo rename it
 * ('*' matching lazily, as its ns package does), --drop replaces a collection that exists,
 * --stopOnError stops at the first refused document (exit 1), without it a refused document is
 * a failure in the counts (exit 0). STANDIN_MONGO_REFUSE: {"shop.things": 2} refuses 2 documents;
 * STANDIN_MONGO_QUOTE: namespaces in backquotes, as later releases print them.
 */
function restoreArchive(archive) {
  const state = connect();
  const values = (name) => argv.filter((a) => a.startsWith('--' + name + '=')).map((a) => a.slice(name.length + 3));
  const pattern = (p) => {
    if (/[^A-Za-z0-9_.*]/.test(p)) fail('the stand-in matches only letters, digits, _ . and *: ' + p);
    return new RegExp('^' + p.split('*').map((t) => t.split('.').join('[.]')).join('(.*?)') + '$');
  };
  const includes = values('nsInclude').map(pattern), excludes = values('nsExclude').map(pattern);
  const froms = values('nsFrom').map(pattern), tos = values('nsTo');
  const included = (ns) => (includes.length === 0 || includes.some((r) => r.test(ns))) && !excludes.some((r) => r.test(ns));
  const rename = (ns) => {
    for (let i = 0; i < froms.length; i++) {
      const m = froms[i].exec(ns);
      if (m) { let k = 1; return tos[i].replace(/[*]/g, () => m[k++]); }
    }
    return ns;
  };
  const quote = (ns) => (process.env.STANDIN_MONGO_QUOTE ? '\\x60' + ns + '\\x60' : ns);
  const refused = JSON.parse(process.env.STANDIN_MONGO_REFUSE || '{}');
  const log = (m) => process.stderr.write('2024-01-01T00:00:00.000+0000\\t' + m + '\\n');
  const plural = (n, w) => n + ' ' + w + (n === 1 ? '' : 's');
  let ok = 0, failed = 0, error;
  for (const [ns, docs] of Object.entries(archive)) {
    if (!included(ns)) continue;
    const to = rename(ns);
    const dot = to.indexOf('.');
    const db = to.slice(0, dot), coll = to.slice(dot + 1);
    log('reading metadata for ' + quote(to) + ' from archive on stdin');
    state[db] = state[db] || {};
    if (state[db][coll] !== undefined) {
      if (argv.includes('--drop')) {
        log('dropping collection ' + quote(to) + ' before restoring');
        delete state[db][coll];
      } else {
        log('restoring to existing collection ' + quote(to) + ' without dropping');
      }
    }
    log('restoring ' + quote(to) + ' from archive on stdin');
    const bad = Math.min(refused[ns] || 0, docs);
    state[db][coll] = (state[db][coll] || 0) + docs - bad;
    log('finished restoring ' + quote(to) + ' (' + plural(docs - bad, 'document') + ', ' + plural(bad, 'failure') + ')');
    ok += docs - bad;
    failed += bad;
    if (bad > 0 && argv.includes('--stopOnError')) {
      error = to + ': error restoring from archive on stdin: E11000 duplicate key error collection: ' + to + ' index: _id_ dup key';
      break;
    }
  }
  save(state);
  if (error) log('Failed: ' + error);
  log(ok + ' document(s) restored successfully. ' + failed + ' document(s) failed to restore.');
  if (error) process.exit(1);
}
`;

/** A temp dir with the stand-ins (executable) for PATH. */
export function writeStandIns(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-standins-'));
  const tools = {
    pg_dump: PG_DUMP, psql: PSQL, mongodump: MONGODUMP, mongorestore: MONGORESTORE, mongoexport: MONGOEXPORT, mongoimport: MONGOIMPORT,
  };
  for (const [name, source] of Object.entries(tools)) {
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
