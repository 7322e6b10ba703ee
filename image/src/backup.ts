/**
 * One backup run: preflight, dump → store, verify, manifest last. On any failure nothing is left
 * at the backup's key and the failure is reported with one cause.
 */
import { Readable } from 'node:stream';
import { storageNow } from './clock';
import { COMPRESSION_SUFFIX, checkCompressor } from './compress';
import { BackupConfig } from './config';
import { ENCRYPTION_FORMAT, ENCRYPTION_SUFFIX, checkEncryptor } from './encrypt';
import { DumpCommand, DumpPlan } from './engines/engine';
import { allSettledOrFirstError, describeError } from './errors';
import { backupKey, manifestKey } from './key';
import { Logger } from './log';
import { ENCRYPTED_MANIFEST_FORMAT_VERSION, Manifest, MANIFEST_FORMAT_VERSION } from './manifest';
import { DumpStreamResult, StorageStoppedReadingError, startDumpStream } from './pipeline';
import { version as RUNNER_VERSION } from '../../package.json';
import { Storage, StoredObject } from './storage/storage';

/** How long the cleanup after a failure may take; it runs after the run's own signal aborted. */
const CLEANUP_TIMEOUT_MS = 60_000;

export interface BackupResult extends DumpStreamResult {
  readonly key: string;
  readonly manifestKey: string;
  readonly durationSeconds: number;
}

/** A failed run, with what the cleanup verified (or could not). */
export class BackupFailedError extends Error {
  public readonly name = 'BackupFailedError';
  constructor(cause: unknown, public readonly cleanup: string) {
    super(describeError(cause), { cause });
  }
}

export interface BackupOptions {
  readonly config: BackupConfig;
  readonly storage: Storage;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Aborted by SIGTERM/SIGINT; its reason is the InterruptedError. */
  readonly signal: AbortSignal;
}

export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { config, storage, env, log, signal } = options;
  const engine = config.engine;
  const startedAt = new Date();
  log.info('backup starting', {
    engine: engine.name,
    database: engine.database ?? null,
    destination: storage.location,
    name: config.name,
    compression: config.compression,
    encryption: config.ageRecipients ? { format: ENCRYPTION_FORMAT, recipients: config.ageRecipients } : null,
    toolArgs: config.toolArgs,
    runnerVersion: RUNNER_VERSION,
  });

  // Everything that can be checked is checked before the dump starts and anything is written,
  // the pod's clock included: it names the backup, and a wrong name misleads whoever reads it.
  // With recipients, age must run: a backup is never stored unencrypted in its place.
  const [plan] = await allSettledOrFirstError([
    engine.backup.preflight() as Promise<DumpPlan>, storageNow(storage, signal), checkCompressor(config.compression, env),
    config.ageRecipients ? checkEncryptor(env) : Promise.resolve(undefined),
  ]);
  signal.throwIfAborted();

  const extension = `${engine.descriptor.extension}${COMPRESSION_SUFFIX[config.compression]}${config.ageRecipients ? ENCRYPTION_SUFFIX : ''}`;
  const key = backupKey(storage.seriesPrefix(config.name), extension, startedAt);
  log.info('dump starting', {
    key, tool: plan.tool, server: plan.server, estimatedBytes: plan.estimatedBytes ?? null,
  });

  const cmd = await engine.backup.dumpCommand(plan, config.toolArgs);
  let data: { result: DumpStreamResult; stored: StoredObject };
  try {
    data = await dumpAndStore(options, cmd, key, plan.estimatedBytes);
  } finally {
    await cmd.cleanup();
  }
  const { result, stored } = data;

  const finishedAt = new Date();
  const durationSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const manifest: Manifest = {
    formatVersion: config.ageRecipients ? ENCRYPTED_MANIFEST_FORMAT_VERSION : MANIFEST_FORMAT_VERSION,
    engine: engine.name,
    database: engine.database ?? null,
    key,
    bytes: stored.bytes,
    rawBytes: result.rawBytes,
    sha256: result.sha256,
    compression: config.compression,
    format: engine.descriptor.format,
    tool: plan.tool,
    server: plan.server,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds,
    runner: { version: RUNNER_VERSION },
    ...(config.ageRecipients ? { encryption: { format: ENCRYPTION_FORMAT, recipients: config.ageRecipients } } : {}),
  };
  const mKey = manifestKey(key);
  try {
    // Once the data is stored a signal no longer aborts: the manifest takes milliseconds to write,
    // and finishing leaves a complete backup instead of data without a manifest.
    const body = Readable.from([Buffer.from(JSON.stringify(manifest, null, 2) + '\n')]);
    await storage.put(mKey, body, { contentType: 'application/json' }, new AbortController().signal);
  } catch (err) {
    // Without a manifest the data is not a backup; do not leave it looking like one.
    throw new BackupFailedError(new Error('writing the manifest failed', { cause: err }), await removeAndConfirmGone(storage, key));
  }
  return { ...result, bytes: stored.bytes, key, manifestKey: mKey, durationSeconds };
}

async function dumpAndStore(options: BackupOptions, cmd: DumpCommand, key: string, sizeHint: number | undefined) {
  const { config, storage, env, log, signal } = options;
  const stream = startDumpStream(cmd, config.compression, env, log, config.ageRecipients);
  const onAbort = () => stream.fail(signal.reason as Error);
  signal.addEventListener('abort', onAbort);
  if (signal.aborted) onAbort();

  const started = Date.now();
  const progress = setInterval(() => {
    const seconds = (Date.now() - started) / 1000;
    // Stored (compressed, encrypted) bytes: zstd reads the dump tool's output directly, so the raw count is
    // known only at the end.
    log.info('progress', {
      bytes: stream.bytes,
      elapsedSeconds: Math.round(seconds),
      MBps: Number((stream.bytes / 1e6 / seconds).toFixed(1)),
    });
  }, config.progressIntervalMs);
  progress.unref();

  const put = storage.put(key, stream.body, { contentType: 'application/octet-stream', sizeHint }, signal);
  // A storage failure stops the dump tool at once instead of leaving it blocked on a full pipe.
  put.catch((err: Error) => stream.fail(err));
  const [dumped, storedOutcome] = await Promise.allSettled([stream.done, put]);
  await stream.exited;
  clearInterval(progress);
  signal.removeEventListener('abort', onAbort);

  if (dumped.status === 'fulfilled' && storedOutcome.status === 'fulfilled') {
    const result = dumped.value;
    const stored = storedOutcome.value;
    if (stored.bytes !== result.bytes) {
      const err = new Error(`storage reports ${stored.bytes} bytes at ${key} but ${result.bytes} were sent`);
      throw new BackupFailedError(err, await removeAndConfirmGone(storage, key));
    }
    return { result, stored };
  }
  // The first failure is the cause: the dump stream records it, whichever side it came from,
  // unless the storage gave up first and the stream only saw it stop reading.
  const streamError = dumped.status === 'rejected' ? dumped.reason as Error : undefined;
  const storeError = storedOutcome.status === 'rejected' ? storedOutcome.reason as Error : undefined;
  const cause = signal.aborted ? signal.reason
    : streamError && !(streamError instanceof StorageStoppedReadingError) ? streamError
      : storeError ?? streamError;
  throw new BackupFailedError(cause, await removeAndConfirmGone(storage, key));
}

/**
 * After a failure: removes whatever is at `key` (the object, unfinished writes for it), then
 * confirms nothing is left. Says what it found and did; never throws.
 */
async function removeAndConfirmGone(storage: Storage, key: string): Promise<string> {
  const signal = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
  try {
    const removed: string[] = [];
    if (await storage.stat(key, signal)) {
      await storage.delete(key, signal);
      removed.push('an object was found at the key and deleted');
    }
    for (const u of (await storage.listUnfinished(key, signal)).filter(w => w.key === key)) {
      await storage.removeUnfinished(u, signal);
      removed.push(`an unfinished write (${u.handle}) was found and removed`);
    }
    const objectLeft = await storage.stat(key, signal);
    const unfinishedLeft = (await storage.listUnfinished(key, signal)).filter(w => w.key === key);
    if (objectLeft || unfinishedLeft.length > 0) {
      return `not clean: ${[objectLeft ? `an object is still at ${key}` : '', ...unfinishedLeft.map(u => `unfinished write ${u.handle}`)].filter(Boolean).join(', ')}`;
    }
    return removed.length ? `verified after cleanup: ${removed.join('; ')}` : 'verified: nothing stored at the key, no unfinished upload';
  } catch (err) {
    return `could not verify that nothing was left at ${key}: ${describeError(err)}`;
  }
}
