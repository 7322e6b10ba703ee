/**
 * One backup run: preflight, dump → store, verify, manifest last. On any failure nothing is left
 * at the backup's key and the failure is reported with one cause.
 */
import { Readable } from 'node:stream';
import { COMPRESSION_SUFFIX, checkCompressor } from './compress';
import { Config } from './config';
import { createEngine } from './engines';
import { Engine } from './engines/engine';
import { describeError } from './errors';
import { backupKey, manifestKey } from './key';
import { Logger } from './log';
import { Manifest, MANIFEST_FORMAT_VERSION } from './manifest';
import { DumpStreamResult, StorageStoppedReadingError, startDumpStream } from './pipeline';
import { createStorage } from './storage';
import { version as RUNNER_VERSION } from '../../package.json';
import { Storage, StoredObject } from './storage/storage';

export { RUNNER_VERSION };

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
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Aborted by SIGTERM/SIGINT; its reason is the InterruptedError. */
  readonly signal: AbortSignal;
  readonly engine?: Engine;
  readonly storage?: Storage;
}

export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { config, env, log, signal } = options;
  const engine = options.engine ?? createEngine(config, env);
  const storage = options.storage ?? createStorage(config.destination);
  const startedAt = new Date();
  log.info('backup starting', {
    engine: engine.name,
    database: engine.database ?? null,
    destination: destinationText(config, storage),
    name: config.name,
    compression: config.compression,
    dumpArgs: config.dumpArgs,
    runnerVersion: RUNNER_VERSION,
  });

  // Everything that can be checked is checked before the dump starts and anything is written.
  const [preflight] = await Promise.all([
    engine.preflight(), storage.preflight(), checkCompressor(config.compression, env),
  ]);
  signal.throwIfAborted();

  const prefix = config.destination.kind === 's3' ? config.destination.prefix : '';
  const key = backupKey(prefix, config.name, `${engine.extension}${COMPRESSION_SUFFIX[config.compression]}`, startedAt);
  log.info('dump starting', {
    key, tool: preflight.tool, server: preflight.server, estimatedBytes: preflight.estimatedBytes ?? null,
  });

  const cmd = await engine.dumpCommand(config.dumpArgs);
  let data: { result: DumpStreamResult; stored: StoredObject };
  try {
    data = await dumpAndStore(options, cmd, storage, key, preflight.estimatedBytes);
  } finally {
    await cmd.cleanup();
  }
  const { result, stored } = data;

  const finishedAt = new Date();
  const durationSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const manifest: Manifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    engine: engine.name,
    database: engine.database ?? null,
    key,
    bytes: stored.bytes,
    rawBytes: result.rawBytes,
    sha256: result.sha256,
    compression: config.compression,
    format: engine.format,
    tool: preflight.tool,
    server: preflight.server,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds,
    runner: { version: RUNNER_VERSION },
  };
  const mKey = manifestKey(key);
  try {
    await storage.put(mKey, Readable.from([Buffer.from(JSON.stringify(manifest, null, 2) + '\n')]), { contentType: 'application/json' });
  } catch (err) {
    // Without a manifest the data is not a backup; do not leave it looking like one.
    throw new BackupFailedError(new Error('writing the manifest failed', { cause: err }), await removeData(storage, key));
  }
  return { ...result, bytes: stored.bytes, key, manifestKey: mKey, durationSeconds };
}

async function dumpAndStore(
  options: BackupOptions, cmd: Awaited<ReturnType<Engine['dumpCommand']>>, storage: Storage, key: string, sizeHint: number | undefined,
) {
  const { config, env, log, signal } = options;
  const stream = startDumpStream(cmd, config.compression, env, log);
  const onAbort = () => stream.fail(signal.reason as Error);
  signal.addEventListener('abort', onAbort);
  if (signal.aborted) onAbort();

  const started = Date.now();
  const progress = setInterval(() => {
    const seconds = (Date.now() - started) / 1000;
    // Stored (compressed) bytes: zstd reads the dump tool's output directly, so the raw count is
    // known only at the end.
    log.info('progress', {
      bytes: stream.bytes,
      elapsedSeconds: Math.round(seconds),
      MBps: Number((stream.bytes / 1e6 / seconds).toFixed(1)),
    });
  }, config.progressIntervalMs);
  progress.unref();

  const put = storage.put(key, stream.body, { contentType: 'application/octet-stream', sizeHint });
  // A storage failure stops the dump tool at once instead of leaving it blocked on a full pipe.
  put.catch((err: Error) => stream.fail(err));
  const [dumped, storedOutcome] = await Promise.allSettled([stream.done, put]);
  await stream.exited;
  clearInterval(progress);
  // Once the data is stored a signal no longer aborts: the manifest takes milliseconds to write,
  // and finishing leaves a complete backup instead of data without a manifest.
  signal.removeEventListener('abort', onAbort);

  if (dumped.status === 'fulfilled' && storedOutcome.status === 'fulfilled') {
    const result = dumped.value;
    const stored = storedOutcome.value;
    if (stored.bytes !== result.bytes) {
      const err = new Error(`storage reports ${stored.bytes} bytes at ${key} but ${result.bytes} were sent`);
      throw new BackupFailedError(err, await removeData(storage, key));
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
  throw new BackupFailedError(cause, await verifyNothingLeft(storage, key));
}

/** Checks (and if needed, makes) the key absent with no unfinished write; says what it found. */
async function verifyNothingLeft(storage: Storage, key: string): Promise<string> {
  try {
    const problems: string[] = [];
    if (await storage.exists(key)) {
      await storage.delete(key);
      problems.push('an object was found at the key and deleted');
    }
    const incomplete = (await storage.listIncomplete(key)).filter(k => k === key || k.includes(key.slice(key.lastIndexOf('/') + 1)));
    if (incomplete.length > 0) return `unfinished writes are left: ${incomplete.join(', ')}`;
    return problems.length ? `verified after cleanup: ${problems.join('; ')}` : 'verified: nothing stored at the key, no unfinished upload';
  } catch (err) {
    return `could not verify that nothing was left at ${key}: ${describeError(err)}`;
  }
}

async function removeData(storage: Storage, key: string): Promise<string> {
  try {
    await storage.delete(key);
    return await verifyNothingLeft(storage, key);
  } catch (err) {
    return `could not delete the data object ${key}: ${describeError(err)}`;
  }
}

function destinationText(config: Config, storage: Storage): string {
  const d = config.destination;
  return d.kind === 's3' ? `${storage.location}${d.prefix ? `/${d.prefix}` : ''}${d.endpoint ? ` (${d.endpoint})` : ''}` : storage.location;
}
