/**
 * A transfer that makes no progress fails instead of waiting forever: a frozen storage server
 * (a stopped process, a silently dropped network path, a hung NFS mount) keeps connections open
 * and answers nothing. Progress is a byte accepted by the storage or read from it; time in which
 * the runner itself is not asking (the dump tool has nothing yet, the restore tool is busy) does
 * not count.
 */
import { Readable } from 'node:stream';
import { ENV } from '../../../lib/contract';

/** BACKUP_STALL_TIMEOUT_SECONDS when unset. */
export const DEFAULT_STALL_TIMEOUT_MS = 120_000;

/** A transfer made no progress for the stall timeout. */
export class StallError extends Error {
  public readonly name = 'StallError';
}

/** "<what> stalled: no progress for 120 s (BACKUP_STALL_TIMEOUT_SECONDS)". */
export function stallError(what: string, timeoutMs: number): StallError {
  return new StallError(`${what} stalled: no progress for ${timeoutMs / 1000} s (${ENV.STALL_TIMEOUT_SECONDS})`);
}

/**
 * `source` as a stream that fails with a StallError when its reader has waited `timeoutMs` for a
 * byte and none came. A reader that is not reading (backpressure) is not waiting. Destroying
 * either destroys `source`.
 */
export function guardStall(source: Readable, timeoutMs: number, what: string): Readable {
  return new StallGuard(source, timeoutMs, what);
}

class StallGuard extends Readable {
  /** Since when the reader has wanted data that has not come; undefined while it wants none. */
  private waitingSince: number | undefined;
  private ended = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly source: Readable, timeoutMs: number, what: string) {
    super();
    source.on('data', (chunk: Buffer) => {
      const more = this.push(chunk);
      this.waitingSince = more ? Date.now() : undefined;
      if (!more) source.pause();
    });
    source.once('end', () => {
      this.ended = true;
      this.push(null);
      clearInterval(this.timer);
    });
    source.once('error', (err: Error) => this.destroy(err));
    source.once('close', () => {
      if (!this.ended && !this.destroyed) this.destroy(new Error(`${what} ended before the end of its data`));
    });
    source.pause();
    this.timer = setInterval(() => {
      if (this.waitingSince !== undefined && Date.now() - this.waitingSince >= timeoutMs) this.destroy(stallError(what, timeoutMs));
    }, Math.min(1_000, Math.max(50, timeoutMs / 10)));
  }

  _read(): void {
    this.waitingSince ??= Date.now();
    this.source.resume();
  }

  _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearInterval(this.timer);
    this.source.destroy();
    cb(err);
  }
}

/** `work`, or a StallError if it has not settled within `timeoutMs` (the work itself may go on). */
export async function withinStallTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(stallError(what, timeoutMs)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
