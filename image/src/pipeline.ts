/**
 * dump tool stdout → compressor → [age] → hashing gate → storage, with backpressure end to end and
 * no buffering of the dump.
 *
 * The gate is the body handed to storage, and it is the only thing that may end it. An uploader
 * (S3Storage.put, a file rename) stores whatever arrived when its body ends, so a dump tool that dies
 * mid-stream would produce a truncated "backup". The gate therefore ends only after the dump tool
 * and the compressor both exited 0 and every byte passed; on any failure it is destroyed with the
 * error, which makes the storage abort instead of completing.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startCompressor } from './compress';
import { startEncryptor } from './encrypt';
import { DumpCommand } from './engines/engine';
import { Logger } from './log';
import { startTool } from './tool';
import { CompressionName } from '../../lib/contract';

export interface DumpStreamResult {
  /** Bytes the dump tool wrote (null if the compressor could not tell). */
  readonly rawBytes: number | null;
  /** Bytes handed to storage (after compression and encryption). */
  readonly bytes: number;
  /** sha256 of the bytes handed to storage, hex. */
  readonly sha256: string;
}

export interface DumpStream {
  /** The stream to store; it ends only if the whole dump succeeded. */
  readonly body: Readable;
  /** Resolves once the dump is complete and every byte went into `body`; rejects with the first failure. */
  readonly done: Promise<DumpStreamResult>;
  /** Resolves once the dump tool, the compressor and age have all exited, so none outlives the run. */
  readonly exited: Promise<void>;
  readonly bytes: number;
  /** Stops the dump: kills the tools and destroys `body` with `err`. The first failure wins. */
  fail(err: Error): void;
}

/**
 * The storage stopped reading the body (its upload failed). A consequence, not a cause: the
 * storage's own error says why.
 */
export class StorageStoppedReadingError extends Error {
  public readonly name = 'StorageStoppedReadingError';
}

/** Counts and hashes what passes; its end waits for `allowEnd`, and fails with its rejection. */
class Gate extends Transform {
  public bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly allowEnd: Promise<unknown>, private readonly onComplete: (bytes: number, sha256: string) => void) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    cb(null, chunk);
  }

  _flush(cb: TransformCallback): void {
    this.allowEnd.then(
      () => {
        this.onComplete(this.bytes, this.hash.digest('hex'));
        cb();
      },
      (err: Error) => {
        if (!this.destroyed) cb(err);
      },
    );
  }
}

/**
 * Starts the dump. With `ageRecipients` the compressed stream is encrypted to them (encrypt.ts);
 * zstd's stdout then goes straight into age, as the dump tool's goes into zstd.
 */
export function startDumpStream(
  cmd: DumpCommand, compression: CompressionName, env: NodeJS.ProcessEnv, log: Logger, ageRecipients?: readonly string[],
): DumpStream {
  let failure: Error | undefined;
  let resolveDone!: (r: DumpStreamResult) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<DumpStreamResult>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined);

  const dump = startTool(cmd, { stdin: 'ignore', stdout: 'pipe' }, log);
  const compressor = startCompressor(compression, env, dump.proc.child.stdout!);
  const encryptor = ageRecipients ? startEncryptor(ageRecipients, env, compressor.output, compression === 'zstd') : undefined;
  const output = encryptor?.output ?? compressor.output;
  const dumpOk = dump.done;
  const allOk = Promise.all([dumpOk, compressor.done, encryptor?.done]);
  // Reported through fail() below; the gate may never reach its flush to observe it.
  allOk.catch(() => undefined);

  // The gate lets the stream end only when every process exited 0, and fails only with the cause
  // fail() decided: not with whichever process's failure happened to be seen first.
  let rejectEnd!: (err: Error) => void;
  const endAllowed = new Promise<void>((resolve, reject) => {
    rejectEnd = reject;
    allOk.then(() => resolve(), () => undefined);
  });
  endAllowed.catch(() => undefined);
  const gate = new Gate(endAllowed, (bytes, sha256) => resolveDone({ rawBytes: compressor.rawBytes() ?? null, bytes, sha256 }));

  const fail = (err: Error): void => {
    if (failure) return;
    failure = err;
    rejectDone(err);
    rejectEnd(err);
    gate.destroy(err);
    compressor.stop();
    encryptor?.stop();
    void dump.proc.stop();
  };
  const exited = Promise.all([dump.proc.exited, compressor.exited, encryptor?.exited]).then(() => undefined);
  // A writer that lost its reader (killed by SIGPIPE, or failing with EPIPE / "Broken pipe") is a
  // consequence: the reader's own failure (age killed, zstd out of memory) is the cause. The order
  // in which exits are seen is the kernel's, so wait for every process to exit (at most a moment)
  // before blaming the broken pipe.
  const failUnlessBrokenPipe = (err: Error): void => {
    const line = `${err.message} ${(err as { errorLine?: string }).errorLine ?? ''}`;
    if (!/SIGPIPE|EPIPE|broken pipe/i.test(line)) return fail(err);
    void Promise.race([exited, new Promise(r => setTimeout(r, 2_000).unref())]).then(() => fail(err));
  };
  // Whichever part fails first is the cause; the others fail as a consequence and are ignored.
  dumpOk.catch(failUnlessBrokenPipe);
  compressor.done.catch(failUnlessBrokenPipe);
  encryptor?.done.catch(fail);
  pipeline(output, gate).catch((err: Error) => {
    fail(failure ?? new StorageStoppedReadingError('storage stopped reading the backup stream', { cause: err }));
  });

  return {
    body: gate,
    done,
    exited,
    get bytes() {
      return gate.bytes;
    },
    fail,
  };
}
