/**
 * One restore: resolve the backup, check the target (preflight only), check the stored object
 * against its manifest end to end, and only then stream it again, checked again, through the
 * decompressor into the engine's restore tool. An encrypted backup (an age file, decrypt.ts) needs
 * the identity of one of its recipients, checked before the target is touched, and goes through
 * `age -d` before the decompressor.
 *
 * Nothing downstream ever sees a clean end of input unless everything upstream succeeded: a
 * restore tool reading a truncated stream could otherwise commit it (psql --single-transaction
 * commits at end of input). On any failure the tools are stopped by signal first, so their
 * transaction rolls back, and their input is closed only afterwards.
 */
import { once } from 'node:events';
import { Readable, Transform, TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Catalog, CatalogEntry, chooseBackup, readCatalog } from './catalog';
import { Decompressor, checkCompressor, startDecompressor } from './compress';
import {
  AgeIdentity, DecryptionError, ageIdentityFileFromEnv, checkIdentityOpensHeader, loadAgeIdentity, requireIdentityFor, startDecryptor,
} from './decrypt';
import { checkEncryptor } from './encrypt';
import { Engine, RestoreCommand, RestorePlan } from './engines/engine';
import { ConfigError, allSettledOrFirstError, capabilityError, describeError } from './errors';
import { HashCheck, IntegrityError, checkStoredObject } from './integrity';
import { Logger } from './log';
import { Manifest } from './manifest';
import { ExitStatus } from './proc';
import { Storage } from './storage/storage';
import { ToolExitError, startTool } from './tool';
import { CompressionName, ENV } from '../../lib/contract';

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

  // The whole object is checked before the target sees a byte of it.
  const seconds = await checkStoredObject(storage, manifest, signal).catch(err => {
    throw signal.aborted ? signal.reason : err;
  });
  log.info('integrity verified', { key: entry.key, bytes: manifest.bytes, sha256: manifest.sha256, seconds });
  if (identity) {
    await checkIdentityOpensHeader(storage, manifest, entry.id, identity, o.env, signal);
    log.info('identity opens the age header', { key: entry.key, identity: identity.file });
  }

  const cmd = await restore.restoreCommand(target, o.extraArgs, { database: manifest.database });
  try {
    await streamRestore(o, manifest, cmd, identity);
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

async function streamRestore(o: RestoreOptions, manifest: Manifest, cmd: RestoreCommand, identity: AgeIdentity | undefined): Promise<void> {
  const { storage, env, log, signal } = o;
  const observed: Observed[] = [];
  let stopping = false;
  const processes: Array<{ stop(): Promise<void> }> = [];
  const streams: Array<{ destroy(): void }> = [];
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    // Signals first, so a restore tool dies inside its transaction; inputs close afterwards.
    void Promise.all(processes.map(p => p.stop())).then(() => streams.forEach(s => s.destroy()));
  };
  const fail = (consequence: boolean) => (err: Error) => {
    observed.push({ err, consequence: consequence || stopping });
    stopAll();
  };
  const onAbort = () => fail(false)(signal.reason as Error);
  signal.addEventListener('abort', onAbort);

  const body = await storage.get(manifest.key, signal);
  streams.push(body);
  const check = new HashCheck(manifest, 'second read, while restoring');
  const decompressor = startDecompressor(manifest.compression, env);
  processes.push(decompressor);
  // Encrypted: storage → checksum → age -d → compression check → decompressor.
  const decryptor = identity ? startDecryptor(manifest, identity, env) : undefined;
  if (decryptor) processes.push(decryptor);
  // The storage's own failure (a reset, a stall) is a cause; the body also errors when the
  // pipeline tears it down after a failure downstream, which is not.
  let storageError: Error | undefined;
  let downstreamErrored = false;
  body.once('error', (err: Error) => {
    if (!downstreamErrored && !stopping) storageError = err;
  });
  (decryptor?.input ?? decompressor.input).once('error', () => {
    downstreamErrored = true;
  });
  const isCause = (err: Error) => err instanceof IntegrityError || err instanceof CompressionMismatchError || err === storageError;
  const downloaded = decryptor
    ? pipeline(body, check, decryptor.input)
    : pipeline(body, check, new CompressionCheck(manifest), decompressor.input);
  downloaded.catch((err: Error) => fail(!isCause(err))(err));
  const decrypted = decryptor ? pipeline(decryptor.output, new CompressionCheck(manifest), decompressor.input) : Promise.resolve();
  decrypted.catch((err: Error) => fail(!isCause(err))(err));
  decryptor?.done.catch(fail(false));
  const decompressed = decompressor.done.then(() => undefined, (err: Error) => err);
  decompressor.done.catch(fail(false));

  const upstreamSteps = [downloaded, decrypted, ...(decryptor ? [decryptor.done] : []), decompressor.done];
  const tasks: Array<Promise<unknown>> = [...upstreamSteps];
  let upstream: Readable = decompressor.output;
  let upstreamOk: Promise<unknown> = Promise.all(upstreamSteps);
  let filters: Transform[] = [];
  for (const step of cmd.steps) {
    if (step.kind === 'filter') {
      filters.push(step.create());
      continue;
    }
    const last = step === cmd.steps[cmd.steps.length - 1];
    const tool = startTool(step, { stdin: 'pipe', stdout: last ? 'ignore' : 'pipe' }, log);
    processes.push(tool.proc);
    streams.push(tool.proc.child.stdin!);
    tool.done.catch(fail(false));
    const source = filters.length ? chain(upstream, filters, fail(true)) : upstream;
    const fed = feed(source, tool.proc.child.stdin!, upstreamOk);
    fed.catch(fail(true));
    tasks.push(fed, tool.done);
    upstreamOk = Promise.all([upstreamOk, fed, tool.done]);
    upstream = tool.proc.child.stdout!;
    filters = [];
  }
  upstreamOk.catch(() => undefined);

  const progress = setInterval(() => log.info('progress', { bytes: check.bytes, of: manifest.bytes }), o.progressIntervalMs);
  progress.unref();
  await Promise.allSettled(tasks);
  await Promise.all(processes.map(p => (p as { exited?: Promise<unknown> }).exited));
  clearInterval(progress);
  signal.removeEventListener('abort', onAbort);

  if (observed.length === 0) return;
  const cause = signal.aborted ? signal.reason as Error
    : pickCause(observed, storageError, await decompressorFault(manifest, decompressor, await decompressed));
  if (cause instanceof IntegrityError) {
    // The first pass matched, so the object changed between the two reads.
    throw new IntegrityError(`${cause.message}; the restore tool was stopped before the end of its input, its transaction should have rolled back, but check the target`, { cause });
  }
  if (cause instanceof DecryptionError) {
    throw new DecryptionError(`${cause.message}, although it matches its manifest's sha256 (written damaged, or replaced together with its manifest); `
      + 'the restore tool was stopped before the end of its input, its transaction should have rolled back, but check the target', { cause });
  }
  throw cause;
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
  if (!own) return undefined;
  return new CompressionMismatchError(`the backup ${manifest.key} is not valid ${describeCompression(manifest.compression)} data as its manifest says: ${describeError(err)}`, { cause: err });
}

/** `source` through `filters`; the result ends only if every filter succeeded. */
function chain(source: Readable, filters: Transform[], onError: (err: Error) => void): Readable {
  const [first, ...rest] = filters;
  const streams = [first, ...rest];
  source.pipe(first);
  for (let i = 1; i < streams.length; i++) streams[i - 1].pipe(streams[i]);
  for (const s of [source, ...streams]) s.on('error', onError);
  return streams[streams.length - 1];
}

/**
 * Writes `source` into a tool's stdin with backpressure, and ends it only once `allowEnd`
 * resolved. On any failure stdin stays open; the caller stops the tool first.
 */
async function feed(source: Readable, stdin: Writable, allowEnd: Promise<unknown>): Promise<void> {
  let stdinError: Error | undefined;
  stdin.on('error', (err: Error) => {
    stdinError = err;
  });
  for await (const chunk of source) {
    if (stdinError) throw stdinError;
    if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain'), once(stdin, 'close')]);
  }
  await allowEnd;
  if (stdinError) throw stdinError;
  stdin.end();
}
