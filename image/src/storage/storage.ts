/**
 * Where backups go. One small interface, one file per backend (like litestream's ReplicaClient);
 * nothing else knows which backend it talks to. Keys are '/'-separated paths relative to the
 * storage's root (the bucket, or the mounted directory); the storage also says where a series'
 * keys start, so callers never branch on the destination kind. Every call takes an AbortSignal.
 */
import { Readable } from 'node:stream';

export interface StoredObject {
  readonly key: string;
  readonly bytes: number;
  /** When the storage recorded the object's last write (S3 LastModified, file mtime). */
  readonly modified: Date;
}

/** A write that never finished: an open multipart upload or a temporary file. */
export interface Unfinished {
  /** The key the write was for (the same key semantics on every backend). */
  readonly key: string;
  /** When the storage recorded its start (S3 Initiated, the temporary file's mtime). */
  readonly started: Date;
  /** The backend's handle (an upload id, a temporary file's key). */
  readonly handle: string;
}

/** `put` found an object at the key: nothing was written, and the object there is untouched. */
export class ObjectExistsError extends Error {
  public readonly name = 'ObjectExistsError';
  constructor(url: string) {
    super(`refusing to overwrite ${url}: an object exists at that key`);
  }
}

/**
 * The storage's clock, read once: the time it reported (S3: a response's `Date` header; file: the
 * mtime it gave a probe file) and the pod's clock at that moment.
 */
export interface ClockReading {
  readonly storage: Date;
  readonly local: Date;
}

/** How far the pod's clock may differ from the storage's unless configured (BACKUP_MAX_CLOCK_SKEW_SECONDS). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 600_000;

export interface PutOptions {
  readonly contentType?: string;
  /** An upper estimate of the body's size, if known (the body's length is not known up front). */
  readonly sizeHint?: number;
}

export interface Storage {
  /** e.g. `s3://bucket/prefix (http://endpoint)` or `file:///backup`, for logs and messages. */
  readonly location: string;
  /** The most the pod's clock may differ from the storage's before a run refuses to start. */
  readonly maxClockSkewMs: number;
  /** `<prefix>/<name>/`: where every key of the series `name` starts. */
  seriesPrefix(name: string): string;
  /**
   * Checks the destination is reachable and writable before anything is written, deleted or
   * chosen, and reads the storage's clock on the way (from a request it makes anyway).
   */
  preflight(signal: AbortSignal): Promise<ClockReading>;
  /**
   * Stores `body` at `key`, never overwriting an existing object. Only a body that ends normally
   * is stored; if it errors or `signal` aborts, nothing is left at `key` and no unfinished write
   * remains (an aborted and verified multipart upload, a removed temporary file). An abort after
   * the commit point (the final request sent, the final link made) does not undo the write. Takes
   * the body over: on failure it is destroyed, so its producer is never left blocked. Resolves with
   * the stored object as the storage reports it.
   */
  put(key: string, body: Readable, options: PutOptions, signal: AbortSignal): Promise<StoredObject>;
  /** The object's bytes; rejects if it does not exist. */
  get(key: string, signal: AbortSignal): Promise<Readable>;
  /** The object's size and time, or undefined when there is none at `key`. */
  stat(key: string, signal: AbortSignal): Promise<StoredObject | undefined>;
  /** Every object whose key starts with `prefix` (at any depth). */
  list(prefix: string, signal: AbortSignal): Promise<StoredObject[]>;
  /** Removes the object; no error if there is none. */
  delete(key: string, signal: AbortSignal): Promise<void>;
  /** Unfinished writes whose key starts with `prefix` (at any depth). */
  listUnfinished(prefix: string, signal: AbortSignal): Promise<Unfinished[]>;
  /** Removes an unfinished write (aborts the upload, deletes the temporary file). */
  removeUnfinished(unfinished: Unfinished, signal: AbortSignal): Promise<void>;
}
