/**
 * Where backups go. One small interface, one file per backend; the backup logic never knows which
 * backend it talks to. Keys are '/'-separated paths relative to the bucket or directory.
 */
import { Readable } from 'node:stream';

export interface StoredObject {
  readonly key: string;
  readonly bytes: number;
  /** When the object was last written, where the backend says (listings). */
  readonly modified?: Date;
}

/** A write that never finished: an open multipart upload or a temporary file. */
export interface Unfinished {
  readonly key: string;
  readonly started: Date;
  /** The backend's handle (an upload id, a temporary file's key). */
  readonly handle: string;
}

export interface PutOptions {
  readonly contentType?: string;
  /** An upper estimate of the body's size, if known (the body's length is not known up front). */
  readonly sizeHint?: number;
}

export interface Storage {
  /** e.g. `s3://bucket` or `file:///backup`, for logs and messages. */
  readonly location: string;
  /** Checks the destination is reachable and usable before the dump starts. */
  preflight(): Promise<void>;
  /**
   * Stores `body` at `key`, never overwriting an existing object. Only a body that ends normally
   * is stored; if it errors, nothing is left at `key` and no partial data remains (an aborted and
   * verified multipart upload, a removed temporary file). Resolves with the stored size.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<StoredObject>;
  get(key: string): Promise<Readable>;
  /** Every object whose key starts with `prefix`, with its size. */
  list(prefix: string): Promise<StoredObject[]>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix` with unfinished writes (open multipart uploads, temporary files). */
  listIncomplete(prefix: string): Promise<string[]>;
  /** The unfinished writes under `prefix`, with when they started. */
  listUnfinished(prefix: string): Promise<Unfinished[]>;
  /** Removes an unfinished write (aborts the upload, deletes the temporary file). */
  removeUnfinished(unfinished: Unfinished): Promise<void>;
}
