/**
 * dump tool stdout → compressor → hashing gate → storage, with backpressure end to end and no
 * buffering of the dump.
 *
 * The gate is the body handed to storage, and it is the only thing that may end it. An uploader
 * such as lib-storage's Upload stores whatever arrived when its body ends, so a dump tool that dies
 * mid-stream would produce a truncated "backup". The gate therefore ends only after the dump tool
 * and the compressor both exited 0 and every byte passed; on any failure it is destroyed with the
 * error, which makes the storage abort instead of completing.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startCompressor } from './compress';
import { DumpCommand } from './engines/engine';
import { Logger } from './log';
import { startTool } from './tool';
import { CompressionName } from '../../lib/contract';

export interface DumpStreamResult {
  /** Bytes the dump tool wrote (null if the compressor could not tell). */
  readonly rawBytes: number | null;
  /** Bytes handed to storage (after compression). */
  readonly bytes: number;
  /** sha256 of the bytes handed to storage, hex. */
  readonly sha256: string;
}

export interface DumpStream {
  /** The stream to store; it ends only if the whole dump succeeded. */
  readonly body: Readable;
  /** Resolves once the dump is complete and every byte went into `body`; rejects with the first failure. */
  readonly done: Promise<DumpStreamResult>;
  /** Resolves once the dump tool and the compressor have both exited, so none outlives the run. */
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

export function startDumpStream(cmd: DumpCommand, compression: CompressionName, env: NodeJS.ProcessEnv, log: Logger): DumpStream {
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
  const dumpOk = dump.done;
  const allOk = Promise.all([dumpOk, compressor.done]);
  // Reported through fail() below; the gate may never reach its flush to observe it.
  allOk.catch(() => undefined);

  const gate = new Gate(allOk, (bytes, sha256) => resolveDone({ rawBytes: compressor.rawBytes() ?? null, bytes, sha256 }));

  const fail = (err: Error): void => {
    if (failure) return;
    failure = err;
    rejectDone(err);
    gate.destroy(err);
    compressor.stop();
    void dump.proc.stop();
  };
  // Whichever part fails first is the cause; the others fail as a consequence and are ignored.
  dumpOk.catch(fail);
  compressor.done.catch(fail);
  pipeline(compressor.output, gate).catch((err: Error) => {
    fail(failure ?? new StorageStoppedReadingError('storage stopped reading the backup stream', { cause: err }));
  });

  return {
    body: gate,
    done,
    exited: Promise.all([dump.proc.exited, compressor.exited]).then(() => undefined),
    get bytes() {
      return gate.bytes;
    },
    fail,
  };
}
