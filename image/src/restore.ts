/**
 * One restore: resolve the backup, check the target (preflight only), then stream the stored
 * object, checked against its manifest (size and sha256) as it goes, through the decompressor into
 * the engine's restore tool. An encrypted backup (an age file, decrypt.ts) needs the identity of
 * one of its recipients, checked before the target is touched, and goes through `age -d` before
 * the decompressor. Node feeds only the stored bytes: age's stdout is zstd's stdin and zstd's
 * stdout the restore tool's stdin, so the decrypted and decompressed bytes never pass through it.
 *
 * How often the object is read depends on what the target promises (RestoreCommand.singlePass):
 * - once, where the target keeps nothing unless the tool reads the end of its input and is let
 *   finish (pg_restore or psql --single-transaction on a whole archive; a Redis RDB renamed into
 *   place on commit; a spool file pg_restore --jobs starts from only afterwards). The object's last
 *   bytes (TAIL_HOLD_BYTES) are held back until its sha256 matched, so a damaged object never
 *   reaches the end of the tool's input.
 * - twice otherwise (MySQL runs statements as it reads them): the whole object is checked first,
 *   and only then streamed again, checked again.
 *
 * Nothing downstream ever sees a clean end of input unless everything upstream succeeded: a
 * restore tool reading a truncated stream could otherwise commit it (psql --single-transaction
 * commits at end of input). On any failure the tools are stopped by signal first, so their
 * transaction rolls back, then the decompressor and age (whose exit would end the tool's input),
 * and their inputs are closed only afterwards.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform, TransformCallback, Writable, pipeline as streamPipe } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Catalog, CatalogEntry, chooseBackup, readCatalog } from './catalog';
import { Decompressor, checkCompressor, startDecompressor } from './compress';
import {
  AgeIdentity, DecryptionError, ageIdentityFileFromEnv, checkIdentityOpensHeader, loadAgeIdentity, requireIdentityFor, startDecryptor,
} from './decrypt';
import { checkEncryptor } from './encrypt';
import { Engine, RestoreCommand, RestorePlan, ToolStep } from './engines/engine';
import { ConfigError, allSettledOrFirstError, capabilityError, describeError } from './errors';
import { HashCheck, IntegrityError, checkStoredObject } from './integrity';
import { Logger } from './log';
import { Manifest } from './manifest';
import { ExitStatus } from './proc';
import { Storage } from './storage/storage';
import { ToolExitError, startTool } from './tool';
import { CompressionName, ENV, IMAGE } from '../../lib/contract';
import { restoreParallelismFromText, restoreSpoolLimitFromText } from '../../lib/rules';

export interface RestoreOptions {
  readonly storage: Storage;
  readonly engine: Engine;
  /** The series' key prefix, `<prefix>/<name>/`. */
  readonly prefix: string;
  /** `latest` or a backup id. */
  readonly ref: string;
  readonly extraArgs: readonly string[];
  /** Restore even if the target already has tables. */
  readonly force: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly progressIntervalMs: number;
  /** An already read catalog (verify reads it first to name its database). */
  readonly catalog?: Catalog;
}

export interface RestoreResult {
  readonly id: string;
  readonly key: string;
  /** Stored size, from the manifest. */
  readonly bytes: number;
  /** Size before compression, from the manifest; null when unknown. */
  readonly rawBytes: number | null;
  /** From the start (the backup chosen, its manifest read) to the restore committed. */
  readonly durationSeconds: number;
  readonly target: RestorePlan;
}

/** The backup a ref names, with its manifest: `latest` skips damaged backups (chooseBackup). */
async function findBackup(
  storage: Storage, prefix: string, ref: string, log: Logger, signal: AbortSignal, catalog?: Catalog,
): Promise<{ entry: CatalogEntry; manifest: Manifest }> {
  return chooseBackup(storage, catalog ?? await readCatalog(storage, prefix, signal), ref, `${storage.location} under ${prefix}`, log, signal);
}

export async function runRestore(o: RestoreOptions): Promise<RestoreResult> {
  const { storage, engine, log, signal } = o;
  const restore = engine.restore;
  if (!restore) throw capabilityError(engine.descriptor, 'restore');
  const started = Date.now();
  const { entry, manifest } = await findBackup(storage, o.prefix, o.ref, log, signal, o.catalog);
  if (manifest.engine !== engine.name) {
    throw new ConfigError(`backup ${entry.id} is a ${manifest.engine} backup but ${ENV.ENGINE} is '${engine.name}'`);
  }
  if (manifest.format !== engine.descriptor.format) {
    throw new Error(`backup ${entry.id} is in the format '${manifest.format}', which this runner cannot restore (${engine.descriptor.title} backups are '${engine.descriptor.format}')`);
  }
  log.info('restore starting', {
    id: entry.id,
    key: entry.key,
    bytes: manifest.bytes,
    compression: manifest.compression,
    format: manifest.format,
    sourceDatabase: manifest.database,
    targetDatabase: engine.database ?? null,
    restoreArgs: o.extraArgs,
  });
  const parallel = await parallelSettings(o.env, engine, manifest, entry.id);
  if (parallel) {
    log.info('parallel restore', { jobs: parallel.jobs, spoolDir: parallel.dir, spoolLimitBytes: parallel.limit, rawBytes: manifest.rawBytes });
  }
  if (entry.storedBytes !== manifest.bytes) {
    throw new IntegrityError(`${entry.key} is ${entry.storedBytes} bytes but its manifest records ${manifest.bytes}: the object is truncated or was changed`);
  }
  // A given identity is checked even for an unencrypted backup: it is configuration, and broken
  // configuration fails now rather than at the first encrypted backup.
  const identityFile = ageIdentityFileFromEnv(o.env);
  const loaded = identityFile === undefined ? undefined : await loadAgeIdentity(identityFile, o.env, signal);
  const identity = requireIdentityFor(entry.id, manifest, loaded);
  if (identity) log.info('backup is encrypted', { format: 'age', recipients: manifest.encryption?.recipients, identity: identity.file, identityRecipients: identity.recipients ?? null });

  const [target] = await allSettledOrFirstError([
    restore.preflight(), checkCompressor(manifest.compression, o.env), identity ? checkEncryptor(o.env) : Promise.resolve(undefined),
  ]);
  log.info('restore target', { tool: target.tool, server: target.server, existingTables: target.existingTables ?? null });
  if (target.existingTables && !o.force) {
    throw new ConfigError(`the target database ${engine.database ?? ''} already has ${target.existingTables} tables or other relations; restore into an empty database, or set ${ENV.RESTORE_FORCE}=true to restore into it anyway`);
  }
  signal.throwIfAborted();

  const spool = parallel && { jobs: parallel.jobs, spoolFile: spoolFile(parallel.dir, entry.id) };
  const cmd = await restore.restoreCommand(target, o.extraArgs, { database: manifest.database }, spool);
  try {
    const single = singlePassReason(cmd, manifest);
    if (single) {
      log.info('single pass', { key: entry.key, why: single });
    } else {
      // The whole object is checked before the target sees a byte of it.
      const seconds = await checkStoredObject(storage, manifest, signal).catch(err => {
        throw signal.aborted ? signal.reason : err;
      });
      log.info('integrity verified', { key: entry.key, bytes: manifest.bytes, sha256: manifest.sha256, seconds });
    }
    if (identity) {
      await checkIdentityOpensHeader(storage, manifest, entry.id, identity, o.env, signal);
      log.info('identity opens the age header', { key: entry.key, identity: identity.file });
    }
    await streamRestore(o, manifest, cmd, identity, single);
    if (single) log.info('integrity verified', { key: entry.key, bytes: manifest.bytes, sha256: manifest.sha256, pass: 'single' });
    if (cmd.then) {
      signal.throwIfAborted();
      log.info('spooled archive restoring', { jobs: parallel?.jobs, tool: cmd.then.command });
      await runThen(cmd.then, log, signal);
    }
    // Every step exited 0 and the whole object passed its checksum: only now is the result made
    // visible, where the engine needs a step for that (e.g. an RDB file renamed into place).
    if (cmd.commit) {
      signal.throwIfAborted();
      await cmd.commit(signal);
    }
  } finally {
    await cmd.cleanup();
  }
  return {
    id: entry.id, key: entry.key, bytes: manifest.bytes, rawBytes: manifest.rawBytes ?? null, durationSeconds: (Date.now() - started) / 1000, target,
  };
}

interface ParallelSettings {
  readonly jobs: number;
  readonly dir: string;
  readonly limit: number;
}

/**
 * BACKUP_RESTORE_PARALLELISM and its spool, checked before the target is touched: an engine that
 * restores in parallel, a spool limit and a spool directory with room for the archive's size
 * before compression (from the manifest). Undefined for 1.
 */
async function parallelSettings(env: NodeJS.ProcessEnv, engine: Engine, manifest: Manifest, id: string): Promise<ParallelSettings | undefined> {
  const jobs = restoreParallelismFromText(ENV.RESTORE_PARALLELISM, env[ENV.RESTORE_PARALLELISM]);
  const limitText = env[ENV.RESTORE_SPOOL_LIMIT_BYTES];
  if (jobs === 1) return undefined;
  if (!engine.restore?.parallel) {
    throw new ConfigError(`${ENV.RESTORE_PARALLELISM}: ${engine.descriptor.title} restores in one stream only; set it to 1 or remove it.`);
  }
  if (limitText === undefined || limitText === '') {
    throw new ConfigError(`${ENV.RESTORE_SPOOL_LIMIT_BYTES}: not set; ${ENV.RESTORE_PARALLELISM}=${jobs} spools the archive, so give the spool volume's size limit in bytes (the construct's spoolSizeLimit).`);
  }
  const limit = restoreSpoolLimitFromText(ENV.RESTORE_SPOOL_LIMIT_BYTES, limitText);
  const dir = env[ENV.RESTORE_SPOOL_DIR] || IMAGE.RESTORE_SPOOL_DIR;
  if (!dir.startsWith('/')) throw new ConfigError(`${ENV.RESTORE_SPOOL_DIR}: '${dir}' must be an absolute directory path, e.g. '${IMAGE.RESTORE_SPOOL_DIR}'.`);
  const raw = manifest.rawBytes;
  if (raw === undefined || raw === null) {
    throw new ConfigError(`${ENV.RESTORE_PARALLELISM}: backup ${id}'s manifest does not record its size before compression, so it cannot be known to fit the spool; restore it with ${ENV.RESTORE_PARALLELISM}=1.`);
  }
  if (raw > limit) {
    throw new ConfigError(`${ENV.RESTORE_SPOOL_LIMIT_BYTES}: backup ${id} is ${raw} bytes before compression, more than the spool's limit of ${limit}; `
      + `raise the spool's size limit (spoolSizeLimit) to at least ${Math.ceil(raw / 2 ** 20)} MiB, or restore with ${ENV.RESTORE_PARALLELISM}=1.`);
  }
  let free: number;
  try {
    const st = await fs.statfs(dir);
    free = st.bavail * st.bsize;
    await fs.access(dir, fs.constants.W_OK);
  } catch (err) {
    throw new ConfigError(`${ENV.RESTORE_SPOOL_DIR}: the spool directory ${dir} cannot be written (${(err as NodeJS.ErrnoException).code ?? describeError(err)}); mount the spool volume there (the construct's parallelism and spoolSizeLimit do).`, { cause: err });
  }
  if (raw > free) {
    throw new ConfigError(`${ENV.RESTORE_SPOOL_DIR}: backup ${id} is ${raw} bytes before compression, but ${dir} has ${free} bytes free; give the spool more room, or restore with ${ENV.RESTORE_PARALLELISM}=1.`);
  }
  return { jobs, dir, limit };
}

/** A fresh name in the spool directory, unique per run (a leftover of a killed run is not reused). */
function spoolFile(dir: string, id: string): string {
  return path.posix.join(dir, `${id}.${randomBytes(4).toString('hex')}.archive`);
}

/** Runs the command's `then` tool to completion, stopping it when `signal` aborts. */
async function runThen(step: ToolStep, log: Logger, signal: AbortSignal): Promise<void> {
  const tool = startTool(step, { stdin: 'ignore', stdout: 'ignore' }, log);
  const stop = () => void tool.proc.stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await tool.done;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  signal.throwIfAborted();
}

interface Observed {
  readonly err: Error;
  /** A consequence of another failure (a closed pipe, a tool we stopped), not a cause. */
  readonly consequence: boolean;
}

/** The stored bytes are not in the compression the manifest names: the runner's own check. */
export class CompressionMismatchError extends Error {
  public readonly name = 'CompressionMismatchError';
}

/** The compression a stored object's first bytes show: a zstd frame (or a skippable frame), gzip, or neither. */
export function compressionOf(head: Buffer): CompressionName {
  const startsWith = (bytes: number[], at = 0) => bytes.every((b, i) => head[at + i] === b);
  // A zstd frame starts 28 b5 2f fd; a skippable frame, which zstd -d accepts first, 5x 2a 4d 18.
  if (startsWith([0x28, 0xb5, 0x2f, 0xfd]) || (head[0] >= 0x50 && head[0] <= 0x5f && startsWith([0x2a, 0x4d, 0x18], 1))) return 'zstd';
  if (startsWith([0x1f, 0x8b])) return 'gzip';
  return 'none';
}

const describeCompression = (c: CompressionName) => (c === 'none' ? 'uncompressed' : c);

/**
 * Passes the object through after checking its first bytes show the compression its manifest
 * names, so data that is not what the manifest says fails with that reason before any byte
 * reaches the decompressor, instead of as whatever the decompressor or the restore tool makes of it.
 */
export class CompressionCheck extends Transform {
  private head: Buffer[] = [];
  private headBytes = 0;
  private checked = false;

  constructor(private readonly manifest: Pick<Manifest, 'key' | 'compression'>) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.checked) return cb(null, chunk);
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < 4) return cb();
    this.release(cb);
  }

  _flush(cb: TransformCallback): void {
    if (this.checked || this.headBytes === 0) return cb();
    this.release(cb);
  }

  private release(cb: TransformCallback): void {
    const head = Buffer.concat(this.head);
    this.head = [];
    this.checked = true;
    const found = compressionOf(head);
    if (found === this.manifest.compression) return cb(null, head);
    const start = [...head.subarray(0, 4)].map(b => b.toString(16).padStart(2, '0')).join(' ');
    cb(new CompressionMismatchError(`the backup ${this.manifest.key} is not ${describeCompression(this.manifest.compression)} data as its manifest says`
      + ` (it starts with the bytes ${start}${found === 'none' ? '' : `, which is ${found}`})`));
  }
}

/**
 * Bytes held back at the end of the stored object until its sha256 matched, in a single pass: more
 * than the last two age chunks (64 KiB + 16 bytes each), so at least 64 KiB of plaintext, which is
 * more than a zstd frame's end (an empty last block and a checksum: 7 bytes). So the restore tool
 * never gets the last byte of its input before the checksum matched.
 */
export const TAIL_HOLD_BYTES = 192 * 1024;

/**
 * Why one read is enough for this restore, or undefined for two reads (checksum first, then the
 * restore). One read needs the engine's promise that the target keeps nothing unless the tool got
 * the end of its input and was let finish, and a compression whose end cannot be decompressed
 * without its last bytes: zstd (a frame's last block needs its own bytes) or none. gzip can end in
 * an empty deflate block that the last data never needed, so it keeps two reads.
 */
function singlePassReason(cmd: RestoreCommand, manifest: Manifest): string | undefined {
  if (!cmd.singlePass || manifest.compression === 'gzip') return undefined;
  return cmd.singlePass;
}

/**
 * Passes bytes through but keeps the last `hold` bytes until its input ended cleanly: after a
 * HashCheck, they go out only once the whole object matched its manifest.
 */
export class HeldTail extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(private readonly hold: number) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    let excess = this.heldBytes - this.hold;
    while (excess > 0) {
      const first = this.held[0];
      if (first.length <= excess) {
        this.held.shift();
        this.push(first);
        this.heldBytes -= first.length;
        excess -= first.length;
      } else {
        this.push(first.subarray(0, excess));
        this.held[0] = first.subarray(excess);
        this.heldBytes -= excess;
        excess = 0;
      }
    }
    cb();
  }

  _flush(cb: TransformCallback): void {
    for (const b of this.held) this.push(b);
    this.held = [];
    this.heldBytes = 0;
    cb();
  }
}

interface Stoppable {
  readonly exited?: Promise<unknown>;
  stop(): Promise<void>;
}

async function streamRestore(
  o: RestoreOptions, manifest: Manifest, cmd: RestoreCommand, identity: AgeIdentity | undefined, singlePass: string | undefined,
): Promise<void> {
  const { storage, env, log, signal } = o;
  const observed: Observed[] = [];
  let stopping = false;
  // The restore tools, and the decompressor and decryptor upstream of them.
  const tools: Stoppable[] = [];
  const upstreamProcesses: Stoppable[] = [];
  const streams: Array<{ destroy(): void }> = [];
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    // Downstream first: a tool that reads zstd's stdout directly would see a clean end of input
    // if zstd died before it. So the tools die first (inside their transaction), then zstd and
    // age, and only then does any input close.
    void Promise.all(tools.map(p => p.stop()))
      .then(() => Promise.all(upstreamProcesses.map(p => p.stop())))
      .then(() => streams.forEach(s => s.destroy()));
  };
  const fail = (consequence: boolean) => (err: Error) => {
    observed.push({ err, consequence: consequence || stopping });
    stopAll();
  };
  const onAbort = () => fail(false)(signal.reason as Error);
  signal.addEventListener('abort', onAbort);

  const body = await storage.get(manifest.key, signal);
  streams.push(body);
  const check = new HashCheck(manifest, singlePass ? 'single pass, while restoring' : 'second read, while restoring');
  let checked = false;
  check.once('end', () => (checked = true));
  // Encrypted: storage → checksum → age -d → zstd -d → the restore tool, the children's pipes
  // joined directly, so the decrypted and the decompressed bytes never pass through Node.
  const decryptor = identity ? startDecryptor(manifest, identity, env) : undefined;
  if (decryptor) upstreamProcesses.push(decryptor);
  const direct = manifest.compression === 'zstd';
  const decompressor = startDecompressor(manifest.compression, env, direct ? decryptor?.output : undefined);
  upstreamProcesses.push(decompressor);
  // The storage's own failure (a reset, a stall) is a cause; the body also errors when it is torn
  // down after a failure downstream, which is not.
  let storageError: Error | undefined;
  body.once('error', (err: Error) => {
    const ours = err instanceof IntegrityError || err instanceof CompressionMismatchError || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
    if (!stopping && !ours) storageError = err;
  });
  const isCause = (err: Error) => err instanceof IntegrityError || err instanceof CompressionMismatchError || err === storageError;
  const verified: Readable = streamPipeline([
    body, check,
    ...(decryptor ? [] : [new CompressionCheck(manifest)]),
    ...(singlePass ? [new HeldTail(TAIL_HOLD_BYTES)] : []),
  ]);
  // The first child's stdin is written by Node and ended only when the checked stream ended
  // cleanly; on a failure it stays open until the tools were stopped.
  const firstInput = decryptor?.input ?? decompressor.input!;
  streams.push(firstInput);
  const downloaded = feed(verified, firstInput, Promise.resolve());
  downloaded.catch((err: Error) => fail(!isCause(err))(err));
  const decrypted = decryptor && !direct
    ? feed(streamPipeline([decryptor.output, new CompressionCheck(manifest)]), decompressor.input!, decryptor.done)
    : Promise.resolve();
  decrypted.catch((err: Error) => fail(!isCause(err))(err));
  decryptor?.done.catch(fail(false));
  const decompressed = decompressor.done.then(() => undefined, (err: Error) => err);
  decompressor.done.catch(fail(false));

  const upstreamSteps = [downloaded, decrypted, ...(decryptor ? [decryptor.done] : []), decompressor.done];
  const tasks: Array<Promise<unknown>> = [...upstreamSteps];
  // A child's stdout that the next tool can read directly, or a Node stream that Node feeds it.
  let upstream: Readable = decompressor.output;
  let upstreamIsChild = direct;
  let upstreamOk: Promise<unknown> = Promise.all(upstreamSteps);
  let filters: Transform[] = [];
  for (const step of cmd.steps) {
    if (step.kind === 'filter') {
      filters.push(step.create());
      continue;
    }
    const last = step === cmd.steps[cmd.steps.length - 1];
    const joined = upstreamIsChild && filters.length === 0;
    const tool = startTool(step, { stdin: joined ? upstream : 'pipe', stdout: last ? 'ignore' : 'pipe' }, log);
    tools.push(tool.proc);
    tool.done.catch(fail(false));
    tasks.push(tool.done);
    if (!joined) {
      streams.push(tool.proc.child.stdin!);
      const source = filters.length ? streamPipeline([upstream, ...filters]) : upstream;
      const fed = feed(source, tool.proc.child.stdin!, upstreamOk);
      fed.catch(fail(true));
      tasks.push(fed);
      upstreamOk = Promise.all([upstreamOk, fed]);
    }
    upstreamOk = Promise.all([upstreamOk, tool.done]);
    upstream = tool.proc.child.stdout!;
    upstreamIsChild = true;
    filters = [];
  }
  upstreamOk.catch(() => undefined);

  const progress = setInterval(() => log.info('progress', { bytes: check.bytes, of: manifest.bytes }), o.progressIntervalMs);
  progress.unref();
  await Promise.allSettled(tasks);
  await Promise.all([...tools, ...upstreamProcesses].map(p => p.exited));
  clearInterval(progress);
  signal.removeEventListener('abort', onAbort);

  if (observed.length === 0) return;
  let cause = signal.aborted ? signal.reason as Error
    : pickCause(observed, storageError, await decompressorFault(manifest, decompressor, await decompressed));
  const stopped = 'the restore tool was stopped before the end of its input';
  // One read stopped early: damage in the object shows first as a decompressor, age or tool
  // failure (a cut-off archive), and the checksum never got to its end. Whether the object
  // matches its manifest is the most telling cause, so it is read once more, on failure only.
  if (singlePass && !checked && !signal.aborted && !(cause instanceof IntegrityError) && cause !== storageError) {
    const damaged = await recheck(storage, manifest, signal);
    if (damaged) cause = damaged;
  }
  if (cause instanceof IntegrityError) {
    if (singlePass) throw new IntegrityError(`${cause.message}; ${singlePass}`, { cause });
    // The first pass matched, so the object changed between the two reads.
    throw new IntegrityError(`${cause.message}; ${stopped}, its transaction should have rolled back, but check the target`, { cause });
  }
  if (cause instanceof DecryptionError) {
    throw new DecryptionError(`${cause.message}, although it matches its manifest's sha256 (written damaged, or replaced together with its manifest); `
      + `${stopped}, ${singlePass ?? 'its transaction should have rolled back, but check the target'}`, { cause });
  }
  throw cause;
}

/** The IntegrityError of reading the object again after a single-pass restore failed; undefined when it matches. */
async function recheck(storage: Storage, manifest: Manifest, signal: AbortSignal): Promise<IntegrityError | undefined> {
  try {
    const body = await storage.get(manifest.key, signal);
    await pipeline(body, new HashCheck(manifest, 'read again after the single-pass restore failed'), new Writable({ write: (_c, _e, cb) => cb() }));
    return undefined;
  } catch (err) {
    return err instanceof IntegrityError ? err : undefined;
  }
}

/**
 * Which of the failures seen during a restore is the cause, most telling first: the stored object
 * changed or is not what its manifest says; the storage failed; age found the ciphertext damaged
 * or cut short; a tool reported an error and exited (its error line, not the broken pipe it left behind, often seen first); the decompressor
 * rejected the data; a tool exited on its own; whatever came first.
 */
function pickCause(observed: readonly Observed[], storageError: Error | undefined, decompressorError: Error | undefined): Error {
  const errors = observed.map(o => o.err);
  const ownExit = (e: Error): e is ToolExitError => e instanceof ToolExitError && e.status.signal === null;
  return errors.find(e => e instanceof IntegrityError)
    ?? errors.find(e => e instanceof CompressionMismatchError)
    ?? storageError
    ?? errors.find(e => e instanceof DecryptionError)
    ?? errors.find(e => ownExit(e) && e.errorLine !== undefined)
    ?? decompressorError
    ?? errors.find(ownExit)
    ?? observed.find(o => !o.consequence)?.err
    ?? errors[0];
}

/**
 * The decompressor's failure when it exited on its own (not stopped by the runner): the data is
 * not valid in the compression the manifest names, although it starts like it.
 */
async function decompressorFault(manifest: Manifest, decompressor: Decompressor, err: Error | undefined): Promise<Error | undefined> {
  if (!err) return undefined;
  const status = await decompressor.exited as ExitStatus | undefined;
  const own = status ? status.code !== null && status.code !== 0 : /^Z_/.test(String((err as NodeJS.ErrnoException).code));
  // zstd writing into a restore tool that already died reports that, not the data.
  if (!own || /broken pipe|write error/i.test(err.message)) return undefined;
  return new CompressionMismatchError(`the backup ${manifest.key} is not valid ${describeCompression(manifest.compression)} data as its manifest says: ${describeError(err)}`, { cause: err });
}

/**
 * `streams` piped in order; the last one errors with the first failure of any, so reading it ends
 * cleanly only if every one succeeded.
 */
function streamPipeline(streams: [Readable, ...Array<Readable | Transform>]): Readable {
  if (streams.length === 1) return streams[0];
  return streamPipe(streams as unknown as [Readable, Transform], () => undefined) as unknown as Readable;
}

/**
 * Waits for `stdin` to take more: 'drain', or 'close' when the tool went away. Both listeners
 * (and nothing else) are removed whichever comes first: `Promise.race` of two `events.once`
 * leaves the loser's listeners behind, one 'error' listener more per wait.
 */
export function drained(stdin: Writable): Promise<void> {
  return new Promise(resolve => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}

/**
 * Writes `source` into a tool's stdin with backpressure, and ends it only once `allowEnd`
 * resolved. On any failure stdin stays open; the caller stops the tool first.
 */
export async function feed(source: Readable, stdin: Writable, allowEnd: Promise<unknown>): Promise<void> {
  let stdinError: Error | undefined;
  stdin.on('error', (err: Error) => {
    stdinError = err;
  });
  for await (const chunk of source) {
    if (stdinError) throw stdinError;
    if (stdin.destroyed) throw new Error('the tool closed its input');
    if (!stdin.write(chunk)) await drained(stdin);
  }
  await allowEnd;
  if (stdinError) throw stdinError;
  stdin.end();
}
